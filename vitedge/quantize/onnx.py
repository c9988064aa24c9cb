"""ONNX Runtime quantization: FP16 (float IO kept), static QDQ INT8 (weight-bearing ops only), dynamic INT8.

Traps avoided (measured with ORT 1.31 on a ViT-Tiny): the default op list also quantizes Add / Mul / LayerNorm and
loses accuracy; an INT8 Softmax gets fused into QLinearSoftmax and breaks attention; QDQ has no weights-only switch,
so activation x activation MatMuls (q @ k^T, attn @ v) are excluded by name; by default QDQ also rounds each
MatMul's output to int8 before its bias Add and the residual stream, which on the real DeiT-Tiny cost 1.2 pp top-1
(95.0% agreement): with OpTypesToExcludeOutputQuantization the outputs stay float (ORT fuses DQ + MatMul into
MatMulIntegerToFloat, as fast), +0.4 pp and 96.8% agreement.

Recipe measured on the real DeiT-Tiny (300 calibration images of classes 0-499, logit KL from FP32 on classes
500-999, no op in float): MinMax ranges 0.0071, Percentile 0.0047, Entropy 0.039; SmoothQuant (smooth.py) before
Percentile: alpha 0.5 0.0041, 0.8 0.0037 (97.6% agreement, 0.0 pp), 0.9 0.0039. Percentile + alpha 0.8 is the
default (`Scheme.smoothquant`, `--calibration-method`).
"""
from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from vitedge.errors import ExportError, VitedgeError
from vitedge.export.base import quiet_converters, require
from vitedge.fileio import process_cache, process_scratch, raise_if_storage
from vitedge.paths import model_stem
from vitedge.quantize.base import QUANTIZERS, QuantInput, unavailable_here
from vitedge.quantize.scheme import Scheme

WEIGHT_OPS = ("MatMul", "Gemm", "Conv")
CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
CALIBRATION_BATCH = 32


def weight_bearing_nodes(model) -> list[str]:
    """Names of MatMul / Gemm / Conv nodes whose second input is a constant (the weights), in graph order."""
    constants = {init.name for init in model.graph.initializer}
    constants |= {n.output[0] for n in model.graph.node if n.op_type == "Constant"}
    return [n.name for n in model.graph.node if n.op_type in WEIGHT_OPS and len(n.input) > 1 and n.input[1] in constants]


def activation_matmuls(model) -> list[str]:
    weights = set(weight_bearing_nodes(model))
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in weights]


def float_model_path(inp: QuantInput, scheme: Scheme, threads: int = 2) -> Path:
    """The FP32 ONNX model the INT8 one is made from: `inp`'s, with SmoothQuant folded in when `scheme` asks (its
    float weights are also what the fallback puts back)."""
    from vitedge.quantize.smooth import smoothed_onnx_file

    if not scheme.smooths:
        return inp.fp32_path
    return smoothed_onnx_file(inp.fp32_path, inp.calibration, scheme.smoothquant, threads)


class _Batches:
    """onnxruntime's CalibrationDataReader over the calibration array, in equal batches: ORT's histogram
    calibrators (Entropy, Percentile) fail on a short last batch."""

    def __init__(self, input_name: str, images: np.ndarray, batch_fixed_at_one: bool = False):
        limit = 1 if batch_fixed_at_one else CALIBRATION_BATCH  # an ONNX source may fix its batch at 1
        size = max(b for b in range(1, limit + 1) if len(images) % b == 0)
        self._batches = iter([{input_name: images[i:i + size]} for i in range(0, len(images), size)])

    def get_next(self):
        return next(self._batches, None)


