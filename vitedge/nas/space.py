"""The search space: which sub-networks of a parent ViT exist, their cost, and how to sample and mutate them.

A `Choice` names, for every block of the parent, how many attention heads and MLP neurons it keeps (0 heads =
the block is dropped), and the embedding width. *Which* heads, neurons, channels and blocks are kept is not part of
the choice: slicing takes the most important ones (see importance.py); the space drops blocks in the measured
removal order, least important first.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass

import torch

from vitedge.models.vit import ViTConfig, VisionTransformer

HEAD_FRACTIONS = (1.0, 0.75, 0.5, 0.25)
MLP_FRACTIONS = (1.0, 0.75, 0.5, 0.25)
EMBED_FRACTIONS = (1.0, 0.75)


@dataclass(frozen=True)
class Choice:
    """Per parent block: heads kept (0: block dropped) and MLP width kept; the embedding width."""

    heads: tuple[int, ...]
    mlp: tuple[int, ...]
    embed_dim: int

    def __post_init__(self):
        if len(self.heads) != len(self.mlp):
            raise ValueError("heads and mlp need one entry per parent block")
        if any((h == 0) != (m == 0) for h, m in zip(self.heads, self.mlp)):
            raise ValueError("a dropped block has 0 heads and 0 MLP width; a kept one at least 1 of each")
        if self.depth == 0:
            raise ValueError("a sub-network keeps at least one block")

    @property
    def depth(self) -> int:
        return sum(1 for h in self.heads if h > 0)

    @property
    def blocks(self) -> tuple[int, ...]:
        """Indices of the parent's blocks that are kept, in order."""
        return tuple(i for i, h in enumerate(self.heads) if h > 0)

    @property
    def key(self) -> str:
        """A short stable id: the same choice always gets the same id."""
        return "c" + hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]

    def label(self) -> str:
        kept = self.blocks
        return (f"depth {self.depth}, embed {self.embed_dim}, heads {'/'.join(str(self.heads[i]) for i in kept)}, "
                f"mlp {'/'.join(str(self.mlp[i]) for i in kept)}")

    def to_dict(self) -> dict:
        return {"heads": list(self.heads), "mlp": list(self.mlp), "embed_dim": self.embed_dim}

    @classmethod
    def from_dict(cls, d: dict) -> "Choice":
        return cls(tuple(d["heads"]), tuple(d["mlp"]), int(d["embed_dim"]))


def count_macs(cfg: ViTConfig) -> int:
    """Multiply-accumulates of one image, as estimate.count_graph counts them in the exported ONNX graph."""
    patches, dim, hd = cfg.num_patches, cfg.embed_dim, cfg.per_head_dim
    tokens = patches + int(cfg.class_token)
    macs = patches * dim * cfg.in_chans * cfg.patch_size ** 2
    for b in range(cfg.depth):
        heads, hidden = cfg.heads_of(b), cfg.mlp_dim_of(b)
        macs += tokens * dim * 3 * heads * hd + 2 * heads * tokens * tokens * hd + tokens * heads * hd * dim
        macs += 2 * tokens * dim * hidden
    width = dim
    if cfg.num_classes > 0:
        for hidden in cfg.head_hidden:
            macs, width = macs + width * hidden, hidden
        macs += width * cfg.num_classes
    return macs


def count_params(cfg: ViTConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in VisionTransformer(cfg).parameters())


def _options(full: int, fractions: tuple[float, ...], multiple: int) -> tuple[int, ...]:
    values = {full} | {max(multiple, int(round(full * f / multiple)) * multiple) for f in fractions}
    return tuple(sorted((v for v in values if 1 <= v <= full), reverse=True))


