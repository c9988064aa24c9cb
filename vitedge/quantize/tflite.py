"""TFLite quantization without TensorFlow.

int8 static: litert-torch PT2E on the module with SmoothQuant folded in (smooth.py), int8 weights and calibrated
int8 activations on Linear / Conv (min-max or histogram observers; the converter also runs the GELU between fc1 and
fc2 in int8; LayerNorm, Softmax and Q.K^T stay float), int8 model input and output. fp16 (float16 weights), int8
dynamic and int8 full-integer (min-max calibration): ai-edge-quantizer recipes on the FP32 .tflite, float32 IO.
Layer names are module paths (`blocks.3.attn.qkv`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import io
import re
from pathlib import Path

import numpy as np
import torch

from vitedge.errors import ExportError, VitedgeError
from vitedge.export.base import EXPORTERS, quiet_converters, require
from vitedge.export.tflite import STATIC_BATCH, _NamedIO
from vitedge.export.tflite_names import module_scopes as _scopes, readable_names as _readable_names
from vitedge.fileio import raise_if_storage
from vitedge.paths import model_stem
from vitedge.quantize.base import QUANTIZERS, QuantInput, unavailable_here
from vitedge.quantize.scheme import Scheme

EXTRA = "tflite"
WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D")  # ops with a weight tensor
PT2E_OPS = ("aten.linear.default", "aten.conv2d.default")
CALIB_BATCH = 32  # PT2E calibration batch (the traced graph has a dynamic batch dimension)
ROOT = "module"  # attribute of _NamedIO holding the model


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
        with quiet_converters():
            try:
                data = _pt2e_static(inp, scheme) if _is_static(scheme) else _aeq_quantize(inp, scheme)
            except VitedgeError:
                raise
            except Exception as exc:  # noqa: BLE001  (torch.export and the converters raise anything)
                raise_if_storage(exc, folder)
                raise ExportError(f"TFLite {scheme.tag} quantization of {inp.model.name} failed: {exc}",
                                  "try another int8 mode, or keep the failing layers in float") from exc
        path.write_bytes(_readable_names(data, _scopes(inp.model.module)))
        EXPORTERS.get("tflite")._check_builtin_ops(path)
        return [path]

    def layers(self, inp: QuantInput, scheme: Scheme) -> list[str]:
        """Module paths `scheme` quantizes, in graph order (full-integer: every module owning a quantized op)."""
        if _is_static(scheme):
            return list(dict.fromkeys(path for path, _ in _pt2e_layer_nodes(_trace(inp.model))))
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


# --- PT2E (int8 static) -------------------------------------------------------------------------------------------


def _trace(model) -> torch.fx.GraphModule:
    """torch.export of the IO-named wrapper with a dynamic batch, as a GraphModule."""
    wrapped = _NamedIO(model.module, model.spec.output_name).eval()
    example = torch.zeros(2, *model.spec.input_size)
    batch = {"pixel_values": {0: torch.export.Dim("batch")}}
    return torch.export.export(wrapped, (), {"pixel_values": example}, dynamic_shapes=batch).module()


def _node_module(node) -> str | None:
    """The innermost module path of an FX node, relative to the model (`blocks.0.attn.qkv`)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    return path[len(ROOT) + 1:] if path.startswith(ROOT + ".") else None


def _pt2e_layer_nodes(graph: torch.fx.GraphModule) -> list[tuple[str, object]]:
    """(module path, node) of every Linear / Conv call, in graph order."""
    found = []
    for node in graph.graph.nodes:
        if node.op == "call_function" and str(node.target) in PT2E_OPS and _node_module(node):
            found.append((_node_module(node), node))
    return found


def _pt2e_quantizer(scheme: Scheme):
    """litert-torch's PT2E quantizer that skips the nodes of `scheme.keep_float` modules."""
    pt2e = require("litert_torch.quantize.pt2e_quantizer", EXTRA)
    keep = set(scheme.keep_float)

    class KeepFloatQuantizer(pt2e.PT2EQuantizer):
        # set_module_name() refuses None and its name filter misreads torch>=2.5 module stacks: filter here
        def _annotate_for_static_quantization_config(self, model):
            return self._annotate_all_static_patterns(model, self.global_config, lambda n: _node_module(n) not in keep)

    config = pt2e.get_symmetric_quantization_config(is_per_channel=scheme.per_channel, is_dynamic=False)
    if scheme.calibration == "minmax":  # the default config observes a histogram (what entropy / percentile get)
        observer = require("torchao.quantization.pt2e", EXTRA).MinMaxObserver.with_args(eps=2**-12)
        activation = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=observer)
        config = dataclasses.replace(config, input_activation=activation, output_activation=activation)
    return KeepFloatQuantizer().set_global(config)


def _pt2e_static(inp: QuantInput, scheme: Scheme) -> bytes:
    """Trace, insert observers, calibrate on `inp.calibration`, convert to int8 and lower with litert-torch."""
    litert_torch = require("litert_torch", EXTRA)
    qcfg = require("litert_torch.quantize.quant_config", EXTRA)
    ao = require("torchao.quantization.pt2e.quantize_pt2e", EXTRA)
    litert_torch.progress.config.show_progress = False
    quantizer = _pt2e_quantizer(scheme)
    model = inp.model
    if scheme.smooths:
        from vitedge.quantize.smooth import smoothed_module

        model = dataclasses.replace(model, module=smoothed_module(model.module, inp.calibration, scheme.smoothquant))
    prepared = ao.prepare_pt2e(_trace(model), quantizer)
    calibration = np.ascontiguousarray(inp.calibration, np.float32)
    with torch.no_grad():
        for start in range(0, len(calibration), CALIB_BATCH):
            prepared(pixel_values=torch.from_numpy(calibration[start:start + CALIB_BATCH]))
        converted = ao.convert_pt2e(prepared, fold_quantize=False)
        require("torchao.quantization.pt2e", EXTRA).move_exported_model_to_eval(converted)
        example = torch.zeros(STATIC_BATCH, *inp.model.spec.input_size)
        edge = litert_torch.convert(converted, sample_kwargs={"pixel_values": example},
                                    quant_config=qcfg.QuantConfig(pt2e_quantizer=quantizer))
    return bytes(edge.model_content())


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
