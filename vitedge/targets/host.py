"""Latency measured on this host: each artifact in its own runtime, fixed threads, warm-up, enough iterations."""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vitedge.export.base import EXPORTERS, open_artifact
from vitedge.targets.hostcpu import detect_host_cpu
from vitedge.versions import tool_versions

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "avx512_fp16", "amx_tile", "amx_int8",
             "amx_bf16", "amx_fp16")
NOISY_CV = 0.10  # coefficient of variation above which a run is flagged, not trusted


@dataclass(frozen=True)
class HostMeasurement:
    latency_ms_p50: float
    latency_ms_p90: float
    latency_ms_min: float
    latency_ms_mean: float
    cv: float  # standard deviation / mean of the timed iterations
    iterations: int
    warmup: int
    threads: int
    batch: int
    runtime: str
    executed_precision: str
    noisy: bool

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_info() -> dict:
    """CPU model, usable logical cores and the SIMD / matrix extensions that decide int8 and bf16 speed, as
    detected from /proc/cpuinfo ("unknown" where it does not say)."""
    cpu = detect_host_cpu()
    facts = cpu.to_dict()
    return {"model": cpu.model_name, "vendor": cpu.vendor, "family": facts["family"], "model_number": facts["model"],
            "logical_cores": cpu.logical_cores or os.cpu_count(), "clock_mhz_current": facts["clock_mhz_current"],
            "hypervisor": facts["hypervisor"], "flags": [f for f in CPU_FLAGS if cpu.has(f)]}


def _timed_runs(run, image: np.ndarray, warmup: int, min_iterations: int, min_seconds: float,
                max_iterations: int) -> list[float]:
    for _ in range(warmup):
        run(image)
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < max_iterations and (len(times) < min_iterations or time.perf_counter() - started < min_seconds):
        begin = time.perf_counter()
        run(image)
        times.append((time.perf_counter() - begin) * 1000)
    return times


def measure(path: Path, fmt: str, image: np.ndarray, threads: int, *, warmup: int = 20, min_iterations: int = 100,
            min_seconds: float = 3.0, max_iterations: int = 5000, precision: str = "fp32") -> HostMeasurement:
    """Batch-1 latency of one artifact of `precision`. `image` is one normalized input (1 x C x H x W float32)."""
    exporter = EXPORTERS.get(fmt)
    run = open_artifact(fmt, path, threads, precision)
    executed = exporter.inference_precision(path, precision)
    times = _timed_runs(run, image, warmup, min_iterations, min_seconds, max_iterations)
    mean = statistics.fmean(times)
    cv = statistics.pstdev(times) / mean if mean else 0.0
    version = tool_versions((exporter.runtime,)).get(exporter.runtime, "?")
    return HostMeasurement(
        latency_ms_p50=round(float(np.percentile(times, 50)), 4), latency_ms_p90=round(float(np.percentile(times, 90)), 4),
        latency_ms_min=round(min(times), 4), latency_ms_mean=round(mean, 4), cv=round(cv, 4), iterations=len(times),
        warmup=warmup, threads=threads, batch=1, runtime=f"{exporter.runtime} {version}", executed_precision=executed,
        noisy=cv > NOISY_CV)
