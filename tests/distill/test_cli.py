"""`vitedge distill` from the command line, and on two processes with torchrun (gloo)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from vitedge.cli import main
from vitedge.data import load_dataset
from vitedge.models import load_model

from ..conftest import CALIB_DATA, REPO
from .conftest import write_student_spec

DATA = [f"--data={CALIB_DATA}/mnist_calib.npz[0:256]", f"--eval={CALIB_DATA}/mnist_eval.npz[0:128]"]
TRAIN = ["--epochs", "2", "--batch-size", "64", "--lr", "2e-3"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def single(vit4mnist, tmp_path_factory):
    """A one-process CLI run from a student spec with weights (as nas writes them)."""
    root = tmp_path_factory.mktemp("cli")
    student = write_student_spec(root / "init", vit4mnist.spec)
    code = main(["distill", "--teacher", "vit4mnist", "--student", str(student), *DATA, *TRAIN,
                 "--out", str(root / "one")])
    assert code == 0
    return student, root / "one"


def test_cli_run_writes_a_student_that_export_loads(single, tmp_path, capsys):
    _, out = single
    assert {"student.toml", "student.safetensors", "distill.json", "checkpoint.safetensors"} <= \
        {p.name for p in out.iterdir()}
    report = json.loads((out / "distill.json").read_text())
    assert report["teacher"]["source"] == "vit4mnist" and report["student"]["name"] == "tiny"
    assert len(report["history"]) == 2 and report["data"]["eval"]["count"] == 128
    code, table, err = run(capsys, "export", out / "student.toml", "--format", "onnx", "--out", tmp_path / "x",
                           "--samples", "32")
    assert code == 0, err
    assert "tiny.onnx" in table and "pass" in table


def test_changed_settings_need_force(single, capsys):
    student, out = single
    args = ["distill", "--teacher", "vit4mnist", "--student", student, *DATA, "--out", out, "--batch-size", "64"]
    code, _, err = run(capsys, *args, "--epochs", "3", "--lr", "2e-3")
    assert code == 2 and "epochs 2 -> 3" in err and "--force" in err and "Traceback" not in err
    code, table, err = run(capsys, *args, "--epochs", "2", "--lr", "2e-3")  # same settings: already finished
    assert code == 0 and "resuming from the checkpoint at step 8 of 8" in err and "top-1" in table


def test_missing_student_weights_need_random_init(vit4mnist, tmp_path, capsys):
    student = write_student_spec(tmp_path / "init", vit4mnist.spec)
    (tmp_path / "init" / "student.safetensors").unlink()
    args = ["distill", "--teacher", "vit4mnist", "--student", student, *DATA, "--out", tmp_path / "d",
            "--max-steps", "1", "--epochs", "1"]
    code, _, err = run(capsys, *args)
    assert code == 2 and "weights file not found" in err and "--random-init" in err
    code, _, err = run(capsys, *args, "--random-init")
    assert code == 0 and "starting from random weights" in err
    assert json.loads((tmp_path / "d" / "distill.json").read_text())["student"]["init"] == "random"


def test_overlapping_data_refused(tmp_path, capsys):
    code, _, err = run(capsys, "distill", "--teacher", "vit4mnist", "--student", "vit4mnist", "--out", tmp_path,
                       f"--data={CALIB_DATA}/mnist_calib.npz[0:128]", f"--eval={CALIB_DATA}/mnist_calib.npz[100:164]")
    assert code == 2 and "28 image(s)" in err and "--allow-overlap" in err


def test_torchrun_two_processes_match_one(single, tmp_path):
    student, one = single
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "vitedge",
           "distill", "--teacher", "vit4mnist", "--student", str(student), *DATA, *TRAIN, "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "distill.json").read_text())
    assert report["world_size"] == 2 and report["run"]["samples_per_rank"] == [256, 256]  # 2 epochs x 128 each
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert proc.stdout.count("wrote ") == 1 and proc.stderr.count("epoch 2/2") == 1  # rank 0 alone reports
    # The same global batches: the same student up to float summation order. Compared by outputs, since the key
    # part of the qkv bias has a zero gradient up to rounding, which Adam scales up into visible noise.
    two, single_run = load_model(tmp_path / "student.toml"), load_model(one / "student.toml")
    x = torch.from_numpy(next(load_dataset(DATA[1][7:], two.spec).batches(two.spec, 128))[0])
    with torch.no_grad():
        assert torch.allclose(two.module(x), single_run.module(x), atol=1e-3)
