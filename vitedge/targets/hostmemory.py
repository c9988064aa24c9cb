"""This host's memory bandwidth for the roofline: measured by this process (a threaded numpy copy, once per process)
or, until something measures it, a labelled assumption. A figure measured elsewhere is never used."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

ASSUMED_GBS = 10.0
COPY_MIB = 256  # per array; source + destination (512 MiB) exceed the last-level cache of current server CPUs


@dataclass(frozen=True)
class Bandwidth:
    """GB/s and the `[sources.bandwidth_gbs]` text that says how it was obtained."""

    gbs: float
    measured: bool
    title: str
    detail: str

    def source(self) -> dict:
        return {"title": self.title, "detail": self.detail}


def assumed_bandwidth() -> Bandwidth:
    """The figure used while bandwidth is unknown: low on purpose, so the roofline errs slow."""
    return Bandwidth(ASSUMED_GBS, False, "assumption: unknown, not measured on this host",
                     f"{ASSUMED_GBS:g} GB/s assumed (about one DDR4 channel's copy rate, on the low side); "
                     "`vitedge bench` measures this host when it estimates other devices")


def measure_bandwidth(threads: int, mib: int = COPY_MIB, repeats: int = 5) -> Bandwidth:
    """Best of `repeats` copies of a `mib` MiB float64 array, split across `threads` threads (numpy releases the
    GIL while copying); read + write bytes counted."""
    import numpy as np

    threads = max(1, threads)
    source = np.ones(mib * 2**20 // 8)
    target = np.empty_like(source)
    pairs = list(zip(np.array_split(target, threads), np.array_split(source, threads)))
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            list(pool.map(lambda pair: np.copyto(*pair), pairs))
            if attempt:  # the first copy faults the pages in: not counted
                best = min(best, time.perf_counter() - started)
    gbs = 2 * source.nbytes / best / 1e9
    return Bandwidth(round(gbs, 1), True, "measured here: threaded numpy copy, read + write bytes counted",
                     f"{gbs:.1f} GB/s: {mib} MiB float64 copied by {threads} thread(s), best of {repeats}, on "
                     f"{time.strftime('%Y-%m-%d')} by this process on this host")


@lru_cache(maxsize=None)
def measured_bandwidth(threads: int) -> Bandwidth:
    """This host's bandwidth with `threads` threads, measured once per process."""
    return measure_bandwidth(threads)