class OnnxQuantizer:
    format = "onnx"
    int8_modes = ("static", "dynamic", "full-integer")
    precisions = ("fp16", "int8")  # no bf16 kernels on CPU

    def unavailable(self, scheme: Scheme) -> str | None:
        return unavailable_here(self, scheme)

    def layers(self, inp: QuantInput, scheme: Scheme) -> list[str]:
        onnx = require("onnx", "onnx")
        model = onnx.load(str(inp.fp32_path))
        return weight_bearing_nodes(model) if scheme.mode != "full-integer" else [
            n.name for n in model.graph.node if n.op_type in WEIGHT_OPS + ("MatMul",)]

    def quantize(self, inp: QuantInput, scheme: Scheme, folder: Path) -> list[Path]:
        out = folder / f"{model_stem(inp.model)}_{scheme.tag}.onnx"
        unknown = sorted(set(scheme.keep_float) - set(self.layers(inp, scheme))) if scheme.keep_float else []
        if unknown:
            raise VitedgeError(f"keep_float names ops not in {inp.fp32_path.name}: {', '.join(unknown[:3])}",
                               "use the names that layers() lists")
        try:
            with quiet_converters():
                if scheme.precision == "fp16":
                    self._fp16(inp, scheme, out)
                elif scheme.mode == "dynamic":
                    self._dynamic(inp, scheme, out)
                else:
                    self._static(inp, scheme, out)
        except VitedgeError:
            raise
        except Exception as exc:  # noqa: BLE001  (onnx, protobuf and ORT raise many types; the user sees one)
            raise_if_storage(exc, folder)
            raise ExportError(f"onnxruntime quantization ({scheme.tag}) failed on {inp.fp32_path.name}: {exc}") from None
        return [out]

    def _fp16(self, inp: QuantInput, scheme: Scheme, out: Path) -> None:
        onnx = require("onnx", "onnx")
        float16 = require("onnxruntime.transformers.float16", "onnx")
        model = float16.convert_float_to_float16(onnx.load(str(inp.fp32_path)), keep_io_types=True,
                                                 node_block_list=list(scheme.keep_float))
        onnx.save(model, str(out))

    def _dynamic(self, inp: QuantInput, scheme: Scheme, out: Path) -> None:
        onnx = require("onnx", "onnx")
        quantization = require("onnxruntime.quantization", "onnx")
        model = onnx.load(str(inp.fp32_path))
        quantization.quantize_dynamic(
            model, str(out), op_types_to_quantize=list(WEIGHT_OPS), per_channel=scheme.per_channel,
            weight_type=quantization.QuantType.QInt8,
            nodes_to_exclude=activation_matmuls(model) + list(scheme.keep_float))

    def _static(self, inp: QuantInput, scheme: Scheme, out: Path) -> None:
        onnx = require("onnx", "onnx")
        quantization = require("onnxruntime.quantization", "onnx")
        inp = replace(inp, fp32_path=float_model_path(inp, scheme))
        model = onnx.load(str(inp.fp32_path))
        full = scheme.mode == "full-integer"
        op_types = None if full else list(WEIGHT_OPS)
        method = getattr(quantization.CalibrationMethod, CALIBRATION_METHODS[scheme.calibration])
        cache = self._ranges(inp, op_types, method)
        quantization.quantize_static(
            model, str(out), None, calibration_cache_path=str(cache),
            quant_format=quantization.QuantFormat.QDQ,
            op_types_to_quantize=op_types,
            per_channel=scheme.per_channel,
            activation_type=quantization.QuantType.QInt8, weight_type=quantization.QuantType.QInt8,
            nodes_to_exclude=list(scheme.keep_float) + ([] if full else activation_matmuls(model)),
            calibrate_method=method,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                           "OpTypesToExcludeOutputQuantization": list(WEIGHT_OPS)},
        )

    def _ranges(self, inp: QuantInput, op_types, method) -> Path:
        """Activation ranges, computed once per (model, calibration, method): the fallback's retries reuse them.

        Computed here because quantize_static cannot pass the histogram size: its Entropy calibrator then uses
        128 bins for 128 quantized bins, a single candidate threshold, i.e. MinMax's ranges."""
        key = hashlib.sha256(f"{inp.fp32_path.resolve()}|{inp.fp32_path.stat().st_mtime_ns}|{method.name}|{op_types}"
                             .encode() + inp.calibration.tobytes()).hexdigest()[:16]
        cache = process_cache("ort-ranges") / f"{key}.json"
        if cache.is_file():
            return cache
        quantization = require("onnxruntime.quantization", "onnx")
        calibrate = require("onnxruntime.quantization.calibrate", "onnx")
        options = {"num_bins": 2048, "num_quantized_bins": 128} if method.name == "Entropy" else {}
        # ORT writes `<model>-inferred.onnx` beside the model it is given: a copy here
        scratch = process_scratch("ort-ranges") / key
        scratch.mkdir(exist_ok=True)
        try:
            model = Path(shutil.copyfile(inp.fp32_path, scratch / "model.onnx"))
            calibrator = quantization.create_calibrator(
                model, op_types, augmented_model_path=str(scratch / "augmented.onnx"), calibrate_method=method,
                extra_options=options)
            first = calibrator.model.graph.input[0]
            fixed = first.type.tensor_type.shape.dim[0].dim_value == 1
            calibrator.collect_data(_Batches(first.name, inp.calibration, fixed))
            calibrate.save_tensors_data(calibrator.compute_data(), cache)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return cache




QUANTIZERS.register("onnx")(OnnxQuantizer())
