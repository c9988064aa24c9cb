"""Versions of the tools that touched an artifact, for manifests and reports."""
from __future__ import annotations

from importlib import metadata

TOOLS = ("vitedge", "torch", "onnx", "onnxruntime", "onnxslim", "openvino", "litert-torch", "ai-edge-litert", "numpy")


def tool_versions(names: tuple[str, ...] = TOOLS) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
