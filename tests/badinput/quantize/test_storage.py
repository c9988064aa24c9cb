"""quantize on a full disk: ONNX Runtime's calibrator writes `<model>-inferred.onnx` beside the model it is given.
A full disk there is a storage error (exit 1, naming the path), never a traceback or a converter failure, nothing
half-written is left beside the FP32 artifact or under a final name, and the same command finishes afterwards."""
import errno
import os
from pathlib import Path

import onnx

from vitedge.artifact import read_artifacts_file

from ...conftest import CALIB_DATA
from ..conftest import assert_refused

QUANTIZE = ("quantize", "vit4mnist", "--format", "onnx", "--precision", "int8", "--calib",
            CALIB_DATA / "mnist_calib.npz", "--calib-samples", 32, "--eval", CALIB_DATA / "mnist_eval.npz",
            "--eval-samples", 32, "--threads", 1)


def test_a_full_disk_while_the_calibrator_writes(cli, guard, tmp_path, monkeypatch):
    real = onnx.shape_inference.infer_shapes_path

    def half_then_full(model_path, output_path, *args, **kwargs):
        Path(output_path).write_bytes(Path(model_path).read_bytes()[:1000])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(output_path))

    monkeypatch.setattr(onnx.shape_inference, "infer_shapes_path", half_then_full)
    out = tmp_path / "quant"
    g = guard()
    outcome = cli(*QUANTIZE, "--out", out)
    assert_refused(outcome, "the disk is full while writing", "-inferred.onnx", code=1)
    assert "failed" not in outcome.text and "wrote" not in outcome.out
    assert not list(out.rglob("*-inferred.onnx")) and not list(out.glob("*int8*")), sorted(out.rglob("*"))
    g.check(out)
    monkeypatch.setattr(onnx.shape_inference, "infer_shapes_path", real)
    again = cli(*QUANTIZE, "--out", out)
    assert again.code == 0, again.text
    doc = read_artifacts_file(out / "artifacts.json")
    assert [a.precision for a in doc["artifacts"]] == ["fp32", "int8"]
    assert all(a.verify(out) is None for a in doc["artifacts"])
    assert not list(out.rglob("*-inferred.onnx"))
