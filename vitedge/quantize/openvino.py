"""OpenVINO IR quantization: FP16-compressed IR, int8 static from ONNX Runtime's QDQ model, int8 full-integer by NNCF.

int8 `static` converts the QDQ ONNX model of the same network (qdq_route.py: on the real DeiT-Tiny it was more
accurate and faster in OpenVINO than NNCF's TRANSFORMER recipe); its fallback keeps single ONNX ops in float.
`full-integer` runs NNCF without the transformer rules (performance preset), so NNCF quantizes every op it can; its
fallback may keep any weight op or attention op in float. `--nncf-accuracy-control` runs NNCF's TRANSFORMER recipe
with NNCF's own accuracy control.
Layer names are OpenVINO op friendly names, which carry the PyTorch module path
(`__module.blocks.3.attn.qkv/aten::linear/MatMul`).
"""
from __future__ import annotations

import logging
import shutil
import sys
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Iterator

import numpy as np

from vitedge.errors import ExportError, VitedgeError
from vitedge.export.base import quiet_converters, require
from vitedge.fileio import raise_if_storage
from vitedge.paths import model_stem
from vitedge.quantize.base import QUANTIZERS, QuantInput, unavailable_here
from vitedge.quantize.scheme import Scheme

EXTRA = "openvino"
# Scheme.calibration -> NNCF activation range estimator (None: NNCF's default, the mean of per-sample min / max).
RANGE_ESTIMATORS = {"minmax": None, "percentile": "MEAN_QUANTILE", "entropy": "HISTOGRAM"}


class OpenVinoQuantizer:
    format = "openvino"
    int8_modes = ("static", "full-integer")
    precisions = ("fp16", "bf16", "int8")

    def unavailable(self, scheme: Scheme) -> str | None:
        if scheme.precision == "bf16" and not cpu_computes_bf16():
            return ("this host's CPU has no bf16 instructions (AVX512-BF16 / AMX-BF16): OpenVINO would compute in "
                    "f32, so a bf16 artifact could not be validated here; make it on a host that has them")
        return unavailable_here(self, scheme)

    def quantize(self, inp: QuantInput, scheme: Scheme, folder: Path) -> list[Path]:
        """Write `{model}_{tag}.xml` + `.bin`: FP16-compressed weights (fp16, and bf16, which runs with
        INFERENCE_PRECISION_HINT bf16: half the file, same results as FP32 weights on DeiT-Tiny), or an int8 IR."""
        ov = require("openvino", EXTRA)
        model = ov.Core().read_model(str(inp.fp32_path))
        if scheme.precision in ("fp16", "bf16"):
            return save_ir(model, inp, scheme, folder, compress_to_fp16=True)
        check_int8(model, inp, scheme)
        if scheme.mode == "static":
            return _via_qdq(inp, scheme, folder)
        nncf = require("nncf", EXTRA)
        with quiet_nncf():
            try:
                quantized = nncf.quantize(model, calibration_dataset(nncf, inp.calibration),
                                          **nncf_options(nncf, model, scheme, len(inp.calibration)))
            except Exception as exc:  # NNCF raises many types; the user sees one
                raise_if_storage(exc, folder)
                raise _nncf_error(inp, scheme, exc) from exc
        return save_ir(quantized, inp, scheme, folder, compress_to_fp16=False)

    def layers(self, inp: QuantInput, scheme: Scheme) -> list[str]:
        """static: the ONNX weight-op node names of the QDQ route; full-integer: friendly names of the IR's weight ops
        (MatMul with a constant weight, Convolution) and attention ops."""
        if scheme.precision == "int8" and scheme.mode == "static":
            from vitedge.quantize.onnx import weight_bearing_nodes
            from vitedge.quantize.qdq_route import fp32_onnx

            return weight_bearing_nodes(require("onnx", "onnx").load(str(fp32_onnx(inp))))
        ov = require("openvino", EXTRA)
        return quantized_op_names(ov.Core().read_model(str(inp.fp32_path)), scheme)


