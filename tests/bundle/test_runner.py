"""The bundle's run.py: the manifest's preprocessing equals vitedge's, and it classifies a real digit."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vitedge.bundle import run_template
from vitedge.bundle.manifest import preprocessing
from vitedge.data.preprocess import image_to_chw, normalize
from vitedge.models.spec import IOSpec

from ..conftest import CALIB_DATA

SPECS = [
    IOSpec((3, 224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), crop_pct=0.875, interpolation="bicubic"),
    IOSpec((3, 160, 192), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), crop_pct=0.9),  # unequal sides: cover both
    IOSpec((1, 28, 28), (0.1307,), (0.3081,)),
]


@pytest.mark.parametrize("spec", SPECS, ids=["rgb-crop", "rgb-unequal", "gray"])
@pytest.mark.parametrize("size", [(300, 180), (90, 401), (28, 28)])
def test_preprocessing_matches_vitedge(spec, size):
    pixels = np.random.default_rng(sum(size)).integers(0, 256, (size[1], size[0], 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA")
    expected = normalize(image_to_chw(image, spec)[None], spec)
    actual = run_template.preprocess(image, preprocessing(spec.to_dict()))
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)


def test_run_py_prints_top5_labels(bundles, tmp_path):
    out, _ = bundles
    data = np.load(CALIB_DATA / "mnist_eval.npz")
    digit, label = data["images"][0, 0], str(data["labels"][0])
    Image.fromarray(digit).resize((56, 70)).convert("RGB").save(tmp_path / "digit.png")  # not the model's size
    for folder, extra in ((out / "x86-cpu", []), (out / "jetson-orin-nano", ["--artifact", "int8"])):
        proc = subprocess.run([sys.executable, str(folder / "run.py"), str(tmp_path / "digit.png"), *extra],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr
        header, result = proc.stdout.strip().splitlines()
        assert header.endswith("primary)") if not extra else "(onnx int8, " in header
        ranked = result.split(": ", 1)[1].split(", ")
        assert len(ranked) == 5 and ranked[0].split()[0] == label


def test_a_backbone_bundle_saves_each_embedding(tmp_path):
    first = run_template.describe(np.arange(8, dtype=np.float32)[None], {"task": "feature-extraction"}, tmp_path)
    run_template.describe(np.ones((1, 8), np.float32), {"task": "feature-extraction"}, tmp_path)
    assert "embedding of 8 values" in first and "embedding-0.npy" in first
    assert np.load(tmp_path / "embedding-0.npy").tolist() == list(range(8))
    assert np.load(tmp_path / "embedding-1.npy").tolist() == [1.0] * 8


def test_a_one_channel_map_is_saved_scaled(tmp_path):
    text = run_template.describe(np.linspace(0, 1, 16, dtype=np.float32).reshape(1, 1, 4, 4),
                                 {"task": "dense-prediction"}, tmp_path)
    assert "map [1, 4, 4] saved" in text
    picture = np.asarray(Image.open(tmp_path / "map-0.png"))
    assert picture.min() == 0 and picture.max() == 255 and picture.shape == (4, 4)
