"""Search without retraining: screen hundreds of sub-networks of the trained supernet, rank them by predicted
latency per target, evaluate and time the finalists for real, and pick per target the fastest within the limits.

1. Screen: the largest, the smallest, every single-knob change and random configurations (seeded) of the union of
   the targets' spaces, each scored on the first `screen_images` search images.
2. Candidates per target: configurations close to the front of (predicted latency, screened agreement), spread
   over the latency range; each is scored on every search image (FP32).
3. Finalists per target: the candidates within the accuracy limits with the lowest predicted latency, plus a few
   others to draw the front; timed (interleaved with the parent) or estimated.
4. Pick: the fastest finalist within max_drop pp top-1 (with labels), at least min_agreement % agreement with the
   parent, and within the latency budget. None when nothing qualifies, with the reason.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from vitedge.console import log
from vitedge.nas.cost import LatencyModel
from vitedge.nas.evaluate import Evaluator
from vitedge.nas.knobs import predict, single_knob_configs
from vitedge.nas.latency import Timing
from vitedge.nas.pareto import pareto_front
from vitedge.nas.space import KNOBS, SearchSpace
from vitedge.nas.subnet import SubnetConfig

SLACK_PP = 2.0  # a finalist is at most this far below the best agreement at its predicted latency


@dataclass(frozen=True)
class Limits:
    max_drop: float | None = 1.0  # pp top-1 below the parent (labelled search data)
    min_agreement: float = 90.0  # % top-1 agreement with the parent
    budget_ms: float | None = None
    budget_fraction: float | None = None  # of the parent's latency on the target
    min_speedup: float | None = None

    def budget(self, parent_ms: float) -> float | None:
        budgets = [b for b in (self.budget_ms, None if self.budget_fraction is None else
                               self.budget_fraction * parent_ms,
                               None if self.min_speedup is None else parent_ms / self.min_speedup) if b is not None]
        return min(budgets) if budgets else None

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class Entry:
    """One evaluated configuration."""

    sub: SubnetConfig
    screen: dict
    full: dict | None = None
    predicted: dict[str, float] = field(default_factory=dict)
    timings: dict[str, Timing] = field(default_factory=dict)
    weights: str = "supernet"  # or "pretrained": the parent's own weights, no supernet training (zero-shot)

    @property
    def variant_key(self) -> str:
        """The configuration's key, marked when its weights are the parent's own (one configuration, two variants)."""
        return self.sub.key + ("-zs" if self.weights == "pretrained" else "")

    @property
    def figures(self) -> dict:
        return self.full or self.screen

    def score(self) -> float:
        """What the front maximises: top-1 with labels, else agreement."""
        return self.figures.get("top1", self.figures["agreement"])

    def to_dict(self) -> dict:
        return {"id": self.sub.key, "label": self.sub.label(), "config": self.sub.to_dict(), "weights": self.weights,
                "screen": self.screen,
                "full": self.full, "predicted_ms": {t: round(v, 5) for t, v in self.predicted.items()},
                "latency": {t: v.to_dict() for t, v in self.timings.items()}}


def screen_set(union: SearchSpace, count: int, seed: int) -> list[SubnetConfig]:
    """The configurations to screen: every one when the space is small, else a seeded sample that always holds the
    largest, the smallest and every single-knob change."""
    everything = union.all()
    if len(everything) <= count:
        return everything
    picks = [union.largest(), union.smallest(), *single_knob_configs(union).values()]
    rng = random.Random(seed)
    rest = [c for c in everything if c not in set(picks)]
    rng.shuffle(rest)
    return list(dict.fromkeys(picks + rest))[:max(count, len(picks))]


def screen(evaluator: Evaluator, configs: list[SubnetConfig], images: int, weights: str = "supernet") -> list[Entry]:
    entries = []
    for index, sub in enumerate(configs, 1):
        entries.append(Entry(sub, evaluator.evaluate(sub, images, weights), weights=weights))
        if index % 25 == 0 or index == len(configs):
            log(f"nas: screened {index}/{len(configs)} configurations on {images} images ({weights} weights)")
    return entries


def zero_shot_plausible(space: SearchSpace, sub: SubnetConfig, zero_shot: dict[str, float], floor: float) -> bool:
    """Whether every knob value `sub` changes kept at least `floor` % agreement zero-shot (recoverable()'s figures):
    then the pretrained weights themselves may carry `sub` within the limits."""
    full = space.largest()
    changed = [(k, getattr(sub, k)) for k in KNOBS if getattr(sub, k) != getattr(full, k)]
    return all(zero_shot.get(f"{k}={v}", 0.0) >= floor for k, v in changed)


def better_of(trained: list[Entry], pretrained: list[Entry]) -> list[Entry]:
    """Per configuration, the weight set that screened closer to the parent (agreement, then KL): supernet training
    helps the small configurations and may cost the mild ones a little, so neither set is taken on trust."""
    zero_shot = {e.sub: e for e in pretrained}
    rank = lambda x: (x.screen["agreement"], -x.screen["kl"])  # noqa: E731
    return [other if other is not None and rank(other) >= rank(e) else e
            for e, other in ((e, zero_shot.get(e.sub)) for e in trained)]


def in_space(space: SearchSpace, sub: SubnetConfig) -> bool:
    return (sub.resolution in space.resolution and sub.depth in space.depth and sub.heads in space.heads
            and sub.mlp in space.mlp and sub.embed in space.embed and sub.merge in space.merge)


def finalists(entries: list[Entry], target: str, limits: Limits, count: int) -> list[Entry]:
    """Near-front entries (predicted latency vs screened agreement) with a chance to meet the limits."""
    ordered = sorted((e for e in entries if target in e.predicted), key=lambda e: e.predicted[target])
    near, best = [], -1.0
    for e in ordered:
        agreement = e.screen["agreement"]
        if agreement >= best - SLACK_PP and agreement >= limits.min_agreement - 3 * SLACK_PP:
            near.append(e)
        best = max(best, agreement)
    if len(near) <= count:
        return near
    step = (len(near) - 1) / (count - 1)
    return [near[round(i * step)] for i in range(count)]


def accuracy_problem(entry: Entry, limits: Limits) -> str | None:
    """Why `entry`'s full evaluation is outside the accuracy limits, or None."""
    f = entry.full or {}
    if limits.max_drop is not None and f.get("drop_pp") is not None and f["drop_pp"] > limits.max_drop:
        return f"top-1 drop {f['drop_pp']:.2f} pp > {limits.max_drop:g}"
    if f.get("agreement", 0.0) < limits.min_agreement:
        return f"agreement {f.get('agreement', 0.0):.1f}% < {limits.min_agreement:g}%"
    return None


def to_time(candidates: list[Entry], target: str, limits: Limits, count: int) -> list[Entry]:
    """The fully evaluated candidates worth timing on `target`: the `count` within the accuracy limits predicted
    fastest, and a few others spread over the rest (they draw the front)."""
    ordered = sorted(candidates, key=lambda e: e.predicted[target])
    within = [e for e in ordered if accuracy_problem(e, limits) is None][:count]
    rest = [e for e in ordered if e not in within]
    extra = max(1, count // 3)
    step = max(1, len(rest) // extra)
    return within + rest[::step][:extra]


def eligible(entry: Entry, target: str, limits: Limits, budget: float | None) -> str | None:
    """Why `entry` cannot be the target's pick, or None when it can."""
    problem = accuracy_problem(entry, limits)
    if problem:
        return problem
    timing = entry.timings[target]
    if budget is not None and timing.ms > budget:
        return f"{timing.ms:.4g} ms over the {budget:.4g} ms budget"
    return None


@dataclass
class TargetPick:
    target: str
    budget_ms: float | None
    parent: Entry
    front: list[Entry]
    pick: Entry | None
    reason: str  # why this pick, or why none

    def to_dict(self) -> dict:
        parent_timing = self.parent.timings[self.target]
        out = {"target": self.target, "budget_ms": self.budget_ms, "obtained": parent_timing.obtained,
               "parent_latency_ms": parent_timing.ms, "front": [e.sub.key for e in self.front], "reason": self.reason,
               "pick": None}
        if self.pick is not None:
            timing, f = self.pick.timings[self.target], self.pick.full
            out["pick"] = {"id": self.pick.sub.key, "label": self.pick.sub.label(), "config": self.pick.sub.to_dict(),
                           "weights": self.pick.weights,
                           "latency_ms": timing.ms, "parent_latency_ms": parent_timing.ms,
                           "speedup": timing.speedup, "speedup_interval": [timing.details.get("ratio_low"),
                                                                           timing.details.get("ratio_high")],
                           "obtained": timing.obtained, "basis": timing.basis, "top1": f.get("top1"),
                           "parent_top1": f.get("parent_top1"), "drop_pp": f.get("drop_pp"),
                           "agreement": f["agreement"], "kl": f["kl"], "images": f["images"]}
        return out


def on_parent_scale(entries: list[Entry], parent: Entry, target: str) -> None:
    """Timings from different interleaved sessions on one scale: each entry's ms becomes the parent's ms over the
    speed-up measured against the parent in the entry's own session (the session's ms stays in details)."""
    base = parent.timings[target].ms
    for e in entries:
        timing = e.timings.get(target)
        if timing is None or e.sub == parent.sub or timing.speedup <= 0:
            continue
        timing.details.setdefault("session_ms", timing.ms)
        timing.ms = round(base / timing.speedup, 5)


def choose(target: str, entries: list[Entry], parent: Entry, limits: Limits) -> TargetPick:
    """The target's front of fully evaluated, timed entries and the fastest one within the limits (ranked by the
    speed-up over the parent, measured in one session with it)."""
    on_parent_scale(entries, parent, target)
    timed = [e for e in entries if target in e.timings and e.full is not None]
    budget = limits.budget(parent.timings[target].ms)
    front_index = pareto_front([(e.timings[target].ms, e.score()) for e in timed])
    front = [timed[i] for i in front_index]
    verdicts = {e.sub: eligible(e, target, limits, budget) for e in timed if e.sub != parent.sub}
    ok = sorted((e for e in timed if e.sub in verdicts and verdicts[e.sub] is None),
                key=lambda e: e.timings[target].ms)
    faster = [e for e in ok if e.timings[target].speedup > 1.0]
    if faster:
        pick = faster[0]
        return TargetPick(target, budget, parent, front, pick,
                          f"fastest of {len(timed)} finalists within the limits ({pick.timings[target].speedup:.2f}x)")
    reasons = sorted({v for v in verdicts.values() if v}) or ["no finalist is faster than the parent"]
    return TargetPick(target, budget, parent, front, None, "no configuration qualifies: " + "; ".join(reasons[:4]))


def best_at(pick: TargetPick, entries: list[Entry], speedup: float) -> Entry | None:
    """The most accurate timed configuration at least `speedup` x faster than the parent on the pick's target."""
    t = pick.target
    fast = [e for e in entries if t in e.timings and e.full is not None and e.timings[t].speedup >= speedup]
    return max(fast, key=lambda e: e.score(), default=None)


def predictions(entries: list[Entry], spaces: dict[str, SearchSpace], models: dict[str, LatencyModel]) -> None:
    """Predicted latency of every screened entry on each target whose space holds it."""
    for e in entries:
        e.predicted = {t: predict(spaces[t], models[t], e.sub) for t in spaces if in_space(spaces[t], e.sub)}
