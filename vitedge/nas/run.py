"""`vitedge nas`: importance -> supernet training -> search without retraining -> a variant per target.

OUT/
  nas.json                     parent, knobs, training record, every evaluated configuration, per target the front
                               and the pick (schema: README, "nas.json")
  <target>.png                 the family, the front, the pick, the parent and the SAM3-on-T4 line
  supernet.safetensors         the trained supernet (the parent, its units reordered by importance)
  variants/<target>.toml       the target's pick as a model spec (+ variants/<id>.safetensors, shared by targets
                               whose picks are identical), loadable by every command
"""
from __future__ import annotations

import copy
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from vitedge.console import log
from vitedge.data.dataset import Dataset
from vitedge.errors import OutputExistsError, VitedgeError
from vitedge.fileio import remove_stale_staging
from vitedge.models.loaded import LoadedModel
from vitedge.nas.evaluate import Evaluator, SearchImages
from vitedge.nas.importance import Importance, measure_importance
from vitedge.nas.knobs import calibration_configs, fit_models, prune, recoverable
from vitedge.nas.latency import LatencyLab
from vitedge.nas.reorder import reorder_by_importance
from vitedge.nas.search import (Entry, Limits, TargetPick, better_of, choose, finalists, predictions, screen,
                                SLACK_PP, screen_set, to_time, zero_shot_plausible)
from vitedge.nas.space import SearchSpace, default_space, lowest_depth
from vitedge.nas.subnet import check_uniform, unsupported_tokens
from vitedge.nas.supernet import SupernetSettings, TrainingRecord, bf16_available, train_supernet


CANDIDATES = 3  # per finalist: near-front configurations evaluated on every search image


@dataclass
class NASConfig:
    """What to search and how hard. `budgets`: target -> latency budget in ms (a target left out has none)."""

    targets: tuple[str, ...] = ("x86-cpu",)
    budgets: dict[str, float] = field(default_factory=dict)
    budget_fraction: float | None = None  # of the parent's latency on each target
    min_speedup: float | None = None
    max_drop: float | None = 1.0  # pp top-1 below the parent on the search images
    min_agreement: float = 90.0  # % top-1 agreement with the parent
    supernet: SupernetSettings = SupernetSettings()
    screen: int = 240  # configurations screened after training
    screen_images: int = 128
    finalists: int = 10  # per target: evaluated on every search image and timed for real
    importance_samples: int = 256
    calibration_extra: int = 6  # random configurations added to the single-knob ones to fit the latency models
    min_depth: int | None = None
    embed: bool = True
    merge: bool = True
    merge_every: int = 0  # blocks per token-merging step; 0: from the depth (space.default_merge_every)
    seed: int = 0
    threads: int | None = None
    rounds: int = 9
    zero_shot_floor: float = 60.0  # % agreement a knob value keeps before training to be trained and searched

    def __post_init__(self):
        checks = [(self.screen >= 1, "--screen must be at least 1"), (self.screen_images >= 1, "screen_images >= 1"),
                  (self.finalists >= 2, "--finalists must be at least 2"),
                  (self.max_drop is None or self.max_drop >= 0, "--max-drop must be >= 0"),
                  (0 <= self.min_agreement <= 100, "--min-agreement must be a percentage"),
                  (self.min_depth is None or self.min_depth >= 1, "--min-depth must be at least 1"),
                  (self.budget_fraction is None or 0 < self.budget_fraction < 1,
                   "--budget-fraction must be between 0 and 1 (e.g. 0.5: half the model's latency)"),
                  (self.min_speedup is None or self.min_speedup > 1, "--min-speedup must be above 1"),
                  (self.importance_samples >= 1, "importance_samples must be at least 1"),
                  (self.merge_every >= 0, "--merge-every must be at least 1 (or 0: chosen from the depth)"),
                  (0 <= self.zero_shot_floor <= 100, "--zero-shot-floor must be a percentage"),
                  (self.rounds >= 3, "--rounds must be at least 3 (a median and its interval need them)")]
        for ok, message in checks:
            if not ok:
                raise VitedgeError(f"invalid NAS settings: {message}", "fix the value and run again")

    def check_parent(self, parent: LoadedModel) -> None:
        """Settings that depend on the parent: a --min-depth within its depth, uniform blocks."""
        if parent.config is None:
            raise VitedgeError(f"{parent.name} has no ViTConfig: NAS derives variants of vitedge VisionTransformers",
                               "load it with vitedge.load_model (built-in name, timm name + weights, spec file)")
        problem = check_uniform(parent.config)
        if problem:
            raise VitedgeError(f"{parent.name}: {problem}", "start from the pretrained model, not a NAS variant")
        problem = unsupported_tokens(parent.config)
        if problem:
            raise VitedgeError(f"{parent.name}: {problem}", "export and quantize this model without `vitedge nas` "
                               "(every other stage supports it), or search a plain ViT/DeiT parent")
        if self.min_depth is not None and self.min_depth > parent.config.depth:
            raise VitedgeError(f"--min-depth {self.min_depth} is more than the {parent.config.depth} blocks of "
                               f"{parent.name}", f"pass a value from 1 to {parent.config.depth}")

    def limits(self, target: str) -> Limits:
        return Limits(self.max_drop, self.min_agreement, self.budgets.get(target), self.budget_fraction,
                      self.min_speedup)

    def to_dict(self) -> dict:
        out = {k: v for k, v in vars(self).items() if k != "supernet"}
        return {**out, "targets": list(self.targets), "supernet": self.supernet.to_dict()}


