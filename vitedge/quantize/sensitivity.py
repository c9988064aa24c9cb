"""Accuracy-aware fallback: rank layer groups by how much keeping them in float helps, and keep the most
sensitive in float until the accuracy drop is within bounds (NNCF's accuracy control, for every backend).

Sensitivity of a group = error on calibration images of the fully quantized model minus the error with only that
group in float. Groups are transformer blocks (`blocks.N`), the patch embedding and the head.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vitedge.console import log
from vitedge.quantize.gate import QuantGate
from vitedge.quantize.scheme import Scheme

BLOCK = re.compile(r"blocks[./_](\d+)")
Attempt = Callable[[Scheme, bool], tuple[Path, dict | None]]  # (scheme, evaluate?) -> (artifact, evaluation)


def group_of(layer: str) -> str:
    match = BLOCK.search(layer)
    if match:
        return f"blocks.{match.group(1)}"
    name = layer.replace("__module.", "").lstrip("/")
    return re.split(r"[./:]", name, maxsplit=1)[0] or layer


def group_layers(layers: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for layer in layers:
        groups.setdefault(group_of(layer), []).append(layer)
    return groups


@dataclass
class FallbackResult:
    path: Path
    evaluation: dict
    scheme: Scheme
    met: bool
    steps: list[dict] = field(default_factory=list)  # one per attempt: groups kept in float, top-1, drop
    sensitivity: dict[str, float] = field(default_factory=dict)  # group -> calibration error removed
    float_ops: list[str] = field(default_factory=list)  # op-level fallback: the ops kept in float, by label
    float_mac_share: float | None = None  # op-level fallback: share of the weight-op MACs run in float


def _step(kept: list[str], evaluation: dict, path: Path) -> dict:
    return {"float_groups": list(kept), "top1": evaluation["top1"], "drop_pp": evaluation["drop_pp"],
            "agreement": evaluation.get("top1_agreement"),
            "min_cosine": evaluation["min_cosine"], "bytes": sum(f.stat().st_size for f in path.parent.iterdir())}


def rank_groups(attempt: Attempt, probe: Callable[[Path], float], scheme: Scheme, groups: dict[str, list[str]],
                base_error: float) -> dict[str, float]:
    """Calibration error removed by keeping each group in float, most helpful first."""
    gains = {}
    for index, (group, layers) in enumerate(groups.items(), 1):
        path, _ = attempt(scheme.with_float(layers), False)
        gains[group] = base_error - probe(path)
        log(f"  sensitivity {index}/{len(groups)}: {group} in float removes {gains[group]:.2e} of {base_error:.2e}")
    return dict(sorted(gains.items(), key=lambda item: -item[1]))


def accuracy_aware(attempt: Attempt, probe: Callable[[Path], float], scheme: Scheme, layers: list[str],
                   gate: QuantGate) -> FallbackResult:
    """Quantize; while `gate` fails, keep the next most sensitive group in float and retry."""
    path, evaluation = attempt(scheme, True)
    result = FallbackResult(path, evaluation, scheme, gate.holds(evaluation), [_step([], evaluation, path)])
    if result.met or evaluation["drop_pp"] is None:
        return result
    log(f"  gate ({gate.describe()}) not met: ranking layer groups by sensitivity")
    groups = group_layers(layers)
    result.sensitivity = rank_groups(attempt, probe, scheme, groups, probe(path))
    kept: list[str] = []
    for group in result.sensitivity:
        kept.append(group)
        candidate = scheme.with_float([layer for g in kept for layer in groups[g]])
        path, evaluation = attempt(candidate, True)
        result.steps.append(_step(kept, evaluation, path))
        log(f"  + {group} in float: top-1 {100 * evaluation['top1']:.2f}%, drop {evaluation['drop_pp']:.2f} pp")
        if evaluation["drop_pp"] < result.evaluation["drop_pp"] or gate.holds(evaluation):
            result.path, result.evaluation, result.scheme = path, evaluation, candidate
        if gate.holds(evaluation):
            result.met = True
            break
    return result
