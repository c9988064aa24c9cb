"""An ONNX file as a model source: the file itself, run in ONNX Runtime, is the FP32 reference.

A spec file says what an ONNX file cannot (preprocessing, labels, task, and the input size when it is dynamic):

    name = "deit_tiny"
    onnx = "deit_tiny.onnx"               # beside the spec (or below its folder); external data files beside it
    input_size = [3, 224, 224]            # needed only when the file's spatial size is dynamic
    labels_file = "labels.txt"
    [preprocessing]
    mean = [0.485, 0.456, 0.406]
    std = [0.229, 0.224, 0.225]

`vitedge quantize model.onnx` reads `model.toml` (or `model.json`) beside it. Opsets 13-21, files up to 2 GB.
Export, quantize, validate, bench and bundle take it; NAS and distillation need the PyTorch model.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from vitedge.errors import ModelSourceError

OPSETS = (13, 21)
MAX_BYTES = 2 << 30  # protobuf's limit: larger models store weights as external data, which we do not take yet
SPEC_KEYS_HINT = "see 'ONNX files as a source' in the README"


class OnnxModule(torch.nn.Module):
    """Runs the ONNX file in ONNX Runtime (CPU, float32 NCHW in, first output out); no parameters to train."""

    def __init__(self, path: Path, input_name: str, fixed_batch: bool, parameter_count: int):
        super().__init__()
        self.path, self.input_name, self.fixed_batch = Path(path), input_name, fixed_batch
        self.parameter_count = parameter_count
        self._session = None

    def session(self):
        if self._session is None:
            import onnxruntime as ort

            self._session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        return self._session

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(x.detach().cpu().numpy(), np.float32)
        run = lambda b: self.session().run(None, {self.input_name: b})[0]  # noqa: E731
        out = np.concatenate([run(b[None]) for b in batch]) if self.fixed_batch else run(batch)
        return torch.from_numpy(np.asarray(out, np.float32))


def parameter_count(model) -> int:
    """Elements of the float initializers (the weights), from the graph's dims (external data not read)."""
    return sum(int(np.prod(t.dims)) for t in model.graph.initializer if t.data_type in FLOAT_TYPES)


FLOAT_TYPES = (1, 10, 11, 16)  # TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16


def onnx_sha256(path: Path) -> str:
    """Hash of the file and the external data files it names, in order."""
    digest = hashlib.sha256(Path(path).read_bytes())
    for name in sorted(_external_files(_load_proto(path))):
        digest.update((Path(path).parent / name).read_bytes())
    return digest.hexdigest()


def check_onnx_file(path: Path) -> "object":
    """The parsed graph (weights not loaded) of a usable ONNX file, or a ModelSourceError saying what is wrong."""
    if not path.is_file():
        raise ModelSourceError(f"ONNX file not found: {path}", "check the path (relative paths start at the spec)")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ModelSourceError(f"{path} is {size / 2**30:.1f} GiB: models over 2 GB are not supported as a source",
                               "edge models are far smaller; export a smaller model or its backbone")
    model = _load_proto(path)
    _check_opset(model, path)
    missing = [n for n in _external_files(model) if not (path.parent / n).is_file()]
    if missing:
        raise ModelSourceError(f"{path} keeps weights in external data file(s) that are missing: {missing[:5]}",
                               "copy them beside the .onnx file, as they were when it was saved")
    return model


def _load_proto(path: Path):
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # DecodeError, truncated files, not protobuf at all
        raise ModelSourceError(f"{path} is not a readable ONNX model ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200] if str(exc) else 'parse failed'})",
                               "pass a complete .onnx file (torch.onnx.export, tf2onnx, optimum ...)") from None


def _check_opset(model, path: Path) -> None:
    versions = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    opset = versions.get("ai.onnx")
    if opset is None or not OPSETS[0] <= opset <= OPSETS[1]:
        raise ModelSourceError(f"{path} uses ONNX opset {opset}; vitedge takes opsets {OPSETS[0]}-{OPSETS[1]}",
                               "re-export with opset 17 (torch.onnx.export(..., opset_version=17)) or convert it "
                               "with onnx.version_converter")


