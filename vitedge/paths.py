"""Untrusted names made safe: the one place a name from an input (a spec's `name`, an HF folder, a target, an
artifact record) becomes part of a path, and the one check that a path lies inside the folder it must stay in.

Rule: harmless characters are replaced (a spec called "My Model v2" is written as `My_Model_v2.onnx`); what could
point elsewhere (a path separator, `..`, an absolute path, a NUL byte) is refused with the name and where it came
from, never guessed around.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath

from vitedge.errors import VitedgeError

MAX_NAME = 100  # characters of a file-name component made from a name
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME_HINT = "use a plain name: letters, digits, '.', '_' and '-' (no path separators, no '..')"


class UnsafePathError(VitedgeError):
    """A name or recorded path that would make vitedge read or write outside the folder it works in."""


def safe_name(text, what: str) -> str:
    """`text` as one file-name component of [A-Za-z0-9._-], at most MAX_NAME characters, never hidden or empty.

    `what` says where the name came from (e.g. "the model name (key `name` of spec.toml)") for the error message.
    Path separators, `..`, absolute paths and NUL are refused; other characters become `_`.
    """
    if not isinstance(text, str):
        raise UnsafePathError(f"{what} must be a string, got {text!r}", NAME_HINT)
    if "\0" in text or "/" in text or "\\" in text or text.strip() in (".", "..") or _is_absolute(text):
        raise UnsafePathError(f"{what} {text!r} is not a plain name: it contains a path (a separator, '..', an "
                              f"absolute path or NUL) and would make vitedge write outside its output folder",
                              NAME_HINT)
    name = _UNSAFE.sub("_", text).lstrip("._-").rstrip(". ")[:MAX_NAME].rstrip(".")
    if not name:
        raise UnsafePathError(f"{what} {text!r} has no character usable in a file name", NAME_HINT)
    return name


def _is_absolute(text: str) -> bool:
    return os.path.isabs(text) or bool(re.match(r"^[A-Za-z]:[\\/]", text))  # POSIX, or a Windows drive


def inside(root: str | Path, path: str | Path, what: str = "path") -> Path:
    """`path` resolved (symlinks followed), refused unless it lies inside `root` (resolved the same way)."""
    base = Path(root).resolve()
    resolved = Path(path).resolve()
    if resolved != base and base not in resolved.parents:
        raise UnsafePathError(f"{what} {path} resolves to {resolved}, outside {base}",
                              "vitedge only reads and writes inside the folders it was given; fix the name or path")
    return resolved


def write_target(root: str | Path, path: str | Path) -> Path:
    """Where a write to `path` lands: its folder resolved, refused outside `root`. The file itself is not followed
    (an atomic write replaces a link, never writes through it)."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise UnsafePathError(f"{path} is not a file name to write", NAME_HINT)
    return inside(root, path.parent, "output path") / path.name


def relative_record(rel, where: str) -> PurePosixPath:
    """A path recorded in a document (artifacts.json `path` / `files[].path`): relative, POSIX, no NUL."""
    if (not isinstance(rel, str) or "\0" in rel or "\\" in rel or _is_absolute(rel)
            or PurePosixPath(rel).name in ("", ".", "..")):
        raise UnsafePathError(f"{where}: {rel!r} is not a relative path to a file",
                              "recorded paths are relative to the document's folder; re-run the stage that wrote it")
    return PurePosixPath(rel)


def model_stem(model) -> str:
    """The file-name stem of a model's artifacts (`<stem>.onnx`, `<stem>_int8.onnx`): its name, made safe."""
    return safe_name(model.name, f"the model name (`name` of {model.source})")


def recorded_file(root: str | Path, rel, where: str) -> Path:
    """The file a document records as `rel` (relative to `root`, its folder), refused when it resolves outside
    `root` -- except a file that an artifacts.json in its own folder records (quantize's artifacts.json refers to
    the FP32 files of the export it was made from, e.g. `../export/model.onnx`)."""
    path = Path(root) / relative_record(rel, where)
    try:
        return inside(root, path, where)
    except UnsafePathError:
        resolved = path.resolve()
        if _recorded_beside(resolved):
            return resolved
        raise UnsafePathError(f"{where}: {rel!r} resolves to {resolved}, outside {Path(root).resolve()}, and no "
                              f"artifacts.json in {resolved.parent} records it", "a recorded path must stay inside "
                              "the document's folder (or name a file of the export it was made from); re-run the "
                              "stage that wrote it") from None


def _recorded_beside(path: Path) -> bool:
    """Whether `path` is a file that the artifacts.json of its own folder lists (by its name)."""
    manifest = path.parent / "artifacts.json"
    if not path.is_file() or not manifest.is_file():
        return False
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
        names = {f.get("path") for a in doc.get("artifacts", []) for f in a.get("files", [])}
    except (OSError, ValueError, AttributeError, TypeError):
        return False
    return path.name in names


def check_recorded_paths(entries: list[dict], root: str | Path, document: str | Path) -> None:
    """Every `path` and `files[].path` of artifacts.json entries stays inside `root` (see recorded_file)."""
    for i, entry in enumerate(entries):
        recorded_file(root, entry["path"], f"{document}: artifacts[{i}].path")
        for j, f in enumerate(entry["files"]):
            recorded_file(root, f["path"], f"{document}: artifacts[{i}].files[{j}].path")