def check_int8(model, inp: QuantInput, scheme: Scheme) -> None:
    """Refuse what NNCF would fail on late or obscurely: other modes, missing / misshapen calibration, unknown names."""
    modes = OpenVinoQuantizer.int8_modes
    if scheme.mode not in modes:
        raise VitedgeError(f"OpenVINO int8 does not support the {scheme.mode!r} scheme",
                           f"choose from {', '.join(modes)}")
    if inp.calibration is None or len(inp.calibration) == 0:
        raise VitedgeError(f"int8 {scheme.mode} quantization needs calibration images", "pass --data")
    if tuple(inp.calibration.shape[1:]) != tuple(inp.model.spec.input_size):
        raise VitedgeError(f"calibration images are {tuple(inp.calibration.shape[1:])}, "
                           f"the model expects {tuple(inp.model.spec.input_size)}", "load them with the model's IOSpec")
    if scheme.mode == "static":  # the QDQ route: keep_float names ONNX nodes, checked by ONNX Runtime's quantizer
        return
    unknown = sorted(set(scheme.keep_float) - set(quantized_op_names(model, scheme)))
    if unknown:
        raise VitedgeError(f"keep_float names ops not in {inp.fp32_path.name}: {', '.join(unknown[:3])}",
                           "use the names that layers() lists")


def _via_qdq(inp: QuantInput, scheme: Scheme, folder: Path) -> list[Path]:
    """Static INT8: ONNX Runtime's QDQ model of the same network, read by OpenVINO (qdq_route.py says why)."""
    from vitedge.quantize.qdq_route import qdq_model, save_openvino

    scratch = folder / "qdq-onnx"
    scratch.mkdir()
    try:
        return save_openvino(qdq_model(inp, scheme, scratch), inp, scheme, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def quantized_op_names(model, scheme: Scheme) -> list[str]:
    """What `keep_float` may name: the weight ops and the attention ops, in graph order."""
    attention = set(attention_op_names(model))
    weights = set(weight_op_names(model))
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_friendly_name() in weights or op.get_friendly_name() in attention]


def weight_op_names(model) -> list[str]:
    """Ops that carry weights: Convolution, and MatMul whose second input is a (possibly converted) constant."""
    names = []
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "Convolution" or (kind == "MatMul" and _is_constant(op.input_value(1).get_node())):
            names.append(op.get_friendly_name())
    return names


def attention_op_names(model) -> list[str]:
    """ScaledDotProductAttention ops, and MatMuls of two activations (q @ k^T, attn @ v), in graph order."""
    return [op.get_friendly_name() for op in model.get_ordered_ops()
            if op.get_type_name() == "ScaledDotProductAttention"
            or (op.get_type_name() == "MatMul" and not any(_is_constant(v.get_node()) for v in op.input_values()))]


def _is_constant(node) -> bool:
    while node.get_type_name() in ("Convert", "Reshape", "Transpose") and node.get_input_size() > 0:
        node = node.input_value(0).get_node()
    return node.get_type_name() == "Constant"


def cpu_computes_bf16() -> bool:
    """OpenVINO's own view of this CPU (OPTIMIZATION_CAPABILITIES lists BF16 on AVX512-BF16 / AMX-BF16 CPUs)."""
    ov = require("openvino", EXTRA)
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def save_ir(model, inp: QuantInput, scheme: Scheme, folder: Path, compress_to_fp16: bool) -> list[Path]:
    ov = require("openvino", EXTRA)
    xml = Path(folder) / f"{model_stem(inp.model)}_{scheme.tag}.xml"
    ov.save_model(model, str(xml), compress_to_fp16=compress_to_fp16)
    return [xml, xml.with_suffix(".bin")]