def _external_files(model) -> set[str]:
    from onnx.external_data_helper import uses_external_data

    names = set()
    for tensor in model.graph.initializer:
        if uses_external_data(tensor):
            location = next((e.value for e in tensor.external_data if e.key == "location"), "")
            if not location or Path(location).is_absolute() or ".." in Path(location).parts:
                raise ModelSourceError(f"an initializer's external data location {location!r} leaves the model's "
                                       "folder", "keep external data files beside the .onnx file")
            names.add(location)
    return names


CHANNELS = (1, 3, 4)  # grey, RGB, RGBA: how an NHWC input is told from an NCHW one


def is_nhwc(dims: list) -> bool:
    return dims[3] in CHANNELS and dims[1] not in CHANNELS


def image_input(model, path: Path, declared: list | None) -> tuple[str, tuple[int, int, int], bool, bool]:
    """(input name, (C, H, W), batch fixed at 1, NHWC) of the one float image input; `declared` ([C, H, W]) fills
    dynamic sizes."""
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise ModelSourceError(f"{path} has {len(inputs)} inputs ({[i.name for i in inputs]}); vitedge takes models "
                               "with one image input", "export the model with a single NCHW image input")
    if inputs[0].type.tensor_type.elem_type != 1:  # TensorProto.FLOAT
        import onnx

        kind = onnx.TensorProto.DataType.Name(inputs[0].type.tensor_type.elem_type).lower()
        raise ModelSourceError(f"{path}: input {inputs[0].name!r} is {kind}; vitedge feeds normalized float32 images",
                               "export the model with a float32 input (normalization inside or in the spec)")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise ModelSourceError(f"{path}: input {inputs[0].name!r} has rank {len(dims)}, not 4 (N, C, H, W)",
                               "vitedge takes one NCHW float image input")
    nhwc = len(dims) == 4 and is_nhwc(dims)
    chw = (dims[3], dims[1], dims[2]) if nhwc else tuple(dims[1:])
    if declared is not None:
        if len(declared) != 3 or any(d is not None and d != v for d, v in zip(chw, declared)):
            raise ModelSourceError(f"{path}: the spec's input_size {declared} does not fit the file's input "
                                   f"{['N' if d is None else d for d in dims]}", "give [channels, height, width]")
        chw = tuple(declared)
    if any(v is None for v in chw):
        raise ModelSourceError(f"{path}: input {inputs[0].name!r} has a dynamic size "
                               f"{['?' if d is None else d for d in dims]} and the spec gives none",
                               "add input_size = [channels, height, width] to the spec")
    return inputs[0].name, tuple(int(v) for v in chw), dims[0] == 1, nhwc


def nchw_wrapped(path: Path, input_name: str, folder: Path) -> Path:
    """A copy of an NHWC model with a Transpose in front: it takes NCHW like every vitedge model, so calibration,
    runtimes and bundles need no second layout. Written into `folder` (external data merged in)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph, inner = model.graph, f"{input_name}__nhwc"
    for node in graph.node:
        node.input[:] = [inner if name == input_name else name for name in node.input]
    old = next(i for i in graph.input if i.name == input_name)
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in old.type.tensor_type.shape.dim]
    new = helper.make_tensor_value_info(input_name, old.type.tensor_type.elem_type,
                                        [dims[0], dims[3], dims[1], dims[2]])
    graph.input.remove(old)
    graph.input.insert(0, new)
    graph.node.insert(0, helper.make_node("Transpose", [input_name], [inner], perm=[0, 2, 3, 1],
                                          name="vitedge/nchw_to_nhwc"))
    wrapped = folder / f"{path.stem}.nchw.onnx"
    onnx.save(model, str(wrapped))
    return wrapped


def spec_template(path: Path) -> str:
    """A spec to start from, for an .onnx file given without one."""
    return (f'name = "{path.stem}"\nonnx = "{path.name}"\n# input_size = [3, 224, 224]   # if the file\'s is '
            'dynamic\nlabels_file = "labels.txt"\n[preprocessing]\nmean = [0.485, 0.456, 0.406]\n'
            'std = [0.229, 0.224, 0.225]')
