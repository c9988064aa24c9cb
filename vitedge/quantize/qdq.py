"""Switch single ops of a QDQ ONNX model back to float without quantizing again.

ONNX Runtime's static QDQ graph puts a QuantizeLinear -> DequantizeLinear pair on each quantized activation and a
DequantizeLinear on each quantized weight. Keeping an op in float is graph surgery on that one model: its inputs are
rewired to the float activation (the QuantizeLinear's input) and to the FP32 model's original weight and bias; the
quantizers nobody reads any more are dropped. The calibration ranges of every other op stay exactly as they were, so
switching an op off changes nothing else: the fallback measures each op's effect in seconds, not one re-quantization
per try.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHT_OPS = ("MatMul", "Gemm", "Conv")


@dataclass(frozen=True)
class QuantizedOp:
    """A weight-bearing op the QDQ model runs in INT8: its node name, a readable label and its MACs per image."""

    node: str
    label: str
    macs: int


def op_label(node_name: str) -> str:
    """`/blocks/blocks.0/attn/qkv/MatMul` -> `blocks.0.attn.qkv`; `/head/Gemm` -> `head` (exporter scopes, with the
    container repeated before each member and the op's own name dropped)."""
    parts = [p for p in node_name.strip("/").split("/") if p]
    if len(parts) < 2:
        return node_name
    parts = parts[:-1]
    kept = [p for i, p in enumerate(parts) if not (i + 1 < len(parts) and parts[i + 1].startswith(p + "."))]
    return ".".join(kept)


def quantized_ops(qdq_model, fp32_model) -> list[QuantizedOp]:
    """The weight-bearing ops of `qdq_model` fed by a DequantizeLinear, in graph order, with their MACs."""
    producers = {out: node for node in qdq_model.graph.node for out in node.output}
    macs = weight_op_macs(fp32_model)
    ops = []
    for node in qdq_model.graph.node:
        if node.op_type in WEIGHT_OPS and any(producers.get(i) is not None and producers[i].op_type == "DequantizeLinear"
                                              for i in node.input[:2]):
            ops.append(QuantizedOp(node.name, op_label(node.name), macs.get(node.name, 0)))
    return ops


def weight_op_macs(fp32_model) -> dict[str, int]:
    """Multiply-accumulates per image of each weight-bearing node: output elements per image times the weight
    elements behind one output channel. Shapes from ONNX shape inference; the batch dimension is ignored."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(fp32_model)
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    weights = {init.name: list(init.dims) for init in fp32_model.graph.initializer}
    macs = {}
    for node in fp32_model.graph.node:
        if node.op_type not in WEIGHT_OPS or len(node.input) < 2 or node.input[1] not in weights:
            continue
        out, weight = shapes.get(node.output[0]), weights[node.input[1]]
        if not out or not weight:
            continue
        channels = out[1] if node.op_type == "Conv" else out[-1]
        per_image = int(np.prod([d for d in out[1:] if d > 0]))
        macs[node.name] = per_image * int(np.prod(weight)) // max(channels, 1)
    return macs


def with_float_ops(qdq_model, fp32_model, nodes: set[str]):
    """A copy of `qdq_model` in which the weight-bearing ops named in `nodes` run in float."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(qdq_model)
    producers = {out: node for node in model.graph.node for out in node.output}
    originals = {node.name: node for node in fp32_model.graph.node}
    fp32_weights = {init.name: init for init in fp32_model.graph.initializer}
    present = {init.name for init in model.graph.initializer}
    for node in model.graph.node:
        if node.name not in nodes:
            continue
        original = originals.get(node.name)
        for index, name in enumerate(node.input):
            dq = producers.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producers.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[index] = q.input[0]
            elif original is not None and original.input[index] in fp32_weights:
                node.input[index] = _float_initializer(model, fp32_weights[original.input[index]], producers, present)
    return drop_unused(model)


def _float_initializer(model, weight, producers: dict, present: set[str]) -> str:
    """Add the FP32 `weight` to `model` once, renamed when a node already outputs its name (ORT names a bias's
    DequantizeLinear output after the float bias); its name in the model."""
    import onnx

    name = weight.name if weight.name not in producers else f"{weight.name}_float"
    if name not in present:
        copy = onnx.TensorProto()
        copy.CopyFrom(weight)
        copy.name = name
        model.graph.initializer.append(copy)
        present.add(name)
    return name


def drop_unused(model):
    """Remove nodes whose outputs nobody reads (back from the graph outputs) and initializers no node reads. A graph
    with subgraphs (If, Loop) is left as it is: their reads are not visible in node inputs."""
    if any(attr.type in (attr.GRAPH, attr.GRAPHS) for node in model.graph.node for attr in node.attribute):
        return model
    needed = {out.name for out in model.graph.output}
    kept = []
    for node in reversed(list(model.graph.node)):
        if any(out in needed for out in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    initializers = [init for init in model.graph.initializer if init.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)
    return model
