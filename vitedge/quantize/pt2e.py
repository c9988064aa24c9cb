"""LiteRT static INT8 through PT2E: calibrate once, simulate in PyTorch, put ops back in float, lower to .tflite.

1. The module (SmoothQuant folded in, smooth.py) is traced with torch.export, litert-torch's PT2E quantizer inserts
   observers (int8 per-channel weights; int8 activations on the Linear / Conv inputs and outputs, the adds, muls
   and concats it can run in int8) and the calibration images run once. The model's output layer stays float:
   int8 logits (one scale for all classes) cost the real DeiT-Tiny more logit KL than any other op (0.0119 ->
   0.0109 with a float head) for 0.02% of its MACs and 0.6 MB more file (7.1 MB instead of 6.5 MB). (A dynamic-range
   head is no way out: litert-torch lowers it to float weights, the final LayerNorm folded in.)
2. convert_pt2e gives a PyTorch graph with quantize -> dequantize pairs that runs in PyTorch and simulates the int8
   model (DeiT-Tiny: logit KL 0.0105 simulated, 0.0119 lowered). An op goes back to float by rerouting its inputs
   and its output around their pairs: no re-calibration, every other range stays as it was.
3. litert-torch lowers that graph: int8 FULLY_CONNECTED / CONV_2D where pairs remain, float ops where they do not.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from vitedge.export.base import require
from vitedge.export.tflite import STATIC_BATCH, _NamedIO
from vitedge.models.loaded import LoadedModel
from vitedge.quantize.qdq import QuantizedOp
from vitedge.quantize.scheme import Scheme

EXTRA = "tflite"
WEIGHT_OPS = ("aten.linear.default", "aten.conv2d.default")
CALIB_BATCH = 32  # calibration / simulation batch (the traced graph has a dynamic batch dimension)
ROOT = "module"  # attribute of _NamedIO holding the model
PERCENTILE = 99.999  # `percentile` ranges: this percentile of each activation (and 100 minus it), per batch, averaged
PASS_THROUGH = ("view", "reshape", "flatten", "squeeze", "unsqueeze", "getitem", "select", "slice", "contiguous",
                "clone", "dropout")  # ops between the output layer and the graph output


@dataclass
class Simulated:
    """A calibrated PT2E model: the simulating graph, the quantizer that made it and its quantized weight ops."""

    graph: torch.fx.GraphModule
    quantizer: object
    ops: list[QuantizedOp]  # node = label = module path; macs per image
    output_layers: tuple[str, ...]  # float by design (float logits)


def trace(model: LoadedModel) -> torch.fx.GraphModule:
    """torch.export of the IO-named wrapper with a dynamic batch, as a GraphModule."""
    wrapped = _NamedIO(model.module, model.spec.output_name).eval()
    example = torch.zeros(2, *model.spec.input_size)
    batch = {"pixel_values": {0: torch.export.Dim("batch")}}
    return torch.export.export(wrapped, (), {"pixel_values": example}, dynamic_shapes=batch).module()


def node_module(node) -> str | None:
    """The innermost module path of an FX node, relative to the model (`blocks.0.attn.qkv`)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return None
    path = list(stack.values())[-1][0]
    return path[len(ROOT) + 1:] if path.startswith(ROOT + ".") else None


def weight_nodes(graph: torch.fx.GraphModule) -> list[tuple[str, object]]:
    """(module path, node) of every Linear / Conv call, in graph order."""
    return [(node_module(n), n) for n in graph.graph.nodes
            if n.op == "call_function" and str(n.target) in WEIGHT_OPS and node_module(n)]


def output_layers(graph: torch.fx.GraphModule) -> set[str]:
    """Module paths of the Linear / Conv calls whose result is a graph output (through reshapes only)."""
    found, todo = set(), [a for out in graph.graph.nodes if out.op == "output" for a in _flat(out.args)]
    while todo:
        node = todo.pop()
        if not isinstance(node, torch.fx.Node) or node.op != "call_function":
            continue
        if str(node.target) in WEIGHT_OPS and node_module(node):
            found.add(node_module(node))
        elif any(word in str(node.target) for word in PASS_THROUGH):
            todo.append(node.args[0])
    return found


def _flat(args) -> list:
    if isinstance(args, (list, tuple)):
        return [x for a in args for x in _flat(a)]
    if isinstance(args, dict):
        return [x for a in args.values() for x in _flat(a)]
    return [args]


def _macs(node) -> int:
    """Multiply-accumulates per image: output elements per image times the weight elements behind one output."""
    out, weight = node.meta.get("val"), node.args[1].meta.get("val")
    if out is None or weight is None:
        return 0
    per_output = int(np.prod(weight.shape[1:]))
    return int(np.prod([int(d) for d in out.shape[1:]])) * per_output


