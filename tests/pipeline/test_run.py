"""`vitedge run` end to end on the built-in model: caching, only-what-changed, a killed run resumed, publishing."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vitedge.bundle import verify_bundle
from vitedge.cli import main
from vitedge.config import load_config
from vitedge.pipeline import dry_run, run_pipeline

TARGETS = ["x86-cpu", "jetson-orin-nano"]
EVAL = Path(__file__).resolve().parents[2] / "calib_data" / "mnist_eval.npz"


def config_text(out: Path, max_drop: float = 0.5) -> str:
    return (f'out = "{out}"\n[model]\nsource = "vit4mnist"\n[data]\ncalib_samples = 64\n'
            f'eval = "{EVAL}[0:300]"\n[export]\nformats = ["onnx"]\n'
            f'[quantize]\nprecisions = ["int8"]\nmax_drop = {max_drop}\n[bench]\ntargets = {json.dumps(TARGETS)}\n'
            f'threads = 1\n')


def write_config(folder: Path, out: Path, **kw) -> Path:
    path = folder / "pipeline.toml"
    path.write_text(config_text(out, **kw))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    config = load_config(write_config(root, root / "out"))
    return config, run_pipeline(config)


def test_bundles_for_every_target_verify(finished):
    _, result = finished
    assert [b.target for b in result.bundles] == TARGETS
    for bundle in result.bundles:
        assert bundle.written, bundle.reason
        assert verify_bundle(bundle.folder) == [] and verify_bundle(bundle.zip) == []
    assert result.report.is_file() and result.report.with_suffix(".html").is_file()


def test_second_run_does_no_stage_work(finished, capsys):
    config, _ = finished
    again = run_pipeline(config)
    assert not again.work_done
    assert "cached" in dry_run(config) and "to run" not in dry_run(config)


def test_a_tampered_published_bundle_is_published_again(finished):
    config, result = finished
    model = next(result.bundles[0].folder.glob("models/*.onnx"))
    model.write_bytes(model.read_bytes()[:-1] + b"x")
    assert verify_bundle(result.bundles[0].folder)
    again = run_pipeline(config)
    assert not again.work_done and verify_bundle(again.bundles[0].folder) == []


def _stage_folders(out: Path, stage: str) -> list[Path]:
    return sorted((out / "stages").glob(f"{stage}-*"))


def test_a_changed_stage_reruns_only_what_depends_on_it_and_a_killed_run_resumes(finished, tmp_path):
    config, _ = finished
    out = tmp_path / "out"
    shutil.copytree(config.out, out)
    path = write_config(tmp_path, out, max_drop=0.4)  # the quantize config changes; export does not
    before = set(_stage_folders(out, "quantize"))
    cmd = [sys.executable, "-m", "vitedge", "run", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while proc.poll() is None and not set(_stage_folders(out, "quantize")) - before:  # no wall-clock limit
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (new,) = set(_stage_folders(out, "quantize")) - before
    assert not (new / "stage.json").exists()  # killed mid-stage
    assert "to run" in dry_run(load_config(path))
    result = run_pipeline(load_config(path))
    ran = {run.stage for run in result.stage_runs if not run.cached}
    assert ran == {"quantize", "validate", "bench", "bundle"}
    assert all(verify_bundle(b.folder) == [] for b in result.bundles)


def test_cli_run_dry_run_and_bad_config(finished, tmp_path, capsys):
    config, _ = finished
    assert main(["run", config.path, "--dry-run"]) == 0
    assert "export" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nsource = "vit4mnist"\n[bench]\ntargets = ["toaster"]\n')
    assert main(["run", str(bad)]) == 2
    assert "toaster" in capsys.readouterr().err


def test_a_full_disk_leaves_no_corrupt_output_and_a_clear_error(finished, tmp_path, monkeypatch, capsys):
    """The disk fills while validate writes its report: the CLI says so, the stage is not marked done, no file is
    left half-written under its final name, and the next run finishes from there."""
    import errno

    import vitedge.fileio as fileio

    config, _ = finished
    out = tmp_path / "out"
    shutil.copytree(config.out, out)
    path = write_config(tmp_path, out, max_drop=0.45)
    real_fsync = os.fsync

    def full(fd):
        if "report.json" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device", os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", full)
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert "the disk is full while writing" in err and "Traceback" not in err
    (validate,) = [f for f in _stage_folders(out, "validate") if not (f / "stage.json").exists()]
    assert not (validate / "report.json").exists() and not list(validate.glob(".report.json.*"))
    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    result = run_pipeline(load_config(path))
    assert {r.stage for r in result.stage_runs if not r.cached} == {"validate", "bench", "bundle"}
    assert all(verify_bundle(b.folder) == [] for b in result.bundles)
