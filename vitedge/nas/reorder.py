"""Put every layer's most important units first, without changing what the network computes.

Heads of each block, MLP neurons of each block and embedding channels are permuted by their measured importance
(importance.py: Taylor scores on real images), consistently in every tensor that reads or writes them, so the
reordered network's outputs equal the parent's and a sub-network's width is simply a prefix (elastic.py).
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from vitedge.models.vit import VisionTransformer
from vitedge.nas.importance import Importance


def order(scores) -> torch.Tensor:
    """Indices by descending score; ties keep the lower index first."""
    return torch.from_numpy(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable").copy())


def _permute_heads(attn, perm: torch.Tensor) -> None:
    hd, heads = attn.head_dim, attn.num_heads
    w = attn.qkv.weight
    w.copy_(w.view(3, heads, hd, -1)[:, perm].reshape(w.shape))
    if attn.qkv.bias is not None:
        attn.qkv.bias.copy_(attn.qkv.bias.view(3, heads, hd)[:, perm].reshape(-1))
    p = attn.proj.weight
    p.copy_(p.view(p.shape[0], heads, hd)[:, perm].reshape(p.shape))


def _permute_neurons(mlp, perm: torch.Tensor) -> None:
    mlp.fc1.weight.copy_(mlp.fc1.weight[perm])
    mlp.fc1.bias.copy_(mlp.fc1.bias[perm])
    mlp.fc2.weight.copy_(mlp.fc2.weight[:, perm])


def _permute_channels(vit: VisionTransformer, perm: torch.Tensor) -> None:
    """Every tensor indexed by the residual stream's channels, in the same order."""
    rows = [vit.patch_embed.proj.weight, vit.patch_embed.proj.bias]
    last = [vit.pos_embed] + ([vit.cls_token] if vit.cls_token is not None else [])
    cols = []
    for norm in (vit.norm, vit.fc_norm):
        if not isinstance(norm, torch.nn.Identity):
            rows += [norm.weight, norm.bias]
    for block in vit.blocks:
        rows += [block.norm1.weight, block.norm1.bias, block.norm2.weight, block.norm2.bias,
                 block.attn.proj.weight, block.attn.proj.bias, block.mlp.fc2.weight, block.mlp.fc2.bias]
        rows += [ls.gamma for ls in (block.ls1, block.ls2) if not isinstance(ls, torch.nn.Identity)]
        cols += [block.attn.qkv.weight, block.mlp.fc1.weight]
    head = vit.head if isinstance(vit.head, torch.nn.Linear) else (vit.head[0] if len(vit.head) else None)
    if isinstance(head, torch.nn.Linear):
        cols.append(head.weight)
    for t in rows:
        t.copy_(t[perm])
    for t in cols:
        t.copy_(t[:, perm])
    for t in last:
        t.copy_(t[..., perm])


@torch.no_grad()
def reorder_by_importance(vit: VisionTransformer, importance: Importance) -> VisionTransformer:
    """A copy of `vit` with heads, neurons and channels sorted by importance (same outputs)."""
    out = copy.deepcopy(vit).eval()
    for index, block in enumerate(out.blocks):
        _permute_heads(block.attn, order(importance.heads[index]))
        _permute_neurons(block.mlp, order(importance.neurons[index]))
    _permute_channels(out, order(importance.channels))
    return out