@dataclass
class NASResult:
    out: Path
    parent: LoadedModel
    space: SearchSpace
    spaces: dict[str, SearchSpace]
    knob_effects: dict[str, dict]
    latency_models: dict
    importance: Importance
    training: TrainingRecord
    entries: list[Entry]
    picks: list[TargetPick]
    variants: dict[str, str]  # target -> spec path relative to OUT
    data: dict
    seconds: float
    phase_seconds: dict[str, float] = field(default_factory=dict)  # importance, knobs, training, search, outputs


def prepare_out(out: Path, force: bool) -> None:
    """Refuse a folder holding a NAS result unless `force`; then clear what a previous run wrote (a checkpoint of an
    interrupted run stays, to resume)."""
    if (out / "nas.json").exists() and not force:
        raise OutputExistsError(f"{out} already holds nas.json", "pass --force to replace it, or another --out")
    if force:
        shutil.rmtree(out / "variants", ignore_errors=True)
        for stale in [*out.glob("*.png"), out / "nas.json", out / "supernet.safetensors"] if out.is_dir() else []:
            stale.unlink(missing_ok=True)
    remove_stale_staging(out)


def run_nas(parent: LoadedModel, train: Dataset, search: Dataset, out: Path, config: NASConfig,
            force: bool = False, search_indices=None) -> NASResult | None:
    """Train the supernet of `parent` on `train`, search it on `search` (`search_indices`: the images of its source
    it holds, when it is a held-out split); write OUT (see the module docstring). Under torchrun every process
    trains; rank 0 alone times, searches and writes (the others return None)."""
    import torch

    from vitedge.distill import parallel

    started = time.perf_counter()
    out = Path(out)
    config.check_parent(parent)
    par = parallel.start()
    lab, clock = None, PhaseClock()
    try:
        if par.main:
            prepare_out(out, force)
        importance, vit, space = clock.time("importance", _prepare, parent, train, config)
        if par.main:
            lab = LatencyLab(vit, parent.spec, list(config.targets), space.largest(), config.threads, config.rounds)
        evaluator = Evaluator(vit, parent.module, SearchImages(search, parent.spec, search_indices),
                              bf16=bf16_available(torch.device("cpu"))) if par.main else None
        spaces, effects, models, zero_shot = par.share(clock.time("knobs", _per_target, space, lab, evaluator, config)
                                                       if par.main else None)
        union = _union(spaces)
        if par.main:
            evaluator.add_weights("pretrained", copy.deepcopy(vit))
        training = clock.time("training", train_supernet, parent.module, vit, union, train, parent.spec,
                              config.supernet, out, resume=True)
        if not par.main:
            return None
        entries, picks = clock.time("search", _search, evaluator, union, spaces, models, lab, config, zero_shot)
        log(f"nas: search {clock.seconds['search']:.0f} s for {len(entries)} configurations (no training)")
    finally:
        if lab is not None:
            lab.close()
        par.close()
    from vitedge.nas.output import write_outputs

    variants = clock.time("outputs", write_outputs, out, parent, evaluator.weights, picks, entries, training)
    return NASResult(out, parent, space, spaces, effects, {t: m.to_dict() for t, m in models.items()}, importance,
                     training, entries, picks, variants, {"train": train.describe(), "search": search.describe()},
                     time.perf_counter() - started, clock.seconds)


