"""What `vitedge run` prints at the end: stage work done or reused, bundles written or why not, the report."""
from __future__ import annotations

from vitedge.pipeline.run import PipelineResult


def summary(result: PipelineResult) -> str:
    runs = list({r.folder: r for r in result.stage_runs}.values())
    ran = [r for r in runs if not r.cached]
    lines = [f"stages: {len(ran)} run, {len(runs) - len(ran)} cached"
             + ("" if ran else " (nothing changed: no stage work done)")]
    for bundle in result.bundles:
        if bundle.written:
            lines.append(f"bundle {bundle.target}: {bundle.folder} (+ {bundle.zip.name if bundle.zip else 'no zip'}), "
                         f"ships {bundle.primary}")
        else:
            lines.append(f"bundle {bundle.target}: NOT written: {bundle.reason}")
    if result.report:
        lines.append(f"report: {result.report} and {result.report.with_suffix('.html')}")
    return "\n".join(lines)
