"""`vitedge bundle verify`: every file hash, and the manifest against the files and against itself.

Problems are named by kind: "missing file", "extra file", "tampered file", "manifest edited", and for a .zip
"corrupt archive", "duplicate entry", "unsafe entry", "link entry", ... (see vitedge.bundle.archive).
A bundle is read, never trusted: links are reported and never followed, sizes are compared before any content is
read, every file is hashed by streaming it (a .zip is never extracted), and the manifest is bounded in size.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vitedge.bundle.errors import BundleError
from vitedge.bundle.manifest import SCHEMA, VERSION, manifest_hash

MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 << 20  # a real manifest is a few tens of KiB
MAX_FILES = 4096  # files (and folders) of one bundle
MAX_FILE_BYTES = 16 << 30  # one model file
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


class CorruptEntry(Exception):
    """A file of the bundle that cannot be read to its end (damaged archive, unreadable file)."""


@dataclass
class Member:
    """A file present in the bundle: its declared size, how to hash it, or why it must not be read."""

    path: str
    size: int
    digest: Callable[[], str] | None = None  # streams the content through sha256
    refused: str = ""  # e.g. "a link to /etc/passwd": reported, never read


def stream_sha256(stream, declared: int, name: str) -> str:
    """sha256 of `stream`, refusing more (or fewer) bytes than `declared`: a lying size never makes us read more."""
    digest, count = hashlib.sha256(), 0
    while True:
        chunk = stream.read(min(_CHUNK, declared - count + 1))
        if not chunk:
            break
        count += len(chunk)
        if count > declared:
            raise CorruptEntry(f"{name} holds more than the {declared} bytes it declares")
        digest.update(chunk)
    if count != declared:
        raise CorruptEntry(f"{name} ends after {count} of the {declared} bytes it declares")
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ manifest


def parse_manifest(data: bytes) -> tuple[dict | None, list[str]]:
    """The manifest document, or the problems that make it unusable (not JSON, too deep, wrong schema)."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, [f"manifest edited: {MANIFEST} is no longer valid JSON ({str(exc)[:200]})"]
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA or manifest.get("version") != VERSION:
        return None, [f"manifest edited: {MANIFEST} is not a {SCHEMA} manifest of version {VERSION}"]
    return manifest, []


def _file_entry_problem(entry, where: str, hashed: bool = True) -> str | None:
    if not isinstance(entry, dict):
        return f"{where} must be an object with path, sha256 and bytes"
    path = entry.get("path")
    if not isinstance(path, str) or unsafe_name(path):
        return f"{where}.path {path!r} is not a relative path inside the bundle ({unsafe_name(path)})"
    if not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
        return f"{where}.sha256 of {path} is not a sha256 (64 lowercase hex digits)"
    size = entry.get("bytes")
    if hashed and (not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_FILE_BYTES):
        return f"{where}.bytes of {path} must be an integer from 0 to {MAX_FILE_BYTES}, got {size!r}"[:300]
    return None


def schema_problems(manifest: dict) -> list[str]:
    """Types of what verify reads: `files` (path, sha256, bytes), `artifacts[].files`, `primary`."""
    files, artifacts = manifest.get("files"), manifest.get("artifacts")
    if not isinstance(files, list) or len(files) > MAX_FILES:
        return [f"manifest edited: `files` must be a list of at most {MAX_FILES} entries"]
    if not isinstance(artifacts, list) or len(artifacts) > MAX_FILES:
        return [f"manifest edited: `artifacts` must be a list of at most {MAX_FILES} entries"]
    problems = [_file_entry_problem(f, f"files[{i}]") for i, f in enumerate(files)]
    for i, artifact in enumerate(artifacts):
        listed = artifact.get("files") if isinstance(artifact, dict) else None
        if not isinstance(listed, list) or not isinstance(artifact.get("id"), str):
            problems.append(f"artifacts[{i}] must be an object with an `id` and a list of `files`")
            continue
        problems += [_file_entry_problem(f, f"artifacts[{i}].files[{j}]", hashed=False) for j, f in enumerate(listed)]
    counts = Counter(f.get("path") for f in files if isinstance(f, dict) and isinstance(f.get("path"), str))
    problems += [f"files lists {p} {n} times" for p, n in sorted(counts.items()) if n > 1]
    return [f"manifest edited: {MANIFEST}: {p}" for p in problems if p]


def check_manifest(manifest: dict) -> list[str]:
    """The manifest against itself: its own hash, artifact files listed with their hashes, a real primary."""
    problems = []
    if manifest.get("manifest_sha256") != manifest_hash(manifest):
        problems.append(f"manifest edited: {MANIFEST} does not match its recorded manifest_sha256")
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    for artifact in manifest["artifacts"]:
        for f in artifact["files"]:
            if listed.get(f["path"]) != f["sha256"]:
                problems.append(f"manifest edited: artifact file {f['path']} is not listed in files with its sha256")
    primary = manifest.get("primary")
    if not isinstance(primary, str) or primary not in {a["id"] for a in manifest["artifacts"]}:
        problems.append(f"manifest edited: primary {str(manifest.get('primary'))[:80]!r} names no artifact of the "
                        "bundle")
    return problems


