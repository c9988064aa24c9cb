"""Dataset: uint8 images already at a model's input geometry, plus optional labels."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from vitedge.data.preprocess import array_to_nchw, check_spec, normalize
from vitedge.data.rows import loaded
from vitedge.data.sources import RawData, decode_images, parse_source, read_source
from vitedge.errors import DataError

if TYPE_CHECKING:
    from vitedge.models.spec import IOSpec


SPREAD_SEED = 0


@dataclass
class Dataset:
    """Images as uint8 N x C x H x W at the IOSpec's input size; labels int64 (N,) or None."""

    images: np.ndarray
    labels: np.ndarray | None
    source: str
    class_names: list[str] | None = None
    selection: str = "all"  # which images of the source: all, the first N, or N spread over it (seeded)

    def __len__(self) -> int:
        return len(self.images)

    def sha256(self) -> str:
        """Deterministic content hash of the images (shape and bytes) and labels."""
        digest = hashlib.sha256()
        digest.update(f"images uint8 {list(self.images.shape)}\n".encode())
        digest.update(np.ascontiguousarray(self.images, dtype=np.uint8).tobytes())
        if self.labels is not None:
            digest.update(f"labels int64 {len(self.labels)}\n".encode())
            digest.update(np.ascontiguousarray(self.labels, dtype="<i8").tobytes())
        return digest.hexdigest()

    def describe(self) -> dict:
        """Identity of the data for artifacts.json and reports."""
        return {"source": self.source, "sha256": self.sha256(), "count": len(self), "labelled": self.labels is not None,
                "selection": self.selection}

    def batches(self, spec: IOSpec, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield (float32 N x C x H x W normalized as (x / 255 - mean) / std, labels or None)."""
        if batch_size < 1:
            raise DataError(f"{self.source}: batch size must be at least 1, got {batch_size}", "pass a batch size >= 1")
        if tuple(self.images.shape[1:]) != tuple(spec.input_size):
            raise DataError(
                f"{self.source}: images are {tuple(self.images.shape[1:])}, "
                f"the model expects {tuple(spec.input_size)}",
                "load the data again with this model's IOSpec",
            )
        for start in range(0, len(self.images), batch_size):
            stop = start + batch_size
            labels = None if self.labels is None else self.labels[start:stop]
            yield normalize(self.images[start:stop], spec), labels


def load_dataset(arg: str | Path, spec: IOSpec, limit: int | None = None, spread: bool = False) -> Dataset:
    """Load `arg` (folder / .npz / IDX, optionally `PATH[START:END]`) at `spec`'s input geometry.

    `limit` keeps the first `limit` images after slicing; with `spread`, `limit` images spread over the slice
    (spread_indices: seeded, stratified by label), so a subset of a class-folder tree is not its first few classes.
    """
    check_spec(spec)
    if limit is not None and limit < 1:
        raise DataError(f"{arg}: limit must be a positive number of images, got {limit}", "omit it to use all images")
    path, bounds = parse_source(arg)
    raw = read_source(path, spec)
    selected = _select(raw, bounds, limit, spread, str(arg), path).loaded()  # only the selected rows are read
    total = len(raw.select(bounds)) if bounds is not None else len(raw)
    if isinstance(selected.images, np.ndarray):
        images = array_to_nchw(selected.images, spec)
    else:
        images = decode_images(selected.images, spec)
    return Dataset(images, selected.labels, str(arg), selected.class_names, _selection(len(images), total, spread,
                                                                                   selected.labels is not None))


def _selection(count: int, total: int, spread: bool, labelled: bool) -> str:
    if count == total:
        return "all"
    if not spread:
        return f"the first {count} of {total}"
    how = "stratified by label" if labelled else "uniform"
    return f"{count} of {total} spread over them (seed {SPREAD_SEED}, {how})"


def _select(raw: RawData, bounds: slice | None, limit: int | None, spread: bool, source: str,
            path: Path) -> RawData:
    """Apply the slice, then the limit (the first images, or spread); refuse an empty result."""
    if len(raw) == 0:
        raise DataError(f"{path}: holds no images", "pass a dataset with at least one image")
    selected = raw.select(bounds) if bounds is not None else raw
    if len(selected) == 0:
        raise DataError(
            f"{path}: the slice in {source!r} selects no images (the data holds {len(raw)})",
            f"use START:END with 0 <= START < END <= {len(raw)}",
        )
    if limit is None or limit >= len(selected):
        return selected
    if not spread:
        return selected.select(slice(0, limit))
    return selected.take(spread_indices(loaded(selected.labels), len(selected), limit))


def spread_indices(labels: np.ndarray | None, count: int, limit: int, seed: int = SPREAD_SEED) -> np.ndarray:
    """`limit` of `count` indices, sorted: with labels, round-robin over the classes (each class's images in a seeded
    order, the classes too), so every class gets limit / classes images or all it has; without, a seeded sample."""
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(count, size=limit, replace=False))
    classes = [np.flatnonzero(labels == c) for c in rng.permutation(np.unique(labels))]
    queues = [rng.permutation(members) for members in classes]
    depth = max(len(q) for q in queues)
    order = [q[i] for i in range(depth) for q in queues if i < len(q)]  # round i takes each class's i-th image
    return np.sort(np.asarray(order[:limit], dtype=np.int64))


def check_labels(data: Dataset | None, classes: int | None, model_name: str) -> Dataset | None:
    """Refuse labels outside the model's classes (negative, or >= `classes`): top-1 against them means nothing.
    `classes` None or 0 (a backbone without a head) skips the check."""
    if data is None or data.labels is None or not classes or not len(data.labels):
        return data
    outside = (data.labels < 0) | (data.labels >= classes)
    if outside.any():
        raise DataError(f"{data.source}: {int(outside.sum())} label(s) are outside the {classes} classes of "
                        f"{model_name} (labels range from {int(data.labels.min())} to {int(data.labels.max())}; "
                        f"allowed 0 to {classes - 1})",
                        "pass data labelled for this model: label i must mean the model's class i")
    return data


def model_classes(model) -> int | None:
    """The class count of a LoadedModel: its head's outputs, else its class names; None when unknown."""
    config = getattr(model, "config", None)
    if config is not None:
        return config.num_classes
    return len(model.spec.labels) if model.spec.labels else None
