"""Training batches that depend only on (seed, epoch, step): a resumed run, or one on more processes, sees the same
global batches. Each process takes every world_size-th sample of a global batch."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from vitedge.data.dataset import Dataset
from vitedge.data.preprocess import normalize
from vitedge.models.spec import IOSpec


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Full global batches per epoch (the short remainder is dropped; the order changes every epoch)."""
    return max(1, count // batch_size)


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, 1]).permutation(count)


def shift_images(images: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Translate each uint8 N x C x H x W image by up to `max_shift` pixels, filling with zeros."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    pad = np.pad(images, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    offsets = rng.integers(0, 2 * max_shift + 1, size=(n, 2))
    return np.stack([pad[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def epoch_batches(data: Dataset, spec: IOSpec, batch_size: int, seed: int, epoch: int, first_step: int,
                  rank: int, world: int, shift: int, device) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, int]]:
    """This process's share of each global batch of `epoch`, from global step `first_step` on.

    Yields (normalized float32 images, int64 labels or None) on `device`, and the size of the global batch.
    """
    order = epoch_order(len(data), seed, epoch)
    per_epoch = steps_per_epoch(len(data), batch_size)
    for index in range(first_step - epoch * per_epoch, per_epoch):
        chosen = order[index * batch_size:(index + 1) * batch_size]
        images = data.images[chosen]
        if shift:
            rng = np.random.default_rng([seed, epoch * per_epoch + index, 2])
            images = shift_images(images, shift, rng)
        mine = slice(rank, None, world)
        x = torch.from_numpy(normalize(images[mine], spec)).to(device)
        y = None if data.labels is None else torch.from_numpy(data.labels[chosen][mine].astype(np.int64)).to(device)
        yield x, y, len(chosen)
