"""A compact Vision Transformer in timm's key layout, written to export cleanly to ONNX, OpenVINO and TFLite.

Attention is written out (matmul, softmax, matmul) rather than fused, so every converter sees stock ops, and
each block carries its own head count and MLP width so the NAS stage can slice blocks independently.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn

from vitedge.models.merging import merge_tokens, merges_after, proportional_bias, size_weighted_mean

ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "relu": nn.ReLU}
MAX_WIDTH = 65536  # embed_dim, MLP and head widths; the parameter count is bounded separately (models.size)
GLOBAL_POOLS = ("token", "avg", "avgmax", "max")  # timm's names; all but "token" pool the patch tokens, with fc_norm
# field -> ("int", low, high) | ("float", low (excluded), high) | ("bool",) | ("ints", low, high) | ("size", low,
# high): an integer or [height, width]; a trailing "?" allows None. act, head_act and global_pool are checked against
# their choices.
VARIANT_DEFAULTS = {"dist_token": False, "head_dist": False, "reg_tokens": 0, "no_embed_class": False,
                    "token_merge_every": 1}
FIELD_KINDS = {
    "img_size": ("size", 1, 8192), "patch_size": ("int", 1, 8192), "in_chans": ("int", 1, 64),
    "num_classes": ("int", 0, 1_000_000), "embed_dim": ("int", 1, MAX_WIDTH), "depth": ("int", 1, 1024),
    "num_heads": ("int", 1, 4096), "mlp_ratio": ("float", 0, 64), "qkv_bias": ("bool",),
    "norm_eps": ("float", 0, 1), "final_norm": ("bool",),
    "class_token": ("bool",), "attn_scale": ("float?", 0, 1e6), "init_values": ("float?", 0, 1e6),
    "head_hidden": ("ints", 1, MAX_WIDTH), "block_heads": ("ints?", 1, 4096),
    "block_mlp_dims": ("ints?", 1, MAX_WIDTH * 64), "head_dim": ("int?", 1, MAX_WIDTH),
    "token_merge": ("int", 0, 65536), "token_merge_every": ("int", 1, 1024),
    "dist_token": ("bool",), "head_dist": ("bool",),
    "reg_tokens": ("int", 0, 1024), "no_embed_class": ("bool",),
}


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of a ViT. Field names follow timm's VisionTransformer arguments where one exists."""

    img_size: int | tuple[int, int] = 224  # square side, or (height, width)
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
    global_pool: str = "token"  # "token" (class token), or "avg" / "avgmax" / "max" of the patch tokens (fc_norm)
    final_norm: bool = True
    class_token: bool = True
    attn_scale: float | None = None  # None: head_dim ** -0.5; 1.0 when the scale is folded into the q weights
    init_values: float | None = None  # LayerScale (timm's ls1 / ls2) when set
    head_hidden: tuple[int, ...] = ()  # MLP head: Linear -> act -> ... -> Linear (keys head.0, head.2, ...)
    head_act: str = "gelu"
    block_heads: tuple[int, ...] | None = None  # per-block head count (NAS); default num_heads everywhere
    block_mlp_dims: tuple[int, ...] | None = None  # per-block MLP hidden width (NAS); default embed_dim * mlp_ratio
    head_dim: int | None = None  # per-head width; default embed_dim // num_heads
    token_merge: int = 0  # ToMe: tokens merged after a merging block's attention (0: none); see models/merging.py
    token_merge_every: int = 1  # merging blocks: every k-th (k-1, 2k-1, ...; not the last): fewer, larger steps
    dist_token: bool = False  # DeiT's distillation token after the class token (timm's dist_token)
    head_dist: bool = False  # DeiT's second head on the distillation token; the output averages both heads
    reg_tokens: int = 0  # register tokens after the class token (timm's reg_token, DINOv2 with registers)
    no_embed_class: bool = False  # position embeddings cover the patch tokens only, not the class / register tokens

    def __post_init__(self):
        """ValueError naming the field, its value and the allowed range, before anything is allocated."""
        for name, kind in FIELD_KINDS.items():
            if kind[0].rstrip("?") in ("ints", "size") and isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))  # lists from Python callers
            _check_field(name, getattr(self, name), kind)
        if isinstance(self.img_size, tuple) and self.img_size[0] == self.img_size[1]:
            object.__setattr__(self, "img_size", self.img_size[0])  # a square pair is the plain side
        for side in self.img_hw:
            if side % self.patch_size:
                raise ValueError(f"img_size {_size_text(self.img_size)} is not a multiple of patch_size "
                                 f"{self.patch_size}")
        for name, allowed in (("act", tuple(ACTIVATIONS)), ("head_act", tuple(ACTIVATIONS)),
                              ("global_pool", GLOBAL_POOLS)):
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
        _check_prefix_tokens(self)

    @property
    def img_hw(self) -> tuple[int, int]:
        return self.img_size if isinstance(self.img_size, tuple) else (self.img_size, self.img_size)

    @property
    def grid(self) -> tuple[int, int]:
        """Patch rows and columns."""
        return self.img_hw[0] // self.patch_size, self.img_hw[1] // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens before the patch tokens: class, distillation and register tokens."""
        return int(self.class_token) + int(self.dist_token) + self.reg_tokens

    @property
    def pos_prefix_tokens(self) -> int:
        """Prefix tokens that have a position embedding (none with no_embed_class)."""
        return 0 if self.no_embed_class else self.num_prefix_tokens

    def merges_after(self, block: int) -> bool:
        """Whether block `block` merges tokens after its attention (merging.merges_after)."""
        return merges_after(block, self.depth, self.token_merge, self.token_merge_every)

    def heads_of(self, block: int) -> int:
        return self.block_heads[block] if self.block_heads else self.num_heads

    def mlp_dim_of(self, block: int) -> int:
        return self.block_mlp_dims[block] if self.block_mlp_dims else int(self.embed_dim * self.mlp_ratio)

    @property
    def per_head_dim(self) -> int:
        return self.head_dim or self.embed_dim // self.num_heads

    def to_dict(self) -> dict:
        """Every field, lists for tuples; the variant fields only when set, so a plain ViT's description (and the
        model fingerprint built from it) is the same as before they existed."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k not in VARIANT_DEFAULTS or v != VARIANT_DEFAULTS[k]}

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


def _check_prefix_tokens(cfg: ViTConfig) -> None:
    """The distillation token needs a class token before it; its head reads tokens 0 and 1, which ToMe would move."""
    if cfg.dist_token and not cfg.class_token:
        raise ValueError("dist_token needs class_token = true (the distillation token follows the class token)")
    if cfg.head_dist and not (cfg.dist_token and cfg.global_pool == "token"):
        raise ValueError("head_dist needs dist_token = true and global_pool = \"token\" (it reads the "
                         "distillation token)")
    if cfg.token_merge and (cfg.dist_token or cfg.reg_tokens):
        raise ValueError("token_merge keeps only the class token in place: it cannot be combined with dist_token "
                         "or reg_tokens")


def _size_text(size) -> str:
    return f"[{size[0]}, {size[1]}]" if isinstance(size, tuple) else str(size)


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
    elif base == "size":
        ok = _int_in(value, low, high) or (isinstance(value, tuple) and len(value) == 2
                                           and all(_int_in(v, low, high) for v in value))
        wanted = f"an integer or [height, width], integers from {low} to {high}"
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

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None, keys: bool = False):
        """The attention output, with `bias` (merged tokens' log sizes) added to the logits: proportional attention;
        with `keys`, also the mean key per token (what token merging matches on)."""
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.scale != 1.0:
            q = q * self.scale
        logits = q @ k.transpose(-2, -1)
        if bias is not None:
            logits = logits + bias
        out = (logits.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, tokens, self.num_heads * self.head_dim)
        return (self.proj(out), k.mean(dim=1)) if keys else self.proj(out)


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

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), bias))
        return x + self.ls2(self.mlp(self.norm2(x)))

    def forward_merging(self, x: torch.Tensor, size: torch.Tensor | None, bias: torch.Tensor | None,
                        r: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The block with token merging: attention, then merge r tokens, then the MLP on fewer tokens."""
        out, keys = self.attn(self.norm1(x), bias, keys=True)
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
    """ViT with timm's parameter names (cls_token, dist_token, reg_token, pos_embed, patch_embed.proj, blocks.N.*, norm,
    fc_norm, head, head_dist)."""

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        dim = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if cfg.class_token else None
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim)) if cfg.dist_token else None
        self.reg_token = nn.Parameter(torch.zeros(1, cfg.reg_tokens, dim)) if cfg.reg_tokens else None
        self.pos_embed = nn.Parameter(torch.randn(1, cfg.num_patches + cfg.pos_prefix_tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(cfg, i) for i in range(cfg.depth)])
        use_fc_norm = cfg.global_pool != "token"
        self.norm = nn.LayerNorm(dim, eps=cfg.norm_eps) if cfg.final_norm and not use_fc_norm else nn.Identity()
        self.fc_norm = nn.LayerNorm(dim, eps=cfg.norm_eps) if cfg.final_norm and use_fc_norm else nn.Identity()
        self.head = _build_head(cfg)
        self.head_dist = _build_head(cfg) if cfg.head_dist else None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with their position embeddings, after the class, distillation and register tokens (timm's
        order). Without no_embed_class the position embeddings cover the prefix tokens too: concatenate, then add."""
        x = self.patch_embed(x)
        prefix = [t.expand(x.shape[0], -1, -1) for t in (self.cls_token, self.dist_token, self.reg_token)
                  if t is not None]
        if self.cfg.no_embed_class:
            return torch.cat([*prefix, x + self.pos_embed], dim=1) if prefix else x + self.pos_embed
        return (torch.cat([*prefix, x], dim=1) if prefix else x) + self.pos_embed

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Final token features, and each token's size (patches it stands for) when tokens are merged."""
        x = self.embed(x)
        if not self.cfg.token_merge:
            return self.norm(self.blocks(x)), None
        size = bias = None  # every token stands for one patch until the first merge
        for index, block in enumerate(self.blocks):
            if self.cfg.merges_after(index):
                x, size = block.forward_merging(x, size, bias, self.cfg.token_merge)
                bias = proportional_bias(size)
            else:
                x = block(x, bias)
        return self.norm(x), size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.forward_features(x)
        if self.head_dist is not None:  # DeiT distilled: the mean of the class-token and distillation-token heads
            tokens = features[0]
            return (self.head(tokens[:, 0]) + self.head_dist(tokens[:, 1])) / 2
        return self.head(self.fc_norm(pool(features, self.cfg)))


def pool(features: tuple[torch.Tensor, torch.Tensor | None], cfg: ViTConfig) -> torch.Tensor:
    """The class token, or the (size-weighted) mean, the max, or their average ("avgmax") of the patch tokens."""
    x, size = features
    if cfg.global_pool == "token":
        return x[:, 0]
    start = cfg.num_prefix_tokens
    patches = x[:, start:]
    if cfg.global_pool == "max":
        return patches.amax(dim=1)
    mean = patches.mean(dim=1) if size is None else size_weighted_mean(patches, size[:, start:])
    return mean if cfg.global_pool == "avg" else 0.5 * (patches.amax(dim=1) + mean)
