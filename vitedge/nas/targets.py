"""Per target: the accuracy / latency front of the evaluated candidates, the chosen variant, its plot and files."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vitedge.console import log
from vitedge.data.dataset import Dataset
from vitedge.models.loaded import LoadedModel
from vitedge.nas.pareto import choose, pareto_front
from vitedge.nas.plot import plot_target
from vitedge.nas.proxy import top1
from vitedge.nas.variant import write_variant

if TYPE_CHECKING:
    from vitedge.nas.run import Candidate, NASConfig


@dataclass
class TargetResult:
    target: str
    budget_ms: float | None
    obtained: str  # how the latencies were obtained: measured here | estimated
    front: list[str]  # candidate ids, fastest first
    chosen: str | None  # None: nothing fits the budget
    variant: str | None  # spec path relative to OUT
    eval_top1: float | None  # the chosen variant's FP32 top-1 on --eval (percent)
    plot: str

    def to_dict(self) -> dict:
        return vars(self).copy()


def _variant(candidate: Candidate, parent: LoadedModel, target: str, out: Path, budget: float | None) -> Path:
    """Copy the chosen candidate to OUT/variants/<target>.toml under a name that says what it is."""
    from vitedge.models import load_model

    model = load_model(out / candidate.spec)
    model.name = f"{parent.name}-nas-{target}"
    timing = candidate.latency[target]
    description = (f"NAS variant of {parent.name} for {target}: {candidate.choice.label()}; "
                   f"{candidate.macs:,} MACs; {timing.ms:.4g} ms ({timing.obtained})"
                   + (f" within a {budget:g} ms budget" if budget is not None else "")
                   + f"; proxy top-1 {candidate.top1:.2f}%; candidate {candidate.id}")
    return write_variant(model, out / "variants", target, description)


def select_target(target: str, candidates: list[Candidate], config: NASConfig, out: Path, parent: LoadedModel,
                  eval_data: Dataset | None, cache: dict[str, float]) -> TargetResult:
    points = [(c.latency[target].ms, c.top1) for c in candidates]
    front = pareto_front(points)
    budget = config.budgets.get(target)
    if budget is None and config.budget_fraction:  # relative: a share of the parent's latency on this target
        budget = round(config.budget_fraction * candidates[0].latency[target].ms, 6)
    chosen = choose(points, front, budget, config.max_drop, candidates[0].top1)
    variant, score = None, None
    if chosen is None:
        log(f"{target}: no candidate fits the {budget:g} ms budget (fastest {min(p[0] for p in points):.4g} ms)")
    else:
        c = candidates[chosen]
        variant = _variant(c, parent, target, out, budget)
        if eval_data is not None and eval_data.labels is not None:
            if c.id not in cache:
                from vitedge.models import load_model
                model = load_model(variant)
                cache[c.id] = round(top1(model.module, eval_data, model.spec), 3)
            score = cache[c.id]
    title = f"{parent.name}: sub-networks on {target}"
    obtained = candidates[0].latency[target].obtained
    plot = plot_target(out / f"{target}.png", title, points, front, chosen, 0, budget,
                       f"latency, ms ({obtained}, batch 1, FP32)", "proxy top-1, %")
    return TargetResult(target, budget, obtained, [candidates[i].id for i in front],
                        None if chosen is None else candidates[chosen].id,
                        None if variant is None else str(variant.relative_to(out)), score, plot.name)


def select_targets(candidates: list[Candidate], config: NASConfig, out: Path, parent: LoadedModel,
                   eval_data: Dataset | None) -> list[TargetResult]:
    """One TargetResult per target; candidates[0] is the parent."""
    cache: dict[str, float] = {}
    return [select_target(t, candidates, config, out, parent, eval_data, cache) for t in config.targets]
