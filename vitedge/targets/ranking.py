"""Ranking a target's artifacts under the same noise.

Each artifact is first timed alone (p50 / p90 / CV: targets/host.py). On a shared host that alone cannot rank
artifacts a few percent apart, so all of them are then timed again in interleaved rounds in one process
(targets/interleave.py): a row's p50 becomes the median of its round medians, with a 95% interval. When the two
fastest intervals overlap, those two are re-timed with twice the rounds; if they still overlap, the stated rule is
that the lower median ranks first, and both rows say they are within noise of each other.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vitedge.console import log
from vitedge.export.base import open_artifact
from vitedge.targets.interleave import RoundStats, interleaved

ROUNDS = 9
ROUND_SECONDS = 0.1


def _runners(rows, root: Path, image: np.ndarray, threads: int, paths: list[str]) -> dict:
    by_path = {row.path: row for row in rows}
    out = {}
    for path in paths:
        run = open_artifact(by_path[path].format, root / path, threads, by_path[path].precision)
        out[path] = lambda run=run: run(image)
    return out


def rank_interleaved(rows, root: Path, image: np.ndarray, threads: int) -> None:
    """Re-time the measured `rows` (BenchRow) of one target side by side; update p50, basis and details in place."""
    if len(rows) < 2:
        return
    log(f"{rows[0].target}: ranking {len(rows)} artifacts in {ROUNDS} interleaved rounds")
    paths = [row.path for row in rows]
    stats = interleaved(_runners(rows, root, image, threads, paths), rounds=ROUNDS, round_seconds=ROUND_SECONDS)
    first, second = sorted(paths, key=lambda p: stats[p].ms)[:2]
    tie = stats[first].overlaps(stats[second])
    if tie:
        log(f"{rows[0].target}: the two fastest overlap; re-timing them with {2 * ROUNDS} rounds")
        again = interleaved(_runners(rows, root, image, threads, [first, second]), rounds=2 * ROUNDS,
                            round_seconds=ROUND_SECONDS)
        stats.update(again)
        tie = again[first].overlaps(again[second])
    for row in rows:
        _apply(row, stats[row.path])
    if tie:
        by_path = {row.path: row for row in rows}
        by_path[first].details["within_noise_of"] = second
        by_path[second].details["within_noise_of"] = first


def _apply(row, s: RoundStats) -> None:
    """p50 from the interleaved rounds; p90 keeps the solo run's tail (its p90 / p50 ratio) at that level."""
    solo_p50 = row.latency_ms_p50
    row.latency_ms_p50 = round(s.ms, 4)
    if row.latency_ms_p90 is not None and solo_p50:
        row.latency_ms_p90 = round(max(row.latency_ms_p90 / solo_p50, 1.0) * s.ms, 4)
    row.throughput_per_s = round(1000 / s.ms, 2)
    row.details["interleaved"] = s.to_dict() | {"solo_p50_ms": solo_p50}
    row.basis += (f"; p50 = median of {s.rounds} interleaved rounds with the target's other artifacts "
                  f"(95% interval {s.low:.4g}-{s.high:.4g} ms), p90 = that times the solo run's p90/p50")


def noise_warning(row: dict) -> str | None:
    """Why a bench row's latency cannot rank it (NOISY timing, or within noise of the runner-up), or None."""
    details = row.get("details") or {}
    if details.get("within_noise_of"):
        return (f"its latency is within noise of {details['within_noise_of']} (95% intervals overlap after a "
                "re-measurement; the lower median ranks first)")
    if "interleaved" not in details and "NOISY" in (row.get("basis") or ""):
        return "its timing was flagged NOISY (high run-to-run variation): re-run `vitedge bench` on a quieter host"
    return None
