"""TFLite quantization without TensorFlow.

int8 static: litert-torch PT2E on the module with SmoothQuant folded in (pt2e.py, smooth.py): int8 weights and
calibrated int8 activations on Linear / Conv (percentile, min-max or histogram ranges; the converter also runs the GELU
between fc1 and fc2 in int8; LayerNorm, Softmax and Q.K^T stay float), int8 model input, the output layer
float (float logits: pt2e.py).
fp16 (float16 weights), int8 dynamic and int8 full-integer (min-max calibration): ai-edge-quantizer recipes on the
FP32 .tflite, float32 IO. Layer names are module paths (`blocks.3.attn.qkv`).
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np

from vitedge.errors import VitedgeError
from vitedge.export.base import EXPORTERS, require
from vitedge.export.tflite_names import module_scopes as _scopes, readable_names as _readable_names
from vitedge.paths import model_stem
from vitedge.quantize.base import QUANTIZERS, QuantInput, unavailable_here
from vitedge.quantize.pt2e import output_layers, trace, weight_nodes
from vitedge.quantize.pt2e_route import converter_errors, tflite_bytes
from vitedge.quantize.scheme import Scheme

EXTRA = "tflite"
WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")  # ops with a weight tensor


class TfliteQuantizer:
    format = "tflite"
    int8_modes = ("static", "dynamic", "full-integer")
    precisions = ("fp16", "int8")  # no bf16 kernels on CPU

    def unavailable(self, scheme: Scheme) -> str | None:
        return unavailable_here(self, scheme)

    def quantize(self, inp: QuantInput, scheme: Scheme, folder: Path) -> list[Path]:
        """Write `{model}_{tag}.tflite`: PT2E for int8 static, ai-edge-quantizer for the other schemes."""
        self._check_keep_float(inp, scheme)
        path = folder / f"{model_stem(inp.model)}_{scheme.tag}.tflite"
        with converter_errors(inp, scheme, folder):
            data = tflite_bytes(inp, scheme) if _is_static(scheme) else _aeq_quantize(inp, scheme)
        path.write_bytes(finish_tflite(data, inp.model))
        EXPORTERS.get("tflite")._check_builtin_ops(path)
        return [path]

    def layers(self, inp: QuantInput, scheme: Scheme) -> list[str]:
        """Module paths `scheme` quantizes, in graph order (full-integer: every module owning a quantized op)."""
        if _is_static(scheme):
            graph = trace(inp.model)
            skip = output_layers(graph)  # float by design (pt2e.py)
            return list(dict.fromkeys(path for path, _ in weight_nodes(graph) if path not in skip))
        return list(dict.fromkeys(path for path, _ in _graph_layers(inp, scheme)))

    def _check_keep_float(self, inp: QuantInput, scheme: Scheme) -> None:
        if not scheme.keep_float:
            return
        unknown = sorted(set(scheme.keep_float) - set(self.layers(inp, scheme)))
        if unknown:
            raise VitedgeError(f"keep_float names layers the TFLite {scheme.tag} scheme does not quantize: "
                               f"{unknown[:5]}", "take the names from layers() for the same scheme")


def _is_static(scheme: Scheme) -> bool:
    return scheme.precision == "int8" and scheme.mode == "static"


def finish_tflite(data: bytes, model) -> bytes:
    """Tensor names as module paths (`blocks.3.attn.qkv;1`)."""
    return _readable_names(data, _scopes(model.module))


# --- ai-edge-quantizer (fp16, dynamic, full-integer) --------------------------------------------------------------


def _module_of(name: str, scopes: dict[str, str]) -> str | None:
    """The deepest module path named in a (possibly fused, `;`-joined) tensor name."""
    paths = [scopes[piece] for piece in name.split(";") if piece in scopes]
    return max(paths, key=lambda p: p.count(".") + bool(p), default=None)


def _graph_layers(inp: QuantInput, scheme: Scheme) -> list[tuple[str, str]]:
    """(module path, ai-edge-quantizer op scope) of the ops `scheme` quantizes in the FP32 .tflite, in order."""
    fu = require("ai_edge_quantizer.utils.tfl_flatbuffer_utils", EXTRA)
    model, scopes = fu.read_model(Path(inp.fp32_path)), _scopes(inp.model.module)
    codes = [fu.TFL_OP_CODE_TO_NAME.get(c.builtinCode) for c in model.operatorCodes]
    wanted = None if scheme.precision == "int8" and scheme.mode == "full-integer" else WEIGHT_OPS
    found = []
    for op in model.subgraphs[0].operators:
        name = codes[op.opcodeIndex]
        if wanted is not None and name not in wanted:
            continue
        tensors = model.subgraphs[0].tensors
        scope = fu.get_op_scope(op, tensors)
        path = _module_of(scope, scopes)
        if not path and name in WEIGHT_OPS:  # the last Linear's output is the signature output: use its weight
            path = _module_of(fu.get_tensor_name(tensors[op.inputs[1]]), scopes)
        if path:
            found.append((path, scope))
    return found


def _aeq_recipe(scheme: Scheme) -> list[dict]:
    """The base recipe: fp16 weight casting, dynamic-range int8, or static int8 (activations too) on every op."""
    manager = require("ai_edge_quantizer.recipe_manager", EXTRA).RecipeManager()
    qtyping = require("ai_edge_quantizer.qtyping", EXTRA)
    granularity = qtyping.QuantGranularity.CHANNELWISE if scheme.per_channel else qtyping.QuantGranularity.TENSORWISE
    if scheme.precision == "fp16":
        manager.add_weight_only_config(".*", "*", num_bits=16, algorithm_key="float_casting")
    elif scheme.mode == "dynamic":
        manager.add_dynamic_config(".*", "*", num_bits=8, granularity=granularity)
    else:
        manager.add_static_config(".*", "*", activation_num_bits=8, weight_num_bits=8, weight_granularity=granularity)
    return manager.get_quantization_recipe()


def _aeq_quantize(inp: QuantInput, scheme: Scheme) -> bytes:
    """Apply the recipe (with `keep_float` ops overridden to no_quantize) to the FP32 .tflite."""
    aeq = require("ai_edge_quantizer.quantizer", EXTRA)
    quantizer = aeq.Quantizer(str(inp.fp32_path), _aeq_recipe(scheme))
    kept = [scope for path, scope in _graph_layers(inp, scheme) if path in set(scheme.keep_float)]
    if kept:
        regex = "^(" + "|".join(re.escape(scope) for scope in kept) + ")$"
        quantizer.update_quantization_recipe(regex=regex, operation_name="*", algorithm_key="no_quantize")
    calibration = None
    if quantizer.need_calibration:
        samples = [{"pixel_values": np.ascontiguousarray(inp.calibration[i:i + 1], np.float32)}
                   for i in range(len(inp.calibration))]
        with contextlib.redirect_stderr(io.StringIO()):  # its progress bar cannot be turned off
            calibration = quantizer.calibrate({"serving_default": samples})
    with contextlib.redirect_stderr(io.StringIO()):
        result = quantizer.quantize(calibration, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


QUANTIZERS.register("tflite")(TfliteQuantizer())
