"""Checkpoints written out in timm's key names, and a ViT forward written with plain torch ops, per head, from timm's
and transformers' definitions: the known outputs the variant tests compare vitedge's loaded models with."""
from __future__ import annotations

import json
import math

import torch
from safetensors.torch import save_file
from torch.nn import functional as F

DIM, DEPTH, HEADS, MLP = 32, 2, 2, 64


def timm_state(patch: int, grid: tuple[int, int], classes: int, chans: int = 3, *, cls: bool = True,
               dist: bool = False, regs: int = 0, no_embed_class: bool = False, layer_scale: bool = False,
               head_dist: bool = False, fc_norm: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under timm VisionTransformer's names (deit.py's dist_token / head_dist for DeiT distilled)."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.3, offset=0.0):
        return torch.randn(*shape, generator=g) * scale + offset

    prefix = int(cls) + int(dist) + regs
    state = {"patch_embed.proj.weight": rand(DIM, chans, patch, patch, scale=0.1), "patch_embed.proj.bias": rand(DIM),
             "pos_embed": rand(1, grid[0] * grid[1] + (0 if no_embed_class else prefix), DIM)}
    for name, present, count in (("cls_token", cls, 1), ("dist_token", dist, 1), ("reg_token", regs, regs)):
        if present:
            state[name] = rand(1, count, DIM)
    for i in range(DEPTH):
        b = f"blocks.{i}."
        state |= {b + "norm1.weight": rand(DIM, offset=1.0), b + "norm1.bias": rand(DIM),
                  b + "attn.qkv.weight": rand(3 * DIM, DIM, scale=0.2), b + "attn.qkv.bias": rand(3 * DIM),
                  b + "attn.proj.weight": rand(DIM, DIM, scale=0.2), b + "attn.proj.bias": rand(DIM),
                  b + "norm2.weight": rand(DIM, offset=1.0), b + "norm2.bias": rand(DIM),
                  b + "mlp.fc1.weight": rand(MLP, DIM, scale=0.2), b + "mlp.fc1.bias": rand(MLP),
                  b + "mlp.fc2.weight": rand(DIM, MLP, scale=0.2), b + "mlp.fc2.bias": rand(DIM)}
        if layer_scale:
            state |= {b + "ls1.gamma": rand(DIM, offset=0.5), b + "ls2.gamma": rand(DIM, offset=0.5)}
    norm = "fc_norm" if fc_norm else "norm"
    state |= {f"{norm}.weight": rand(DIM, offset=1.0), f"{norm}.bias": rand(DIM)}
    for head, present in (("head", classes > 0), ("head_dist", head_dist and classes > 0)):
        if present:
            state |= {f"{head}.weight": rand(classes, DIM), f"{head}.bias": rand(classes)}
    return state


def _layer_norm(x, state, name, eps):
    return F.layer_norm(x, (x.shape[-1],), state[f"{name}.weight"], state[f"{name}.bias"], eps)


def _attention(x, state, b):
    """Multi-head self-attention written per head: q, k, v rows of the fused qkv weight, softmax(q k^T / sqrt(d))."""
    w, bias = state[b + "attn.qkv.weight"], state[b + "attn.qkv.bias"]
    head_dim = DIM // HEADS
    outs = []
    for h in range(HEADS):
        rows = [slice(part * DIM + h * head_dim, part * DIM + (h + 1) * head_dim) for part in range(3)]
        q, k, v = (x @ w[r].T + bias[r] for r in rows)
        outs.append(torch.softmax(q @ k.transpose(1, 2) / math.sqrt(head_dim), dim=-1) @ v)
    return torch.cat(outs, dim=-1) @ state[b + "attn.proj.weight"].T + state[b + "attn.proj.bias"]


def blocks(x, state, eps):
    """timm / DINOv2 pre-norm blocks, with LayerScale where the state has ls1 / ls2."""
    for i in range(DEPTH):
        b = f"blocks.{i}."
        scale1, scale2 = state.get(b + "ls1.gamma", 1.0), state.get(b + "ls2.gamma", 1.0)
        x = x + _attention(_layer_norm(x, state, b + "norm1", eps), state, b) * scale1
        hidden = F.gelu(_layer_norm(x, state, b + "norm2", eps) @ state[b + "mlp.fc1.weight"].T
                        + state[b + "mlp.fc1.bias"])
        x = x + (hidden @ state[b + "mlp.fc2.weight"].T + state[b + "mlp.fc2.bias"]) * scale2
    return x


def patch_tokens(x, state, patch):
    return F.conv2d(x, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=patch) \
        .flatten(2).transpose(1, 2)


