"""Position embeddings of a checkpoint fitted to the configured token grid (bicubic, as timm and DINOv2 resample them).

A checkpoint trained at one resolution (DINOv2: 518 px, a 37 x 37 grid of 14 px patches) loads into a model built
for another (224 px: 16 x 16, or a non-square grid): the patch part of `pos_embed` is resampled once, at load time,
so the exported graph holds fixed position embeddings and no interpolation op. timm resamples with antialiasing
(`resample_abs_pos_embed` in its checkpoint filter); transformers interpolates without it (`interpolate_pos_encoding`).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from vitedge.errors import WeightsMismatchError
from vitedge.models.vit import ViTConfig


def resample_pos_embed(pos: torch.Tensor, prefix: int, old_grid: tuple[int, int], new_grid: tuple[int, int],
                       antialias: bool = True) -> torch.Tensor:
    """(1, prefix + old_h*old_w, D) -> (1, prefix + new_h*new_w, D): the prefix rows kept, the patch rows resampled
    bicubically (align_corners False) in float32 and returned in the input's dtype."""
    if tuple(old_grid) == tuple(new_grid):
        return pos
    dim = pos.shape[-1]
    patches = pos[:, prefix:].float().reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=tuple(new_grid), mode="bicubic", antialias=antialias, align_corners=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], dim).to(pos.dtype)
    return torch.cat([pos[:, :prefix], patches], dim=1)


def fit_pos_embed(state: dict[str, torch.Tensor], cfg: ViTConfig, source: str,
                  antialias: bool = True) -> str | None:
    """Resample state["pos_embed"] in place to cfg's grid when the checkpoint's grid differs; a note saying so.

    The checkpoint's grid is taken as square (timm's and transformers' assumption); one with as many patch positions
    as the configured grid is kept as it is (a model saved at this configuration, square or not).
    """
    pos = state.get("pos_embed")
    prefix = cfg.pos_prefix_tokens
    expected_tokens = {"cls_token": cfg.class_token, "dist_token": cfg.dist_token, "reg_token": cfg.reg_tokens > 0}
    tokens_differ = any((name in state) != present for name, present in expected_tokens.items())
    if pos is None or pos.ndim != 3 or pos.shape[0] != 1 or pos.shape[1] < prefix or tokens_differ:
        return None  # the shape check lists the keys and shapes that differ
    tokens = pos.shape[1] - prefix
    if tokens == cfg.num_patches:
        return None
    side = math.isqrt(tokens)
    if side * side != tokens or side == 0:
        raise WeightsMismatchError(
            f"weights {source}: pos_embed holds {pos.shape[1]} positions, which is neither {prefix} prefix "
            f"position(s) + the configured {cfg.grid[0]}x{cfg.grid[1]} patch grid nor {prefix} + a square grid "
            "to resample from",
            "check img_size / patch_size and the prefix tokens (class_token, dist_token, reg_tokens, "
            "no_embed_class) against the checkpoint")
    state["pos_embed"] = resample_pos_embed(pos, prefix, (side, side), cfg.grid, antialias)
    return (f"position embeddings resampled from the checkpoint's {side}x{side} grid to {cfg.grid[0]}x{cfg.grid[1]} "
            f"(bicubic{', antialiased' if antialias else ''})")
