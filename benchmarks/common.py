"""Shared by the benchmark scripts: a reproducible DeiT-Tiny checkpoint (random weights, seed 0, timm layout)."""
from __future__ import annotations

from pathlib import Path


def deit_random_weights(folder: Path) -> str:
    import torch
    from safetensors.torch import save_file

    from vitedge.models import load_model

    torch.manual_seed(0)
    state = load_model("deit_tiny_patch16_224", random_init=True).module.state_dict()
    path = Path(folder) / "deit_tiny_random.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    return str(path)
