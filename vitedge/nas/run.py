"""`vitedge nas`: importance -> search (slice, time, score each candidate) -> per-target fronts, variants, plots.

OUT/
  nas.json                  parent, settings, data split, importance, every candidate, and per target its front
  <target>.png              accuracy vs latency: candidates, front, budget line, chosen variant
  variants/<target>.toml    the chosen variant (+ .safetensors), loadable by load_model and every command
  candidates/<id>.toml      every evaluated candidate (+ .safetensors), with the weights its proxy score came from
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from vitedge.console import log
from vitedge.data.dataset import Dataset, check_labels
from vitedge.errors import OutputExistsError, VitedgeError
from vitedge.fileio import remove_stale_staging
from vitedge.models.loaded import LoadedModel
from vitedge.models.vit import ViTConfig
from vitedge.nas.importance import Importance, measure_importance
from vitedge.nas.latency import LatencyProbe, Timing, TimingOptions
from vitedge.nas.proxy import AccuracyProxy, ProxySettings, split_data, top1, torch_threads
from vitedge.nas.search import evolve
from vitedge.nas.slicing import slice_model
from vitedge.nas.space import Choice, SearchSpace, count_params, default_space
from vitedge.nas.targets import TargetResult, select_targets
from vitedge.nas.variant import write_variant
from vitedge.paths import model_stem


@dataclass
class NASConfig:
    """What to search and how hard. `budgets`: target -> latency budget in ms (a target left out has none)."""

    targets: tuple[str, ...] = ("x86-cpu",)
    budgets: dict[str, float] = field(default_factory=dict)
    budget_fraction: float | None = None  # targets without a budget in ms: this share of the parent's own latency
    evaluations: int = 16  # candidates scored, the parent included
    initial: int | None = None  # of which spread over cost before evolution (default: half)
    proxy: ProxySettings = ProxySettings()
    held_out: int = 1000  # images of the NAS data held out for the proxy score
    importance_samples: int = 512
    seed: int = 0
    max_drop: float | None = 1.0  # choose the fastest within this many points of the parent's proxy top-1
    min_depth: int | None = None
    embed: bool = True  # also search a narrower embedding
    timing: TimingOptions = TimingOptions()

    def __post_init__(self):
        checks = [(self.evaluations >= 1, "--candidates must be at least 1 (the parent)"),
                  (self.proxy.steps >= 0, "--steps must be >= 0 (0: zero-shot proxy)"),
                  (self.held_out >= 1, "--held-out must be at least 1 image"),
                  (self.importance_samples >= 1, "importance_samples must be at least 1"),
                  (self.max_drop is None or self.max_drop >= 0, "--max-drop must be >= 0"),
                  (self.min_depth is None or self.min_depth >= 1, "--min-depth must be at least 1"),
                  (self.budget_fraction is None or 0 < self.budget_fraction < 1,
                   "--budget-fraction must be between 0 and 1 (e.g. 0.5: half the model's latency)")]
        for ok, message in checks:
            if not ok:
                raise VitedgeError(f"invalid NAS settings: {message}", "fix the value and run again")

    def check_parent(self, parent: ViTConfig, name: str) -> None:
        """Settings that depend on the parent model: refused before any work."""
        if self.min_depth is not None and self.min_depth > parent.depth:
            raise VitedgeError(f"invalid NAS settings: --min-depth {self.min_depth} is more than the {parent.depth} "
                               f"blocks of {name}", f"pass --min-depth from 1 to {parent.depth}")

    def to_dict(self) -> dict:
        return {"targets": list(self.targets), "budgets_ms": self.budgets, "budget_fraction": self.budget_fraction, "evaluations": self.evaluations,
                "initial": self.initial, "proxy": vars(self.proxy), "held_out": self.held_out,
                "importance_samples": self.importance_samples, "seed": self.seed, "max_drop_pp": self.max_drop,
                "min_depth": self.min_depth, "embed": self.embed, "timing": vars(self.timing)}


@dataclass
class Candidate:
    id: str
    choice: Choice
    macs: int
    graph_macs: int
    params: int
    accuracy: dict  # zero_shot_top1, proxy_top1 (percent), seconds
    latency: dict[str, Timing]
    spec: str  # relative to OUT

    @property
    def top1(self) -> float:
        return self.accuracy["proxy_top1"]

    def to_dict(self) -> dict:
        return {"id": self.id, "label": self.choice.label(), "choice": self.choice.to_dict(), "macs": self.macs,
                "graph_macs": self.graph_macs, "params": self.params, **self.accuracy,
                "latency": {t: v.to_dict() for t, v in self.latency.items()}, "spec": self.spec}


@dataclass
class NASResult:
    out: Path
    parent: LoadedModel
    candidates: list[Candidate]
    targets: list[TargetResult]
    importance: Importance
    space: SearchSpace
    proxy_note: str
    proxy_kind: str
    data: dict
    parent_eval_top1: float | None
    seconds: float


def prepare_out(out: Path, force: bool) -> None:
    """Refuse a folder that holds a NAS result unless `force`; then clear what a previous run wrote."""
    if (out / "nas.json").exists() and not force:
        raise OutputExistsError(f"{out} already holds nas.json", "pass --force to replace it, or another --out")
    if force:
        for folder in ("candidates", "variants"):
            shutil.rmtree(out / folder, ignore_errors=True)
        for png in out.glob("*.png") if out.is_dir() else []:
            png.unlink()
    remove_stale_staging(out)


class _Evaluator:
    """Slices, scores, times and saves one candidate; remembers every one."""

    def __init__(self, parent, importance, space, proxy, probe, out: Path, total: int):
        self.parent, self.importance, self.space, self.proxy, self.probe = parent, importance, space, proxy, probe
        self.out, self.total, self.candidates = out, total, []
        self.parent_macs = space.macs(space.full())

    def __call__(self, choice: Choice) -> float:
        started = time.perf_counter()
        model = slice_model(self.parent, self.importance, choice, f"{self.parent.name}-{choice.key}")
        is_parent = choice == self.space.full()
        accuracy = self.proxy.parent_score(model) if is_parent else self.proxy(model)
        timings, cost = self.probe(model)
        config = self.space.config_of(choice)
        description = f"NAS candidate of {self.parent.name}: {choice.label()}; {self.proxy.kind} proxy top-1 " \
                      f"{accuracy['proxy_top1']:.2f}%"
        spec = write_variant(model, self.out / "candidates", choice.key, description)
        c = Candidate(choice.key, choice, self.space.macs(choice), cost.macs, count_params(config), accuracy,
                      timings, str(spec.relative_to(self.out)))
        self.candidates.append(c)
        lat = ", ".join(f"{t} {v.ms:.4g} ms" for t, v in timings.items())
        log(f"[{len(self.candidates)}/{self.total}] {c.id} {choice.label()}: {c.macs / 1e6:.2f} M MACs "
            f"({c.macs / self.parent_macs:.0%}), top-1 {c.top1:.2f}% (zero-shot {accuracy['zero_shot_top1']:.2f}%), "
            f"{lat} ({time.perf_counter() - started:.1f} s)")
        return c.top1


def run_nas(parent: LoadedModel, data: Dataset, eval_data: Dataset | None, out: Path, config: NASConfig,
            force: bool = False) -> NASResult:
    """Search sub-networks of `parent` for each target; write OUT (see the module docstring)."""
    started = time.perf_counter()
    out = Path(out)
    if parent.config is None:
        raise VitedgeError(f"{parent.name} has no ViTConfig: NAS slices vitedge VisionTransformers only",
                           "load it with vitedge.load_model (built-in name, timm name + weights, spec file)")
    model_stem(parent)  # a parent name that is a path is refused before the search (its variants carry it)
    config.check_parent(parent.config, parent.name)
    for dataset in (data, eval_data):
        check_labels(dataset, parent.config.num_classes, parent.name)
    prepare_out(out, force)
    train, held, split = split_data(data, config.held_out, config.seed)
    proxy = AccuracyProxy(parent, train, held, config.proxy)
    count = min(len(train), config.importance_samples)
    log(f"nas: importance of blocks, heads, neurons and channels on {count} images")
    with torch_threads(proxy.threads):
        labels = None if train.labels is None else train.labels[:count]
        importance = measure_importance(parent, Dataset(train.images[:count], labels, train.source))
    space = default_space(parent.config, importance.removal_order, config.min_depth, config.embed)
    log(f"nas: {config.evaluations} candidates; proxy: {proxy.note}")
    image = next(held.batches(parent.spec, 1))[0]
    probe = LatencyProbe(list(config.targets), image, config.timing)
    evaluator = _Evaluator(parent, importance, space, proxy, probe, out, config.evaluations)
    evolve(space, evaluator, config.evaluations, config.seed, config.initial)
    parent_eval = top1(parent.module, eval_data, parent.spec) if eval_data is not None and \
        eval_data.labels is not None else None
    targets = select_targets(evaluator.candidates, config, out, parent, eval_data)
    return NASResult(out, parent, evaluator.candidates, targets, importance, space, proxy.note, proxy.kind, split,
                     parent_eval, time.perf_counter() - started)
