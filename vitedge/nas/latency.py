"""Latency of a candidate per target, the way `vitedge bench` obtains it for any model.

The candidate is exported to ONNX with vitedge's exporter and timed here with ONNX Runtime (targets/host.py). Other
targets get the roofline estimate over the graph's own MAC and byte counts (targets/estimate.py), times this host's
correction: the candidate's measured / estimated latency on the x86-cpu profile, as bench.py corrects a model.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vitedge.export.base import EXPORTERS
from vitedge.models.loaded import LoadedModel
from vitedge.targets.bench import ESTIMATED, MEASURED_HERE, default_threads
from vitedge.targets.estimate import GraphCost, count_graph, estimate_latency_ms, host_correction
from vitedge.targets.host import measure
from vitedge.targets.profile import TargetProfile, get_target

HOST = "x86-cpu"
PRECISION = "fp32"  # candidates are FP32 models; quantization comes after NAS


@dataclass
class Timing:
    """How long a candidate takes on one target and how that was obtained."""

    ms: float
    obtained: str  # "measured here" | "estimated"
    basis: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TimingOptions:
    """Fewer timed runs than bench (many candidates): still warm-up, a time floor, and the median."""

    warmup: int = 10
    min_iterations: int = 100
    min_seconds: float = 0.5
    max_iterations: int = 3000
    threads: int | None = None


class LatencyProbe:
    """Times candidates on the given targets; `probe(model)` -> ({target: Timing}, graph cost)."""

    def __init__(self, targets: list[str], image: np.ndarray, options: TimingOptions = TimingOptions()):
        self.profiles: list[TargetProfile] = [get_target(t) for t in targets]
        self.host = get_target(HOST)
        self.image = np.ascontiguousarray(image[:1], dtype=np.float32)
        self.options = options

    def __call__(self, model: LoadedModel) -> tuple[dict[str, Timing], GraphCost]:
        folder = Path(tempfile.mkdtemp(prefix="vitedge-nas-"))
        try:
            path = EXPORTERS.get("onnx").export(model, folder)[0]
            cost = count_graph(path)
            host_timing = self._measure(path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        host_estimate = estimate_latency_ms(cost, self.host, PRECISION)
        correction = host_correction(host_timing.ms, host_estimate)
        timings = {}
        for profile in self.profiles:
            if profile.latency == "measured-here":
                timings[profile.name] = host_timing
            else:
                estimate = estimate_latency_ms(cost, profile, PRECISION, correction)
                timings[profile.name] = Timing(round(estimate.latency_ms, 5), ESTIMATED, estimate.basis,
                                               {"bound": estimate.bound, "host_correction": round(correction, 4)})
        return timings, cost

    def _measure(self, path: Path) -> Timing:
        o = self.options
        threads = default_threads(o.threads or self.host.threads)
        m = measure(path, "onnx", self.image, threads, warmup=o.warmup, min_iterations=o.min_iterations,
                    min_seconds=o.min_seconds, max_iterations=o.max_iterations)
        basis = (f"{m.runtime}, {m.threads} threads, batch 1, {m.warmup} warm-up + {m.iterations} timed runs, "
                 f"median; CV {m.cv:.1%}" + (" (noisy)" if m.noisy else ""))
        return Timing(m.latency_ms_p50, MEASURED_HERE, basis, {"p90": m.latency_ms_p90, "min": m.latency_ms_min,
                                                               "cv": m.cv, "noisy": m.noisy})
