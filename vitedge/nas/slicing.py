"""Cut a sub-network out of a parent ViT, sharing its weights: the most important heads, neurons and channels.

Kept units stay in the parent's order, so a choice that keeps everything reproduces the parent exactly. Narrowing
the embedding changes what LayerNorm averages over: such a sub-network is a starting point for distillation, not a
faithful copy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vitedge.models.loaded import LoadedModel
from vitedge.models.vit import ViTConfig, VisionTransformer
from vitedge.models.weights import load_strict
from vitedge.nas.importance import Importance
from vitedge.nas.space import Choice, subnet_config


@dataclass(frozen=True)
class SlicePlan:
    """Parent indices kept: blocks; per kept block its heads and neurons; embedding channels."""

    blocks: tuple[int, ...]
    heads: tuple[tuple[int, ...], ...]
    neurons: tuple[tuple[int, ...], ...]
    channels: tuple[int, ...]


def top_k(scores: np.ndarray, k: int) -> tuple[int, ...]:
    """Indices of the k highest scores, in index order (stable: ties keep the lower index)."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:k]
    return tuple(sorted(int(i) for i in order))


def plan_slice(importance: Importance, choice: Choice) -> SlicePlan:
    blocks = choice.blocks
    return SlicePlan(
        blocks=blocks,
        heads=tuple(top_k(importance.heads[b], choice.heads[b]) for b in blocks),
        neurons=tuple(top_k(importance.neurons[b], choice.mlp[b]) for b in blocks),
        channels=top_k(importance.channels, choice.embed_dim))


def _qkv_rows(heads: tuple[int, ...], num_heads: int, head_dim: int) -> list[int]:
    """Rows of the packed qkv projection (q, k, v each num_heads x head_dim) that belong to `heads`."""
    return [part * num_heads * head_dim + h * head_dim + j for part in range(3) for h in heads for j in range(head_dim)]


def _head_cols(heads: tuple[int, ...], head_dim: int) -> list[int]:
    return [h * head_dim + j for h in heads for j in range(head_dim)]


def _block_state(state: dict, parent: ViTConfig, new: int, old: int, plan: SlicePlan, c: torch.Tensor) -> dict:
    src, dst, hd = f"blocks.{old}.", f"blocks.{new}.", parent.per_head_dim
    rows = torch.tensor(_qkv_rows(plan.heads[new], parent.heads_of(old), hd))
    cols = torch.tensor(_head_cols(plan.heads[new], hd))
    n = torch.tensor(plan.neurons[new])
    out = {}
    for key, value in state.items():
        if not key.startswith(src):
            continue
        name = key[len(src):]
        if name == "attn.qkv.weight":
            value = value[rows][:, c]
        elif name == "attn.qkv.bias":
            value = value[rows]
        elif name == "attn.proj.weight":
            value = value[c][:, cols]
        elif name == "mlp.fc1.weight":
            value = value[n][:, c]
        elif name == "mlp.fc1.bias":
            value = value[n]
        elif name == "mlp.fc2.weight":
            value = value[c][:, n]
        else:  # norm1, norm2, attn.proj.bias, mlp.fc2.bias, ls1.gamma, ls2.gamma: one value per channel
            value = value[..., c]
        out[dst + name] = value
    return out


def _top_state(state: dict, c: torch.Tensor) -> dict:
    out = {}
    for key, value in state.items():
        if key.startswith("blocks."):
            continue
        if key in ("cls_token", "pos_embed", "norm.weight", "norm.bias", "fc_norm.weight", "fc_norm.bias"):
            value = value[..., c]
        elif key in ("patch_embed.proj.weight", "patch_embed.proj.bias"):
            value = value[c]
        elif key in ("head.weight", "head.0.weight"):  # the classifier's first layer reads the embedding
            value = value[:, c]
        out[key] = value
    return out


def slice_state(state: dict[str, torch.Tensor], parent: ViTConfig, plan: SlicePlan) -> dict[str, torch.Tensor]:
    """The parent's tensors restricted to the plan, under the sub-network's keys (blocks renumbered)."""
    c = torch.tensor(plan.channels)
    out = _top_state(state, c)
    for new, old in enumerate(plan.blocks):
        out.update(_block_state(state, parent, new, old, plan, c))
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def slice_model(parent: LoadedModel, importance: Importance, choice: Choice, name: str | None = None
                ) -> LoadedModel:
    """The sub-network `choice` of `parent`, keeping its most important units, as a new LoadedModel."""
    config = subnet_config(parent.config, choice)
    plan = plan_slice(importance, choice)
    module = VisionTransformer(config)
    load_strict(module, slice_state(parent.module.state_dict(), parent.config, plan), f"{parent.name} (sliced)")
    notes = [f"sub-network of {parent.name}: {choice.label()}; parent blocks {list(plan.blocks)}"]
    return LoadedModel(module, parent.spec, name or f"{parent.name}-{choice.key}", f"nas:{parent.source}", config,
                       notes=notes)
