"""The supernet: a pretrained VisionTransformer run as any of its sub-networks, sharing one set of weights.

`elastic_forward(vit, x, sub)` runs the sub-network `sub` (SubnetConfig) of `vit` on images already at
`sub.resolution`: position embeddings interpolated to the token grid (bicubic, antialiased, as timm resamples them),
the kept blocks only, and the first `heads` / `mlp` / `embed` units of every layer (reorder.py puts the most
important first). `extract(vit, sub)` builds the same sub-network as a standalone VisionTransformer whose outputs
equal `elastic_forward`'s, so a variant exports like any other model.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from vitedge.models.merging import merge_tokens, proportional_bias
from vitedge.models.vit import VisionTransformer, pool
from vitedge.nas.subnet import SubnetConfig, subnet_architecture


def resample_pos_embed(pos: torch.Tensor, prefix: int, grid: int) -> torch.Tensor:
    """Position embeddings (1, prefix + g*g, D) for a grid x grid token map: the patch part resampled bicubically."""
    tokens = pos.shape[1] - prefix
    old = int(round(tokens ** 0.5))
    if old * old != tokens:
        raise ValueError(f"position embeddings of {tokens} patch tokens are not a square grid")
    if old == grid:
        return pos
    patches = pos[:, prefix:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=(grid, grid), mode="bicubic", antialias=True, align_corners=False)
    return torch.cat([pos[:, :prefix], patches.permute(0, 2, 3, 1).reshape(1, grid * grid, -1)], dim=1)


def _attention(attn, x: torch.Tensor, heads: int, embed: int, bias: torch.Tensor | None):
    batch, tokens, _ = x.shape
    hd, total = attn.head_dim, attn.num_heads
    w = attn.qkv.weight.view(3, total, hd, -1)[:, :heads, :, :embed].reshape(3 * heads * hd, embed)
    b = attn.qkv.bias.view(3, total, hd)[:, :heads].reshape(-1) if attn.qkv.bias is not None else None
    qkv = F.linear(x, w, b).reshape(batch, tokens, 3, heads, hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * attn.scale, qkv[1], qkv[2]
    logits = q @ k.transpose(-2, -1)
    if bias is not None:
        logits = logits + bias
    out = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, tokens, heads * hd)
    return F.linear(out, attn.proj.weight[:embed, :heads * hd], attn.proj.bias[:embed]), k.mean(dim=1)


def _norm(norm, x: torch.Tensor, embed: int) -> torch.Tensor:
    if isinstance(norm, torch.nn.Identity):
        return x
    return F.layer_norm(x, (embed,), norm.weight[:embed], norm.bias[:embed], norm.eps)


def _scale(layer_scale, x: torch.Tensor, embed: int) -> torch.Tensor:
    return x if isinstance(layer_scale, torch.nn.Identity) else x * layer_scale.gamma[:embed]


def _block(block, x: torch.Tensor, size: torch.Tensor | None, bias: torch.Tensor | None, sub: SubnetConfig,
           merges: bool):
    e = sub.embed
    out, keys = _attention(block.attn, _norm(block.norm1, x, e), sub.heads, e, bias)
    x = x + _scale(block.ls1, out, e)
    if merges:
        x, size = merge_tokens(x, size, keys, sub.merge)
    fc1, fc2 = block.mlp.fc1, block.mlp.fc2
    hidden = block.mlp.act(F.linear(_norm(block.norm2, x, e), fc1.weight[:sub.mlp, :e], fc1.bias[:sub.mlp]))
    return x + _scale(block.ls2, F.linear(hidden, fc2.weight[:e, :sub.mlp], fc2.bias[:e]), e), size


def _head(vit: VisionTransformer, pooled: torch.Tensor, embed: int) -> torch.Tensor:
    head = vit.head
    if isinstance(head, torch.nn.Identity):
        return pooled
    first = head if isinstance(head, torch.nn.Linear) else head[0]
    out = F.linear(pooled, first.weight[:, :embed], first.bias)
    return out if isinstance(head, torch.nn.Linear) else head[1:](out)


def elastic_forward(vit: VisionTransformer, x: torch.Tensor, sub: SubnetConfig) -> torch.Tensor:
    """Logits of the sub-network `sub` of `vit` for images `x` at sub.resolution."""
    cfg, e = vit.cfg, sub.embed
    proj = vit.patch_embed.proj
    x = F.conv2d(x, proj.weight[:e], proj.bias[:e], stride=proj.stride).flatten(2).transpose(1, 2)
    prefix = int(cfg.class_token)
    if prefix:
        x = torch.cat([vit.cls_token[..., :e].expand(x.shape[0], -1, -1), x], dim=1)
    x = x + resample_pos_embed(vit.pos_embed[..., :e], prefix, sub.resolution // cfg.patch_size)
    size = bias = None
    for position, index in enumerate(sub.blocks):
        merges = sub.merges_after(position)
        x, size = _block(vit.blocks[index], x, size, bias, sub, merges)
        bias = proportional_bias(size) if merges else bias
    pooled = pool((_norm(vit.norm, x, e), size), cfg)
    return _head(vit, _norm(vit.fc_norm, pooled, e), e)


def _block_state(vit: VisionTransformer, old: int, new: int, sub: SubnetConfig) -> dict[str, torch.Tensor]:
    block, e, h, m = vit.blocks[old], sub.embed, sub.heads, sub.mlp
    attn, hd = block.attn, block.attn.head_dim
    out = {"attn.qkv.weight": attn.qkv.weight.view(3, attn.num_heads, hd, -1)[:, :h, :, :e].reshape(3 * h * hd, e),
           "attn.proj.weight": attn.proj.weight[:e, :h * hd], "attn.proj.bias": attn.proj.bias[:e],
           "mlp.fc1.weight": block.mlp.fc1.weight[:m, :e], "mlp.fc1.bias": block.mlp.fc1.bias[:m],
           "mlp.fc2.weight": block.mlp.fc2.weight[:e, :m], "mlp.fc2.bias": block.mlp.fc2.bias[:e]}
    if attn.qkv.bias is not None:
        out["attn.qkv.bias"] = attn.qkv.bias.view(3, attn.num_heads, hd)[:, :h].reshape(-1)
    for name in ("norm1", "norm2"):
        out |= {f"{name}.weight": getattr(block, name).weight[:e], f"{name}.bias": getattr(block, name).bias[:e]}
    for name in ("ls1", "ls2"):
        if not isinstance(getattr(block, name), torch.nn.Identity):
            out[f"{name}.gamma"] = getattr(block, name).gamma[:e]
    return {f"blocks.{new}.{k}": v for k, v in out.items()}


def _top_state(vit: VisionTransformer, sub: SubnetConfig) -> dict[str, torch.Tensor]:
    e, prefix = sub.embed, int(vit.cfg.class_token)
    out = {"patch_embed.proj.weight": vit.patch_embed.proj.weight[:e], "patch_embed.proj.bias":
           vit.patch_embed.proj.bias[:e],
           "pos_embed": resample_pos_embed(vit.pos_embed[..., :e], prefix, sub.resolution // vit.cfg.patch_size)}
    if prefix:
        out["cls_token"] = vit.cls_token[..., :e]
    for name in ("norm", "fc_norm"):
        norm = getattr(vit, name)
        if not isinstance(norm, torch.nn.Identity):
            out |= {f"{name}.weight": norm.weight[:e], f"{name}.bias": norm.bias[:e]}
    for key, value in vit.head.state_dict().items():
        first = key in ("weight", "0.weight")  # the classifier's first layer reads the embedding
        out[f"head.{key}"] = value[:, :e] if first else value
    return out


@torch.no_grad()
def extract(vit: VisionTransformer, sub: SubnetConfig) -> VisionTransformer:
    """The sub-network `sub` as a standalone VisionTransformer (weights copied, position embeddings resampled)."""
    module = VisionTransformer(subnet_architecture(vit.cfg, sub))
    state = _top_state(vit, sub)
    for new, old in enumerate(sub.blocks):
        state |= _block_state(vit, old, new, sub)
    module.load_state_dict({k: v.detach().clone().contiguous() for k, v in state.items()}, strict=True)
    return module.eval()
