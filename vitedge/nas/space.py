"""The search space: the knob values a parent ViT offers, the sub-networks they span, and sampling for training.

Knobs keep pretrained behaviour: input resolution (multiples of the patch size down to ~55% of the parent's),
depth (blocks dropped least important first, down to half), uniform widths (attention heads, MLP neurons,
embedding channels: 1, 3/4 and 1/2 of the parent's heads and MLP, 1 and 3/4 of its embedding), and token merging
(ToMe: on average 1/32 to 1/12 of the tokens per block, merged in steps after every `merge_every`-th block: each step
is a few dozen small ops, so fewer, larger steps pay on CPUs). `restrict` keeps only the values that make a target
faster (latency.py measures that per target).
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, replace

from vitedge.models.vit import ViTConfig
from vitedge.nas.subnet import SubnetConfig, check_uniform

KNOBS = ("resolution", "depth", "heads", "mlp", "embed", "merge")
WIDTH_FRACTIONS = (1.0, 0.75, 0.5)
EMBED_FRACTIONS = (1.0, 0.75)
MERGE_FRACTIONS = (1 / 32, 1 / 24, 1 / 20, 1 / 18, 1 / 16, 1 / 15, 1 / 14, 1 / 12)  # of the parent's tokens per block
MIN_RESOLUTION_FRACTION = 0.55


def _widths(full: int, fractions: tuple[float, ...], multiple: int) -> tuple[int, ...]:
    values = {full} | {max(multiple, round(full * f / multiple) * multiple) for f in fractions}
    return tuple(sorted((v for v in values if 1 <= v <= full), reverse=True))


def _resolutions(parent: ViTConfig) -> tuple[int, ...]:
    patch = parent.patch_size
    lowest = max(2 * patch, math.ceil(MIN_RESOLUTION_FRACTION * parent.img_size / patch) * patch)
    return tuple(range(parent.img_size, lowest - 1, -patch))


@dataclass(frozen=True)
class SearchSpace:
    """Values per knob (largest first) and the block removal order (least important first)."""

    parent: ViTConfig
    removal_order: tuple[int, ...]
    resolution: tuple[int, ...]
    depth: tuple[int, ...]
    heads: tuple[int, ...]
    mlp: tuple[int, ...]
    embed: tuple[int, ...]
    merge: tuple[int, ...] = (0,)
    merge_every: int = 1

    def blocks_for(self, depth: int) -> tuple[int, ...]:
        dropped = set(self.removal_order[:self.parent.depth - depth])
        return tuple(i for i in range(self.parent.depth) if i not in dropped)

    def config(self, resolution: int, depth: int, heads: int, mlp: int, embed: int, merge: int = 0) -> SubnetConfig:
        return SubnetConfig(resolution, self.blocks_for(depth), heads, mlp, embed, merge,
                            self.merge_every if merge else 1)

    def largest(self) -> SubnetConfig:
        return self.config(*(min(getattr(self, k)) if k == "merge" else getattr(self, k)[0] for k in KNOBS))

    def smallest(self) -> SubnetConfig:
        return self.config(*(max(getattr(self, k)) if k == "merge" else getattr(self, k)[-1] for k in KNOBS))

    def sample(self, rng: random.Random) -> SubnetConfig:
        return self.config(*(rng.choice(getattr(self, k)) for k in KNOBS))

    def sandwich(self, rng: random.Random, count: int) -> list[SubnetConfig]:
        """The largest, the smallest and `count - 2` random sub-networks (the sandwich rule)."""
        picks = [self.largest(), self.smallest()][:count]
        return picks + [self.sample(rng) for _ in range(count - len(picks))]

    def all(self) -> list[SubnetConfig]:
        return [self.config(*values) for values in itertools.product(*(getattr(self, k) for k in KNOBS))]

    @property
    def size(self) -> int:
        return math.prod(len(getattr(self, k)) for k in KNOBS)

    def restrict(self, **kept: tuple[int, ...]) -> "SearchSpace":
        """The same space with fewer values for some knobs (the parent's value always stays)."""
        full = self.largest()
        parent_value = {"depth": full.depth, **{k: getattr(full, k) for k in KNOBS if k != "depth"}}
        changes = {k: tuple(v for v in getattr(self, k) if v in values or v == parent_value[k])
                   for k, values in kept.items()}
        return replace(self, **changes)

    def union(self, other: "SearchSpace") -> "SearchSpace":
        merged = {k: tuple(sorted(set(getattr(self, k)) | set(getattr(other, k)), reverse=k != "merge"))
                  for k in KNOBS}
        return replace(self, **merged)

    def to_dict(self) -> dict:
        return {"removal_order": list(self.removal_order), **{k: list(getattr(self, k)) for k in KNOBS},
                "merge_every": self.merge_every, "size": self.size}


def default_merge_every(depth: int) -> int:
    """Blocks per merge step: 1 for shallow ViTs, up to 3 for 12 blocks and deeper (4 steps or more)."""
    return max(1, min(3, depth // 4))


def _merges(parent: ViTConfig, every: int) -> tuple[int, ...]:
    """Tokens merged per step: the per-block fractions times the blocks per step, capped at half the tokens."""
    tokens = parent.num_patches + int(parent.class_token)
    return tuple(sorted({0} | {min(round(tokens * f * every), tokens // 2) for f in MERGE_FRACTIONS}))


def lowest_depth(parent: ViTConfig) -> int:
    """The fewest blocks the space offers by default: half the parent's."""
    return max(1, math.ceil(parent.depth / 2))


def default_space(parent: ViTConfig, removal_order: tuple[int, ...], min_depth: int | None = None,
                  embed: bool = True, merge: bool = True, merge_every: int | None = None) -> SearchSpace:
    """Every knob value that keeps pretrained behaviour (see the module docstring)."""
    problem = check_uniform(parent)
    if problem:
        raise ValueError(problem)
    mlp = parent.mlp_dim_of(0)
    every = parent.token_merge_every if parent.token_merge else merge_every or default_merge_every(parent.depth)
    return SearchSpace(
        parent=parent, removal_order=tuple(removal_order), resolution=_resolutions(parent),
        depth=tuple(range(parent.depth, (min_depth or lowest_depth(parent)) - 1, -1)),
        heads=_widths(parent.num_heads, WIDTH_FRACTIONS, 1),
        mlp=_widths(mlp, WIDTH_FRACTIONS, 16 if mlp >= 256 else 8 if mlp >= 64 else 1),
        embed=_widths(parent.embed_dim, EMBED_FRACTIONS, 16 if parent.embed_dim >= 256 else 8) if embed
        else (parent.embed_dim,),
        merge=_merges(parent, every) if merge and not parent.token_merge else (parent.token_merge,),
        merge_every=every)
