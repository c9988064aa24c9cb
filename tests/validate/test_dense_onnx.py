"""A dense model as users hand it over: an ONNX file of a small ViT backbone with a convolutional decoder that outputs
a 2-channel 28x28 map (built in the test). It quantizes on ONNX and OpenVINO, validates on cosine, PSNR and the
share of pixels that agree (no top-1 anywhere), and its bundle's run.py writes the map."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import CALIB_DATA
from vitedge import api

pytest.importorskip("openvino")
DIM, GRID = 32, 4


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = torch.nn.LayerNorm(DIM), torch.nn.LayerNorm(DIM)
        self.qkv, self.proj = torch.nn.Linear(DIM, 3 * DIM), torch.nn.Linear(DIM, DIM)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(DIM, 2 * DIM), torch.nn.GELU(), torch.nn.Linear(2 * DIM, DIM))

    def forward(self, x):
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.proj(torch.softmax(q @ k.transpose(1, 2) / DIM ** 0.5, dim=-1) @ v)
        return x + self.mlp(self.norm2(x))


class ViTWithDecoder(torch.nn.Module):
    """Patch 7 on 28x28 -> 2 blocks -> 4x4 token grid -> conv decoder -> (N, 2, 28, 28)."""

    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(1, DIM, 7, 7)
        self.pos = torch.nn.Parameter(torch.randn(1, GRID * GRID, DIM) * 0.1)
        self.blocks = torch.nn.Sequential(Block(), Block())
        self.decode = torch.nn.Sequential(torch.nn.ConvTranspose2d(DIM, 16, 7, 7), torch.nn.ReLU(),
                                          torch.nn.Conv2d(16, 2, 3, padding=1))

    def forward(self, x):
        tokens = self.blocks(self.patch(x).flatten(2).transpose(1, 2) + self.pos)
        return self.decode(tokens.transpose(1, 2).unflatten(2, (GRID, GRID)))


@pytest.fixture(scope="module")
def dense_onnx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dense")
    torch.manual_seed(0)
    model = ViTWithDecoder().eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(2, 1, 28, 28),), str(folder / "seg.onnx"), dynamo=False,
                          opset_version=17, input_names=["image"], output_names=["mask"],
                          dynamic_axes={"image": {0: "batch"}, "mask": {0: "batch"}})
    (folder / "seg.toml").write_text('name = "seg"\nonnx = "seg.onnx"\n[preprocessing]\nmean = [0.1307]\n'
                                     'std = [0.3081]\n')
    return folder / "seg.onnx"


@pytest.fixture(scope="module")
def dense_run(dense_onnx):
    root = dense_onnx.parent
    quant = api.quantize(str(dense_onnx), "onnx,openvino", "int8", calib=str(CALIB_DATA / "mnist_calib.npz"),
                         calib_samples=100, eval_data=str(CALIB_DATA / "mnist_eval.npz"), eval_samples=200,
                         out=root / "quant", threads=2)
    validation, paths = api.validate(root / "quant", data=str(CALIB_DATA / "mnist_eval.npz"), samples=200,
                                     report=root / "report")
    return root, quant, validation, json.loads(paths[0].read_text())


def test_task_is_read_from_the_output(dense_onnx):
    from vitedge.models import load_model

    assert load_model(dense_onnx).spec.task == "dense-prediction"


def test_validate_judges_maps_without_top1(dense_run):
    _, quant, validation, report = dense_run
    assert {a.format for a in quant.artifacts if a.precision == "int8"} == {"onnx", "openvino"}
    markdown = (dense_run[0] / "report" / "report.md").read_text()
    assert "| worst PSNR dB | pixels agree |" in markdown and "top-1" not in markdown
    gates = {(g["type"], g["metric"]) for g in report["gates"]}
    assert ("min-pixel-agreement", "output") in gates and not any(m == "top1" for _, m in gates)
    for entry in report["artifacts"]:
        m = entry["metrics"]
        assert "top1" not in m and "top1_agreement" not in m
        if entry["precision"] == "fp32":
            assert m["pixel_agreement"] > 0.9999 and m["mean_cosine"] > 0.99999
        else:  # INT8 moves the map a little; the figures say how much, per image too
            assert 0.5 < m["min_pixel_agreement"] <= m["pixel_agreement"] <= 1 and m["min_psnr_db"] <= m["psnr_db"]
            assert m["mean_cosine"] > 0.9


def test_the_bundle_writes_the_map(dense_run, tmp_path):
    root, _, _, _ = dense_run
    api.bench(root / "quant", targets="x86-cpu", out=root / "bench", threads=1)
    api.bundle(root / "quant", validation=root / "report", bench=root / "bench", targets="x86-cpu",
               out=root / "bundles")
    api.report(root / "quant", validation=root / "report", bench=root / "bench", out=root / "pipeline_report")
    summary = (root / "pipeline_report" / "report.md").read_text()
    assert "| size | cosine | pixels agree | gates |" in summary and "top-1" not in summary.split("## Benchmark")[1]
    folder = root / "bundles" / "x86-cpu"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["task"] == "dense-prediction" and "map" in manifest["output"]["meaning"]
    digit = np.load(CALIB_DATA / "mnist_eval.npz")["images"][0, 0]
    Image.fromarray(digit).save(tmp_path / "digit.png")
    proc = subprocess.run([sys.executable, str(folder / "run.py"), str(tmp_path / "digit.png"), "--out",
                           str(tmp_path / "maps")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "map [2, 28, 28] saved" in proc.stdout
    saved = np.load(tmp_path / "maps" / "map-0.npy")
    assert saved.shape == (2, 28, 28) and np.isfinite(saved).all()
    assert Image.open(tmp_path / "maps" / "map-0.png").size == (28, 28)
