"""One run per output folder: a second export / quantize / run on a folder another process is writing to is refused
(exit 2) naming the folder and the other process, and the first finishes intact. A lock left by a killed run never
blocks, nested calls in one process share the lock, and the lock file is never left in an output."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vitedge.artifact import read_artifacts_file
from vitedge.lock import LOCK_NAME, output_lock

from ...conftest import REPO
from ..conftest import assert_refused

HOLD = ("import sys\nfrom vitedge.lock import output_lock\nwith output_lock(sys.argv[1], 'export'):\n"
        "    print('locked', flush=True)\n    sys.stdin.read()\n")


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture
def holder():
    """`holder(folder)`: another process holding folder's lock until the test ends (or `.stdin.close()`)."""
    procs = []

    def hold(folder: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=_env(), start_new_session=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield hold
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_export_refuses_a_folder_another_process_writes_to(cli, guard, tmp_path, holder):
    out = tmp_path / "out"
    out.mkdir()
    (out / "theirs.onnx").write_bytes(b"written by the other run")
    other = holder(out)
    g = guard()
    outcome = cli("export", "vit4mnist", "--format", "onnx", "--out", out, "--samples", 8, "--threads", 1)
    assert_refused(outcome, str(out), f"pid {other.pid}", "in use", "wait")
    g.check()  # nothing changed anywhere, the other run's files included
    other.stdin.close()
    other.wait(timeout=30)
    assert not (out / LOCK_NAME).exists()


def test_run_and_quantize_refuse_a_locked_folder(cli, tmp_path, holder):
    out = tmp_path / "pipeline"
    config = tmp_path / "pipeline.toml"
    config.write_text(f'out = "{out}"\n[model]\nsource = "vit4mnist"\n[export]\nformats = ["onnx"]\n'
                      '[bench]\ntargets = ["x86-cpu"]\n')
    holder(out)
    assert_refused(cli("run", config), str(out), "in use")
    holder(tmp_path / "quant")
    assert_refused(cli("quantize", "vit4mnist", "--format", "onnx", "--out", tmp_path / "quant"), "in use")


def test_two_real_exports_on_one_folder_the_second_refuses_the_first_finishes(cli, tmp_path):
    out = tmp_path / "out"
    first = subprocess.Popen([sys.executable, "-m", "vitedge", "export", "vit4mnist", "--format", "onnx", "--out",
                              str(out), "--samples", "64", "--threads", "1"], env=_env(), cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / LOCK_NAME).exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    second = cli("export", "vit4mnist", "--format", "onnx", "--out", out, "--samples", 8, "--threads", 1)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert_refused(second, str(out), f"pid {first.pid}", "vitedge export")
    doc = read_artifacts_file(out / "artifacts.json")
    assert [a.verify(out) for a in doc["artifacts"]] == [None]
    assert sorted(p.name for p in out.iterdir()) == ["artifacts.json", "vit4mnist.onnx"]  # no lock file left


def test_a_lock_left_by_a_killed_run_does_not_block(cli, tmp_path, holder):
    out = tmp_path / "out"
    proc = holder(out)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / LOCK_NAME).exists()  # the file stays; the kernel dropped the lock
    outcome = cli("export", "vit4mnist", "--format", "onnx", "--out", out, "--samples", 8, "--threads", 1)
    assert outcome.code == 0, outcome.text
    assert not (out / LOCK_NAME).exists()


def test_nested_calls_in_one_process_share_the_lock(tmp_path):
    from vitedge.api import export

    out = tmp_path / "out"
    with output_lock(out, "run") as folder:
        record = json.loads((out / LOCK_NAME).read_text())
        assert record["pid"] == os.getpid() and record["command"] == "vitedge run"
        export("vit4mnist", "onnx", out / "stages" / "export", samples=8, threads=1)  # inside: covered
        export("vit4mnist", "onnx", out, samples=8, threads=1)  # the same folder again
        assert folder == out.resolve() and not (out / "stages" / "export" / LOCK_NAME).exists()
    assert not (out / LOCK_NAME).exists()


def test_a_refused_run_leaves_no_empty_output_folder(cli, tmp_path):
    out = tmp_path / "new" / "out"
    outcome = cli("export", "no-such-model", "--out", out)
    assert outcome.code == 2
    assert not (tmp_path / "new").exists()


def test_while_locked_writes_outside_the_folder_are_refused(tmp_path):
    from vitedge.errors import VitedgeError
    from vitedge.fileio import write_text_atomic

    with output_lock(tmp_path / "out", "export"):
        write_text_atomic(tmp_path / "out" / "sub" / "ok.txt", "inside")
        with pytest.raises(VitedgeError, match="outside"):
            write_text_atomic(tmp_path / "out" / ".." / "escaped.txt", "outside")
    assert not (tmp_path / "escaped.txt").exists()
