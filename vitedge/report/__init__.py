"""`vitedge report`: report.md and a self-contained report.html with the benchmark table and, per target, a Pareto
plot of accuracy against latency (plots/<target>.png) marking the shipped artifact and the SAM3-on-T4 baseline.

    from vitedge.report import write_report
    md, page = write_report("runs/quant", "runs/validate", "runs/bench", ["x86-cpu"], "runs/report")
"""
from __future__ import annotations

from pathlib import Path

from vitedge.bundle.inputs import load_inputs
from vitedge.bundle.write import plan_bundles
from vitedge.errors import OutputExistsError
from vitedge.fileio import write_bytes_atomic, write_text_atomic
from vitedge.paths import safe_name

__all__ = ["write_report"]



def _check_files(inputs) -> None:
    """The report's figures describe the recorded files: a file changed since (or missing) is refused."""
    from vitedge.validate.run import ArtifactIntegrityError

    for artifact in inputs.artifacts:
        problem = artifact.verify(inputs.root)
        if problem:
            raise ArtifactIntegrityError(f"artifact {artifact.path} ({artifact.format} {artifact.precision}): "
                                         f"{problem}", "the figures describe the recorded file; re-run quantize, "
                                         "validate and bench for the changed artifact")


def write_report(artifacts: str | Path, validation: str | Path, bench: str | Path, targets: list[str] | None = None,
                 out: str | Path = "runs/report", force: bool = False) -> tuple[Path, Path]:
    """Write OUT/report.md, OUT/report.html and OUT/plots/<target>.png; returns (report.md, report.html)."""
    from vitedge.report.data import report_data
    from vitedge.report.plot import pareto_png
    from vitedge.report.render import html_page, markdown

    out = Path(out)
    md_path, html_path = out / "report.md", out / "report.html"
    if (md_path.exists() or html_path.exists()) and not force:
        raise OutputExistsError(f"{out} already holds a report", "pass --force or another --out")
    inputs = load_inputs(artifacts, validation, bench)
    _check_files(inputs)
    report = report_data(inputs, plan_bundles(inputs, targets))
    images = {}
    for section in report.sections:
        images[section.name] = pareto_png(section, report.baseline)
        section.plot = f"plots/{safe_name(section.name, 'the target name')}.png"
        write_bytes_atomic(out / section.plot, images[section.name])
    write_text_atomic(md_path, markdown(report))
    write_text_atomic(html_path, html_page(report, images))
    return md_path, html_path
