"""The accuracy-aware fallback loop, on a synthetic backend whose accuracy depends on which groups stay float."""
from pathlib import Path

import pytest

from vitedge.quantize.gate import QuantGate
from vitedge.quantize.scheme import Scheme
from vitedge.quantize.sensitivity import accuracy_aware, group_layers, group_of


@pytest.mark.parametrize("layer, group", [
    ("/blocks/blocks.3/attn/qkv/MatMul", "blocks.3"),                       # ONNX (torch.onnx names)
    ("__module.blocks.11.mlp.fc1/aten::linear/MatMul", "blocks.11"),       # OpenVINO (convert_model names)
    ("blocks.0.attn.proj", "blocks.0"),                                      # PyTorch module names (TFLite PT2E)
    ("/patch_embed/proj/Conv", "patch_embed"),
    ("__module.head.0/aten::linear/MatMul", "head"),
    ("/head/Gemm", "head"),
])
def test_layers_group_by_block_on_every_backend(layer, group):
    assert group_of(layer) == group


class FakeBackend:
    """Drop in pp caused by each quantized group; calibration error proportional to it."""

    harm = {"patch_embed": 0.05, "blocks.0": 0.1, "blocks.1": 1.2, "head": 0.4}
    layers = ["/patch_embed/proj/Conv", "/blocks/blocks.0/a/MatMul", "/blocks/blocks.1/a/MatMul", "/head/Gemm"]

    def __init__(self, tmp_path: Path):
        self.tmp_path, self.calls = tmp_path, 0

    def drop(self, scheme: Scheme) -> float:
        floating = {group_of(layer) for layer in scheme.keep_float}
        return round(sum(h for g, h in self.harm.items() if g not in floating), 4)

    def attempt(self, scheme: Scheme, evaluate: bool):
        self.calls += 1
        folder = self.tmp_path / f"a{self.calls}"
        folder.mkdir()
        path = folder / "m.onnx"
        path.write_text(str(self.drop(scheme)))
        drop = self.drop(scheme)
        return path, ({"top1": 0.98 - drop / 100, "drop_pp": drop, "min_cosine": 1 - drop / 10} if evaluate else None)

    def probe(self, path: Path) -> float:
        return float(path.read_text()) / 100


def test_keeps_most_sensitive_groups_float_until_within_drop(tmp_path):
    backend = FakeBackend(tmp_path)
    result = accuracy_aware(backend.attempt, backend.probe, Scheme("int8"), backend.layers, QuantGate(0.3))
    assert result.met
    assert [s["float_groups"] for s in result.steps] == [[], ["blocks.1"], ["blocks.1", "head"]]
    assert [s["drop_pp"] for s in result.steps] == [1.75, 0.55, 0.15]
    assert list(result.sensitivity)[:2] == ["blocks.1", "head"]
    assert set(result.scheme.keep_float) == {"/blocks/blocks.1/a/MatMul", "/head/Gemm"}


def test_within_bounds_needs_no_fallback(tmp_path):
    backend = FakeBackend(tmp_path)
    result = accuracy_aware(backend.attempt, backend.probe, Scheme("int8"), backend.layers, QuantGate(2.0))
    assert result.met and backend.calls == 1 and result.scheme.keep_float == ()


def test_unreachable_target_reports_best_found(tmp_path):
    backend = FakeBackend(tmp_path)
    result = accuracy_aware(backend.attempt, backend.probe, Scheme("int8"), backend.layers, QuantGate(-1.0))
    assert not result.met
    assert result.evaluation["drop_pp"] == 0.0 and len(result.steps) == 5
    assert group_layers(list(result.scheme.keep_float)).keys() == {"patch_embed", "blocks.0", "blocks.1", "head"}
