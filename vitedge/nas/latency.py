"""Latency of sub-networks per target, obtained the way `vitedge bench` obtains it for any model.

Each configuration is extracted from the supernet and exported with vitedge's ONNX exporter. On this host
(`x86-cpu`) all of them are timed with ONNX Runtime FP32, the parent included, in interleaved rounds inside one
process (targets/interleave.py): a figure is the median of round medians and a speed-up the median of per-round
ratios, each with a 95% interval. Other targets get the roofline estimate from each graph's own MACs and bytes
(targets/estimate.py), times this host's correction (the parent's measured / estimated latency here).
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vitedge.console import log
from vitedge.export.base import EXPORTERS
from vitedge.models.loaded import LoadedModel
from vitedge.nas.cost import FEATURES, features, macs
from vitedge.nas.elastic import extract
from vitedge.nas.evaluate import spec_at
from vitedge.nas.subnet import SubnetConfig, subnet_architecture
from vitedge.targets.bench import ESTIMATED, MEASURED_HERE, default_threads
from vitedge.targets.estimate import GraphCost, count_graph, estimate_latency_ms, host_correction
from vitedge.targets.hostprofile import measured_host_profile
from vitedge.targets.interleave import interleaved
from vitedge.targets.profile import get_target

HOST = "x86-cpu"
PRECISION = "fp32"  # every configuration and the parent: same runtime, same precision


@dataclass
class Timing:
    """A configuration's latency on one target, its speed-up over the parent there, and how both were obtained."""

    ms: float
    speedup: float
    obtained: str  # "measured here" | "estimated"
    basis: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class LatencyLab:
    """Exports configurations of `vit` and times or estimates them on `targets` against `parent` (a SubnetConfig)."""

    def __init__(self, vit, spec, targets: list[str], parent: SubnetConfig, threads: int | None = None,
                 rounds: int = 9, round_seconds: float = 0.2):
        self.vit, self.spec, self.parent = vit, spec, parent
        self.profiles = [get_target(t) for t in targets]
        self.threads = default_threads(threads or get_target(HOST).threads)
        self.rounds, self.round_seconds = rounds, round_seconds
        self.folder = Path(tempfile.mkdtemp(prefix="vitedge-nas-latency-"))
        self._onnx: dict[SubnetConfig, Path] = {}

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def onnx(self, sub: SubnetConfig) -> Path:
        """The configuration exported to ONNX (once)."""
        if sub not in self._onnx:
            model = LoadedModel(extract(self.vit, sub), spec_at(self.spec, sub.resolution), sub.key, "nas")
            folder = self.folder / sub.key
            folder.mkdir(exist_ok=True)
            self._onnx[sub] = EXPORTERS.get("onnx").export(model, folder)[0]
        return self._onnx[sub]

    def measure(self, configs: list[SubnetConfig]) -> dict[SubnetConfig, dict[str, Timing]]:
        """Every configuration (and the parent) on every target."""
        configs = [self.parent] + [c for c in dict.fromkeys(configs) if c != self.parent]
        log(f"nas: latency of {len(configs)} configurations (ONNX Runtime FP32, {self.threads} threads, "
            f"{self.rounds} interleaved rounds)")
        for sub in configs:
            self.onnx(sub)
        host = self._host(configs)
        parent_cost = count_graph(self._onnx[self.parent])
        here = measured_host_profile(get_target(HOST), self.threads)  # this host's peaks, bandwidth measured
        correction = host_correction(host[self.parent].ms, estimate_latency_ms(parent_cost, here, PRECISION))
        out = {}
        for sub in configs:
            out[sub] = {}
            cost = self._cost(sub, parent_cost) if sub != self.parent else parent_cost
            for profile in self.profiles:
                out[sub][profile.name] = host[sub] if profile.latency == "measured-here" else \
                    self._estimate(cost, parent_cost, profile, correction)
        return out

    def _host(self, configs: list[SubnetConfig]) -> dict[SubnetConfig, Timing]:
        """Interleaved timings; configurations that do clearly less work than the parent yet time slower (a busy
        host, another process's threads) are timed again once with twice the rounds, and flagged if they stay so."""
        timings = self._interleaved(configs, self.rounds)
        suspect = self.implausible(timings)
        if suspect:
            log(f"nas: {len(suspect)} configuration(s) doing less work than the parent timed slower than it "
                "(busy host?): timing them again")
            again = self._interleaved([self.parent, *suspect], 2 * self.rounds)
            timings |= {sub: again[sub] for sub in suspect}
            for sub in self.implausible(timings):
                timings[sub].details["implausible"] = "less work than the parent, yet slower: the host was busy"
                log(f"nas: warning: {sub.label()} still times slower than the parent with less work; its timing is "
                    "not trusted as a speed-up (re-run on a quiet host)")
        return timings

    def implausible(self, timings: dict[SubnetConfig, Timing]) -> list[SubnetConfig]:
        """Configurations with at most 90% of the parent's multiply-accumulates measured slower than the parent."""
        work = lambda s: macs(features(subnet_architecture(self.vit.cfg, s)))  # noqa: E731
        parent = work(self.parent)
        return [sub for sub, t in timings.items() if sub != self.parent and work(sub) <= 0.9 * parent
                and t.speedup < 1.0]

    def _interleaved(self, configs: list[SubnetConfig], rounds: int) -> dict[SubnetConfig, Timing]:
        image = np.random.default_rng(0).normal(size=(1, *self.spec.input_size)).astype(np.float32)
        runners = {}
        for sub in configs:
            run = EXPORTERS.get("onnx").open_runner(self._onnx[sub], self.threads)
            x = np.ascontiguousarray(image[..., :sub.resolution, :sub.resolution])
            runners[sub.key] = (lambda run=run, x=x: run(x))
        stats = interleaved(runners, reference=self.parent.key, rounds=rounds, round_seconds=self.round_seconds)
        basis = (f"onnxruntime FP32, {self.threads} threads, batch 1, {rounds} interleaved rounds with the parent "
                 f"in one process; median of round medians")
        return {sub: Timing(round(stats[sub.key].ms, 5), round(stats[sub.key].ratio, 4), MEASURED_HERE, basis,
                            stats[sub.key].to_dict()) for sub in configs}

    def _cost(self, sub: SubnetConfig, parent_cost: GraphCost) -> GraphCost:
        """The configuration's graph cost; where ONNX shape inference loses shapes (after token merging), the
        parent's graph cost scaled by the analytic work ratio (cost.features) instead."""
        cost = count_graph(self._onnx[sub])
        if not cost.unresolved:
            return cost
        work = lambda s: features(subnet_architecture(self.vit.cfg, s))
        mine, parents = work(sub), work(self.parent)
        activations = FEATURES.index("token_activations")
        return GraphCost(round(parent_cost.macs * macs(mine) / macs(parents)), cost.weight_bytes,
                         round(parent_cost.activation_bytes * mine[activations] / parents[activations]))

    def _estimate(self, cost, parent_cost, profile, correction: float) -> Timing:
        estimate = estimate_latency_ms(cost, profile, PRECISION, correction)
        parent = estimate_latency_ms(parent_cost, profile, PRECISION, correction)
        return Timing(round(estimate.latency_ms, 5), round(parent.latency_ms / estimate.latency_ms, 4), ESTIMATED,
                      estimate.basis, {"bound": estimate.bound, "host_correction": round(correction, 4)})
