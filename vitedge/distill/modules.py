"""The trained module (student + optional feature projector) and a single-pass logits-and-features forward."""
from __future__ import annotations

import torch
from torch import nn

from vitedge.distill.config import DistillError
from vitedge.models.vit import VisionTransformer, pool


def logits_and_features(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass of a vitedge ViT returning (logits, forward_features output: B x tokens x dim)."""
    features = model.forward_features(x)
    return model.head(model.fc_norm(pool(features, model.cfg))), features[0]


def check_feature_models(teacher: nn.Module, student: nn.Module) -> None:
    for role, model in (("teacher", teacher), ("student", student)):
        if not isinstance(model, VisionTransformer):
            raise DistillError(f"feature distillation needs vitedge VisionTransformer models; the {role} is a "
                               f"{type(model).__name__}", "set feature_weight 0 (logit distillation works for any "
                               "module)")


class Trainee(nn.Module):
    """What the optimizer updates: the student and, with feature distillation, a linear projection to the teacher's
    width (identity when the widths match). Wrapped whole in DistributedDataParallel."""

    def __init__(self, student: nn.Module, teacher_dim: int | None):
        super().__init__()
        self.student = student
        self.projector: nn.Module | None = None
        if teacher_dim is not None:
            width = student.cfg.embed_dim
            self.projector = nn.Identity() if width == teacher_dim else nn.Linear(width, teacher_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.projector is None:
            return self.student(x), None
        logits, features = logits_and_features(self.student, x)
        return logits, self.projector(features)


def teacher_outputs(teacher: nn.Module, x: torch.Tensor, with_features: bool):
    with torch.no_grad():
        if with_features:
            return logits_and_features(teacher, x)
        return teacher(x), None


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases, norms, class token and position embedding (timm / DeiT practice)."""
    decay, no_decay = [], []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.endswith(("cls_token", "pos_embed"))
        (no_decay if skip else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
