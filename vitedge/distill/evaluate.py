"""Held-out top-1 and teacher agreement, split across processes (each takes every world-th image)."""
from __future__ import annotations

import numpy as np
import torch

from vitedge.data.dataset import Dataset
from vitedge.data.preprocess import normalize
from vitedge.models.spec import IOSpec

EVAL_BATCH = 256


def predict(model: torch.nn.Module, data: Dataset, spec: IOSpec, device="cpu", rank: int = 0,
            world: int = 1) -> np.ndarray:
    """Predicted class of images rank, rank + world, ... of `data` (all of them in one process)."""
    images = data.images[rank::world]
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), EVAL_BATCH):
            x = torch.from_numpy(normalize(images[start:start + EVAL_BATCH], spec)).to(device)
            out.append(model(x).argmax(dim=-1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def top1(predictions: np.ndarray, data: Dataset, rank: int = 0, world: int = 1) -> tuple[int, int] | None:
    """(correct, total) on this process's share, or None when the data has no labels."""
    if data.labels is None:
        return None
    return int((predictions == data.labels[rank::world]).sum()), len(predictions)


def agreement(student_model: torch.nn.Module, teacher_model: torch.nn.Module, data: Dataset, spec: IOSpec) -> float:
    """% of images where the two models predict the same class (one process)."""
    return 100.0 * float((predict(student_model, data, spec) == predict(teacher_model, data, spec)).mean())
