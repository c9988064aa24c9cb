"""A variant is a spec file + safetensors that load_model reads back to the same network."""
import tomllib

import torch

from vitedge.models import load_model
from vitedge.nas import Choice, measure_importance, slice_model, write_variant

from .conftest import tiny_model


def test_variant_round_trips_through_load_model(tmp_path, mnist):
    parent = tiny_model(head_hidden=(24,))
    child = slice_model(parent, measure_importance(parent, mnist), Choice((2, 0, 3), (16, 0, 48), 24), "child")
    spec = write_variant(child, tmp_path / "variants", "x86-cpu", "a test variant")
    raw = tomllib.loads(spec.read_text())
    assert raw["weights"] == "x86-cpu.safetensors" and len(raw["weights_sha256"]) == 64
    assert raw["architecture"]["block_heads"] == [2, 3] and raw["head"]["hidden"] == [24]
    loaded = load_model(spec)
    assert loaded.config == child.config and loaded.spec == child.spec and loaded.name == "child"
    images = torch.from_numpy(next(mnist.batches(child.spec, 32))[0])
    with torch.no_grad():
        assert torch.equal(loaded.module(images), child.module(images))
    assert not list((tmp_path / "variants").glob(".*"))  # no temporary files left behind
