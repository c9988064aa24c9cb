"""Atomic writes and content hashes: nothing half-written is ever left under a final name."""
from __future__ import annotations

import atexit
import errno
import functools
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vitedge.lock import check_write


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_json_atomic(path: str | Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: str | Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Temp file beside `path`, fsync, rename: `path` holds the old content or the new, never a part.

    While a verb holds its output lock, a path outside the locked folder is refused (vitedge.lock.check_write).
    A storage error (full disk, read-only, ...) is raised as an OSError naming `path`, not the temp file."""
    path = Path(path)
    check_write(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise naming(exc, path) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise naming(exc, path) from exc
        raise


def naming(exc: OSError, path: Path) -> OSError:
    """The same error (errno, message) about `path`: what the user knows, not an internal temp file."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path)) if exc.errno else exc


@contextmanager
def staging_dir(final_parent: Path) -> Iterator[Path]:
    """A temporary folder beside the final location (same filesystem, so moves out of it are atomic renames)."""
    final_parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=final_parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_staging(folder: Path) -> None:
    """Staging folders left by an interrupted run."""
    for stale in folder.glob(".staging-*") if folder.is_dir() else []:
        shutil.rmtree(stale, ignore_errors=True)


STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG}


def storage_error(exc: BaseException, where: str | Path) -> OSError | None:
    """The storage problem behind `exc` (a full or read-only disk, no permission), also when a converter wrapped it
    in its own exception; None when `exc` is something else. The OSError names its file, else `where`."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            return exc if exc.filename else type(exc)(exc.errno, exc.strerror, str(where))
        text = str(exc)
        for code in STORAGE_ERRNOS:
            if os.strerror(code) in text:
                return OSError(code, os.strerror(code), str(where))
        exc = exc.__cause__ or exc.__context__
    return _full_or_read_only(Path(where))


def _full_or_read_only(where: Path, low: int = 16 << 20) -> OSError | None:
    """A converter that fails on a full or read-only disk often says only that a file it wrote is corrupt."""
    folder = next((p for p in (where, *where.parents) if p.exists()), None)
    if folder is None:
        return None
    stats = os.statvfs(folder)
    if stats.f_flag & os.ST_RDONLY:
        return OSError(errno.EROFS, os.strerror(errno.EROFS), str(where))
    if stats.f_bavail * stats.f_frsize < low:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))
    return None


def raise_if_storage(exc: BaseException, where: str | Path) -> None:
    """Re-raise a storage problem as an OSError (the CLI reports it as such), never as a converter failure."""
    storage = storage_error(exc, where)
    if storage is not None:
        raise storage from exc


@functools.cache
@functools.cache
def process_cache(purpose: str) -> Path:
    """One folder per `purpose` for the whole process (process_scratch makes a new one per call): what is written
    there under a content key is found again by later calls."""
    return process_scratch(purpose)


def process_scratch(purpose: str) -> Path:
    """One temporary folder per `purpose` for this process (calibration ranges, FP32 ONNX copies, ...), removed at
    exit: nothing of it lands in an output folder."""
    folder = Path(tempfile.mkdtemp(prefix=f"vitedge-{purpose}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
