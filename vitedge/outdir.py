"""The output folder a verb is given (`--out`, `--report`, a pipeline's `out`), checked before anything is created:
it must be a folder vitedge can own -- not the file-system root or a kernel folder, not an existing file, not a
dangling link or a link loop -- and never an input's folder, where outputs would mix with (or replace) inputs.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from vitedge.errors import VitedgeError

SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))
MAX_COMPONENT_BYTES = 255  # of one file or folder name, on every common file system
_SLICE = re.compile(r"\[[^\[\]]*\]$")


class OutputFolderError(VitedgeError):
    """An output folder vitedge must not (or cannot) write to."""


def check_output_folder(out, option: str) -> Path:
    """`out` resolved, refused (naming `option`) when it cannot be an output folder."""
    text = os.fspath(out) if isinstance(out, (str, os.PathLike)) else None
    if text is None or not text.strip():
        raise OutputFolderError(f"{option} {out!r} is empty: it must name the folder to write to",
                                f"pass {option} DIR, e.g. {option} runs/mine")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise OutputFolderError(f"{option} {text!r} holds a control character (a newline, a tab, ...): the device "
                                "scripts and commands vitedge writes would break on it",
                                f"pass {option} with a plain folder name")
    path = Path(text)
    too_long = next((part for part in path.parts if len(os.fsencode(part)) > MAX_COMPONENT_BYTES), None)
    if too_long:
        raise OutputFolderError(f"{option} {text[:80]}...: the name {too_long[:40]}... is {len(os.fsencode(too_long))}"
                                f" bytes, more than the {MAX_COMPONENT_BYTES} a file system allows",
                                f"use a shorter {option}")
    resolved = _resolved(path, option)
    if resolved == Path(resolved.anchor) or any(resolved == s or s in resolved.parents for s in SYSTEM_FOLDERS):
        raise OutputFolderError(f"{option} {text} resolves to {resolved}: vitedge does not write there",
                                f"pass {option} with a folder of your own, e.g. {option} runs/mine")
    blocker = next((p for p in (resolved, *resolved.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise OutputFolderError(f"{option} {text}: {blocker} is a file, not a folder",
                                f"pass {option} with a folder (it is created if missing), or move the file away")
    return resolved


def _resolved(path: Path, option: str) -> Path:
    try:
        resolved = path.resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError in Python < 3.13)
        raise OutputFolderError(f"{option} {path} cannot be resolved: {exc}",
                                f"remove the link loop or pass another {option}") from None
    link = next((p for p in (path, *path.parents) if p.is_symlink() and not p.exists()), None)
    if link is not None:
        raise OutputFolderError(f"{option} {path}: {link} is a link to {os.readlink(link)}, which does not exist",
                                f"create the link's target first, remove the link, or pass another {option}")
    return resolved


def check_not_an_input(out: Path, option: str, inputs: dict[str, object]) -> None:
    """Refuse an output folder that is an input's folder, or lies inside an input folder: outputs would be mixed
    with the inputs (a class folder of images, an export folder) or replace them (artifacts.json, report.json).
    `inputs` maps how the user named an input (`--data`) to its value (a path, maybe with a [START:END] slice)."""
    for label, value in inputs.items():
        path = _input_path(value)
        if path is None:
            continue
        if path.is_dir():
            folder = path.resolve()
            clash = out == folder or folder in out.parents
            where = "is" if out == folder else "lies inside"
        else:
            folder = path.resolve().parent
            clash, where = out == folder, "is the folder of"
        if clash:
            raise OutputFolderError(f"{option} {out} {where} the input {label} {value}: outputs would be mixed with "
                                    "(or replace) the inputs",
                                    f"pass {option} with a folder of its own, outside the inputs (e.g. runs/mine)")


def _input_path(value) -> Path | None:
    """The existing path an input argument names (a trailing [START:END] slice dropped), else None (e.g. a
    built-in model name)."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        return None
    text = os.fspath(value)
    for candidate in (text, _SLICE.sub("", text)):
        path = Path(candidate)
        try:
            if path.exists():
                return path
        except OSError:
            return None
    return None
