"""The bad-input suite: each case builds its bad input inside the test, runs the verb as a user would (in-process
`vitedge.cli.main`), and checks the exit code, that the message names the file or key and says what to do, that no
traceback is printed, and that nothing outside the output folder was changed, created or removed."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from vitedge.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture
def cli(capsys, monkeypatch):
    """`cli("export", "vit4mnist", "--out", out)` -> Outcome; VITEDGE_DEBUG is unset so errors are the user's view."""
    monkeypatch.delenv("VITEDGE_DEBUG", raising=False)

    def run(*argv) -> Outcome:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return Outcome(code, out, err)

    return run


def assert_refused(outcome: Outcome, *mentions: str, code: int = 2, hint: bool = True) -> None:
    """A clean refusal: the exit code, each of `mentions` in the message, a hint saying what to do, no traceback."""
    assert "Traceback" not in outcome.text, outcome.text
    assert outcome.code == code, f"exit {outcome.code}, expected {code}:\n{outcome.text}"
    for mention in mentions:
        assert mention in outcome.err, f"{mention!r} not in the message:\n{outcome.err}"
    if hint:
        assert "hint:" in outcome.err, f"no hint saying what to do:\n{outcome.err}"


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (or 'dir' / 'link') of everything under root."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link:" + str(path.readlink())
        elif path.is_dir():
            out[rel] = "dir"
        elif not path.is_file():  # a FIFO or device built by a test: never read (it would block)
            out[rel] = f"special:{path.lstat().st_mode:o}"
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


class Guard:
    """Snapshot of a folder; `check(out)` fails if anything outside `out` changed, appeared or vanished."""

    def __init__(self, root: Path):
        self.root = root
        self.before = _tree(root)

    def check(self, *outs: Path) -> None:
        inside = [Path(o).resolve().relative_to(self.root.resolve()).as_posix() for o in outs]
        keep = lambda rel: not any(rel == o or rel.startswith(o + "/") for o in inside)
        before = {k: v for k, v in self.before.items() if keep(k)}
        after = {k: v for k, v in _tree(self.root).items() if keep(k)}
        changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
        assert not changed, f"changed outside the output folder: {changed}"
        assert not sorted(after.keys() - before.keys()), f"created outside: {sorted(after.keys() - before.keys())}"
        assert not sorted(before.keys() - after.keys()), f"removed outside: {sorted(before.keys() - after.keys())}"


@pytest.fixture
def guard(tmp_path):
    """Call `guard()` once the bad input is built; then `g.check(out)` after the run."""
    return lambda root=tmp_path: Guard(root)
