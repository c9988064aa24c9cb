"""The tiny spec of tests/badinput/_helpers.py with matching weights, built inside each test; export it."""
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from .._helpers import ARCH, spec_text


@pytest.fixture
def tiny(tmp_path) -> Path:
    """tmp_path/model/tiny.toml + tiny.safetensors (random weights of ARCH); returns the spec path."""
    from vitedge.models.vit import ViTConfig, VisionTransformer

    folder = tmp_path / "model"
    folder.mkdir()
    torch.manual_seed(0)
    state = VisionTransformer(ViTConfig(**ARCH)).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, folder / "tiny.safetensors")
    spec = folder / "tiny.toml"
    spec.write_text(spec_text())
    return spec


def export(cli, source, tmp_path, *extra):
    return cli("export", source, "--format", "onnx", "--out", tmp_path / "out", "--samples", 8, "--threads", 1,
               *extra)
