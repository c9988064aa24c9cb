"""Which artifacts a target's bundle ships, and which one is primary.

An artifact ships for a target when the target's profile runs its format and precision, it passed every gate in
validate's report, and bench.json has a latency for it on that target. The primary is the fastest of those by
measured p50 latency (measured here or on the device); when none was measured, by estimated p50. Ties go to the
smaller artifact. Every artifact of a format and precision the target runs that does not ship is listed with why.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vitedge.artifact import Artifact
from vitedge.bundle.inputs import Inputs, is_measured
from vitedge.targets.profile import TargetProfile
from vitedge.targets.ranking import noise_warning


@dataclass
class Candidate:
    artifact: Artifact
    validation: dict  # validate's report.json entry
    row: dict  # bench.json row for the target


@dataclass
class Plan:
    target: TargetProfile
    shipped: list[Candidate] = field(default_factory=list)  # primary first, then alternatives fastest first
    excluded: list[dict] = field(default_factory=list)  # {id, path, format, precision, reason}
    primary_reason: str = ""

    @property
    def primary(self) -> Candidate | None:
        return self.shipped[0] if self.shipped else None

    def why_none(self) -> str:
        """Why no bundle is written for this target (empty when one is)."""
        if self.shipped:
            return ""
        runs = f"{'/'.join(self.target.formats)} at {'/'.join(self.target.precisions)}"
        if not self.excluded:
            return f"no artifact is in a format and precision {self.target.name} runs ({runs})"
        return "no artifact passed for it: " + "; ".join(f"{e['path']}: {e['reason']}" for e in self.excluded)


def _failed_gates(entry: dict) -> str:
    failed = [g for g in entry.get("gates", []) if not g.get("passed")]
    text = ", ".join(f"{g['gate']} (measured {g['measured']}, needs {g['comparison']} {g['threshold']:g})"
                     for g in failed)
    return f"failed gate(s): {text}" if text else "failed validation"


def _reason_excluded(inputs: Inputs, target: str, artifact: Artifact) -> str | None:
    entry = inputs.validated(artifact)
    if entry is None:
        return "not validated (absent from validate's report.json)"
    if entry.get("verdict") != "pass":
        return _failed_gates(entry)
    row = inputs.bench_row(target, artifact)
    if row is None or not row.get("latency_ms_p50"):
        return f"no latency for {target} in bench.json"
    return None


def latency_rank(candidate: Candidate) -> tuple:
    """Measured before estimated, then p50 latency, then size."""
    row = candidate.row
    return (0 if is_measured(row) else 1, row["latency_ms_p50"], candidate.artifact.bytes)


def plan_target(inputs: Inputs, profile: TargetProfile) -> Plan:
    """The artifacts a bundle for `profile` ships (primary first) and those it leaves out, with reasons."""
    plan = Plan(profile)
    for artifact in inputs.artifacts:
        if artifact.format not in profile.formats or artifact.precision not in profile.precisions:
            continue
        reason = _reason_excluded(inputs, profile.name, artifact)
        if reason:
            plan.excluded.append({"id": artifact.id, "path": artifact.path, "format": artifact.format,
                                  "precision": artifact.precision, "reason": reason})
        else:
            plan.shipped.append(Candidate(artifact, inputs.validated(artifact),
                                          inputs.bench_row(profile.name, artifact)))
    plan.shipped.sort(key=latency_rank)
    if plan.shipped:
        row = plan.shipped[0].row
        basis = f"measured p50 latency ({row['obtained']})" if is_measured(row) else \
            "estimated p50 latency (no artifact was measured for this target)"
        plan.primary_reason = f"fastest of {len(plan.shipped)} artifact(s) that passed every gate, by {basis}"
        warning = noise_warning(row)
        if warning:
            plan.primary_reason += f"; NOT a reliable ranking: {warning}"
    return plan
