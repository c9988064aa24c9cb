"""student.toml: a NAS-shaped student (per-block heads and MLP widths) round-trips through load_model."""
import tomllib

import torch

from vitedge.distill.checkpoint import save_tensors
from vitedge.distill.output import WEIGHTS, spec_toml
from vitedge.models.specfile import toml_value
from vitedge.fileio import sha256_file
from vitedge.models import load_model

from .conftest import tiny_student


def test_sliced_student_spec_round_trip(tmp_path, vit4mnist):
    student = tiny_student(block_heads=(2, 4), block_mlp_dims=(24, 48), head_dim=8, head_hidden=(16,),
                           init_values=0.1).eval()
    save_tensors(tmp_path / WEIGHTS, student.state_dict())
    (tmp_path / "s.toml").write_text(spec_toml(student, vit4mnist.spec, "sliced", sha256_file(tmp_path / WEIGHTS)))
    loaded = load_model(tmp_path / "s.toml")
    assert loaded.config == student.cfg and loaded.spec == vit4mnist.spec and loaded.name == "sliced"
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), student(x))


def test_toml_values_parse_back():
    values = {"a": 1e-06, "b": True, "c": 'quote " and \\ back', "d": [0.5, 2], "e": float("inf")}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
    assert tomllib.loads(text) == values
