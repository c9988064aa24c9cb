"""Load an ONNX source: its spec (beside the file, or naming it), checks, and a LoadedModel whose module runs it."""
from __future__ import annotations

from pathlib import Path

import torch

from vitedge.errors import ModelSourceError
from vitedge.fileio import process_scratch
from vitedge.models.loaded import LoadedModel
from vitedge.models.onnx_source import (SPEC_KEYS_HINT, OnnxModule, check_onnx_file, image_input, nchw_wrapped,
                                        onnx_sha256, parameter_count, spec_template)
from vitedge.models.spec import IOSpec



NOT_FOR_ONNX = ("base", "weights", "weights_sha256", "architecture", "head", "derived_from")


def spec_beside(path: Path) -> Path:
    """`model.toml` / `model.json` beside `model.onnx`, or an error that shows one to start from."""
    for suffix in (".toml", ".json"):
        if path.with_suffix(suffix).is_file():
            return path.with_suffix(suffix)
    check_onnx_file(path)  # a file that is no ONNX model is named as such first
    raise ModelSourceError(f"{path} needs a spec beside it ({path.with_suffix('.toml').name}) that says its "
                           "preprocessing and labels (an ONNX file does not)",
                           "write one, e.g.\n" + spec_template(path))


def load_onnx(raw: dict, source: str) -> LoadedModel:
    """`raw`: a read spec file. The ONNX file is checked, run once on a zero image, and wrapped."""
    path = _onnx_path(raw, source)
    wrong = [k for k in NOT_FOR_ONNX if k in raw]
    if wrong:
        raise ModelSourceError(f"model spec {source}: {wrong} do not apply to an ONNX source (its architecture and "
                               "weights are in the file)", f"remove them; {SPEC_KEYS_HINT}")
    proto = check_onnx_file(path)
    input_name, chw, fixed_batch, nhwc = image_input(proto, path, raw.get("input_size"))
    runs = nchw_wrapped(path, input_name, process_scratch("onnx-nchw")) if nhwc else path
    module = OnnxModule(runs, input_name, fixed_batch, parameter_count(proto))
    output = _probe(module, chw, path)
    labels = raw.get("labels")
    from vitedge.models.source import check_class_names  # source.py imports this module

    check_class_names(labels, source)
    task = raw.get("task", "image-classification" if output.ndim == 2 else "dense-prediction")
    _check_output(output, labels, task, path)
    spec = _spec(raw, chw, labels, task, input_name, proto.graph.output[0].name, source)
    return LoadedModel(module, spec, raw.get("name", path.stem), source, None, onnx_sha256(path),
                       [f"ONNX source {path.name}: the FP32 reference is the file run in ONNX Runtime"], str(path),
                       onnx_path=str(path))


def _onnx_path(raw: dict, source: str) -> Path:
    if Path(source).suffix == ".onnx":
        named = Path(raw.get("onnx", source)).resolve()
        if named != Path(source).resolve():
            raise ModelSourceError(f"the spec beside {source} names another ONNX file ({named})",
                                   "make its onnx key name this file, or pass the spec itself")
        return named
    return Path(raw["onnx"])


def _probe(module: OnnxModule, chw: tuple[int, int, int], path: Path) -> torch.Tensor:
    try:
        return module(torch.zeros(1, *chw))
    except Exception as exc:  # ORT's errors: unsupported ops, bad graphs, shape mismatches
        first = (str(exc).splitlines() or [""])[0][:300]
        raise ModelSourceError(f"ONNX Runtime cannot run {path} on a {list(chw)} image: {type(exc).__name__}: "
                               f"{first}", "check the file in ONNX Runtime (an op it lacks, or an input size the "
                               "graph does not take: set input_size in the spec)") from None


def _check_output(output: torch.Tensor, labels, task: str, path: Path) -> None:
    if task == "image-classification" and output.ndim != 2:
        raise ModelSourceError(f"{path}: task image-classification needs (batch, classes) logits, the first output "
                               f"is {list(output.shape)}", 'set task = "feature-extraction" in the spec')
    if labels is not None and output.shape[-1] != len(labels):
        raise ModelSourceError(f"{path}: {len(labels)} labels for {output.shape[-1]} outputs",
                               "give one class name per output (labels / labels_file)")


def _spec(raw: dict, chw, labels, task: str, input_name: str, output_name: str, source: str) -> IOSpec:
    pre = raw.get("preprocessing", {})
    try:
        return IOSpec(input_size=chw, mean=tuple(pre.get("mean", (0.5,) * chw[0])),
                      std=tuple(pre.get("std", (0.5,) * chw[0])), labels=tuple(labels) if labels else None,
                      task=task, crop_pct=pre.get("crop_pct", 1.0), interpolation=pre.get("interpolation", "bilinear"),
                      input_name=input_name, output_name=output_name or "output")
    except ValueError as exc:
        raise ModelSourceError(f"model {source}: invalid value: {exc}", SPEC_KEYS_HINT) from None
