"""`vitedge bundle verify`: every file hash, and the manifest against the files and against itself.

Problems are named by kind: "missing file", "extra file", "tampered file", "manifest edited".
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

from vitedge.bundle.errors import BundleError
from vitedge.bundle.manifest import SCHEMA, VERSION, manifest_hash
from vitedge.fileio import sha256_file

MANIFEST = "manifest.json"


def _read_manifest(folder: Path) -> tuple[dict | None, list[str]]:
    path = folder / MANIFEST
    if not path.is_file():
        return None, [f"missing file: {MANIFEST} (not a bundle, or its manifest was removed)"]
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [f"manifest edited: {MANIFEST} is no longer valid JSON ({exc})"]
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA or manifest.get("version") != VERSION:
        return None, [f"manifest edited: {MANIFEST} is not a {SCHEMA} manifest of version {VERSION}"]
    return manifest, []


def _check_manifest(manifest: dict) -> list[str]:
    problems = []
    if manifest.get("manifest_sha256") != manifest_hash(manifest):
        problems.append(f"manifest edited: {MANIFEST} does not match its recorded manifest_sha256")
    listed = {f["path"]: f["sha256"] for f in manifest.get("files", [])}
    for artifact in manifest.get("artifacts", []):
        for f in artifact.get("files", []):
            if listed.get(f["path"]) != f["sha256"]:
                problems.append(f"manifest edited: artifact file {f['path']} is not listed in files with its sha256")
    if manifest.get("primary") not in {a.get("id") for a in manifest.get("artifacts", [])}:
        problems.append(f"manifest edited: primary {manifest.get('primary')!r} names no artifact of the bundle")
    return problems


def _check_files(folder: Path, manifest: dict) -> list[str]:
    listed = {f["path"]: f for f in manifest.get("files", [])}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}
    present.discard(MANIFEST)
    problems = [f"missing file: {p} (listed in {MANIFEST})" for p in sorted(set(listed) - present)]
    problems += [f"extra file: {p} (not listed in {MANIFEST})" for p in sorted(present - set(listed))]
    for path in sorted(set(listed) & present):
        file = folder / path
        if file.is_symlink() or not file.is_file():
            problems.append(f"tampered file: {path} is not a plain file")
        elif sha256_file(file) != listed[path]["sha256"]:
            problems.append(f"tampered file: {path} (sha256 {sha256_file(file)[:16]}..., manifest records "
                            f"{listed[path]['sha256'][:16]}...)")
    return problems


def verify_folder(folder: Path) -> list[str]:
    manifest, problems = _read_manifest(folder)
    if manifest is None:
        return problems
    try:
        return _check_manifest(manifest) + _check_files(folder, manifest)
    except (KeyError, TypeError, AttributeError) as exc:
        return [f"manifest edited: {MANIFEST} is malformed ({type(exc).__name__}: {exc})"]


def verify_bundle(path: str | Path) -> list[str]:
    """Problems of a bundle folder or its .zip; an empty list means every check passed."""
    path = Path(path)
    if path.is_dir():
        return verify_folder(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as archive:
            names = {Path(n).parts[0] for n in archive.namelist()}
            if len(names) != 1 or any(Path(n).is_absolute() or ".." in Path(n).parts for n in archive.namelist()):
                return [f"extra file: {path} must hold exactly one bundle folder (holds {sorted(names)})"]
            archive.extractall(tmp)
            return verify_folder(Path(tmp) / names.pop())
    raise BundleError(f"{path} is neither a bundle folder nor a bundle .zip", "pass OUT/<target> or OUT/<target>.zip")
