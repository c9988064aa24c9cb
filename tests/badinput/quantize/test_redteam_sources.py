"""quantize: lists that select nothing, an export that holds nothing to quantize, FP32 files changed after export,
an --out that is the source export folder, and a source folder that is neither an export nor a model: each is
refused (exit 2) before any work, naming the flag or the file."""
import os

import pytest

from ..conftest import assert_refused
from .._exported import copy_export, edit_artifacts, exported_once
from .._helpers import MNIST_EVAL

CALIB = str(MNIST_EVAL.parent / "mnist_calib.npz") + "[0:16]"
EVAL = f"{MNIST_EVAL}[0:16]"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_once(tmp_path_factory)


def quantize(cli, source, out, *extra, flags=()):
    args = {"--format": "onnx", "--precision": "int8", "--calib": CALIB, "--eval": EVAL, "--out": out}
    for flag, value in zip(extra[::2], extra[1::2]):
        args[flag] = value
    return cli("quantize", source, *[x for kv in args.items() for x in kv], "--threads", 1, *flags)


@pytest.mark.parametrize("flag, value, mentions", [
    ("--precision", ",", ["--precision", "stray comma"]),
    ("--precision", "", ["--precision", "empty"]),
    ("--precision", "int8,int8", ["--precision", "more than once"]),
    ("--precision", "INT8", ["--precision", "lowercase"]),
    ("--int8", ",", ["--int8", "stray comma"]),
    ("--int8", "STATIC", ["--int8", "lowercase"]),
    ("--format", ",", ["--format", "stray comma"]),
    ("--format", "openvino", ["holds no FP32 export artifact", "openvino"]),
])
def test_lists_that_select_nothing_are_refused(cli, guard, tmp_path, exported, flag, value, mentions):
    source = copy_export(exported, tmp_path / "export")
    g = guard()
    assert_refused(quantize(cli, source, tmp_path / "out", flag, value), *mentions)
    g.check(tmp_path / "out")


@pytest.mark.parametrize("change, mentions", [
    (lambda doc: doc.update(artifacts=[]), ["holds no FP32 export artifact", "no artifacts"]),
    (lambda doc: doc["artifacts"][0].update(stage="bogus"), ["stage", "'bogus'"]),
    (lambda doc: doc["artifacts"][0]["parity"].update(passed="no"), ["parity", "passed"]),
])
def test_an_export_with_nothing_to_quantize_is_refused(cli, guard, tmp_path, exported, change, mentions):
    source = edit_artifacts(copy_export(exported, tmp_path / "export"), change).parent
    g = guard()
    assert_refused(quantize(cli, source, tmp_path / "out"), *mentions)
    g.check(tmp_path / "out")


@pytest.mark.parametrize("damage, mention", [
    (lambda onnx: onnx.unlink(), "is missing"),
    (lambda onnx: onnx.write_bytes(b"not an onnx model"), "does not match its recorded sha256"),
])
def test_an_fp32_artifact_changed_after_export_is_refused(cli, guard, tmp_path, exported, damage, mention):
    source = copy_export(exported, tmp_path / "export")
    damage(source / "vit4mnist.onnx")
    g = guard()
    assert_refused(quantize(cli, source, tmp_path / "out"), "vit4mnist.onnx", mention)
    g.check(tmp_path / "out")


@pytest.mark.parametrize("where", ["export", "export/q"])
def test_out_in_the_source_export_folder_is_refused(cli, guard, tmp_path, exported, where):
    source = copy_export(exported, tmp_path / "export")
    g = guard()
    assert_refused(quantize(cli, source, tmp_path / where, flags=["--force"]), "--out", "input SOURCE")
    g.check()


def test_a_folder_that_is_neither_an_export_nor_a_model_is_refused(cli, guard, tmp_path):
    (tmp_path / "empty").mkdir()
    g = guard()
    assert_refused(quantize(cli, tmp_path / "empty", tmp_path / "out"), "neither artifacts.json", "config.json")
    g.check(tmp_path / "out")


def test_an_artifacts_json_that_is_a_fifo_is_refused(cli, guard, tmp_path, exported):
    source = copy_export(exported, tmp_path / "export")
    (source / "artifacts.json").unlink()
    os.mkfifo(source / "artifacts.json")
    g = guard()
    assert_refused(quantize(cli, source, tmp_path / "out"), "artifacts.json", "FIFO")
    g.check(tmp_path / "out")
