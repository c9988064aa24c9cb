"""Stage outputs cached by content: OUT/stages/<stage>-<key>/ with a `stage.json` written last.

The key hashes (stage, its config, the keys / hashes of its inputs), so a re-run with nothing changed does no work,
a changed stage redoes only what depends on it, and a folder without `stage.json` is an interrupted run to resume.

A cached folder is not trusted blindly: `stage.json` records every file the stage wrote (sha256 and bytes) and the
output digests of the stages it read. Before reuse, sizes and hashes are compared; a changed, missing or replaced
file (or an input stage redone with a different output) redoes the stage from scratch, saying why.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vitedge.console import log
from vitedge.fileio import sha256_file, sha256_json, write_json_atomic

MARKER = "stage.json"
_KEY = re.compile(r"^[0-9a-f]{12}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class StageRun:
    stage: str
    key: str
    folder: Path
    cached: bool
    result: dict
    seconds: float


def stage_key(stage: str, config: dict, inputs: dict) -> str:
    """Content key of a stage's output; a new vitedge version redoes everything."""
    from vitedge import __version__

    return sha256_json({"stage": stage, "config": config, "inputs": inputs, "vitedge": __version__})[:12]


def planned(root: Path, stage: str, config: dict, inputs: dict) -> tuple[Path, bool]:
    """Where the stage writes, and whether its finished output is already there, intact."""
    folder = root / "stages" / f"{stage}-{stage_key(stage, config, inputs)}"
    if not (folder / MARKER).is_file():
        return folder, False
    record, why = _read_record(folder)
    return folder, record is not None and why is None and _changed(root, folder, record) is None


def run_stage(root: Path, stage: str, config: dict, inputs: dict, work: Callable[[Path, bool], dict],
              label: str = "") -> StageRun:
    """Run `work(folder, resume)` unless its output for this key is complete and intact; record the result."""
    key = stage_key(stage, config, inputs)
    folder = root / "stages" / f"{stage}-{key}"
    name = f"{stage}{f' ({label})' if label else ''}"
    if (folder / MARKER).is_file() or folder.is_symlink():
        record, why = _read_record(folder)
        why = why or _changed(root, folder, record)
        if why is None:
            log(f"[{name}] cached: {folder} (nothing changed since {record.get('finished', '?')})")
            return StageRun(stage, key, folder, True, record["result"], 0.0)
        log(f"[{name}] cached output changed ({why}): redoing the stage")
        _discard(folder)
    resume = folder.is_dir()
    log(f"[{name}] {'resuming' if resume else 'running'} -> {folder}")
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    result = work(folder, resume)
    seconds = round(time.perf_counter() - started, 1)
    files = output_files(folder)
    write_json_atomic(folder / MARKER, {"stage": stage, "key": key, "config": config, "inputs": inputs,
                                        "result": result, "seconds": seconds,
                                        "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "files": files,
                                        "outputs": sha256_json(files), "upstream": _upstream(root, inputs)})
    log(f"[{name}] done in {seconds:.1f} s")
    return StageRun(stage, key, folder, False, result, seconds)


def output_files(folder: Path) -> list[dict]:
    """Every file the stage left in its folder (hidden files and stage.json aside): path, sha256, bytes."""
    files = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file_name in sorted(n for n in names if not n.startswith(".")):
            path = Path(top) / file_name
            if path == folder / MARKER or path.is_symlink() or not path.is_file():
                continue
            files.append({"path": path.relative_to(folder).as_posix(), "sha256": sha256_file(path),
                          "bytes": path.stat().st_size})
    return files


def _read_record(folder: Path) -> tuple[dict | None, str | None]:
    """stage.json, or why it cannot be trusted (unreadable, edited into another shape, a link)."""
    marker = folder / MARKER
    if folder.is_symlink() or marker.is_symlink():
        return None, f"{folder if folder.is_symlink() else marker} is a link"
    try:
        record = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, f"{marker} is unreadable: {type(exc).__name__}"
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, list) or not isinstance(record.get("result"), dict) or not all(map(_file_ok, files)):
        return None, f"{marker} records no valid file hashes"
    return record, None


def _file_ok(entry) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return False
    parts = entry["path"].split("/")
    return (not entry["path"].startswith("/") and "\\" not in entry["path"] and ".." not in parts and "" not in parts
            and isinstance(entry.get("sha256"), str) and bool(_SHA256.match(entry["sha256"]))
            and isinstance(entry.get("bytes"), int) and not isinstance(entry.get("bytes"), bool))


def _changed(root: Path, folder: Path, record: dict) -> str | None:
    """The first recorded file that differs (sizes first, then hashes), or an input stage redone differently."""
    for entry in record["files"]:
        path = folder / entry["path"]
        try:
            info = path.lstat()
        except OSError:
            return f"{path} is missing"
        if not stat.S_ISREG(info.st_mode):
            return f"{path} is no longer a plain file"
        if info.st_size != entry["bytes"]:
            return f"{path}: {info.st_size} bytes, {entry['bytes']} recorded"
    for entry in record["files"]:
        if sha256_file(folder / entry["path"]) != entry["sha256"]:
            return str(folder / entry["path"])
    upstream = record.get("upstream") if isinstance(record.get("upstream"), dict) else {}
    current = _upstream(root, record.get("inputs") or {})
    for name, digest in upstream.items():
        if current.get(name) != digest:
            return f"its input {root / 'stages' / name} was redone with a different output"
    return None


def _upstream(root: Path, inputs) -> dict[str, str]:
    """The output digest of every finished stage named in `inputs` ({stage: key}, at any depth)."""
    found = {}
    for name, value in (inputs.items() if isinstance(inputs, dict) else []):
        if isinstance(value, dict):
            found.update(_upstream(root, value))
        elif isinstance(value, str) and _KEY.match(value) and re.match(r"^[a-z]+$", str(name)):
            marker = root / "stages" / f"{name}-{value}" / MARKER
            try:
                found[f"{name}-{value}"] = str(json.loads(marker.read_text(encoding="utf-8")).get("outputs"))
            except (OSError, ValueError, AttributeError):
                continue
    return found


def _discard(folder: Path) -> None:
    """Remove a stage folder whose output can no longer be trusted (a link is removed, never followed)."""
    if folder.is_symlink():
        folder.unlink()
        return
    stale = folder.with_name(f".stale-{folder.name}-{os.getpid()}")
    shutil.rmtree(stale, ignore_errors=True)
    folder.rename(stale)
    shutil.rmtree(stale, ignore_errors=True)
