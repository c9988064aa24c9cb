"""A bundle .zip, verified without extracting it: the entry list is checked before any content is read.

Refused (each named): duplicate names (an unzip tool extracts only one copy), links and special files, paths that
leave the bundle (absolute, `..`, backslashes, drive letters), directory / file confusion, anything but exactly one
top-level folder, encrypted entries, too many entries, sizes beyond what the manifest records or a sane cap. Each
listed file is then hashed by streaming it from the archive, counting bytes so a lying header is caught. A damaged
or truncated zip, or a file that is no zip at all, is a "corrupt archive".
"""
from __future__ import annotations

import stat
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Callable

from vitedge.bundle.errors import BundleError
from vitedge.bundle.verify import (MANIFEST, MAX_FILE_BYTES, MAX_FILES, MAX_MANIFEST_BYTES, CorruptEntry, Member,
                                   stream_sha256, unsafe_name, verify_manifest_and_files)

MAX_TOTAL_BYTES = 64 << 30  # every entry together
COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError)


def is_zip_candidate(path: Path) -> bool:
    """A .zip by name or by its first bytes (a local header or an empty archive's end record)."""
    if path.suffix.lower() == ".zip":
        return True
    try:
        with path.open("rb") as stream:
            return stream.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def verify_zip(path: Path) -> list[str]:
    """Problems of a bundle .zip (empty when intact)."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}", "check the file's permissions") from None
    with stream:
        try:
            archive = zipfile.ZipFile(stream)
        except _READ_ERRORS as exc:
            return [f"corrupt archive: {path} {_why_unreadable(path, exc)}"]
        with archive:
            return _verify_archive(archive, path)


def _why_unreadable(path: Path, exc: Exception) -> str:
    try:
        with path.open("rb") as stream:
            head = stream.read(64).lstrip()
    except OSError:
        head = b""
    if head[:1] == b"<":
        return "is not a zip archive: it looks like an HTML or XML page (a failed download?)"
    if head[:2] == b"PK":
        return f"is damaged or truncated ({exc})"
    return f"is not a zip archive ({exc})"


def _verify_archive(archive: zipfile.ZipFile, path: Path) -> list[str]:
    infos = archive.infolist()
    if len(infos) > MAX_FILES:
        return [f"too many entries: {path} holds {len(infos)} entries (a bundle holds at most {MAX_FILES})"]
    problems = _duplicates(infos) + [p for info in infos for p in _entry_problems(info)]
    problems += _layout_problems(infos)
    if problems:
        return problems  # nothing is read from an archive whose entry list is not a plain bundle
    root = infos[0].filename.split("/")[0]
    members = {info.filename[len(root) + 1:]: info for info in infos if not info.is_dir()}
    manifest = members.pop(MANIFEST, None)
    if manifest is None:
        return [f"missing file: {MANIFEST} (not a bundle, or its manifest was removed)"]
    if manifest.file_size > MAX_MANIFEST_BYTES:
        return [f"manifest edited: {MANIFEST} declares {manifest.file_size} bytes (a manifest holds at most "
                f"{MAX_MANIFEST_BYTES})"]
    try:
        data = _read_member(archive, manifest)
    except CorruptEntry as exc:
        return [str(exc)]
    present = {rel: Member(rel, info.file_size, _hasher(archive, info)) for rel, info in members.items()}
    return verify_manifest_and_files(data, present)


def _duplicates(infos: list[zipfile.ZipInfo]) -> list[str]:
    counts = Counter(info.filename.rstrip("/") for info in infos)
    folded = Counter(name.casefold() for name in counts)
    problems = [f"duplicate entry: {name} appears {n} times (an unzip tool would extract only one of them)"
                for name, n in sorted(counts.items()) if n > 1]
    problems += [f"duplicate entry: {name} differs from another entry only by case (they collide on macOS and "
                 "Windows)" for name in sorted(counts) if folded[name.casefold()] > 1]
    return problems


def _entry_problems(info: zipfile.ZipInfo) -> list[str]:
    """What is wrong with one entry, from its header alone."""
    name, mode = info.filename, info.external_attr >> 16
    why = unsafe_name(name)
    if why:
        return [f"unsafe entry: {name!r} ({why}): an entry must stay inside the bundle folder"]
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        return [f"link entry: {name} (a symbolic link; a bundle holds plain files only)"]
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return [f"special entry: {name} (mode {oct(mode)}; a bundle holds plain files only)"]
    problems = []
    if info.is_dir() and (kind == stat.S_IFREG or info.file_size):
        problems.append(f"directory/file confusion: {name} is a folder entry that is marked or sized as a file")
    elif not info.is_dir() and kind == stat.S_IFDIR:
        problems.append(f"directory/file confusion: {name} is a file entry marked as a folder")
    if info.flag_bits & 0x1:
        problems.append(f"encrypted entry: {name} (a bundle is never encrypted)")
    if info.compress_type not in COMPRESSIONS:
        problems.append(f"corrupt archive: {name} uses compression method {info.compress_type}, which zip "
                        "readers do not support")
    if info.file_size > MAX_FILE_BYTES:
        problems.append(f"oversized entry: {name} declares {info.file_size} bytes (more than the "
                        f"{MAX_FILE_BYTES} a bundle file may hold)")
    return problems


def _layout_problems(infos: list[zipfile.ZipInfo]) -> list[str]:
    """Exactly one top-level folder holding everything; no path that is both a file and a folder."""
    if not infos:
        return [f"missing file: {MANIFEST} (the archive is empty)"]
    names = [info.filename for info in infos]
    roots = sorted({name.split("/")[0] for name in names})
    if len(roots) != 1:
        shown = ", ".join(roots[:5]) + (", ..." if len(roots) > 5 else "")
        return [f"extra file: the archive must hold exactly one bundle folder (it holds {len(roots)} top-level "
                f"entries: {shown})"]
    problems = [f"extra file: {name} lies beside the bundle folder, not inside it"
                for name in names if "/" not in name]
    files = {info.filename for info in infos if not info.is_dir()}
    for name in names:
        parts = name.rstrip("/").split("/")
        clash = next(("/".join(parts[:i]) for i in range(1, len(parts)) if "/".join(parts[:i]) in files), None)
        if clash:
            problems.append(f"directory/file confusion: {clash} is a file and also the folder of {name}")
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_BYTES:
        problems.append(f"oversized entry: the entries declare {total} bytes together (more than "
                        f"{MAX_TOTAL_BYTES})")
    return problems


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A small member's bytes (the manifest, its declared size already checked), counted like a hash."""

    def exactly(stream) -> bytes:
        data = stream.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise CorruptEntry(f"{info.filename} holds {len(data)} bytes, not the {info.file_size} it declares")
        return data

    return _stream(archive, info, exactly)


def _hasher(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], str]:
    return lambda: _stream(archive, info, lambda stream: stream_sha256(stream, info.file_size, info.filename))


def _stream(archive: zipfile.ZipFile, info: zipfile.ZipInfo, consume: Callable):
    try:
        with archive.open(info) as stream:
            return consume(stream)
    except CorruptEntry as exc:
        raise CorruptEntry(f"corrupt archive: entry {exc}") from None
    except _READ_ERRORS as exc:
        raise CorruptEntry(f"corrupt archive: entry {info.filename} cannot be read ({type(exc).__name__}: "
                           f"{str(exc)[:200]})") from None