def pt2e_quantizer(scheme: Scheme, skip: set[str]):
    """litert-torch's PT2E quantizer, its activation observer from `scheme.calibration`, skipping `skip` modules."""
    pt2e = require("litert_torch.quantize.pt2e_quantizer", EXTRA)
    config = pt2e.get_symmetric_quantization_config(is_per_channel=scheme.per_channel, is_dynamic=False)
    observer = _activation_observer(scheme.calibration)
    if observer is not None:
        activation = dataclasses.replace(config.input_activation,
                                         observer_or_fake_quant_ctr=observer.with_args(eps=2**-12))
        config = dataclasses.replace(config, input_activation=activation, output_activation=activation)

    class SkippingQuantizer(pt2e.PT2EQuantizer):
        # set_module_name() refuses None and its name filter misreads torch>=2.5 module stacks: filter here
        def _annotate_for_static_quantization_config(self, model):
            return self._annotate_all_static_patterns(model, self.global_config, lambda n: node_module(n) not in skip)

    return SkippingQuantizer().set_global(config)


def _activation_observer(method: str):
    """minmax: MinMaxObserver; percentile: PercentileObserver; entropy: None (the config's HistogramObserver, which
    minimises the L2 error of the histogram: the nearest PT2E has)."""
    observers = require("torchao.quantization.pt2e", EXTRA)
    if method == "minmax":
        return observers.MinMaxObserver
    return _percentile_observer(observers.MinMaxObserver) if method == "percentile" else None


def _percentile_observer(base):
    class PercentileObserver(base):
        """Range = the PERCENTILE-th and (100 - PERCENTILE)-th value of each batch, averaged over the batches."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.batches, self.sums = 0, torch.zeros(2)

        def forward(self, x):
            if x.numel() == 0:
                return x
            flat = x.detach().float().flatten()
            tail = max(1, int(round(flat.numel() * (1 - PERCENTILE / 100))))
            high, low = flat.topk(tail).values[-1], -(-flat).topk(tail).values[-1]
            self.sums, self.batches = self.sums + torch.stack([low, high]), self.batches + 1
            self.min_val.resize_(()).copy_(self.sums[0] / self.batches)
            self.max_val.resize_(()).copy_(self.sums[1] / self.batches)
            return x

    return PercentileObserver


def calibrated(model: LoadedModel, calibration: np.ndarray, scheme: Scheme) -> Simulated:
    """Trace `model` (SmoothQuant folded in when `scheme` smooths), calibrate on `calibration`, convert to the
    simulating graph."""
    ao = require("torchao.quantization.pt2e.quantize_pt2e", EXTRA)
    if scheme.smooths:
        from vitedge.quantize.smooth import smoothed_module

        model = dataclasses.replace(model, module=smoothed_module(model.module, calibration, scheme.smoothquant))
    graph = trace(model)
    skip = output_layers(graph)
    macs = {path: _macs(node) for path, node in weight_nodes(graph)}  # shapes from the traced graph
    quantizer = pt2e_quantizer(scheme, skip)
    prepared = ao.prepare_pt2e(graph, quantizer)
    run(prepared, calibration)
    converted = ao.convert_pt2e(prepared, fold_quantize=False)
    require("torchao.quantization.pt2e", EXTRA).move_exported_model_to_eval(converted)
    ops = {path: QuantizedOp(path, path, macs.get(path, 0)) for path, _ in weight_nodes(converted) if path not in skip}
    return Simulated(converted, quantizer, list(ops.values()), tuple(sorted(skip)))


def run(graph: torch.fx.GraphModule, inputs: np.ndarray) -> np.ndarray:
    """The graph's first output on `inputs`, CALIB_BATCH images at a time."""
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), CALIB_BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start:start + CALIB_BATCH], np.float32))
            result = graph(pixel_values=batch)
            outputs.append(next(iter(result.values())) if isinstance(result, dict) else result)
    return torch.cat(outputs).numpy()


def _is_dequantize(node) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_function" and "dequantize_per" in str(node.target)


def _is_quantize(node) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_function" and "quantize_per" in str(node.target) \
        and not _is_dequantize(node)


def with_float(sim: Simulated, modules: set[str] | list[str] | tuple[str, ...]) -> torch.fx.GraphModule:
    """A copy of the simulating graph with the weight ops of `modules` in float: their activation and weight inputs
    read the values before quantization, their outputs skip the pair after them."""
    graph = copy.deepcopy(sim.graph)
    modules = set(modules)
    for path, node in weight_nodes(graph):
        if path not in modules:
            continue
        for arg in node.all_input_nodes:
            if _is_dequantize(arg) and _is_quantize(arg.args[0]):
                node.replace_input_with(arg, arg.args[0].args[0])
        for quantize in [user for user in node.users if _is_quantize(user)]:
            for dequantize in [user for user in quantize.users if _is_dequantize(user)]:
                dequantize.replace_all_uses_with(node)
    graph.graph.eliminate_dead_code()
    graph.recompile()
    return graph


def lower(graph: torch.fx.GraphModule, sim: Simulated, model: LoadedModel) -> bytes:
    """The .tflite bytes of a simulating graph (litert-torch; int8 model input, float output layer)."""
    litert_torch = require("litert_torch", EXTRA)
    qcfg = require("litert_torch.quantize.quant_config", EXTRA)
    litert_torch.progress.config.show_progress = False
    example = torch.zeros(STATIC_BATCH, *model.spec.input_size)
    for module in graph.modules():  # move_exported_model_to_eval already rewrote the ops; eval() raises on it
        module.training = False
    with torch.no_grad():
        edge = litert_torch.convert(graph, sample_kwargs={"pixel_values": example},
                                    quant_config=qcfg.QuantConfig(pt2e_quantizer=sim.quantizer))
    return bytes(edge.model_content())
