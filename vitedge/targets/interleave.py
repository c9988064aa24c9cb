"""Side-by-side latency on a shared host: every contender timed in interleaved rounds inside one process.

A single timing on a busy machine is noise; what survives is a comparison made under the same noise. Each round
times every contender for a few runs, in a rotating order; a contender's figure is the median of its round medians
with a distribution-free 95% interval, and a ratio to a reference is the median of the per-round ratios (both were
timed within the same second of that round), with its own interval.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable


@dataclass(frozen=True)
class RoundStats:
    ms: float  # median of the round medians
    low: float  # 95% interval of that median (order statistics of the rounds)
    high: float
    rounds: int
    runs_per_round: int
    ratio: float | None = None  # reference / this (> 1: faster than the reference), median over rounds
    ratio_low: float | None = None
    ratio_high: float | None = None

    def to_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def overlaps(self, other: "RoundStats") -> bool:
        return self.low <= other.high and other.low <= self.high


def median_interval(values: list[float]) -> tuple[float, float, float]:
    """Median and a ~95% interval for it: order statistics n/2 -/+ 0.98 sqrt(n) (sign-test interval)."""
    ordered = sorted(values)
    n = len(ordered)
    half = 0.98 * math.sqrt(n)
    low = ordered[max(0, math.floor(n / 2 - half))]
    high = ordered[min(n - 1, math.ceil(n / 2 + half) - 1)]
    return statistics.median(ordered), low, high


def _round(run: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def calibrate_runs(run: Callable[[], None], seconds: float) -> int:
    """Runs of `run` that take about `seconds` (after one warm-up call)."""
    run()
    started = time.perf_counter()
    run()
    once = max(time.perf_counter() - started, 1e-6)
    return max(1, min(1000, round(seconds / once)))


def interleaved(runners: dict[str, Callable[[], None]], reference: str | None = None, rounds: int = 9,
                round_seconds: float = 0.2, warmup_rounds: int = 1) -> dict[str, RoundStats]:
    """Time every runner in `rounds` interleaved rounds; with `reference`, also each one's speed-up over it."""
    names = list(runners)
    runs = {name: calibrate_runs(runners[name], round_seconds) for name in names}
    medians: dict[str, list[float]] = {name: [] for name in names}
    for index in range(warmup_rounds + rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:  # rotate so no contender always runs first
            value = _round(runners[name], runs[name])
            if index >= warmup_rounds:
                medians[name].append(value)
    return {name: _stats(medians, name, reference, runs[name]) for name in names}


def _stats(medians: dict[str, list[float]], name: str, reference: str | None, runs: int) -> RoundStats:
    ms, low, high = median_interval(medians[name])
    if reference is None:
        return RoundStats(ms, low, high, len(medians[name]), runs)
    ratios = [r / m for r, m in zip(medians[reference], medians[name])]
    ratio, ratio_low, ratio_high = median_interval(ratios)
    return RoundStats(ms, low, high, len(medians[name]), runs, ratio, ratio_low, ratio_high)