def calibration_dataset(nncf, images: np.ndarray):
    """One item per image (a 1 x C x H x W batch): NNCF's subset_size then counts images."""
    images = np.ascontiguousarray(images, dtype=np.float32)
    return nncf.Dataset([images[i:i + 1] for i in range(len(images))])


def nncf_options(nncf, model, scheme: Scheme, subset_size: int) -> dict:
    """Keyword arguments of nncf.quantize for `scheme`."""
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, QuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    advanced = AdvancedQuantizationParameters()
    if not scheme.per_channel:
        advanced.weights_quantization_params = QuantizationParameters(per_channel=False)
    estimator = RANGE_ESTIMATORS[scheme.calibration]
    if estimator:
        advanced.activations_range_estimator_params = getattr(RangeEstimatorParametersSet, estimator)
    transformer = scheme.mode == "static"
    options = {
        "preset": nncf.QuantizationPreset.MIXED if transformer else nncf.QuantizationPreset.PERFORMANCE,
        "subset_size": subset_size,
        "advanced_parameters": advanced,
    }
    if transformer:
        options["model_type"] = nncf.ModelType.TRANSFORMER
    if scheme.keep_float:
        options["ignored_scope"] = nncf.IgnoredScope(names=list(scheme.keep_float))
    return options


def quantize_with_accuracy_control(inp: QuantInput, scheme: Scheme, folder: Path, eval_images: np.ndarray,
                                   eval_labels: np.ndarray, max_drop_pp: float) -> list[Path]:
    """NNCF's own accuracy control: quantize, then revert ops to float until top-1 drops at most `max_drop_pp`.

    Top-1 accuracy is measured with OpenVINO (FP32 inference) on `eval_images` (normalized float32 NCHW).
    """
    ov = require("openvino", EXTRA)
    nncf = require("nncf", EXTRA)
    model = ov.Core().read_model(str(inp.fp32_path))
    check_int8(model, inp, scheme)
    images = np.ascontiguousarray(eval_images, dtype=np.float32)
    items = [(images[i:i + 1], int(eval_labels[i])) for i in range(len(images))]
    validation = nncf.Dataset(items, lambda item: item[0])
    options = nncf_options(nncf, model, scheme, len(inp.calibration))
    options["advanced_quantization_parameters"] = options.pop("advanced_parameters")
    with quiet_nncf():
        try:
            quantized = nncf.quantize_with_accuracy_control(
                model, calibration_dataset(nncf, inp.calibration), validation,
                top1_accuracy, max_drop=max_drop_pp / 100, drop_type=nncf.DropType.ABSOLUTE, **options)
        except Exception as exc:
            raise_if_storage(exc, folder)
            raise _nncf_error(inp, scheme, exc) from exc
    return save_ir(quantized, inp, scheme, folder, compress_to_fp16=False)


def top1_accuracy(compiled, items) -> float:
    """NNCF validation function: the fraction of (image, label) items whose argmax logit is the label."""
    request = compiled.create_infer_request()
    hits = total = 0
    for image, label in items:
        hits += int(np.argmax(request.infer([image])[0]) == label)
        total += 1
    return hits / max(total, 1)


@contextmanager
def quiet_nncf() -> Iterator[None]:
    """Keep NNCF's warnings and errors, drop its INFO lines; its progress bars go to stderr like ours, not stdout."""
    nncf = require("nncf", EXTRA)
    level = logging.getLogger("nncf").level
    nncf.set_log_level(logging.WARNING)
    try:
        with quiet_converters(), redirect_stdout(sys.stderr):
            yield
    finally:
        nncf.set_log_level(level or logging.INFO)


def _nncf_error(inp: QuantInput, scheme: Scheme, exc: Exception) -> ExportError:
    return ExportError(f"NNCF failed to quantize {inp.fp32_path.name} to int8 {scheme.mode}: "
                       f"{type(exc).__name__}: {str(exc).strip()}",
                       "try another --int8 scheme, or keep the failing layers in float")


QUANTIZERS.register("openvino")(OpenVinoQuantizer())
