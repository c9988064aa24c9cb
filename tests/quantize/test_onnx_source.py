"""The real vit4mnist handed back as an ONNX file: quantize (ONNX and OpenVINO, static INT8 with the fallback's
gate) and validate with the default gates, as from the PyTorch model; the reference is ONNX Runtime on the file."""
from __future__ import annotations

import json

import pytest

from tests.conftest import CALIB_DATA
from tests.models.test_onnx_source import fixed_batch_onnx, write_spec
from vitedge.api import quantize
from vitedge.cli import main
from vitedge.export.onnx import OnnxExporter

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def quantized_from_onnx(vit4mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("handed_back")
    path = OnnxExporter().export(vit4mnist, folder)[0].rename(folder / "model.onnx")
    write_spec(folder, path.name, vit4mnist.spec)
    out = folder / "quant"
    result = quantize(str(path), "all", "int8", calib=str(CALIB_DATA / "mnist_calib.npz"),
                      eval_data=str(CALIB_DATA / "mnist_eval.npz"), max_drop=0.3, out=out, threads=2)
    return out, result


def test_int8_holds_on_both_runtimes(quantized_from_onnx):
    _, result = quantized_from_onnx
    int8 = {a.format: a for a in result.artifacts if a.precision == "int8"}
    assert sorted(int8) == ["onnx", "openvino"]  # no TFLite from an ONNX source
    for artifact in int8.values():
        assert artifact.accuracy["drop_pp"] <= 0.3 and artifact.accuracy["top1_agreement"] >= 0.98


def test_validate_uses_the_file_as_reference(quantized_from_onnx, tmp_path, capsys):
    out, _ = quantized_from_onnx
    code = main(["validate", str(out / "artifacts.json"), "--data", str(CALIB_DATA / "mnist_eval.npz"),
                 "--report", str(tmp_path / "r")])
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["verdict"] == "pass" and report["reference"]["reference_runtime"] == "ONNX Runtime (model.onnx)"
    assert "FP32 ONNX Runtime (model.onnx)." in text


def test_a_batch_fixed_at_one_calibrates_and_quantizes(vit4mnist, tmp_path):
    path = fixed_batch_onnx(vit4mnist, tmp_path)
    result = quantize(str(path), "onnx", "int8", calib=str(CALIB_DATA / "mnist_calib.npz"), calib_samples=64,
                      eval_data=str(CALIB_DATA / "mnist_eval.npz"), eval_samples=300, max_drop=0.5,
                      out=tmp_path / "q", threads=2)
    int8 = next(a for a in result.artifacts if a.precision == "int8")
    assert not result.failures and int8.accuracy["top1_agreement"] >= 0.98