def compare(manifest: dict, present: dict[str, Member]) -> list[str]:
    """Missing, extra and tampered files: sizes first (nothing is read when they differ), then sha256."""
    listed = {f["path"]: f for f in manifest["files"]}
    problems = [f"missing file: {p} (listed in {MANIFEST})" for p in sorted(set(listed) - set(present))]
    for path in sorted(set(present) - set(listed)):
        why = f"{present[path].refused}, " if present[path].refused else ""
        problems.append(f"extra file: {path} ({why}not listed in {MANIFEST})")
    for path in sorted(set(listed) & set(present)):
        problems += _compare_file(present[path], listed[path])
    return problems


def _compare_file(member: Member, entry: dict) -> list[str]:
    path = member.path
    if member.refused:
        return [f"tampered file: {path} is {member.refused}, not a plain file"]
    if member.size != entry["bytes"]:
        return [f"tampered file: {path} ({member.size} bytes, manifest records {entry['bytes']})"]
    try:
        digest = member.digest()
    except CorruptEntry as exc:  # its message is the whole problem ("corrupt archive: ...", "tampered file: ...")
        return [str(exc)]
    if digest != entry["sha256"]:
        return [f"tampered file: {path} (sha256 {digest[:16]}..., manifest records {entry['sha256'][:16]}...)"]
    return []


def verify_manifest_and_files(data: bytes, present: dict[str, Member]) -> list[str]:
    """Everything verify checks once the manifest's bytes and the bundle's files are known."""
    manifest, problems = parse_manifest(data)
    if manifest is None:
        return problems
    problems = schema_problems(manifest)
    if problems:
        return problems
    try:
        problems = check_manifest(manifest)
    except RecursionError:
        return [f"manifest edited: {MANIFEST} is nested too deeply to be a bundle manifest"]
    return problems + compare(manifest, present)


# --------------------------------------------------------------------------------------------------- names


def unsafe_name(name) -> str:
    """Why a relative POSIX path from a bundle could point outside it ("" when it cannot)."""
    if not isinstance(name, str) or not name:
        return "not a path"
    if "\\" in name:
        return "a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if any(ord(c) < 32 for c in name):
        return "a control character"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "a '..' component"
    if any(part in ("", ".") for part in parts):
        return "an empty or '.' component"
    return ""


# -------------------------------------------------------------------------------------------------- folders


def _hash_plain_file(path: Path, size: int, rel: str) -> str:
    """Open without following a link or blocking on a FIFO; hash exactly `size` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CorruptEntry(f"tampered file: {rel} cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise CorruptEntry(f"tampered file: {rel} is not a plain file")
        try:
            return stream_sha256(stream, size, rel)
        except CorruptEntry as exc:
            raise CorruptEntry(f"tampered file: {exc} (it changed while being read)") from None


def _hasher(path: Path, size: int, rel: str) -> Callable[[], str]:
    return lambda: _hash_plain_file(path, size, rel)


def _kind(mode: int) -> str:
    kinds = {stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}
    return kinds.get(stat.S_IFMT(mode), "not a plain file")


def _scan_folder(folder: Path) -> tuple[dict[str, Member], list[str]]:
    """Every entry under `folder` by lstat: plain files to hash, links and special files refused, never followed."""
    present, pending, seen = {}, [folder], 0
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                seen += 1
                if seen > MAX_FILES:
                    return present, [f"too many files: {folder} holds more than {MAX_FILES} entries (not a bundle)"]
                rel = Path(entry.path).relative_to(folder).as_posix()
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    pending.append(entry.path)
                elif stat.S_ISLNK(mode):
                    present[rel] = Member(rel, -1, refused=f"a link to {os.readlink(entry.path)} (never followed)")
                elif stat.S_ISREG(mode):
                    size = entry.stat(follow_symlinks=False).st_size
                    present[rel] = Member(rel, size, _hasher(Path(entry.path), size, rel))
                else:
                    present[rel] = Member(rel, -1, refused=_kind(mode))
    return present, []


def verify_folder(folder: Path) -> list[str]:
    try:
        present, problems = _scan_folder(folder)
    except OSError as exc:
        raise BundleError(f"cannot read bundle folder {folder}: {exc.strerror or exc}",
                          "check the folder's permissions") from None
    if problems:
        return problems
    manifest = present.pop(MANIFEST, None)
    if manifest is None:
        return [f"missing file: {MANIFEST} (not a bundle, or its manifest was removed)"]
    if manifest.refused:
        return [f"manifest edited: {MANIFEST} is {manifest.refused}, not a plain file"]
    if manifest.size > MAX_MANIFEST_BYTES:
        return [f"manifest edited: {MANIFEST} is {manifest.size} bytes (a manifest holds at most "
                f"{MAX_MANIFEST_BYTES})"]
    try:
        data = _read_small(folder / MANIFEST)
    except OSError as exc:
        return [f"manifest edited: {MANIFEST} cannot be read ({exc.strerror or exc})"]
    return verify_manifest_and_files(data, present)


def _read_small(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as stream:
        return stream.read(MAX_MANIFEST_BYTES)


def verify_bundle(path: str | Path) -> list[str]:
    """Problems of a bundle folder or its .zip; an empty list means every check passed."""
    from vitedge.bundle.archive import is_zip_candidate, verify_zip

    path = Path(path)
    if path.is_dir():
        return verify_folder(path)
    if path.is_file() and is_zip_candidate(path):
        return verify_zip(path)
    if not path.exists():
        raise BundleError(f"{path}: no such bundle folder or .zip", "pass OUT/<target> or OUT/<target>.zip")
    raise BundleError(f"{path} is neither a bundle folder nor a bundle .zip", "pass OUT/<target> or OUT/<target>.zip")
