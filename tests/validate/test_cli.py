"""`vitedge validate` on the real quantized vit4mnist artifacts: gates, the three reports, exit codes."""
import json
import shutil

import onnx
import pytest
from junitparser import Failure, JUnitXml
from onnx import numpy_helper
import torch
from safetensors.torch import save_file

from vitedge.api import quantize
from vitedge.artifact import read_artifacts_file, write_artifacts_file
from vitedge.cli import main
from vitedge.fileio import sha256_file
from vitedge.models.source import load_model

from ..conftest import REPO

CALIB = f"{REPO}/calib_data/mnist_calib.npz"


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    out = tmp_path_factory.mktemp("quant")
    quantize("vit4mnist", "all", "fp16,int8", max_drop=0.3, out=out, threads=2)
    return out


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_quantized_artifacts_pass_the_default_gates(quantized, tmp_path, capsys):
    code, out, err = run(capsys, "validate", str(quantized / "artifacts.json"), "--report", str(tmp_path / "r"))
    assert code == 0, out + err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["verdict"] == "pass" and len(report["artifacts"]) == 9
    executed = {a["precision"]: a["executed_precision"] for a in report["artifacts"] if a["format"] == "openvino"}
    assert executed["fp32"] == executed["fp16"] == "f32" and executed["int8"] in ("bf16", "f32")  # host default
    assert report["data"]["count"] == 2000 and "# vitedge validate: PASS" in out


@pytest.fixture
def broken(quantized, tmp_path):
    """A copy of the export with one hand-perturbed weight in the ONNX model, recorded with its true hash."""
    folder = tmp_path / "broken"
    shutil.copytree(quantized / "fp32", folder)
    model = onnx.load(folder / "vit4mnist.onnx")
    weight = next(i for i in model.graph.initializer if numpy_helper.to_array(i).ndim == 2)
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) * -1.0, weight.name))
    onnx.save(model, folder / "vit4mnist.onnx")
    doc = read_artifacts_file(folder / "artifacts.json")
    onnx_artifact = next(a for a in doc["artifacts"] if a.format == "onnx")
    onnx_artifact.sha256 = onnx_artifact.files[0]["sha256"] = sha256_file(folder / "vit4mnist.onnx")
    write_artifacts_file(folder, doc["model"], doc["data"], doc["tool_versions"], [onnx_artifact])
    return folder


def test_broken_artifact_fails_with_gate_value_and_threshold_in_all_reports(broken, tmp_path, capsys):
    code, out, _ = run(capsys, "validate", str(broken), "--report", str(tmp_path / "r"))
    assert code == 1
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    failed = [g for g in report["artifacts"][0]["gates"] if not g["passed"]]
    drop_gate = next(g for g in failed if g["type"] == "max-drop")
    assert report["verdict"] == "fail" and drop_gate["measured"] > 1.0 and drop_gate["threshold"] == 1.0
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "r" / "junit.xml"))))
    failures = [case for case in suite if any(isinstance(r, Failure) for r in case.result)]
    assert suite.tests == 6 and suite.skipped == 2  # 4 gates apply to FP32; the 2 INT8 floors select nothing
    assert suite.failures == len(failures) == len(failed)
    message = next(r.message for case in failures for r in case.result if "top1_drop_pp" in r.message)
    assert f"top1_drop_pp = {drop_gate['measured']:.6g}" in message and "threshold <= 1" in message
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert markdown.startswith("# vitedge validate: FAIL") and "## Failures" in markdown
    assert f"| top1 max-drop 1 | {drop_gate['measured']:.6g} | <= 1 |" in markdown


def test_two_runs_give_identical_figures(quantized, tmp_path, capsys):
    for name in ("a", "b"):
        assert run(capsys, "validate", str(quantized), "--formats", "onnx,tflite", "--report",
                   str(tmp_path / name))[0] == 0
    first, second = (json.loads((tmp_path / n / "report.json").read_text()) for n in ("a", "b"))
    assert first["artifacts"] == second["artifacts"] and first["verdict"] == second["verdict"]


def test_evaluation_data_overlapping_calibration_refused(quantized, tmp_path, capsys):
    code, _, err = run(capsys, "validate", str(quantized), "--data", f"{CALIB}[0:400]", "--report",
                       str(tmp_path / "r"))
    assert code == 2 and "were used to calibrate" in err and "--allow-overlap" in err
    code, _, _ = run(capsys, "validate", str(quantized), "--data", f"{CALIB}[0:400]", "--formats", "onnx",
                     "--allow-overlap", "--report", str(tmp_path / "r"))
    assert code in (0, 1)


def test_tampered_or_missing_artifact(quantized, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(quantized, folder)
    (folder / "vit4mnist_int8.tflite").write_bytes(b"tampered")
    code, _, err = run(capsys, "validate", str(folder), "--report", str(tmp_path / "r"))
    assert code == 2 and "vit4mnist_int8.tflite" in err and "does not match its recorded sha256" in err
    (folder / "vit4mnist_int8.tflite").unlink()
    code, _, err = run(capsys, "validate", str(folder), "--report", str(tmp_path / "r"))
    assert code == 2 and "vit4mnist_int8.tflite is missing" in err


@pytest.mark.parametrize("body, message", [
    ('metric = "top1"\ntype = "max-fall"\nvalue = 1', "unknown gate type 'max-fall'"),
    ('metric = "accuracy"\ntype = "max-drop"\nvalue = 1', "metric 'accuracy' does not go with type 'max-drop'"),
])
def test_bad_gates_file(quantized, tmp_path, capsys, body, message):
    (tmp_path / "gates.toml").write_text("[[gate]]\n" + body + "\n")
    code, _, err = run(capsys, "validate", str(quantized), "--gates", str(tmp_path / "gates.toml"), "--report",
                       str(tmp_path / "r"))
    assert code == 2 and message in err and "gates.toml" in err


def test_reference_of_another_shape(quantized, tmp_path, capsys):
    code, _, err = run(capsys, "validate", str(quantized), "--reference", "deit_tiny_patch16_224", "--report",
                       str(tmp_path / "r"))
    assert code == 2 and "needs weights" in err
    torch.manual_seed(0)
    state = load_model("deit_tiny_patch16_224", random_init=True).module.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "deit.safetensors")
    code, _, err = run(capsys, "validate", str(quantized), "--reference", "deit_tiny_patch16_224", "--weights",
                       str(tmp_path / "deit.safetensors"), "--data", f"{REPO}/calib_data/mnist_eval.npz[0:8]",
                       "--report", str(tmp_path / "r"))
    assert code == 2 and "inputs of shape [1, 28, 28]" in err and "[3, 224, 224]" in err
