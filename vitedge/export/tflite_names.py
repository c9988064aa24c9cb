"""Readable tensor names in .tflite files: litert-torch scopes (`vitedge.models.vit.Block_0/...Linear_qkv`) become
module paths (`blocks.0.attn.qkv`). On a small ViT the long names are a third of the file."""
from __future__ import annotations

import torch

from vitedge.export.base import require

ROOT = "module"  # attribute of the export wrapper (_NamedIO) holding the model


def module_scopes(module: torch.nn.Module) -> dict[str, str]:
    """litert-torch tensor-name scope (`pkg.Class_attr/...`) of every submodule -> its module path."""
    qual = lambda m: f"{type(m).__module__}.{type(m).__qualname__}"
    root = f"vitedge.export.tflite._NamedIO/{qual(module)}_{ROOT}"
    by_path = {"": root}
    for path, sub in module.named_modules():
        if path:
            parent, _, attr = path.rpartition(".")
            by_path[path] = f"{by_path[parent]}/{qual(sub)}_{attr}"
    scopes = {scope: path for path, scope in by_path.items()}
    return {**{path: path for path in by_path if path}, **scopes}  # already-readable names map to themselves


def readable_names(data: bytes, scopes: dict[str, str]) -> bytes:
    """Rename tensors from litert-torch scopes (`vitedge.models.vit.Block_0/...Linear_qkv;1`) to module paths
    (`blocks.0.attn.qkv;1`), and tracing wrappers' names to `t`: on a small ViT long names are a third of the file."""
    fu = require("ai_edge_quantizer.utils.tfl_flatbuffer_utils", "tflite")
    fb = require("ai_edge_litert.tools.flatbuffer_utils", "tflite")
    model = fu.read_model(bytearray(data))
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            pieces = fu.get_tensor_name(tensor).split(";")
            tensor.name = ";".join(_readable(piece, scopes) for piece in pieces).encode()
    return bytes(fb.convert_object_to_bytearray(model))


def _readable(piece: str, scopes: dict[str, str]) -> str:
    if piece in scopes:
        return scopes[piece] or "model"
    return "t" if "<locals>" in piece else piece
