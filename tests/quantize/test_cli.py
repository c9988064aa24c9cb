"""`vitedge quantize` end to end on ONNX (fast), and its bad inputs."""
import json

import numpy as np
import pytest
from PIL import Image

from vitedge.cli import main
from vitedge.errors import BackendMissingError
from vitedge.export.base import require

from ..conftest import REPO

EVAL = f"{REPO}/calib_data/mnist_eval.npz"
CALIB = f"{REPO}/calib_data/mnist_calib.npz"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_quantize_onnx_prints_table_and_records_recipe(tmp_path, capsys):
    code, out, err = run(capsys, "quantize", "vit4mnist", "--format", "onnx", "--calib", f"{CALIB}[0:200]",
                         "--eval", f"{EVAL}[0:500]", "--out", str(tmp_path / "q"))
    assert code == 0, err
    assert "vit4mnist_fp16.onnx" in out and "vit4mnist_int8.onnx" in out and "x smaller" in out
    doc = json.loads((tmp_path / "q" / "artifacts.json").read_text())
    int8 = next(a for a in doc["artifacts"] if a["precision"] == "int8")
    assert int8["quantization"]["scheme"] == {"precision": "int8", "mode": "static", "per_channel": True,
                                              "calibration": "percentile", "keep_float": [], "smoothquant": 0.8}
    assert int8["quantization"]["calibration"]["count"] == 200 and int8["accuracy"]["samples"] == 500


def test_quantize_from_an_export_folder(tmp_path, capsys):
    assert run(capsys, "export", "vit4mnist", "--format", "onnx", "--out", str(tmp_path / "e"), "--samples",
               "100")[0] == 0
    code, out, err = run(capsys, "quantize", str(tmp_path / "e" / "artifacts.json"), "--precision", "int8",
                         "--int8", "dynamic", "--eval", f"{EVAL}[0:300]", "--out", str(tmp_path / "q"))
    assert code == 0, err
    doc = json.loads((tmp_path / "q" / "artifacts.json").read_text())
    assert [a["path"] for a in doc["artifacts"]] == ["../e/vit4mnist.onnx", "vit4mnist_int8-dynamic.onnx"]


@pytest.mark.slow
def test_fallback_recovers_a_real_accuracy_loss(tmp_path, capsys):
    """Entropy (KL) calibration clips ViT activation outliers: -4.5 pp on vit4mnist; the fallback keeps the most
    sensitive op (the last head layer: under 0.1% of the MACs) in float and lands within --max-drop."""
    code, out, err = run(capsys, "quantize", "vit4mnist", "--format", "onnx", "--precision", "int8",
                         "--calibration-method", "entropy", "--calib-samples", "100", "--max-drop", "0.3",
                         "--out", str(tmp_path / "q"))
    assert code == 0, err
    int8 = json.loads((tmp_path / "q" / "artifacts.json").read_text())["artifacts"][1]
    steps = int8["quantization"]["fallback"]["steps"]
    assert steps[0]["drop_pp"] > 1.0 and steps[-1]["drop_pp"] <= 0.3 and int8["accuracy"]["drop_pp"] <= 0.3
    fallback = int8["quantization"]["fallback"]
    assert int8["quantization"]["float_groups"] and fallback["granularity"] == "op" and "in float: KL" in err
    assert fallback["float_mac_share"] < 0.05 and [s["kl"] for s in steps] == sorted((s["kl"] for s in steps),
                                                                                     reverse=True)


def test_unmet_max_drop_reports_the_best_result(tmp_path):
    """A budget no artifact can meet (the CLI refuses a negative --max-drop; the API takes it) ends the fallback with
    its best result, kept and reported as a failure (the CLI exits 1 on failures)."""
    from vitedge import api

    result = api.quantize("vit4mnist", formats="onnx", precisions="int8", eval_data=f"{EVAL}[0:200]", max_drop=-5.0,
                          out=tmp_path / "q")
    assert any("fail the gate (drop <= -5.0 pp)" in f and "best found" in f for f in result.failures)
    assert (tmp_path / "q" / "vit4mnist_int8.onnx").is_file()


def test_overlapping_calibration_and_evaluation_refused(tmp_path, capsys):
    code, _, err = run(capsys, "quantize", "vit4mnist", "--format", "onnx", "--calib", f"{CALIB}[0:100]",
                       "--eval", f"{CALIB}[50:150]", "--out", str(tmp_path / "q"))
    assert code == 2 and "50 image(s) of the evaluation data" in err and "--allow-overlap" in err
    assert not (tmp_path / "q").exists()


def test_too_few_calibration_images(tmp_path, capsys):
    code, _, err = run(capsys, "quantize", "vit4mnist", "--format", "onnx", "--calib", f"{CALIB}[0:5]",
                       "--out", str(tmp_path / "q"))
    assert code == 2 and "has 5 images; INT8 calibration needs at least 16" in err


def test_empty_and_non_image_calibration_folders(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "quantize", "vit4mnist", "--format", "onnx", "--calib", str(tmp_path / "empty"),
                       "--out", str(tmp_path / "q"))
    assert code == 2 and "empty" in err and "Traceback" not in err
    (tmp_path / "junk" / "3").mkdir(parents=True)
    (tmp_path / "junk" / "3" / "notes.txt").write_text("not an image")
    code, _, err = run(capsys, "quantize", "vit4mnist", "--format", "onnx", "--calib", str(tmp_path / "junk"),
                       "--out", str(tmp_path / "q"))
    assert code == 2 and "junk" in err and "Traceback" not in err


def test_nan_inputs_refused(tmp_path, capsys):
    spec = tmp_path / "m.toml"
    builtin = (REPO / "vitedge/models/builtin/vit4mnist/model.toml").read_text()
    spec.write_text(builtin.replace('weights = "', f'weights = "{REPO}/vitedge/models/builtin/vit4mnist/')
                    .replace("std = [0.3081]", "std = [0.0]"))
    code, _, err = run(capsys, "quantize", str(spec), "--format", "onnx", "--calib", f"{CALIB}[0:64]",
                       "--eval", f"{EVAL}[0:64]", "--out", str(tmp_path / "q"))
    assert code == 2 and "std" in err and str(spec) in err and "Traceback" not in err


def test_missing_backend_names_the_extra():
    with pytest.raises(BackendMissingError, match=r'pip install "vitedge\[openvino\]"'):
        require("openvino_not_installed_here", "openvino")
