"""How big a ViTConfig is, known before anything is allocated: a spec is checked against its checkpoint (or a sane
bound when there is none) before the module is built, so `embed_dim = 32768` is refused, not allocated."""
from __future__ import annotations

import torch

from vitedge.errors import ModelSourceError, WeightsMismatchError
from vitedge.models.vit import ViTConfig, VisionTransformer

MAX_PARAMETERS = 1_000_000_000  # without a checkpoint to compare with: 4 GB of float32, beyond any edge model
ARCHITECTURE_HINT = "check [architecture] (embed_dim, depth, num_heads, mlp_ratio, img_size / patch_size, head)"


def parameter_count(cfg: ViTConfig) -> int:
    """Parameters of VisionTransformer(cfg), computed from the config alone."""
    dim, tokens = cfg.embed_dim, cfg.num_patches + cfg.pos_prefix_tokens
    count = dim * cfg.in_chans * cfg.patch_size ** 2 + dim + tokens * dim + cfg.num_prefix_tokens * dim
    for block in range(cfg.depth):
        width, mlp = cfg.heads_of(block) * cfg.per_head_dim, cfg.mlp_dim_of(block)
        count += 4 * dim + 3 * width * dim + (3 * width if cfg.qkv_bias else 0) + width * dim + dim
        count += 2 * mlp * dim + mlp + dim + (2 * dim if cfg.init_values else 0)
    count += 2 * dim if cfg.final_norm else 0
    if cfg.num_classes > 0:
        widths = [dim, *cfg.head_hidden, cfg.num_classes]
        count += sum(a * b + b for a, b in zip(widths, widths[1:])) * (2 if cfg.head_dist else 1)
    return count


def expected_shapes(cfg: ViTConfig) -> dict[str, tuple[int, ...]]:
    """The state dict's keys and shapes, from a module built on the meta device (no memory)."""
    with torch.device("meta"):
        module = VisionTransformer(cfg)
    return {key: tuple(t.shape) for key, t in module.state_dict().items()}


def check_size(cfg: ViTConfig, state: dict | None, weights, source: str) -> None:
    """Refuse a config beyond MAX_PARAMETERS (and, with a checkpoint, far beyond it), then compare every shape with
    the checkpoint's; raises before VisionTransformer(cfg) allocates anything."""
    from vitedge.models.weights import check_shapes

    count = parameter_count(cfg)
    if state is None:
        if count > MAX_PARAMETERS:
            raise ModelSourceError(f"{source}: the architecture has {count:,} parameters ({count * 4 / 1e9:.1f} GB "
                                   f"in float32), more than vitedge builds without weights ({MAX_PARAMETERS:,})",
                                   ARCHITECTURE_HINT)
        return
    held = sum(t.numel() for t in state.values())
    if count > MAX_PARAMETERS and count > 2 * held:  # else the shapes below say more (meta: no memory either way)
        raise WeightsMismatchError(f"{source}: the architecture has {count:,} parameters, the weights {weights} "
                                   f"hold {held:,}", ARCHITECTURE_HINT + " against the checkpoint")
    check_shapes(expected_shapes(cfg), state, str(weights))
