"""A standard 224px model from a timm-layout safetensors file exports to every format with parity."""
import json

import pytest
import torch
from safetensors.torch import save_file

from vitedge.cli import main
from vitedge.export import EXPORTERS
from vitedge.models.source import load_model


@pytest.mark.slow
def test_deit_tiny_from_timm_safetensors_exports_everywhere(tmp_path, capsys):
    torch.manual_seed(0)
    state = load_model("deit_tiny_patch16_224", random_init=True).module.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "deit_tiny.safetensors")
    out = tmp_path / "deit"
    code = main(["export", "deit_tiny_patch16_224", "--weights", str(tmp_path / "deit_tiny.safetensors"),
                 "--format", "all", "--out", str(out), "--samples", "16", "--threads", "2"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    doc = json.loads((out / "artifacts.json").read_text())
    assert [a["format"] for a in doc["artifacts"]] == EXPORTERS.names()
    for artifact in doc["artifacts"]:
        assert artifact["inputs"][0]["shape"][1:] == [3, 224, 224]
        assert artifact["parity"]["passed"] and artifact["parity"]["samples"] == 16
        assert artifact["parity"]["min_cosine"] > 0.9999
    assert "deit_tiny_patch16_224.tflite" in printed.out and "sample images" in printed.err
