"""Tiny students and a few hundred real MNIST images, so every distillation test runs in seconds."""
from __future__ import annotations

import pytest
import torch

from vitedge.data import load_dataset
from vitedge.distill.checkpoint import save_tensors
from vitedge.distill.output import spec_toml
from vitedge.models.vit import ViTConfig, VisionTransformer

from ..conftest import CALIB_DATA

TINY = ViTConfig(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=32, depth=2, num_heads=4,
                 mlp_ratio=2.0)


def tiny_student(seed: int = 0, **changes) -> VisionTransformer:
    torch.manual_seed(seed)
    return VisionTransformer(TINY.replace(**changes))


def write_student_spec(folder, spec, seed: int = 0):
    """A student spec file + weights, as nas writes them; returns the spec's path."""
    student = tiny_student(seed)
    folder.mkdir(parents=True, exist_ok=True)
    save_tensors(folder / "student.safetensors", student.state_dict())
    (folder / "student.toml").write_text(spec_toml(student, spec, "tiny"))
    return folder / "student.toml"


@pytest.fixture(scope="session")
def train_data(vit4mnist):
    return load_dataset(f"{CALIB_DATA}/mnist_calib.npz[0:384]", vit4mnist.spec)


@pytest.fixture(scope="session")
def eval_data(vit4mnist):
    return load_dataset(f"{CALIB_DATA}/mnist_eval.npz[0:256]", vit4mnist.spec)