def timm_tokens(x, state, patch, no_embed_class=False):
    """timm's _pos_embed: [cls, dist, reg] then patches; pos_embed added after (or, no_embed_class, before) the
    concatenation."""
    t = patch_tokens(x, state, patch)
    prefix = [state[k].expand(x.shape[0], -1, -1) for k in ("cls_token", "dist_token", "reg_token") if k in state]
    if no_embed_class:
        return torch.cat(prefix + [t + state["pos_embed"]], dim=1)
    return torch.cat(prefix + [t], dim=1) + state["pos_embed"]


def head_outputs(t, state, eps, pool="token", prefix=1):
    """timm's forward_head: final norm, pool (token / avg / max / avgmax of the patch tokens, then fc_norm), head;
    DeiT distilled: the mean of head(x[:, 0]) and head_dist(x[:, 1])."""
    if "norm.weight" in state:
        t = _layer_norm(t, state, "norm", eps)
    if "head_dist.weight" in state:
        return ((t[:, 0] @ state["head.weight"].T + state["head.bias"])
                + (t[:, 1] @ state["head_dist.weight"].T + state["head_dist.bias"])) / 2
    patches = t[:, prefix:]
    pooled = {"token": lambda: t[:, 0], "avg": lambda: patches.mean(1), "max": lambda: patches.max(1).values,
              "avgmax": lambda: (patches.max(1).values + patches.mean(1)) / 2}[pool]()
    if "fc_norm.weight" in state:
        pooled = _layer_norm(pooled, state, "fc_norm", eps)
    return pooled @ state["head.weight"].T + state["head.bias"] if "head.weight" in state else pooled


def timm_forward(x, state, patch, eps=1e-6, pool="token", no_embed_class=False):
    prefix = sum(state[k].shape[1] for k in ("cls_token", "dist_token", "reg_token") if k in state)
    t = blocks(timm_tokens(x, state, patch, no_embed_class), state, eps)
    return head_outputs(t, state, eps, pool, prefix)


def resampled(pos: torch.Tensor, prefix: int, old: tuple[int, int], new: tuple[int, int], antialias: bool):
    """The definition both libraries use: the patch rows as a (D, h, w) image, bicubic, align_corners=False."""
    grid = pos[:, prefix:].reshape(1, *old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new, mode="bicubic", align_corners=False, antialias=antialias)
    return torch.cat([pos[:, :prefix], grid.permute(0, 2, 3, 1).reshape(1, new[0] * new[1], -1)], dim=1)


def hf_blocks(state: dict[str, torch.Tensor], prefix: str, dinov2: bool) -> dict[str, torch.Tensor]:
    """timm block tensors under transformers' names: query/key/value split, ViT's layernorm_before / intermediate /
    output names, or DINOv2's norm1 / mlp / layer_scale names."""
    out = {}
    names = ({"norm1": "norm1", "norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"} if dinov2 else
             {"norm1": "layernorm_before", "norm2": "layernorm_after", "mlp.fc1": "intermediate.dense",
              "mlp.fc2": "output.dense"})
    for i in range(DEPTH):
        b, h = f"blocks.{i}.", f"{prefix}encoder.layer.{i}."
        for p in ("weight", "bias"):
            for part, tensor in zip(("query", "key", "value"), state[f"{b}attn.qkv.{p}"].chunk(3)):
                out[f"{h}attention.attention.{part}.{p}"] = tensor
            out[f"{h}attention.output.dense.{p}"] = state[f"{b}attn.proj.{p}"]
            out |= {f"{h}{hf}.{p}": state[f"{b}{timm}.{p}"] for timm, hf in names.items()}
        if dinov2:
            out[f"{h}layer_scale1.lambda1"], out[f"{h}layer_scale2.lambda1"] = state[b + "ls1.gamma"], \
                state[b + "ls2.gamma"]
    return out


def hf_embeddings(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Patch embedding, position embeddings, class token and final LayerNorm under transformers' names."""
    out = {f"{prefix}embeddings.cls_token": state["cls_token"],
           f"{prefix}embeddings.position_embeddings": state["pos_embed"],
           f"{prefix}layernorm.weight": state["norm.weight"], f"{prefix}layernorm.bias": state["norm.bias"]}
    for p in ("weight", "bias"):
        out[f"{prefix}embeddings.patch_embeddings.projection.{p}"] = state[f"patch_embed.proj.{p}"]
    return out


def hf_folder(tmp_path, config: dict, tensors: dict, preprocessor: dict | None = None):
    """A Hugging Face model folder: config.json, model.safetensors and, when given, preprocessor_config.json."""
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in tensors.items()}, folder / "model.safetensors")
    if preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


def outputs(model, x):
    with torch.no_grad():
        return model.module(x)