class PhaseClock:
    """Seconds spent in each named phase of a run (what nas.json's `phase_seconds` reports)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def time(self, phase: str, work, *args, **kwargs):
        began = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            self.seconds[phase] = round(self.seconds.get(phase, 0.0) + time.perf_counter() - began, 1)


def _prepare(parent: LoadedModel, train: Dataset, config: NASConfig):
    """Importance of every unit, the parent reordered by it (the supernet's start) and the search space."""
    count = min(len(train), config.importance_samples)
    log(f"nas: importance of blocks, heads, neurons and channels on {count} images")
    lowest = config.min_depth or lowest_depth(parent.config)
    importance = measure_importance(parent, Dataset(train.images[:count], None if train.labels is None else
                                                    train.labels[:count], train.source), keep=lowest)
    vit = reorder_by_importance(parent.module, importance)
    space = default_space(parent.config, importance.removal_order, config.min_depth, config.embed, config.merge,
                          config.merge_every or None)
    return importance, vit, space


def _per_target(space: SearchSpace, lab: LatencyLab, evaluator: Evaluator, config: NASConfig):
    """Each target's space (the knob values that make it faster and keep the pretrained function), what each knob
    did, and its latency model."""
    timings = lab.measure(calibration_configs(space, random.Random(config.seed), config.calibration_extra))
    count = min(config.screen_images, len(evaluator.images.data))
    kept, zero_shot = recoverable(space, evaluator.evaluate, count, config.zero_shot_floor)
    dropped = [k for k, v in zero_shot.items() if v < config.zero_shot_floor]
    if dropped:
        log(f"nas: below {config.zero_shot_floor:g}% agreement before training, not trained or searched: " + ", ".join(
            f"{k} ({zero_shot[k]:.0f}%)" for k in dropped))
    spaces, effects = {}, {}
    for target in config.targets:
        pruned, effects[target] = prune(space, timings, target)
        spaces[target] = pruned.restrict(**{k: tuple(v for v in getattr(pruned, k) if v in kept[k]) for k in kept})
        for key, agreement in zero_shot.items():
            effects[target][key]["zero_shot_agreement"] = agreement
    log("nas: spaces per target: " + "; ".join(f"{t} {s.size} configurations" for t, s in spaces.items()))
    return spaces, effects, fit_models(space, timings, list(config.targets)), zero_shot


def _union(spaces: dict[str, SearchSpace]) -> SearchSpace:
    union = None
    for s in spaces.values():
        union = s if union is None else union.union(s)
    return union


def _screen_both(evaluator: Evaluator, union: SearchSpace, configs, images: int, config: NASConfig,
                 zero_shot: dict[str, float]) -> list[Entry]:
    """Every configuration with the supernet's weights; those whose knob values kept the pretrained function
    (zero-shot agreement near the floor) also with the pretrained weights; the better of the two per configuration."""
    log(f"nas: screening {len(configs)} configurations of {union.size} on {images} search images (no retraining)")
    trained = screen(evaluator, configs, images)
    floor = config.min_agreement - 3 * SLACK_PP
    plausible = [c for c in configs if zero_shot_plausible(union, c, zero_shot, floor)]
    return better_of(trained, screen(evaluator, plausible, images, "pretrained") if plausible else [])


def _search(evaluator: Evaluator, union: SearchSpace, spaces: dict[str, SearchSpace], models, lab: LatencyLab,
            config: NASConfig, zero_shot: dict[str, float]) -> tuple[list[Entry], list[TargetPick]]:
    search = evaluator.images.data
    configs = screen_set(union, config.screen, config.seed)
    images = min(config.screen_images, len(search))
    entries = _screen_both(evaluator, union, configs, images, config, zero_shot)
    predictions(entries, spaces, models)
    parent_entry = next(e for e in entries if e.sub == union.largest())
    candidates = {t: finalists(entries, t, config.limits(t), CANDIDATES * config.finalists) for t in config.targets}
    evaluated = {e.sub: e for near in candidates.values() for e in near} | {parent_entry.sub: parent_entry}
    log(f"nas: {len(evaluated)} candidates on all {len(search)} search images (FP32)")
    evaluator.bf16 = False
    for entry in evaluated.values():
        entry.full = evaluator.evaluate(entry.sub, weights=entry.weights)
    chosen = {e.sub: e for t in config.targets for e in to_time(
        [c for c in candidates[t] if c.sub != parent_entry.sub], t, config.limits(t), config.finalists)}
    chosen[parent_entry.sub] = parent_entry
    timings = lab.measure(list(chosen))
    for sub, by_target in timings.items():
        chosen[sub].timings = by_target
    picks = [choose(t, list(chosen.values()), parent_entry, config.limits(t)) for t in config.targets]
    for p in picks:
        if not [e for e in candidates[p.target] if e.sub != parent_entry.sub]:
            best = max((e.screen["agreement"] for e in entries if e.sub != parent_entry.sub), default=0.0)
            p.reason = (f"no screened configuration came near the limits (best agreement with the parent "
                        f"{best:.1f}% on {images} images, floor {config.min_agreement:g}%): train the supernet "
                        "longer (--epochs) or on more images")
    for p in picks:
        log(f"nas: {p.target}: " + (f"{p.pick.sub.label()} ({p.reason})" if p.pick else p.reason))
    return entries, picks

