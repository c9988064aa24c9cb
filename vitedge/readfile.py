"""Reading a file a user hands vitedge (spec, gates, pipeline config, JSON documents, labels, device logs): a regular
file only, of bounded size, as UTF-8 text. A folder, a FIFO (reading it would wait forever), a device (`/dev/zero`
never ends), a symlink loop or an unreadable file is refused with its path, what it is and what to do.
"""
from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vitedge.errors import VitedgeError

MAX_TEXT_BYTES = 64 << 20  # a spec, gates file, config or vitedge document is a few KiB; a device log a few MiB


class InputFileError(VitedgeError):
    """An input path that is not a readable regular file of the expected kind."""


def open_regular(path: str | Path, what: str, hint: str) -> int:
    """A read-only descriptor of `path`, refused unless it is a regular file. Opened non-blocking, so a FIFO is
    detected (and refused) instead of waiting for a writer; the check is made on the opened file (no race)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputFileError(f"{what} {path} {_why(exc)}", hint) from None
    kind = stat.S_IFMT(os.fstat(fd).st_mode)
    if kind != stat.S_IFREG:
        os.close(fd)
        raise InputFileError(f"{what} {path} is {_KINDS.get(kind, 'not a regular file')}, not a file",
                             f"{hint} (vitedge reads regular files only)")
    os.set_blocking(fd, True)
    return fd


def check_regular(path: str | Path, what: str, hint: str) -> Path:
    """`path`, refused unless it is a readable regular file (see open_regular)."""
    os.close(open_regular(path, what, hint))
    return Path(path)


def read_bytes(path: str | Path, what: str, hint: str, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The content of a regular file, refused when it holds more than `max_bytes` (never read past that)."""
    fd = open_regular(path, what, hint)
    try:
        with os.fdopen(fd, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as exc:
        raise InputFileError(f"{what} {path} {_why(exc)}", hint) from None
    if len(data) > max_bytes:
        raise InputFileError(f"{what} {path} is larger than {_size(max_bytes)}, far more than such a file holds",
                             hint)
    return data


def read_text(path: str | Path, what: str, hint: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A regular file's content as UTF-8 text (a leading byte-order mark is dropped)."""
    data = read_bytes(path, what, hint, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{what} {path} is not UTF-8 text (byte {exc.start} is {data[exc.start:exc.start + 1]!r}"
                             f"): is it the right file?", hint) from None


_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def _why(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "not found"
    if exc.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read: permission denied"
    if exc.errno == errno.EISDIR:
        return "is a folder, not a file"
    return f"cannot be read: {exc.strerror or exc}"


def _size(count: int) -> str:
    return f"{count >> 20} MiB" if count >= 1 << 20 else f"{count} bytes"


@contextmanager
def names_too_long_refused() -> Iterator[None]:
    """A path given with a file or folder name over 255 bytes fails wherever it is first touched, as an OSError:
    it is the user's input (exit 2, naming the path), not a storage problem."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            raise
        name = str(exc.filename or "a path")
        name = name if len(name) <= 120 else name[:100] + "..."
        raise InputFileError(f"{name}: a file or folder name in it is longer than the 255 bytes a file system allows",
                             "use shorter file and folder names") from None
