"""A sub-network of a pretrained ViT, named by the knobs that keep its pretrained behaviour.

    SubnetConfig(resolution=192, blocks=(0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11), heads=3, mlp=768, embed=192, merge=24,
                 merge_every=3)

`resolution` is the input size (a multiple of the patch size; position embeddings are interpolated), `blocks` the
parent blocks kept (in order), `heads` / `mlp` / `embed` uniform widths, `merge` the tokens merged after the attention of
every `merge_every`-th block but the last (ToMe, models/merging.py; 0: none). Widths keep the parent's most important units: the supernet reorders
them once (reorder.py), so a width is a prefix of the parent's units.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from vitedge.models.merging import merges_after
from vitedge.models.vit import ViTConfig


@dataclass(frozen=True, order=True)
class SubnetConfig:
    resolution: int
    blocks: tuple[int, ...]
    heads: int
    mlp: int
    embed: int
    merge: int = 0
    merge_every: int = 1

    def __post_init__(self):
        if not self.blocks or list(self.blocks) != sorted(set(self.blocks)):
            raise ValueError(f"blocks must be increasing parent block indices, got {self.blocks}")
        if min(self.resolution, self.heads, self.mlp, self.embed, self.merge_every) < 1 or self.merge < 0:
            raise ValueError(f"every width and merge_every must be positive and merge >= 0: {self}")

    def merges_after(self, position: int) -> bool:
        """Whether the block at `position` (0-based, among the kept blocks) merges tokens (merging.merges_after)."""
        return merges_after(position, self.depth, self.merge, self.merge_every)

    @property
    def depth(self) -> int:
        return len(self.blocks)

    @property
    def key(self) -> str:
        """A short stable id: the same configuration always gets the same id."""
        return "s" + hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]

    def label(self) -> str:
        every = f" every {self.merge_every} blocks" if self.merge_every > 1 else ""
        merge = f", merge {self.merge}{every}" if self.merge else ""
        return f"{self.resolution}px, depth {self.depth}, heads {self.heads}, mlp {self.mlp}, embed {self.embed}{merge}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"] = list(self.blocks)
        if self.merge_every == 1:
            del d["merge_every"]  # keys of configurations that merge after every block stay as they were
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SubnetConfig":
        return cls(int(d["resolution"]), tuple(int(b) for b in d["blocks"]), int(d["heads"]), int(d["mlp"]),
                   int(d["embed"]), int(d.get("merge", 0)), int(d.get("merge_every", 1)))


def largest(parent: ViTConfig) -> SubnetConfig:
    """The parent itself."""
    return SubnetConfig(parent.img_size, tuple(range(parent.depth)), parent.num_heads, parent.mlp_dim_of(0),
                        parent.embed_dim, parent.token_merge, parent.token_merge_every)


def check_uniform(parent: ViTConfig) -> str | None:
    """Why the supernet cannot take this parent (per-block widths), or None."""
    heads = {parent.heads_of(i) for i in range(parent.depth)}
    mlps = {parent.mlp_dim_of(i) for i in range(parent.depth)}
    if len(heads) > 1 or len(mlps) > 1:
        return f"per-block widths (heads {sorted(heads)}, MLP {sorted(mlps)}): the supernet needs uniform blocks"
    return None


def unsupported_tokens(parent: ViTConfig) -> str | None:
    """Why the supernet cannot take this parent's tokens or grid yet (it handles one class token, a square
    grid and position embeddings that cover the class token), or None."""
    kinds = [name for name, present in (("a distillation token", parent.dist_token),
                                         (f"{parent.reg_tokens} register token(s)", parent.reg_tokens),
                                         ("position embeddings without the class token", parent.no_embed_class),
                                         (f"a non-square input {parent.img_hw[0]}x{parent.img_hw[1]}",
                                          isinstance(parent.img_size, tuple))) if present]
    if kinds:
        return (f"NAS does not support {' and '.join(kinds)} yet (the supernet handles one class token, square "
                "inputs and position embeddings over every token)")
    return None


def subnet_architecture(parent: ViTConfig, sub: SubnetConfig) -> ViTConfig:
    """The standalone ViTConfig of `sub` (what extract() builds and a variant's spec file records)."""
    if sub.resolution % parent.patch_size:
        raise ValueError(f"resolution {sub.resolution} is not a multiple of the patch size {parent.patch_size}")
    if max(sub.blocks) >= parent.depth:
        raise ValueError(f"block {max(sub.blocks)} does not exist in a parent of depth {parent.depth}")
    if sub.heads > parent.num_heads or sub.mlp > parent.mlp_dim_of(0) or sub.embed > parent.embed_dim:
        raise ValueError(f"{sub.label()} is wider than the parent")
    return parent.replace(img_size=sub.resolution, depth=sub.depth, num_heads=sub.heads, embed_dim=sub.embed,
                          head_dim=parent.per_head_dim, block_heads=None, block_mlp_dims=(sub.mlp,) * sub.depth,
                          mlp_ratio=sub.mlp / sub.embed, token_merge=sub.merge,
                          token_merge_every=sub.merge_every)
