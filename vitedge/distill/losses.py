"""Distillation losses, per sample so that a batch split across processes still averages over the global batch."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vitedge.distill.config import DistillConfig, DistillError


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) of the temperature-softened distributions, times T^2 (Hinton et al.), per sample."""
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_t = F.log_softmax(teacher_logits / temperature, dim=-1)
    return (log_t.exp() * (log_t - log_s)).sum(dim=-1) * temperature**2


def hard_distill(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """DeiT's hard distillation: cross-entropy on the teacher's predicted class, per sample."""
    return F.cross_entropy(student_logits, teacher_logits.argmax(dim=-1), reduction="none")


def feature_mse(student_features: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """Mean squared error between (projected) student and teacher token features, per sample."""
    if student_features.shape != teacher_features.shape:
        raise DistillError(f"feature distillation: student features {tuple(student_features.shape)} vs teacher "
                           f"{tuple(teacher_features.shape)}",
                           "use models with the same patch grid, or feature_weight 0")
    return (student_features - teacher_features).pow(2).flatten(1).mean(dim=1)


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor | None,
                 cfg: DistillConfig, student_features: torch.Tensor | None = None,
                 teacher_features: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample loss: alpha * distill + (1 - alpha) * CE(labels) (distill alone without labels) + features."""
    if student_logits.shape != teacher_logits.shape:
        raise DistillError(f"student logits {tuple(student_logits.shape)} vs teacher {tuple(teacher_logits.shape)}",
                           "the student needs the teacher's number of classes")
    if cfg.hard_distill:
        loss = hard_distill(student_logits, teacher_logits)
    else:
        loss = soft_kl(student_logits, teacher_logits, cfg.temperature)
    if labels is not None:
        loss = cfg.alpha * loss + (1 - cfg.alpha) * F.cross_entropy(student_logits, labels, reduction="none")
    if cfg.feature_weight > 0:
        loss = loss + cfg.feature_weight * feature_mse(student_features, teacher_features)
    return loss
