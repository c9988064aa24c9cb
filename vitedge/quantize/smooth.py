"""SmoothQuant (Xiao et al., 2023) folded into the FP32 model before static INT8.

A ViT's LayerNorm outputs carry a few channels far wider than the rest; one int8 range per tensor then leaves the
other channels a handful of levels. Dividing channel j of the LayerNorm output by s_j (its scale and shift) and
multiplying row j of the following Linear's weight by s_j computes the same function in float, and moves the spread
from the activations (per-tensor ranges) to the weights (per-channel ranges):
s_j = max|x_j|^alpha / max|w_j|^(1 - alpha), with max|x_j| measured on the calibration images.

Two forms of the same rewrite: on an ONNX graph (LayerNormalization -> MatMul pairs; ONNX Runtime and OpenVINO
quantize the rewritten file) and on a vitedge VisionTransformer (norm1 -> attn.qkv, norm2 -> mlp.fc1; LiteRT's PT2E
quantizes the rewritten module). A graph with none of these pairs is left as it is.
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np

SCALE_LIMITS = (1e-2, 1e2)  # a scale outside moves too much into one side: clipped
CALIBRATION_BATCH = 32  # images per forward pass when the PyTorch module is measured


def smoothing_scales(activation_absmax: np.ndarray, weight_absmax: np.ndarray, alpha: float) -> np.ndarray:
    """Per input channel: max|x|^alpha / max|w|^(1 - alpha), clipped to SCALE_LIMITS (channels that never fire: 1)."""
    act = np.asarray(activation_absmax, np.float64)
    weight = np.maximum(np.asarray(weight_absmax, np.float64), 1e-8)
    scales = np.where(act > 0, np.maximum(act, 1e-8) ** alpha / weight ** (1.0 - alpha), 1.0)
    return np.clip(scales, *SCALE_LIMITS).astype(np.float32)


# --- ONNX ---------------------------------------------------------------------------------------------------------


def _use_counts(model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            counts[name] = counts.get(name, 0) + 1
    return counts


def smoothable_pairs(model) -> list[tuple[object, list[object]]]:
    """(LayerNormalization node, the MatMuls reading its output) where every reader is a MatMul with its own weight
    initializer and the LayerNorm's scale and bias are initializers (exporters share equal ones: smooth_onnx gives
    each LayerNorm its own copy)."""
    initializers = {init.name for init in model.graph.initializer}
    uses = _use_counts(model)
    readers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {out.name for out in model.graph.output}
    pairs = []
    for node in model.graph.node:
        if node.op_type != "LayerNormalization" or len(node.input) < 3 or node.output[0] in outputs:
            continue
        if any(node.input[i] not in initializers for i in (1, 2)):
            continue
        users = readers.get(node.output[0], [])
        if users and all(u.op_type == "MatMul" and u.input[0] == node.output[0] and u.input[1] in initializers
                         and uses[u.input[1]] == 1 for u in users):
            pairs.append((node, users))
    return pairs


def onnx_activation_absmax(model, names: list[str], images: np.ndarray, threads: int) -> dict[str, np.ndarray]:
    """Per-channel max |value| (last axis) of the tensors `names` over `images`, run in ONNX Runtime."""
    import onnx

    from vitedge.quantize.finegrained import run_onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    values = run_onnx(probe, images, threads, names)
    return {name: np.abs(value).reshape(-1, value.shape[-1]).max(axis=0) for name, value in values.items()}


def smooth_onnx(model, images: np.ndarray, alpha: float, threads: int):
    """A copy of `model` (ONNX ModelProto) with SmoothQuant folded in, and the number of LayerNorms rewritten."""
    import onnx
    from onnx import numpy_helper

    smoothed = onnx.ModelProto()
    smoothed.CopyFrom(model)
    pairs = smoothable_pairs(smoothed)
    if not pairs:
        return smoothed, 0
    absmax = onnx_activation_absmax(smoothed, [ln.output[0] for ln, _ in pairs], images, threads)
    initializers = {init.name: init for init in smoothed.graph.initializer}
    uses = _use_counts(smoothed)

    def own(node, index: int) -> str:
        """The node's input `index` as an initializer of its own (a copy when others read it too)."""
        name = node.input[index]
        if uses[name] > 1:
            uses[name] -= 1
            copy_ = onnx.TensorProto()
            copy_.CopyFrom(initializers[name])
            copy_.name = f"{name}__smoothed_{node.name or id(node)}"
            smoothed.graph.initializer.append(copy_)
            initializers[copy_.name] = smoothed.graph.initializer[-1]
            node.input[index] = copy_.name
        return node.input[index]

    def rescale(name: str, factor: np.ndarray) -> None:
        tensor = initializers[name]
        tensor.CopyFrom(numpy_helper.from_array((numpy_helper.to_array(tensor) * factor).astype(np.float32), name))

    for ln, users in pairs:
        weights = [numpy_helper.to_array(initializers[u.input[1]]) for u in users]  # (in, out) each
        scales = smoothing_scales(absmax[ln.output[0]], np.max([np.abs(w).max(axis=1) for w in weights], axis=0),
                                  alpha)
        rescale(own(ln, 1), 1.0 / scales)
        rescale(own(ln, 2), 1.0 / scales)
        for user in users:
            rescale(user.input[1], scales[:, None])
    return smoothed, len(pairs)


