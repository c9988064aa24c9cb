"""Roofline latency estimate from an artifact's own ONNX graph and a device profile.

`count_graph` counts the multiply-accumulates of MatMul / Gemm / Conv (and their integer / QLinear forms) with
shapes from ONNX shape inference at batch 1, the bytes of the stored weights (int8 = 1, fp16 = 2, fp32 = 4 bytes
per value, as stored) and the bytes of every intermediate tensor written once (DequantizeLinear outputs excepted:
runtimes fuse a QDQ pair into the int8 kernel). `estimate_latency_ms` takes the
slower of compute (2 x MACs / dense peak) and memory (bytes / bandwidth), times a host correction.

Host correction: the caller measures an artifact here (`x86-cpu`), estimates the same artifact with the
`x86-cpu` profile (`host_correction(measured_ms, estimate)`), and passes measured / estimated to the device
estimates, so the fraction of peak a real runtime reaches on this host carries over. For OpenVINO / TFLite
artifacts, pass the sibling ONNX of the same precision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitedge.errors import VitedgeError
from vitedge.targets.profile import BANDWIDTH_KEY, PEAK_KEYS, TargetProfile

# op type -> (index of the left operand / data input, index of the right operand / weight)
MATMULS = {"MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3), "Gemm": (0, 1)}
CONVS = {"Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3), "ConvTranspose": (0, 1)}
QUANTIZE_OPS = ("QuantizeLinear", "DynamicQuantizeLinear")
# outputs never written to memory: constants, and the float tensors of a QDQ pair, which int8 runtimes (TensorRT,
# ORT, XNNPACK) fold into the neighbouring int8 kernel; the int8 tensor QuantizeLinear writes is counted
UNMATERIALISED = ("Constant", "DequantizeLinear")


@dataclass(frozen=True)
class GraphCost:
    """Work of one inference at batch 1. `unresolved`: MAC ops whose shapes inference could not give."""

    macs: int
    weight_bytes: int
    activation_bytes: int
    unresolved: tuple[str, ...] = ()

    @property
    def bytes_moved(self) -> int:
        """Weights read once plus every intermediate tensor written once (no credit for caches or fusion)."""
        return self.weight_bytes + self.activation_bytes


@dataclass(frozen=True)
class Estimate:
    latency_ms: float
    compute_ms: float
    memory_ms: float
    bound: str  # "compute" | "memory"
    basis: str  # the peaks, their sources and the correction, in one sentence


def _itemsize(onnx, elem_type: int) -> int:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).itemsize


def _fix_batch(model) -> None:
    """Set every symbolic dimension of the graph inputs / outputs to 1; drop stale value_info; sort the nodes."""
    for value in [*model.graph.input, *model.graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.dim_value = 1
    del model.graph.value_info[:]
    _sort_nodes(model.graph)


def _sort_nodes(graph) -> None:
    """Topological order: shape inference walks nodes in order, and fp16 conversion appends its Casts last."""
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    ordered, state = [], {}  # state: 1 visiting, 2 done

    def visit(i: int) -> None:
        stack = [(i, iter(graph.node[i].input))]
        state[i] = 1
        while stack:
            j, inputs = stack[-1]
            dep = next((producer[n] for n in inputs if n in producer and producer[n] not in state), None)
            if dep is None:
                state[j] = 2
                ordered.append(graph.node[j])
                stack.pop()
            else:
                state[dep] = 1
                stack.append((dep, iter(graph.node[dep].input)))

    for i in range(len(graph.node)):
        if i not in state:
            visit(i)
    nodes = [type(n)() for n in ordered]
    for copy, node in zip(nodes, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(nodes)


def _shapes(onnx, model) -> dict[str, tuple[list[int] | None, int]]:
    """Tensor name -> (static shape or None, element type), from inference and the initializers."""
    known = {}
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        t = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        static = t.HasField("shape") and all(d is not None for d in dims)
        known[value.name] = (dims if static else None, t.elem_type)
    for init in model.graph.initializer:
        known[init.name] = (list(init.dims), init.data_type)
    return known


def _node_macs(node, shapes) -> int | None:
    """MACs of one MatMul / Gemm / Conv-like node; None when a needed shape is unknown; 0 for other ops."""
    if node.op_type not in MATMULS and node.op_type not in CONVS:
        return 0
    left, right = (MATMULS | CONVS)[node.op_type]
    a, b = (shapes.get(node.input[i], (None, 0))[0] for i in (left, right))
    out = shapes.get(node.output[0], (None, 0))[0]
    if a is None or b is None or out is None:
        return None
    if node.op_type == "Gemm":
        trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
        return math.prod(out) * (a[0] if trans_a else a[1])
    if node.op_type in MATMULS:
        return math.prod(out) * a[-1]
    if node.op_type == "ConvTranspose":
        return math.prod(a) * math.prod(b[1:])
    return math.prod(out) * math.prod(b[1:])  # output elements x (input channels per group x kernel)


def _weight_bytes(onnx, model) -> int:
    """Stored weight bytes; a float initializer that only feeds QuantizeLinear counts 1 byte per value."""
    consumers: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    total = 0
    for init in model.graph.initializer:
        quantized = consumers.get(init.name) and consumers[init.name] <= set(QUANTIZE_OPS)
        total += math.prod(init.dims) * (1 if quantized else _itemsize(onnx, init.data_type))
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    total += math.prod(attr.t.dims) * _itemsize(onnx, attr.t.data_type)
    return total


def count_graph(onnx_path: Path) -> GraphCost:
    """MACs, weight bytes and activation bytes of one inference at batch 1 of the ONNX model at `onnx_path`."""
    import onnx

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ... depending on the damage
        raise VitedgeError(f"{onnx_path} is not a readable ONNX model: {exc}") from None
    _fix_batch(model)
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = _shapes(onnx, model)
    macs, activations, unresolved = 0, 0, []
    for node in model.graph.node:
        node_macs = _node_macs(node, shapes)
        if node_macs is None:
            unresolved.append(node.name or node.op_type)
        macs += node_macs or 0
        if node.op_type in UNMATERIALISED:
            continue
        for name in node.output:
            shape, elem = shapes.get(name, (None, 0))
            if shape is not None and elem:
                activations += math.prod(shape) * _itemsize(onnx, elem)
    return GraphCost(macs=int(macs), weight_bytes=int(_weight_bytes(onnx, model)),
                     activation_bytes=int(activations), unresolved=tuple(unresolved))


def estimate_latency_ms(cost: GraphCost, profile: TargetProfile, precision: str,
                        host_correction: float = 1.0) -> Estimate:
    """Roofline: max(2 x MACs / dense peak, bytes moved / bandwidth) x `host_correction` (measured / estimated
    on this host; 1.0 for the bare roofline)."""
    if not host_correction or host_correction <= 0 or not math.isfinite(host_correction):
        raise VitedgeError(f"host correction {host_correction!r} is not a positive number",
                           "pass measured / estimated latency of the same artifact on this host, or 1.0")
    peak = profile.peak_ops(precision)
    compute_ms = 2 * cost.macs / peak * 1e3
    memory_ms = cost.bytes_moved / profile.bandwidth_bytes * 1e3
    bound = "compute" if compute_ms >= memory_ms else "memory"
    key = PEAK_KEYS[precision]
    unit = "TOPS" if key.endswith("tops") else "TFLOPS"
    basis = (f"roofline on {profile.title}: max(2 x {cost.macs:,} MACs at {profile.peak[key]:g} {unit} dense "
             f"{precision} [{profile.sources[key].cite()}], {cost.bytes_moved:,} bytes at "
             f"{profile.peak[BANDWIDTH_KEY]:g} GB/s [{profile.sources[BANDWIDTH_KEY].cite()}]) "
             f"x host correction {host_correction:.3g}; {bound}-bound")
    return Estimate(latency_ms=max(compute_ms, memory_ms) * host_correction, compute_ms=compute_ms,
                    memory_ms=memory_ms, bound=bound, basis=basis)


def host_correction(measured_ms: float, host_estimate: Estimate) -> float:
    """measured / estimated latency of one artifact on this host (both at the same precision and threads)."""
    if measured_ms <= 0 or host_estimate.latency_ms <= 0:
        raise VitedgeError("a host correction needs a positive measured and estimated latency")
    return measured_ms / host_estimate.latency_ms
