"""Stage outputs cached by content: OUT/stages/<stage>-<key>/ with a `stage.json` written last.

The key hashes (stage, its config, the keys / hashes of its inputs), so a re-run with nothing changed does no work,
a changed stage redoes only what depends on it, and a folder without `stage.json` is an interrupted run to resume.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vitedge.console import log
from vitedge.fileio import sha256_json, write_json_atomic

MARKER = "stage.json"


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
    """Where the stage writes, and whether its finished output is already there."""
    folder = root / "stages" / f"{stage}-{stage_key(stage, config, inputs)}"
    return folder, (folder / MARKER).is_file()


def run_stage(root: Path, stage: str, config: dict, inputs: dict, work: Callable[[Path, bool], dict],
              label: str = "") -> StageRun:
    """Run `work(folder, resume)` unless its output for this key is complete; record the result."""
    key = stage_key(stage, config, inputs)
    folder = root / "stages" / f"{stage}-{key}"
    marker = folder / MARKER
    name = f"{stage}{f' ({label})' if label else ''}"
    if marker.is_file():
        record = json.loads(marker.read_text(encoding="utf-8"))
        log(f"[{name}] cached: {folder} (nothing changed since {record['finished']})")
        return StageRun(stage, key, folder, True, record["result"], 0.0)
    resume = folder.is_dir()
    log(f"[{name}] {'resuming' if resume else 'running'} -> {folder}")
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    result = work(folder, resume)
    seconds = round(time.perf_counter() - started, 1)
    write_json_atomic(marker, {"stage": stage, "key": key, "config": config, "inputs": inputs, "result": result,
                               "seconds": seconds, "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
    log(f"[{name}] done in {seconds:.1f} s")
    return StageRun(stage, key, folder, False, result, seconds)
