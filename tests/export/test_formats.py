"""Template test run for every registered format: vit4mnist exported, checked, and re-run in its own runtime."""
import json

import numpy as np
import pytest
import torch

from vitedge.api import export
from vitedge.data import load_dataset
from vitedge.export import EXPORTERS
from vitedge.fileio import sha256_file

from ..conftest import REPO

EVAL = "calib_data/mnist_eval.npz"  # MNIST test images 8000-9999


@pytest.fixture(scope="module")
def exported(tmp_path_factory, vit4mnist):
    out = tmp_path_factory.mktemp("export")
    result = export("vit4mnist", "all", out, threads=2)
    assert result.failures == []
    return out, {a.format: a for a in result.artifacts}


@pytest.fixture(scope="module")
def eval_set(vit4mnist):
    data = load_dataset(REPO / EVAL, vit4mnist.spec)
    inputs = np.concatenate([x for x, _ in data.batches(vit4mnist.spec, 500)])
    with torch.no_grad():
        return data, vit4mnist.module(torch.from_numpy(inputs)).numpy()


def test_every_format_is_registered_and_exported(exported):
    _, artifacts = exported
    assert sorted(artifacts) == sorted(EXPORTERS.names()) == ["onnx", "openvino", "tflite"]


@pytest.mark.parametrize("fmt", EXPORTERS.names())
def test_artifact_recorded_with_hashes(exported, fmt):
    out, artifacts = exported
    doc = json.loads((out / "artifacts.json").read_text())
    entry = next(a for a in doc["artifacts"] if a["format"] == fmt)
    assert entry["precision"] == "fp32" and entry["path"].endswith(EXPORTERS.get(fmt).suffix)
    assert entry["sha256"] == sha256_file(out / entry["path"])
    assert entry["bytes"] == sum((out / f["path"]).stat().st_size for f in entry["files"])
    assert entry["parity"]["passed"] and entry["parity"]["samples"] == 2000
    assert doc["data"]["count"] == 2000 and doc["model"]["name"] == "vit4mnist"


@pytest.mark.parametrize("fmt", EXPORTERS.names())
def test_artifact_in_its_own_runtime_matches_pytorch_on_held_out_mnist(exported, eval_set, vit4mnist, fmt):
    out, artifacts = exported
    data, reference = eval_set
    runner = EXPORTERS.get(fmt).open_runner(out / artifacts[fmt].path, threads=2)
    logits = runner(np.concatenate([x for x, _ in data.batches(vit4mnist.spec, 500)]))
    agreement = (logits.argmax(1) == reference.argmax(1)).mean()
    accuracy = (logits.argmax(1) == data.labels).mean()
    assert len(data) == 2000
    assert agreement >= 0.999, agreement
    assert accuracy >= 0.975, accuracy
    assert artifacts[fmt].parity["top1"] == pytest.approx(accuracy)
