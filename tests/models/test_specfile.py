"""Model spec files: architecture, head override, preprocessing, labels, weights path."""
import json

import pytest
import torch
from safetensors.torch import save_file

from vitedge.errors import ModelSourceError
from vitedge.models import load_model

SPEC = """
name = "tiny-gray"
weights = "w.safetensors"
labels = ["cat", "dog", "bird"]
[architecture]
img_size = 32
patch_size = 8
in_chans = 1
num_classes = 3
embed_dim = 48
depth = 2
num_heads = 4
global_pool = "avg"
[head]
hidden = [32]
[preprocessing]
mean = [0.5]
std = [0.25]
"""


def write_weights(path, text):
    from vitedge.models.specfile import read_spec_file
    from vitedge.models.source import _from_spec

    spec_path = path / "model.toml"
    spec_path.write_text(text)
    raw = read_spec_file(spec_path)
    raw.pop("weights")
    state = _from_spec(raw, "x", None, random_init=True).module.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, path / "w.safetensors")
    return spec_path, state


def test_toml_spec_builds_head_override_and_preprocessing(tmp_path):
    spec_path, state = write_weights(tmp_path, SPEC)
    model = load_model(spec_path)
    assert model.name == "tiny-gray" and model.spec.labels == ("cat", "dog", "bird")
    assert model.spec.input_size == (1, 32, 32) and model.spec.std == (0.25,)
    assert "head.0.weight" in state and "head.2.weight" in state and "fc_norm.weight" in state
    out = model.module(torch.zeros(2, 1, 32, 32))
    assert out.shape == (2, 3)


def test_json_spec_equivalent(tmp_path):
    spec_path, _ = write_weights(tmp_path, SPEC)
    import tomllib
    raw = tomllib.loads(SPEC)
    (tmp_path / "model.json").write_text(json.dumps(raw))
    assert load_model(tmp_path / "model.json").spec == load_model(spec_path).spec


def test_unknown_key_named(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(SPEC.replace("[head]", "[head]\nwidth = 3"))
    with pytest.raises(ModelSourceError, match=r"unknown key\(s\) \['width'\] in \[head\]"):
        load_model(path)


def test_labels_must_match_head(tmp_path):
    spec_path, _ = write_weights(tmp_path, SPEC)
    spec_path.write_text(SPEC.replace('"bird"]', '"bird", "fish"]'))
    with pytest.raises(ModelSourceError, match="4 labels for a head of 3 classes"):
        load_model(spec_path)
