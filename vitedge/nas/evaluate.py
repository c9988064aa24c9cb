"""Accuracy of sub-networks straight from the trained supernet: no retraining, images preprocessed at each one's
resolution exactly as deployment will (the source read again with the resolution's IOSpec).

Figures per configuration: top-1 agreement with the parent, mean KL divergence from the parent's outputs and, with
labels, top-1 and its drop from the parent's, all on the same images.
"""
from __future__ import annotations

import dataclasses
from contextlib import nullcontext

import numpy as np
import torch
from torch.nn import functional as F

from vitedge.data.dataset import Dataset, load_dataset
from vitedge.models.spec import IOSpec
from vitedge.nas.elastic import elastic_forward
from vitedge.nas.subnet import SubnetConfig

BATCH = 100


def spec_at(spec: IOSpec, resolution: int) -> IOSpec:
    return dataclasses.replace(spec, input_size=(spec.channels, resolution, resolution))


class SearchImages:
    """The search images at every resolution a configuration asks for (decoded once per resolution). `indices`:
    which images of the source `data` holds (a held-out split), else its first len(data)."""

    def __init__(self, data: Dataset, spec: IOSpec, indices: np.ndarray | None = None):
        self.data, self.spec, self.indices = data, spec, indices
        self._by_resolution = {spec.height: data}

    def at(self, resolution: int) -> Dataset:
        if resolution not in self._by_resolution:
            spec = spec_at(self.spec, resolution)
            if self.indices is None:
                loaded = load_dataset(self.data.source, spec, limit=len(self.data))
            else:
                whole = load_dataset(self.data.source, spec)
                loaded = Dataset(whole.images[self.indices], self.data.labels, self.data.source)
            self._by_resolution[resolution] = loaded
        return self._by_resolution[resolution]

    @property
    def labels(self) -> np.ndarray | None:
        return self.data.labels


class Evaluator:
    """`evaluate(sub, count, weights)`: the figures of `sub` on the first `count` search images (all when None),
    run with one of its weight sets: "supernet" (the ViT being trained) or others added with `add_weights`."""

    def __init__(self, vit: torch.nn.Module, parent: torch.nn.Module, images: SearchImages, bf16: bool = False):
        self.images, self.bf16 = images, False
        self.weights = {"supernet": vit.eval()}
        self.reference = self._logits(lambda x: parent(x), images.spec.height, None)  # always FP32
        self.bf16 = bf16
        labels = images.labels
        self.parent_top1 = None if labels is None else 100.0 * float((self.reference.argmax(-1) == labels).mean())

    @torch.no_grad()
    def _logits(self, run, resolution: int, count: int | None) -> np.ndarray:
        data = self.images.at(resolution)
        spec = spec_at(self.images.spec, resolution)
        context = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext()
        out, seen = [], 0
        with context:
            for x, _ in data.batches(spec, BATCH):
                if count is not None and seen >= count:
                    break
                x = x[:None if count is None else count - seen]
                out.append(run(torch.from_numpy(x)).float().numpy())
                seen += len(x)
        return np.concatenate(out)

    def add_weights(self, name: str, vit: torch.nn.Module) -> None:
        self.weights[name] = vit.eval()

    def evaluate(self, sub: SubnetConfig, count: int | None = None, weights: str = "supernet") -> dict:
        vit = self.weights[weights].eval()
        logits = self._logits(lambda x: elastic_forward(vit, x, sub), sub.resolution, count)
        reference = self.reference[:len(logits)]
        figures = {"images": len(logits),
                   "agreement": round(100.0 * float((logits.argmax(-1) == reference.argmax(-1)).mean()), 3),
                   "kl": round(_kl(reference, logits), 6)}
        labels = self.images.labels
        if labels is not None:
            top1 = 100.0 * float((logits.argmax(-1) == labels[:len(logits)]).mean())
            parent = 100.0 * float((reference.argmax(-1) == labels[:len(logits)]).mean())
            figures |= {"top1": round(top1, 3), "parent_top1": round(parent, 3), "drop_pp": round(parent - top1, 3)}
        return figures


def _kl(reference: np.ndarray, logits: np.ndarray) -> float:
    p = F.log_softmax(torch.from_numpy(reference), -1)
    q = F.log_softmax(torch.from_numpy(logits), -1)
    return float(F.kl_div(q, p, log_target=True, reduction="batchmean"))
