"""Distillation losses, the single-pass forward, the config checks and the learning-rate schedule."""
import math

import pytest
import torch
import torch.nn.functional as F

from vitedge.distill import DistillConfig, DistillError
from vitedge.distill.loop import MIN_LR_RATIO, lr_at
from vitedge.distill.losses import distill_loss, feature_mse, hard_distill, soft_kl
from vitedge.distill.modules import Trainee, logits_and_features, param_groups

from .conftest import tiny_student


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 10, generator=g), torch.randn(8, 10, generator=g) * 3, torch.arange(8) % 10


def test_soft_kl_is_kl_at_temperature_scaled_by_t_squared(logits):
    student, teacher, _ = logits
    for t in (1.0, 4.0):
        expected = F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1), log_target=True,
                            reduction="batchmean") * t * t
        assert torch.allclose(soft_kl(student, teacher, t).mean(), expected, atol=1e-6)
    assert soft_kl(teacher, teacher, 4.0).abs().max() < 1e-5
    assert soft_kl(student, teacher, 4.0).shape == (8,)


def test_hard_distillation_is_ce_on_teacher_argmax(logits):
    student, teacher, _ = logits
    expected = F.cross_entropy(student, teacher.argmax(-1), reduction="none")
    assert torch.allclose(hard_distill(student, teacher), expected)


def test_labels_weighted_by_one_minus_alpha_and_absent_labels(logits):
    student, teacher, labels = logits
    cfg = DistillConfig(alpha=0.7, temperature=2.0)
    kl = soft_kl(student, teacher, 2.0)
    ce = F.cross_entropy(student, labels, reduction="none")
    assert torch.allclose(distill_loss(student, teacher, labels, cfg), 0.7 * kl + 0.3 * ce)
    assert torch.allclose(distill_loss(student, teacher, None, cfg), kl)  # no labels: the distillation term alone
    hard = DistillConfig(alpha=0.5, hard_distill=True)
    expected = 0.5 * hard_distill(student, teacher) + 0.5 * ce
    assert torch.allclose(distill_loss(student, teacher, labels, hard), expected)


def test_feature_term_and_mismatched_shapes(logits):
    student, teacher, _ = logits
    cfg = DistillConfig(feature_weight=2.0)
    fs, ft = torch.zeros(8, 17, 4), torch.ones(8, 17, 4)
    assert torch.allclose(distill_loss(student, teacher, None, cfg, fs, ft), soft_kl(student, teacher, 4.0) + 2.0)
    with pytest.raises(DistillError, match="patch grid"):
        feature_mse(torch.zeros(8, 17, 4), torch.zeros(8, 5, 4))
    with pytest.raises(DistillError, match="classes"):
        distill_loss(student[:, :5], teacher, None, cfg)


def test_logits_and_features_match_forward_and_projector():
    model = tiny_student().eval()
    x = torch.randn(3, 1, 28, 28)
    logits, features = logits_and_features(model, x)
    assert torch.equal(logits, model(x)) and features.shape == (3, 17, 32)
    trainee = Trainee(model, teacher_dim=64)
    assert trainee(x)[1].shape == (3, 17, 64) and isinstance(trainee.projector, torch.nn.Linear)
    assert isinstance(Trainee(model, teacher_dim=32).projector, torch.nn.Identity)
    decay, no_decay = param_groups(model, 0.05)
    assert all(p.ndim >= 2 for p in decay["params"]) and any(p is model.pos_embed for p in no_decay["params"])


def test_schedule_warms_up_then_cosine_to_one_percent():
    cfg = DistillConfig(lr=1e-3)
    assert lr_at(0, cfg, 100, 10) == pytest.approx(1e-4)
    assert lr_at(9, cfg, 100, 10) == pytest.approx(1e-3)
    assert lr_at(55, cfg, 100, 10) == pytest.approx(1e-3 * (MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5))
    assert lr_at(100, cfg, 100, 10) == pytest.approx(1e-3 * MIN_LR_RATIO)
    steps = [lr_at(s, cfg, 100, 10) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(steps, steps[1:])) and not math.isnan(sum(steps))


def test_invalid_config_is_a_clear_error():
    with pytest.raises(DistillError, match="alpha must be between 0 and 1"):
        DistillConfig(alpha=1.5)
    with pytest.raises(DistillError, match="epochs"):
        DistillConfig(epochs=0)
    assert DistillConfig.from_dict(DistillConfig(lr=1e-3).to_dict()) == DistillConfig(lr=1e-3)
