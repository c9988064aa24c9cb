"""One run per output folder: every verb that writes holds `OUT/.vitedge.lock` (flock, non-blocking) while it runs.

A second run on the same folder is refused at once with the folder, the other process (pid, command, start time) and
what to do. The lock is re-entrant in one process: a folder inside one already held (the pipeline's stage folders,
quantize's OUT/fp32) is covered by the outer lock. The kernel drops a flock when its process dies, so a lock file
left by a killed run never blocks; the file is removed on release, so it is never part of an output.

While a lock is held, `check_write` refuses writes outside the locked folders (fileio's atomic writes call it).
"""
from __future__ import annotations

import fcntl
import functools
import inspect
import json
import os
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vitedge.errors import VitedgeError
from vitedge.outdir import check_not_an_input, check_output_folder
from vitedge.readfile import names_too_long_refused
from vitedge.paths import write_target

LOCK_NAME = ".vitedge.lock"
_HELD: list[Path] = []  # folders this process holds (outermost locks only)


class OutputLockedError(VitedgeError):
    """Another process is writing to the same output folder."""


def check_write(path: str | Path) -> None:
    """While a verb holds its output lock, refuse a write that would land outside every locked folder."""
    for folder in _HELD:
        try:
            write_target(folder, path)
            return
        except VitedgeError:
            continue
    if _HELD:
        write_target(_HELD[0], path)  # raises, naming the path and the folder


@contextmanager
def output_lock(out: str | Path, command: str, option: str = "--out", inputs: dict | None = None) -> Iterator[Path]:
    """Hold OUT for `command` (e.g. "export"); refuse if another process holds it. Yields the resolved folder.

    The outermost lock first checks the folder (vitedge.outdir): `option` names it in messages, `inputs` maps the
    input options (e.g. "--data") to their values, whose folders OUT must not be."""
    if _covered(out):  # held by an outer call; under torchrun only rank 0 writes
        yield Path(out).resolve()
        return
    folder = check_output_folder(out, option)
    check_not_an_input(folder, option, inputs or {})
    created = _missing_parents(folder)
    fd = _acquire(folder, command)
    _HELD.append(folder)
    try:
        yield folder
    finally:
        _HELD.remove(folder)
        _unlock(fd, folder / LOCK_NAME, created)


def _covered(out: str | Path) -> bool:
    if os.environ.get("RANK", "0") != "0":
        return True
    if not _HELD:
        return False
    folder = Path(out).resolve()
    return any(f == folder or f in folder.parents for f in _HELD)


def locks(param: str, command: str, inputs: dict[str, str] | None = None):
    """Decorator: run the function holding the output lock on its argument `param` (an output folder, the option
    `--<param>`); `inputs` maps the names of input arguments to the options users name them by."""

    def wrap(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = {label: bound.arguments[name] for name, label in (inputs or {}).items()}
            with output_lock(bound.arguments[param], command, "--" + param.replace("_", "-"), given), \
                    names_too_long_refused():
                return fn(*args, **kwargs)

        return locked

    return wrap


def _missing_parents(folder: Path) -> list[Path]:
    """The folders this run creates for OUT (deepest first): removed on release when the run left them empty."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def _acquire(folder: Path, command: str) -> int:
    path = folder / LOCK_NAME
    for _ in range(10):  # the file may be replaced or its folder removed by a run releasing at the same moment
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _locked_error(folder, holder) from None
        if _same_file(fd, path):
            try:
                _record(fd, command)
            except OSError:
                os.close(fd)
                raise
            return fd
        os.close(fd)  # locked a file another run had just removed: take the new one
    raise OutputLockedError(f"could not lock output folder {folder}: its lock file keeps changing",
                            "another vitedge run is starting there; wait for it, or use another output folder")


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _record(fd: int, command: str) -> None:
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    program = "vitedge" if program in ("vitedge", "__main__.py") else program
    info = {"pid": os.getpid(), "command": f"vitedge {command}", "argv": shlex.join([program, *sys.argv[1:]]),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)


def _holder(fd: int) -> dict:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _locked_error(folder: Path, holder: dict) -> OutputLockedError:
    who = (f"pid {holder.get('pid', '?')} ({holder.get('command', 'vitedge')}, started {holder.get('started', '?')}: "
           f"{holder.get('argv', '')[:200]})" if holder else "another vitedge process")
    return OutputLockedError(f"output folder {folder} is in use by {who}: one vitedge run per output folder",
                             "wait for that run to finish, or write to another output folder (--out, or `out` in "
                             "the pipeline config)")


def _unlock(fd: int, path: Path, created: list[Path]) -> None:
    """Remove the lock file while still holding it (a run that opened it meanwhile sees it gone and retries),
    then the folders this run created if nothing was written to them."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only folder: the file stays, harmless (the kernel released the lock)
    finally:
        os.close(fd)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:
            break
