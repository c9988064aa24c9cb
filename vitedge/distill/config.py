"""DistillConfig (what to train), DistillResult (what came out) and the errors of the distill stage."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch

from vitedge.errors import VitedgeError

# Fields that change how a run is trained: a checkpoint made with other values cannot be resumed.
NOT_TRAINING_FIELDS = ("checkpoint_every",)


class DistillError(VitedgeError):
    """A distillation that cannot run as asked (incompatible models, bad settings)."""


class CheckpointMismatchError(DistillError):
    """The checkpoint in the output folder was made by a different run."""


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation settings. `batch_size` is the global batch, split across processes under torchrun.

    Loss: alpha * soft + (1 - alpha) * CE(labels) when the training data has labels, else the soft term alone.
    soft: KL(teacher || student) at `temperature`, scaled by T^2; with `hard_distill`, CE on the teacher's argmax
    (DeiT). `feature_weight` adds MSE between the final token features (student projected to the teacher's width).
    The learning rate warms up linearly over `warmup_steps` (None: 5% of the run), then follows a cosine to 1% of
    `lr`. `max_steps` ends the run early; the schedule then spans those steps.
    """

    epochs: int = 5
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_steps: int | None = None
    temperature: float = 4.0
    alpha: float = 0.7
    hard_distill: bool = False
    feature_weight: float = 0.0
    max_steps: int | None = None
    seed: int = 0
    checkpoint_every: int | None = 500  # optimizer steps between checkpoints (each epoch's end always is one)
    augment_shift: int = 2  # random translation of up to this many pixels (0: no augmentation)

    def __post_init__(self):
        for name in ("lr", "weight_decay", "temperature", "alpha", "feature_weight"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise DistillError(f"invalid distill config: {name} must be a finite number, got {value!r}",
                                   "fix the value and run again")
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.lr > 0, "lr must be positive"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (self.warmup_steps is None or self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (self.temperature > 0, "temperature must be positive"),
            (0.0 <= self.alpha <= 1.0, "alpha must be between 0 and 1"),
            (self.feature_weight >= 0, "feature_weight must be >= 0"),
            (self.max_steps is None or self.max_steps >= 1, "max_steps must be at least 1"),
            (self.checkpoint_every is None or self.checkpoint_every >= 1, "checkpoint_every must be at least 1"),
            (self.augment_shift >= 0, "augment_shift must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise DistillError(f"invalid distill config: {message}", "fix the value and run again")

    def to_dict(self) -> dict:
        return asdict(self)

    def training_dict(self) -> dict:
        """The fields a resumed run must share with its checkpoint."""
        return {k: v for k, v in self.to_dict().items() if k not in NOT_TRAINING_FIELDS}

    @classmethod
    def from_dict(cls, d: dict) -> "DistillConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class DistillResult:
    """A finished (or `max_steps`-ended) run. Accuracies are percentages; None without labelled eval data."""

    student: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    eval_top1: float | None = None
    teacher_top1: float | None = None
    steps: int = 0
    seconds: float = 0.0
    resumed_from: int | None = None
    agreement: float | None = None  # % of eval images where student and teacher predict the same class
    world_size: int = 1
