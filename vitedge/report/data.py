"""What the report shows: one row per bench.json row, joined with validate's verdict and the bundle choice."""
from __future__ import annotations

from dataclasses import dataclass, field

from vitedge.bundle.inputs import Inputs
from vitedge.bundle.select import Plan
from vitedge.targets.bench import computes_in, precision_label


@dataclass
class Row:
    target: str
    format: str
    precision: str
    scheme: str
    path: str
    bytes: int
    top1: float | None  # validate's top-1 (else None)
    agreement: float | None  # validate's top-1 agreement with the FP32 reference
    drop_pp: float | None  # validate's top-1 drop
    verdict: str  # pass | fail | not validated
    p50: float | None
    p90: float | None
    obtained: str  # measured here | measured on device | estimated
    basis: str
    speedup: float | None
    role: str = ""  # primary | alternative | "" (not shipped)
    cosine: float | None = None  # validate's mean output cosine: a non-classifier's figure instead of top-1
    pixels: float | None = None  # validate's pixel agreement of a map

    @property
    def estimated(self) -> bool:
        return self.obtained == "estimated"


@dataclass
class TargetSection:
    name: str
    title: str
    rows: list[Row]
    shipped: Row | None
    why_none: str  # why no bundle, when shipped is None
    primary_reason: str = ""
    plot: str = ""  # file name of the Pareto plot, relative to the report folder


@dataclass
class ReportData:
    model: dict
    data: dict | None
    gates: list[dict]
    baseline: dict
    sections: list[TargetSection] = field(default_factory=list)


def _row(inputs: Inputs, bench_row: dict, plan: Plan) -> Row:
    artifact = next(a for a in inputs.artifacts if a.path == bench_row["path"])
    entry = inputs.validated(artifact) or {}
    metrics = entry.get("metrics", {})
    roles = {c.artifact.path: ("primary" if i == 0 else "alternative") for i, c in enumerate(plan.shipped)}
    precision = precision_label(bench_row["precision"], computes_in(bench_row.get("details")))
    return Row(bench_row["target"], bench_row["format"], precision, bench_row["scheme"],
               bench_row["path"], bench_row["bytes"], metrics.get("top1"), metrics.get("top1_agreement"),
               metrics.get("top1_drop_pp"), entry.get("verdict", "not validated"), bench_row["latency_ms_p50"],
               bench_row["latency_ms_p90"], bench_row["obtained"], bench_row["basis"],
               bench_row["speedup_vs_baseline"], roles.get(bench_row["path"], ""), metrics.get("mean_cosine"),
               metrics.get("pixel_agreement"))


def report_data(inputs: Inputs, plans: list[Plan]) -> ReportData:
    """Sections in the order of `plans`; figures copied from the documents."""
    report = ReportData(inputs.quant["model"], inputs.validation.get("data"), inputs.validation.get("gates", []),
                        inputs.bench["baseline"])
    for plan in plans:
        name = plan.target.name
        rows = [_row(inputs, r, plan) for r in inputs.bench["rows"] if r["target"] == name]
        shipped = next((r for r in rows if r.role == "primary"), None)
        report.sections.append(TargetSection(name, plan.target.title, rows, shipped, plan.why_none(),
                                             plan.primary_reason))
    return report
