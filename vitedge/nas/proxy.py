"""Accuracy proxy of a candidate: top-1 on a held-out split of the NAS data after a short distillation from the
parent (vitedge.distill), or the sliced sub-network's zero-shot top-1 when distillation is off or unavailable."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from vitedge.data.dataset import Dataset
from vitedge.models.loaded import LoadedModel

DISTILL, ZERO_SHOT = "distill", "zero-shot"
SMALL_MODEL_MACS = 100_000_000  # below this, one thread trains faster than several (tiny matmuls, shared cores)


@contextmanager
def torch_threads(count: int | None):
    """Run the block with `count` intra-op threads (None: unchanged), then restore torch's setting."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def top1(module: torch.nn.Module, data: Dataset, spec, batch: int = 500) -> float:
    """Top-1 in percent of `module` on labelled `data`."""
    module.eval()
    correct = 0
    for images, labels in data.batches(spec, batch):
        correct += int((module(torch.from_numpy(images)).argmax(-1).numpy() == labels).sum())
    return 100.0 * correct / len(data)


def distill_available() -> bool:
    try:
        from vitedge.distill import DistillConfig, distill  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class ProxySettings:
    steps: int = 200  # distillation steps per candidate; 0: zero-shot accuracy only
    batch_size: int = 64
    lr: float = 5e-4
    seed: int = 0
    threads: int | None = None  # torch threads for training; None: 1 for a small parent, else torch's default


class AccuracyProxy:
    """`proxy(student)` -> accuracies (percent); with distillation the student's weights are trained in place."""

    def __init__(self, teacher: LoadedModel, train: Dataset, held: Dataset, settings: ProxySettings):
        if held.labels is None:
            from vitedge.errors import DataError
            raise DataError(f"{held.source}: the NAS data has no labels; the accuracy proxy needs them",
                            "pass --data with labelled images (class folders, .npz with labels, IDX)")
        self.teacher, self.train, self.held, self.settings = teacher, train, held, settings
        self.kind = DISTILL if settings.steps > 0 and distill_available() else ZERO_SHOT
        from vitedge.nas.space import count_macs
        small = teacher.config is not None and count_macs(teacher.config) < SMALL_MODEL_MACS
        self.threads = settings.threads or (1 if small else None)
        self.note = self._note(settings)

    def _note(self, s: ProxySettings) -> str:
        if self.kind == DISTILL:
            return (f"top-1 on {len(self.held)} held-out images of --data after {s.steps} steps (batch "
                    f"{s.batch_size}, lr {s.lr:g}, seed {s.seed}) of knowledge distillation from the parent, "
                    f"on {len(self.train)} training images (vitedge.distill)")
        why = "distillation off (--steps 0)" if s.steps <= 0 else "vitedge.distill is not available"
        return f"zero-shot top-1 of the sliced sub-network on {len(self.held)} held-out images of --data ({why})"

    def parent_score(self, parent: LoadedModel) -> dict:
        """The parent is scored as it is: it is the teacher, there is nothing to distill."""
        score = round(top1(parent.module, self.held, self.teacher.spec), 3)
        return {"zero_shot_top1": score, "proxy_top1": score, "seconds": 0.0}

    def __call__(self, student: LoadedModel) -> dict:
        with torch_threads(self.threads):
            return self._score(student)

    def _score(self, student: LoadedModel) -> dict:
        started = time.perf_counter()
        spec = self.teacher.spec
        result = {"zero_shot_top1": round(top1(student.module, self.held, spec), 3)}
        if self.kind == DISTILL:
            from vitedge.distill import DistillConfig, distill

            s = self.settings
            cfg = DistillConfig(epochs=max(1, -(-s.steps * s.batch_size // len(self.train))), batch_size=s.batch_size,
                                lr=s.lr, max_steps=s.steps, seed=s.seed, checkpoint_every=None)
            distill(self.teacher.module, student.module, self.train, spec, cfg, out=None, progress=False,
                    name=student.name)
            student.module.eval()
            result["proxy_top1"] = round(top1(student.module, self.held, spec), 3)
        else:
            result["proxy_top1"] = result["zero_shot_top1"]
        result["seconds"] = round(time.perf_counter() - started, 2)
        return result


def split_data(data: Dataset, held_out: int, seed: int) -> tuple[Dataset, Dataset, dict]:
    """A seeded random split of `data` into (train, held-out); a description of the split for nas.json."""
    if len(data) < 2 * held_out:
        held_out = max(1, len(data) // 5)
    order = np.random.default_rng(seed).permutation(len(data))
    held_idx, train_idx = np.sort(order[:held_out]), np.sort(order[held_out:])

    def part(idx: np.ndarray, what: str) -> Dataset:
        labels = None if data.labels is None else data.labels[idx]
        return Dataset(data.images[idx], labels, f"{data.source} ({what})", data.class_names)

    train, held = part(train_idx, "NAS train split"), part(held_idx, "NAS held-out split")
    info = {"source": data.source, "seed": seed, "train": len(train), "held_out": len(held),
            "held_out_sha256": held.sha256(), "split": "numpy default_rng(seed).permutation: first held_out "
                                                       "indices held out"}
    return train, held, info
