"""A compact Vision Transformer in timm's key layout, written to export cleanly to ONNX, OpenVINO and TFLite.

Attention is written out (matmul, softmax, matmul) rather than fused, so every converter sees stock ops, and
each block carries its own head count and MLP width so the NAS stage can slice blocks independently.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn

from vitedge.models.merging import merge_tokens, proportional_bias, size_weighted_mean

ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU}
MAX_WIDTH = 65536  # embed_dim, MLP and head widths; the parameter count is bounded separately (models.size)
# field -> ("int", low, high) | ("float", low (excluded), high) | ("bool",) | ("ints", low, high); a trailing "?"
# allows None. act, head_act and global_pool are checked against their choices.
FIELD_KINDS = {
    "img_size": ("int", 1, 8192), "patch_size": ("int", 1, 8192), "in_chans": ("int", 1, 64),
    "num_classes": ("int", 0, 1_000_000), "embed_dim": ("int", 1, MAX_WIDTH), "depth": ("int", 1, 1024),
    "num_heads": ("int", 1, 4096), "mlp_ratio": ("float", 0, 64), "qkv_bias": ("bool",),
    "norm_eps": ("float", 0, 1), "final_norm": ("bool",),
    "class_token": ("bool",), "attn_scale": ("float?", 0, 1e6), "init_values": ("float?", 0, 1e6),
    "head_hidden": ("ints", 1, MAX_WIDTH), "block_heads": ("ints?", 1, 4096),
    "block_mlp_dims": ("ints?", 1, MAX_WIDTH * 64), "head_dim": ("int?", 1, MAX_WIDTH),
    "token_merge": ("int", 0, 65536),
}


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of a ViT. Field names follow timm's VisionTransformer arguments where one exists."""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    norm_eps: float = 1e-6
    act: str = "gelu"
    global_pool: str = "token"  # "token" (class token) or "avg" (mean of patch tokens, with fc_norm)
    final_norm: bool = True
    class_token: bool = True
    attn_scale: float | None = None  # None: head_dim ** -0.5; 1.0 when the scale is folded into the q weights
    init_values: float | None = None  # LayerScale (timm's ls1 / ls2) when set
    head_hidden: tuple[int, ...] = ()  # MLP head: Linear -> act -> ... -> Linear (keys head.0, head.2, ...)
    head_act: str = "gelu"
    block_heads: tuple[int, ...] | None = None  # per-block head count (NAS); default num_heads everywhere
    block_mlp_dims: tuple[int, ...] | None = None  # per-block MLP hidden width (NAS); default embed_dim * mlp_ratio
    head_dim: int | None = None  # per-head width; default embed_dim // num_heads
    token_merge: int = 0  # ToMe: tokens merged after each block's attention (0: none); see models/merging.py

    def __post_init__(self):
        """ValueError naming the field, its value and the allowed range, before anything is allocated."""
        for name, kind in FIELD_KINDS.items():
            _check_field(name, getattr(self, name), kind)
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        for name, allowed in (("act", tuple(ACTIVATIONS)), ("head_act", tuple(ACTIVATIONS)),
                              ("global_pool", ("token", "avg"))):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in allowed:
                raise ValueError(f"{name} = {value!r} is not supported; allowed values: {', '.join(allowed)}")
        if self.head_dim is None and self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if int(self.embed_dim * self.mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio {self.mlp_ratio} leaves an MLP of width 0 for embed_dim {self.embed_dim}")
        for name in ("block_heads", "block_mlp_dims"):
            if getattr(self, name) is not None and len(getattr(self, name)) != self.depth:
                raise ValueError(f"{name} needs one value per block (depth {self.depth}), got "
                                 f"{len(getattr(self, name))}")

    @property
    def num_patches(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    def heads_of(self, block: int) -> int:
        return self.block_heads[block] if self.block_heads else self.num_heads

    def mlp_dim_of(self, block: int) -> int:
        return self.block_mlp_dims[block] if self.block_mlp_dims else int(self.embed_dim * self.mlp_ratio)

    @property
    def per_head_dim(self) -> int:
        return self.head_dim or self.embed_dim // self.num_heads

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ViTConfig":
        if not isinstance(d, dict):
            raise ValueError(f"the architecture must be a table of ViTConfig fields, got {d!r}"[:200])
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown architecture keys {unknown}; known keys: {sorted(known)}")
        tupled = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**tupled)

    def replace(self, **changes) -> "ViTConfig":
        return replace(self, **changes)


def _check_field(name: str, value, kind: tuple) -> None:
    """One ViTConfig field against its FIELD_KINDS entry; booleans are never numbers."""
    base, optional = kind[0].rstrip("?"), kind[0].endswith("?")
    if value is None and optional:
        return
    low, high = (kind[1], kind[2]) if len(kind) == 3 else (None, None)
    if base == "bool":
        ok, wanted = isinstance(value, bool), "true or false"
    elif base == "ints":
        ok = isinstance(value, tuple) and all(_int_in(v, low, high) for v in value)
        wanted = f"a list of integers from {low} to {high}"
    elif base == "int":
        ok, wanted = _int_in(value, low, high), f"an integer from {low} to {high}"
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and low < value <= high
        wanted = f"a number above {low:g} and at most {high:g}"
    if not ok:
        raise ValueError(f"{name} = {value!r} is not allowed: it must be {wanted}")


def _int_in(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


class PatchEmbed(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, cfg.patch_size, stride=cfg.patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # B, N, D


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, head_dim: int, qkv_bias: bool, scale: float | None):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, head_dim
        self.scale = head_dim**-0.5 if scale is None else scale
        self.qkv = nn.Linear(dim, 3 * num_heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(num_heads * head_dim, dim)

    def forward(self, x: torch.Tensor, size: torch.Tensor | None = None):
        """The attention output; with token sizes (merging), proportional attention and also the mean key."""
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.scale != 1.0:
            q = q * self.scale
        logits = q @ k.transpose(-2, -1)
        if size is not None:
            logits = logits + proportional_bias(size)
        out = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, tokens, self.num_heads * self.head_dim)
        return self.proj(out) if size is None else (self.proj(out), k.mean(dim=1))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), ACTIVATIONS[act](), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int, init_values: float):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, cfg: ViTConfig, index: int):
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = Attention(dim, cfg.heads_of(index), cfg.per_head_dim, cfg.qkv_bias, cfg.attn_scale)
        self.ls1 = LayerScale(dim, cfg.init_values) if cfg.init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mlp = Mlp(dim, cfg.mlp_dim_of(index), cfg.act)
        self.ls2 = LayerScale(dim, cfg.init_values) if cfg.init_values else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))

    def forward_merging(self, x: torch.Tensor, size: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The block with token merging: attention, then merge r tokens, then the MLP on fewer tokens."""
        out, keys = self.attn(self.norm1(x), size)
        x, size = merge_tokens(x + self.ls1(out), size, keys, r)
        return x + self.ls2(self.mlp(self.norm2(x))), size


def _build_head(cfg: ViTConfig) -> nn.Module:
    if cfg.num_classes <= 0:
        return nn.Identity()
    if not cfg.head_hidden:
        return nn.Linear(cfg.embed_dim, cfg.num_classes)
    layers: list[nn.Module] = []
    width = cfg.embed_dim
    for hidden in cfg.head_hidden:
        layers += [nn.Linear(width, hidden), ACTIVATIONS[cfg.head_act]()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, cfg.num_classes))


class VisionTransformer(nn.Module):
    """ViT with timm's parameter names (cls_token, pos_embed, patch_embed.proj, blocks.N.*, norm, fc_norm, head)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if cfg.class_token else None
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.num_patches + int(cfg.class_token), dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(cfg, i) for i in range(cfg.depth)])
        use_fc_norm = cfg.global_pool == "avg"
        self.norm = nn.LayerNorm(dim, eps=cfg.norm_eps) if cfg.final_norm and not use_fc_norm else nn.Identity()
        self.fc_norm = nn.LayerNorm(dim, eps=cfg.norm_eps) if cfg.final_norm and use_fc_norm else nn.Identity()
        self.head = _build_head(cfg)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Final token features, and each token's size (patches it stands for) when tokens are merged."""
        x = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.pos_embed
        if not self.cfg.token_merge:
            return self.norm(self.blocks(x)), None
        size = torch.ones_like(x[..., :1])
        for block in self.blocks:
            x, size = block.forward_merging(x, size, self.cfg.token_merge)
        return self.norm(x), size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc_norm(pool(self.forward_features(x), self.cfg)))


def pool(features: tuple[torch.Tensor, torch.Tensor | None], cfg: ViTConfig) -> torch.Tensor:
    """The class token, or the (size-weighted) mean of the patch tokens."""
    x, size = features
    if cfg.global_pool == "token":
        return x[:, 0]
    start = int(cfg.class_token)
    return x[:, start:].mean(dim=1) if size is None else size_weighted_mean(x[:, start:], size[:, start:])
