"""Which knob values make a target faster: the parent with one knob changed, timed (or estimated) per target.

A value whose single-knob sub-network is not faster than the parent on a target by at least MIN_GAIN (and, when
measured, with the lower end of its interval above 1) is dropped from that target's space: e.g. a resolution
whose token count the CPU kernels handle no faster. The same measurements, plus a few random combinations,
calibrate the per-target latency model (cost.py) that ranks the whole space before the finalists are timed.
"""
from __future__ import annotations

import random

from vitedge.nas.cost import LatencyModel
from vitedge.nas.latency import Timing
from vitedge.nas.space import KNOBS, SearchSpace
from vitedge.nas.subnet import SubnetConfig, subnet_architecture

MIN_GAIN = 1.03  # a knob value must make the target at least 3% faster


def single_knob_configs(space: SearchSpace) -> dict[tuple[str, int], SubnetConfig]:
    """(knob, value) -> the parent with only that knob changed, for every non-parent value."""
    full = space.largest()
    values = {"depth": full.depth, **{k: getattr(full, k) for k in KNOBS if k != "depth"}}
    out = {}
    for knob in KNOBS:
        for value in getattr(space, knob):
            if value != values[knob]:
                out[(knob, value)] = space.config(**{**values, knob: value})
    return out


def calibration_configs(space: SearchSpace, rng: random.Random, extra: int) -> list[SubnetConfig]:
    """The single-knob configurations, the smallest, and `extra` random combinations."""
    picks = list(single_knob_configs(space).values()) + [space.smallest()]
    picks += [space.sample(rng) for _ in range(extra)]
    return list(dict.fromkeys(picks))


def faster(timing: Timing) -> bool:
    low = timing.details.get("ratio_low")
    return timing.speedup >= MIN_GAIN and (low is None or low > 1.0)


MONOTONE = ("resolution", "depth")  # fewer tokens or blocks is always less work: a kept value keeps the milder ones


def prune(space: SearchSpace, timings: dict[SubnetConfig, dict[str, Timing]], target: str) -> tuple[SearchSpace, dict]:
    """The target's space (knob values that make it faster) and, per knob value, its speed-up and verdict. For
    resolution and depth, a value milder than a kept one stays too (a lone slow reading there is noise)."""
    kept: dict[str, list[int]] = {k: [] for k in KNOBS}
    effects = {}
    for (knob, value), sub in single_knob_configs(space).items():
        timing = timings[sub][target]
        effects[f"{knob}={value}"] = {"speedup": timing.speedup, "kept": faster(timing)}
        if faster(timing):
            kept[knob].append(value)
    for knob in MONOTONE:
        values = getattr(space, knob)  # largest first
        if kept[knob]:
            boldest = max(values.index(v) for v in kept[knob])
            for value in values[1:boldest + 1]:
                if value not in kept[knob]:
                    kept[knob].append(value)
                    effects[f"{knob}={value}"]["kept"] = "between kept values"
    return space.restrict(**{k: tuple(v) for k, v in kept.items()}), effects


def fit_models(space: SearchSpace, timings: dict[SubnetConfig, dict[str, Timing]], targets: list[str]
               ) -> dict[str, LatencyModel]:
    """Per target, the latency model fitted on every configuration timed or estimated there."""
    configs = list(timings)
    archs = [subnet_architecture(space.parent, c) for c in configs]
    return {t: LatencyModel.fit(archs, [timings[c][t].ms for c in configs]) for t in targets}


def predict(space: SearchSpace, model: LatencyModel, sub: SubnetConfig) -> float:
    return model.predict(subnet_architecture(space.parent, sub))



def recoverable(space: SearchSpace, evaluate, images: int, floor: float) -> tuple[dict[str, tuple[int, ...]], dict]:
    """Per knob, the values whose single-knob sub-network keeps at least `floor` % agreement with the parent before
    any training (`evaluate(sub, count)` -> figures); and each value's zero-shot agreement. A value that destroys
    the pretrained function is not bought back by a short fine-tune on few images."""
    kept: dict[str, list[int]] = {k: [] for k in KNOBS}
    zero_shot = {}
    for (knob, value), sub in single_knob_configs(space).items():
        agreement = evaluate(sub, images)["agreement"]
        zero_shot[f"{knob}={value}"] = agreement
        if agreement >= floor:
            kept[knob].append(value)
    return {k: tuple(v) for k, v in kept.items()}, zero_shot