def smoothed_onnx_file(fp32_path: Path, images: np.ndarray, alpha: float, threads: int) -> Path:
    """The FP32 ONNX file at `fp32_path` with SmoothQuant folded in, written once per (file, images, alpha) into
    this process's scratch folder; the file itself when no LayerNorm can be smoothed."""
    import onnx

    from vitedge.fileio import process_cache

    key = hashlib.sha256(f"{Path(fp32_path).resolve()}|{Path(fp32_path).stat().st_mtime_ns}|{alpha}".encode()
                         + np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
    out = process_cache("smoothquant") / f"{key}.onnx"
    if out.is_file():
        return out
    smoothed, count = smooth_onnx(onnx.load(str(fp32_path)), images, alpha, threads)
    if count == 0:
        return Path(fp32_path)
    onnx.save(smoothed, str(out))
    return out


# --- PyTorch (vitedge VisionTransformer) --------------------------------------------------------------------------


def torch_pairs(module) -> list[tuple[object, object]]:
    """(LayerNorm, Linear) pairs of a vitedge VisionTransformer's blocks: norm1 -> attn.qkv, norm2 -> mlp.fc1."""
    import torch.nn as nn

    pairs = []
    for block in getattr(module, "blocks", []):
        for norm, linear in ((getattr(block, "norm1", None), getattr(getattr(block, "attn", None), "qkv", None)),
                             (getattr(block, "norm2", None), getattr(getattr(block, "mlp", None), "fc1", None))):
            if isinstance(norm, nn.LayerNorm) and norm.elementwise_affine and isinstance(linear, nn.Linear):
                pairs.append((norm, linear))
    return pairs


_MODULES: dict[tuple, tuple[object, object]] = {}  # (id(module), alpha, images) -> (module, its smoothed copy)


def smoothed_module(module, images: np.ndarray, alpha: float):
    """smooth_module's copy, made once per (module, images, alpha) in this process: a fallback that converts the
    model again per try does not measure the calibration images again."""
    key = (id(module), alpha, hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest())
    kept = _MODULES.get(key)
    if kept is None or kept[0] is not module:
        kept = _MODULES[key] = (module, smooth_module(module, images, alpha)[0])
    return kept[1]


def smooth_module(module, images: np.ndarray, alpha: float):
    """A copy of `module` with SmoothQuant folded in, and the number of LayerNorms rewritten."""
    import torch

    smoothed = copy.deepcopy(module).eval()
    pairs = torch_pairs(smoothed)
    if not pairs:
        return smoothed, 0
    absmax = [torch.zeros(norm.normalized_shape[-1]) for norm, _ in pairs]

    def keep(index):
        def hook(_module, _inputs, output):
            absmax[index] = torch.maximum(absmax[index], output.detach().abs().flatten(0, -2).amax(dim=0))
        return hook

    handles = [norm.register_forward_hook(keep(i)) for i, (norm, _) in enumerate(pairs)]
    try:
        with torch.no_grad():
            for start in range(0, len(images), CALIBRATION_BATCH):
                smoothed(torch.from_numpy(np.ascontiguousarray(images[start:start + CALIBRATION_BATCH], np.float32)))
    finally:
        for handle in handles:
            handle.remove()
    with torch.no_grad():
        for (norm, linear), act in zip(pairs, absmax):
            scales = torch.from_numpy(smoothing_scales(act.numpy(), linear.weight.abs().amax(dim=0).numpy(), alpha))
            norm.weight.div_(scales)
            if norm.bias is not None:
                norm.bias.div_(scales)
            linear.weight.mul_(scales)  # (out, in): column j times s_j
    return smoothed, len(pairs)
