"""Tiny ViTs built here, and real MNIST images from calib_data/."""
from __future__ import annotations

import pytest
import torch

from vitedge.models.loaded import from_module
from vitedge.models.spec import IOSpec
from vitedge.models.vit import ViTConfig, VisionTransformer

from ..conftest import CALIB_DATA

CALIB = f"{CALIB_DATA}/mnist_calib.npz"
EVAL = f"{CALIB_DATA}/mnist_eval.npz"
SPEC = IOSpec(input_size=(1, 28, 28), mean=(0.1307,), std=(0.3081,), labels=tuple(str(i) for i in range(10)))
TINY = dict(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=32, depth=3, num_heads=4,
            mlp_ratio=2.0, norm_eps=1e-5)


def tiny_model(seed: int = 0, name: str = "tiny", **changes):
    """A random-init ViT (28 px MNIST geometry, 32 wide, 3 blocks of 4 heads) as a LoadedModel."""
    torch.manual_seed(seed)
    config = ViTConfig(**{**TINY, **changes})
    model = from_module(VisionTransformer(config), SPEC, name=name)
    model.config = config
    return model


@pytest.fixture(scope="session")
def mnist():
    from vitedge.data import load_dataset

    return load_dataset(f"{CALIB}[0:256]", SPEC)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on shared cores: one thread is faster, as `vitedge nas` itself runs them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