@dataclass(frozen=True)
class SearchSpace:
    """Options per parent block, the order in which blocks are dropped, and the smallest depth allowed."""

    parent: ViTConfig
    removal_order: tuple[int, ...]  # parent blocks, least important first
    min_depth: int
    head_options: tuple[int, ...]
    mlp_options: tuple[int, ...]
    embed_options: tuple[int, ...]

    def full(self) -> Choice:
        """The parent itself."""
        p = self.parent
        return Choice(tuple(p.heads_of(i) for i in range(p.depth)), tuple(p.mlp_dim_of(i) for i in range(p.depth)),
                      p.embed_dim)

    def heads_for(self, block: int) -> tuple[int, ...]:
        return tuple(h for h in self.head_options if h <= self.parent.heads_of(block)) or (1,)

    def mlp_for(self, block: int) -> tuple[int, ...]:
        return tuple(m for m in self.mlp_options if m <= self.parent.mlp_dim_of(block)) or (1,)

    def config_of(self, choice: Choice) -> ViTConfig:
        return subnet_config(self.parent, choice)

    def macs(self, choice: Choice) -> int:
        return count_macs(self.config_of(choice))

    def dropped_for(self, depth: int) -> set[int]:
        return set(self.removal_order[:self.parent.depth - depth])

    def random(self, rng: random.Random) -> Choice:
        depth = rng.randint(self.min_depth, self.parent.depth)
        dropped = self.dropped_for(depth)
        heads = tuple(0 if i in dropped else rng.choice(self.heads_for(i)) for i in range(self.parent.depth))
        mlp = tuple(0 if i in dropped else rng.choice(self.mlp_for(i)) for i in range(self.parent.depth))
        return Choice(heads, mlp, rng.choice(self.embed_options))

    def mutate(self, rng: random.Random, choice: Choice) -> Choice:
        """One or two small steps: depth +-1, one block's heads or MLP one option up or down, or the width."""
        heads, mlp, embed = list(choice.heads), list(choice.mlp), choice.embed_dim
        for _ in range(rng.choice((1, 2))):
            op = rng.choice(("depth", "heads", "mlp", "mlp", "heads", "embed"))
            kept = [i for i, h in enumerate(heads) if h > 0]
            if op == "depth":
                depth = len(kept) + rng.choice((-1, 1))
                if self.min_depth <= depth <= self.parent.depth:
                    heads, mlp = self._set_depth(heads, mlp, depth, rng)
            elif op in ("heads", "mlp"):
                block = rng.choice(kept)
                values, options = (heads, self.heads_for(block)) if op == "heads" else (mlp, self.mlp_for(block))
                values[block] = _step(options, values[block], rng)
            elif len(self.embed_options) > 1:
                embed = _step(self.embed_options, embed, rng)
        return Choice(tuple(heads), tuple(mlp), embed)

    def _set_depth(self, heads: list[int], mlp: list[int], depth: int, rng: random.Random):
        dropped = self.dropped_for(depth)
        for i in range(self.parent.depth):
            if i in dropped:
                heads[i] = mlp[i] = 0
            elif heads[i] == 0:  # restored: with a random size, as sampling would give it
                heads[i], mlp[i] = rng.choice(self.heads_for(i)), rng.choice(self.mlp_for(i))
        return heads, mlp

    def crossover(self, rng: random.Random, a: Choice, b: Choice) -> Choice:
        """The blocks of one parent; each block's sizes from either where both keep it."""
        base, other = (a, b) if rng.random() < 0.5 else (b, a)
        heads, mlp = list(base.heads), list(base.mlp)
        for i in base.blocks:
            if other.heads[i] > 0 and rng.random() < 0.5:
                heads[i], mlp[i] = other.heads[i], other.mlp[i]
        return Choice(tuple(heads), tuple(mlp), rng.choice((a.embed_dim, b.embed_dim)))

    def to_dict(self) -> dict:
        return {"removal_order": list(self.removal_order), "min_depth": self.min_depth,
                "head_options": list(self.head_options), "mlp_options": list(self.mlp_options),
                "embed_options": list(self.embed_options)}


def _step(options: tuple[int, ...], value: int, rng: random.Random) -> int:
    """The neighbouring option above or below `value` (options sorted high to low)."""
    index = options.index(value) if value in options else 0
    return options[max(0, min(len(options) - 1, index + rng.choice((-1, 1))))]


def default_space(parent: ViTConfig, removal_order: tuple[int, ...], min_depth: int | None = None,
                  embed: bool = True) -> SearchSpace:
    """Heads and MLP widths at 1, 3/4, 1/2 and 1/4 of the parent's; depth down to a third; width 1 or 3/4."""
    heads = max(parent.heads_of(i) for i in range(parent.depth))
    mlp = max(parent.mlp_dim_of(i) for i in range(parent.depth))
    multiple = 8 if mlp >= 64 else 1
    embed_multiple = 8 if parent.embed_dim >= 32 else 1
    return SearchSpace(
        parent=parent, removal_order=tuple(removal_order),
        min_depth=min_depth or max(1, parent.depth // 3),
        head_options=_options(heads, HEAD_FRACTIONS, 1),
        mlp_options=_options(mlp, MLP_FRACTIONS, multiple),
        embed_options=_options(parent.embed_dim, EMBED_FRACTIONS, embed_multiple) if embed else (parent.embed_dim,))


def subnet_config(parent: ViTConfig, choice: Choice) -> ViTConfig:
    """The architecture of a sub-network: per-block heads and MLP widths, the parent's per-head width."""
    if len(choice.heads) != parent.depth:
        raise ValueError(f"the choice has {len(choice.heads)} blocks, the parent {parent.depth}")
    if choice.embed_dim > parent.embed_dim:
        raise ValueError(f"embed_dim {choice.embed_dim} exceeds the parent's {parent.embed_dim}")
    for i in choice.blocks:
        if choice.heads[i] > parent.heads_of(i) or choice.mlp[i] > parent.mlp_dim_of(i):
            raise ValueError(f"block {i}: {choice.heads[i]} heads / MLP {choice.mlp[i]} exceed the parent's "
                             f"{parent.heads_of(i)} / {parent.mlp_dim_of(i)}")
    kept = choice.blocks
    heads = tuple(choice.heads[i] for i in kept)
    return parent.replace(depth=len(kept), embed_dim=choice.embed_dim, num_heads=max(heads),
                          head_dim=parent.per_head_dim, block_heads=heads,
                          block_mlp_dims=tuple(choice.mlp[i] for i in kept))
