"""Checkpoints: an exact round trip of weights, AdamW moments and RNG state, with no pickle involved."""
import json

import pytest
import torch
from safetensors import safe_open

from vitedge.distill import DistillError
from vitedge.distill.checkpoint import (CHECKPOINT, architecture_sha256, module_sha256, read_checkpoint, restore,
                                        save_checkpoint)
from vitedge.distill.modules import Trainee, param_groups

from .conftest import tiny_student


def _trained(seed: int):
    trainee = Trainee(tiny_student(seed), teacher_dim=48)
    optimizer = torch.optim.AdamW(param_groups(trainee, 0.05), lr=1e-3)
    for _ in range(2):
        logits, features = trainee(torch.randn(4, 1, 28, 28))
        (logits.square().mean() + features.square().mean()).backward()
        optimizer.step()
        optimizer.zero_grad()
    return trainee, optimizer


def test_round_trip_is_exact(tmp_path):
    trainee, optimizer = _trained(0)
    torch.manual_seed(123)
    save_checkpoint(tmp_path / CHECKPOINT, trainee, optimizer, {"step": 2, "history": [{"loss": 0.5}]})
    expected_rng = torch.get_rng_state()
    torch.manual_seed(999)
    fresh, fresh_opt = _trained(1)  # other weights and moments, overwritten below
    tensors, state = read_checkpoint(tmp_path / CHECKPOINT)
    restore(tensors, fresh, fresh_opt)
    assert state == {"step": 2, "history": [{"loss": 0.5}]}
    assert module_sha256(fresh) == module_sha256(trainee)
    saved, loaded = optimizer.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert sorted(saved) == sorted(loaded)
    assert all(torch.equal(saved[i][k], loaded[i][k]) for i in saved for k in saved[i])
    assert torch.equal(torch.get_rng_state(), expected_rng)
    with safe_open(str(tmp_path / CHECKPOINT), "pt") as f:
        assert json.loads(f.metadata()["state"])["step"] == 2
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / CHECKPOINT).write_bytes(b"not safetensors")
    with pytest.raises(DistillError, match="unreadable"):
        read_checkpoint(tmp_path / CHECKPOINT)


def test_hashes_tell_weights_from_architecture():
    a, b = tiny_student(0), tiny_student(1)
    assert architecture_sha256(a) == architecture_sha256(b) and module_sha256(a) != module_sha256(b)
    assert architecture_sha256(a) != architecture_sha256(tiny_student(0, depth=1))
