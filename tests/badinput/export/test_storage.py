"""export on a full or read-only disk: exit 1 with a storage error naming the path (never "the converter failed"),
no half-written file under a final name, no "wrote artifacts.json" for a write that did not happen, and the run
finishes once there is space again."""
import errno
import os
from pathlib import Path

import onnx

import vitedge.fileio as fileio
from vitedge.artifact import read_artifacts_file

from ..conftest import assert_refused

EXPORT = ("export", "vit4mnist", "--format", "onnx", "--samples", 8, "--threads", 1)


def _full(path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_while_the_converter_writes(cli, guard, tmp_path, monkeypatch):
    real_save = onnx.save

    def save_half(model, path, *args, **kwargs):
        Path(path).write_bytes(model.SerializeToString()[:1000])
        raise _full(path)

    monkeypatch.setattr(onnx, "save", save_half)
    out = tmp_path / "out"
    g = guard()
    outcome = cli(*EXPORT, "--out", out)
    assert_refused(outcome, "the disk is full while writing", "vit4mnist.onnx", code=1)
    assert "converter" not in outcome.text and "wrote" not in outcome.out
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []
    g.check(out)
    monkeypatch.setattr(onnx, "save", real_save)
    again = cli(*EXPORT, "--out", out)
    assert again.code == 0, again.text
    assert [a.verify(out) for a in read_artifacts_file(out / "artifacts.json")["artifacts"]] == [None]


def test_a_full_disk_while_writing_artifacts_json(cli, tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if "artifacts.json" in target:
            raise _full(target)
        return real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    out = tmp_path / "out"
    outcome = cli(*EXPORT, "--out", out)
    assert_refused(outcome, "the disk is full while writing", str(out / "artifacts.json"), code=1)
    assert "wrote" not in outcome.out
    assert not (out / "artifacts.json").exists() and not list(out.glob(".artifacts.json*"))
    monkeypatch.setattr(fileio.os, "fsync", real_fsync)
    again = cli(*EXPORT, "--out", out, "--resume")
    assert again.code == 0, again.text
    assert f"wrote {out / 'artifacts.json'}" in again.out


def test_a_read_only_output_folder(cli, guard, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    else:  # root writes through permissions: the file system says read-only instead
        for name in ("open", "mkdir"):
            monkeypatch.setattr(os, name, _read_only(getattr(os, name), out))
    g = guard()
    outcome = cli(*EXPORT, "--out", out)
    monkeypatch.undo()
    out.chmod(0o755)
    assert outcome.code == 1 and "Traceback" not in outcome.text, outcome.text
    assert str(out) in outcome.err and ("read-only" in outcome.err or "permission denied" in outcome.err)
    assert "converter" not in outcome.text and "wrote" not in outcome.out and list(out.iterdir()) == []
    g.check()


def _read_only(real, folder: Path):
    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(folder)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, *args, **kwargs)

    return refuse
