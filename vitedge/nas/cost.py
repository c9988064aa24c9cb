"""What a sub-network costs, computed from its architecture alone, and a latency model fitted to real figures.

Timing or exporting hundreds of configurations is too slow, so the search predicts each one's latency per target
from analytic work counts (linear-layer MACs, attention MACs, token-wise activations, softmax volume, layer count),
with non-negative weights fitted per target on a few dozen configurations that were really measured here (or
estimated from their exported graphs, for devices). The picks are then timed for real; the model only ranks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitedge.models.vit import ViTConfig

FEATURES = ("linear_macs", "attention_macs", "merge_macs", "token_activations", "softmax_volume", "layers",
            "merge_steps", "constant")
MAC_FEATURES = ("linear_macs", "attention_macs", "merge_macs")


def features(cfg: ViTConfig) -> np.ndarray:
    """Work counts of one image through `cfg` (batch 1), in FEATURES order. With token merging a merging block's MLP
    and the next blocks run on fewer tokens; each merge step costs two dense matmuls (matching: N/2 x N/2 x head
    width; sums: N' x N x C) and a fixed number of small ops (merge_steps)."""
    from vitedge.models.merging import merge_count

    patches = cfg.num_patches
    tokens = patches + int(cfg.class_token)
    dim, hd = cfg.embed_dim, cfg.per_head_dim
    linear = patches * dim * cfg.in_chans * cfg.patch_size ** 2
    attention = merging = activations = softmax = steps = 0
    for b in range(cfg.depth):
        heads, hidden = cfg.heads_of(b), cfg.mlp_dim_of(b)
        linear += tokens * dim * 4 * heads * hd
        attention += 2 * heads * tokens * tokens * hd
        softmax += heads * tokens * tokens
        activations += tokens * (3 * dim + 5 * heads * hd)
        if cfg.merges_after(b):
            kept = tokens - merge_count(tokens, cfg.token_merge)
            merging += ((tokens + 1) // 2) * (tokens // 2) * hd + kept * tokens * dim  # matching, then the sums
            tokens, steps = kept, steps + 1
        linear += 2 * tokens * dim * hidden
        activations += tokens * (3 * dim + 3 * hidden)
    width = dim
    if cfg.num_classes > 0:
        for hidden in cfg.head_hidden:
            linear, width = linear + width * hidden, hidden
        linear += width * cfg.num_classes
    return np.array([linear, attention, merging, activations, softmax, cfg.depth, steps, 1.0], dtype=np.float64)


def macs(work: np.ndarray) -> float:
    """Multiply-accumulates of a `features` vector."""
    return float(sum(work[FEATURES.index(name)] for name in MAC_FEATURES))


def nonnegative_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with weights >= 0 (active set: drop the most negative weight, refit, repeat)."""
    scale = np.abs(a).max(axis=0)
    scale[scale == 0] = 1.0
    active = list(range(a.shape[1]))
    while True:
        weights = np.zeros(a.shape[1])
        if active:
            solution, *_ = np.linalg.lstsq(a[:, active] / scale[active], b, rcond=None)
            weights[active] = solution / scale[active]
        negative = [i for i in active if weights[i] < 0]
        if not negative:
            return weights
        active.remove(min(negative, key=lambda i: weights[i]))


@dataclass(frozen=True)
class LatencyModel:
    """latency_ms ~ weights . features; `error` is the median relative error on the fitted points."""

    weights: tuple[float, ...]
    error: float
    points: int

    @classmethod
    def fit(cls, configs: list[ViTConfig], latencies_ms: list[float]) -> "LatencyModel":
        a = np.stack([features(c) for c in configs])
        b = np.asarray(latencies_ms, dtype=np.float64)
        weights = nonnegative_lstsq(a / b[:, None], np.ones_like(b))  # minimise relative, not absolute, error
        predicted = a @ weights
        error = float(np.median(np.abs(predicted - b) / b))
        return cls(tuple(float(w) for w in weights), round(error, 4), len(configs))

    def predict(self, cfg: ViTConfig) -> float:
        return float(features(cfg) @ np.asarray(self.weights))

    def to_dict(self) -> dict:
        return {"features": list(FEATURES), "weights": list(self.weights), "median_relative_error": self.error,
                "points": self.points}
