"""validate: filter lists that select nothing, a --report in the artifacts' own folder (or /), a gates path that is
a FIFO or a device, and unlabelled data under accuracy gates are refused (exit 2); one image validates with a
warning instead of crashing."""
import os

import numpy as np
import pytest

from ..conftest import assert_refused
from .._exported import copy_export, exported_once
from .._helpers import MNIST_EVAL

DATA = f"{MNIST_EVAL}[0:32]"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_once(tmp_path_factory)


def validate(cli, artifacts, report, *extra, data=DATA):
    return cli("validate", artifacts, "--data", data, "--report", report, "--threads", 1, *extra)


@pytest.mark.parametrize("flag, value, mention", [("--formats", ",", "stray comma"),
                                                  ("--formats", "onnx,onnx", "more than once"),
                                                  ("--precisions", "", "empty")])
def test_filter_lists_are_exact(cli, guard, tmp_path, exported, flag, value, mention):
    g = guard()
    assert_refused(validate(cli, exported, tmp_path / "rep", flag, value), flag, mention)
    g.check(tmp_path / "rep")


@pytest.mark.parametrize("where, mention", [("ART", "input ARTIFACTS"), ("/", "does not write there")])
def test_a_report_folder_it_must_not_write_is_refused(cli, guard, tmp_path, exported, where, mention):
    artifacts = copy_export(exported, tmp_path / "export")
    g = guard()
    report = artifacts if where == "ART" else where
    assert_refused(validate(cli, artifacts, report, "--force"), "--report", mention)
    g.check()


@pytest.mark.parametrize("gates, mention", [("FIFO", "FIFO"), ("/dev/zero", "character device"),
                                            ("DIR", "is a folder")])
def test_a_gates_path_that_is_not_a_file_is_refused_not_read(cli, guard, tmp_path, exported, gates, mention):
    if gates == "FIFO":
        gates = tmp_path / "gates.toml"
        os.mkfifo(gates)
    elif gates == "DIR":
        gates = tmp_path / "gates"
        gates.mkdir()
    g = guard()
    assert_refused(validate(cli, exported, tmp_path / "rep", "--gates", gates), "gates file", mention)
    g.check(tmp_path / "rep")


def test_unlabelled_data_under_accuracy_gates_is_refused(cli, guard, tmp_path, exported):
    with np.load(MNIST_EVAL) as data:
        np.savez(tmp_path / "unlabelled.npz", images=data["images"][:32])
    g = guard()
    outcome = validate(cli, exported, tmp_path / "rep", data=tmp_path / "unlabelled.npz")
    assert_refused(outcome, "unlabelled.npz", "has no labels", "top1 max-drop")
    g.check(tmp_path / "rep")


def test_one_image_validates_with_a_warning(cli, guard, tmp_path, exported):
    g = guard()
    outcome = validate(cli, exported, tmp_path / "rep", data=f"{MNIST_EVAL}[100:101]")
    assert outcome.code in (0, 1), outcome.text
    assert "Traceback" not in outcome.text and "one image changes top-1" in outcome.text
    g.check(tmp_path / "rep")
