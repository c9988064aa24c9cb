"""`vitedge run pipeline.toml`: [nas -> distill] -> export -> quantize -> validate -> bench -> bundles + report."""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from vitedge.config import PipelineConfig
from vitedge.console import log
from vitedge.lock import output_lock
from vitedge.pipeline.cache import StageRun, run_stage, stage_key
from vitedge.pipeline.line import ModelLine, describe_plan, line_for, run_line


@dataclass
class PipelineResult:
    out: Path
    lines: list[ModelLine]
    bundles: list = field(default_factory=list)  # vitedge.bundle.BundleOutcome per target
    report: Path | None = None
    stage_runs: list[StageRun] = field(default_factory=list)

    @property
    def work_done(self) -> bool:
        return any(not run.cached for run in self.stage_runs)

    @property
    def missing_bundles(self) -> list:
        return [b for b in self.bundles if not b.written]


def plan_lines(config: PipelineConfig, root: Path, dry_run: bool = False) -> tuple[list[ModelLine], list[StageRun]]:
    """The source model for every target, then one line per NAS variant for the targets it was chosen for; and the
    NAS / distillation stage runs that made them."""
    model, targets = config["model"], config["bench"]["targets"]
    base = line_for(config, "source", model["source"], model["weights"], targets)
    if not config.enabled("nas"):
        return [base], []
    from vitedge.pipeline.variants import variant_lines

    variants, runs = variant_lines(config, base, root, dry_run)
    return [base, *variants], runs


def dry_run(config: PipelineConfig) -> str:
    """The resolved plan and which stages are cached, without running anything."""
    root = Path(config.out)
    out = [f"pipeline {config.path} -> {root}"]
    for line in plan_lines(config, root, dry_run=True)[0]:
        out.append(f"{line.name}: {line.source} (model {line.fingerprint}) for {', '.join(line.targets)}")
        out += describe_plan(config, line, root)
    return "\n".join(out)


def run_pipeline(config: PipelineConfig) -> PipelineResult:
    """Run every stage under OUT, holding OUT's lock (one run per output folder)."""
    with output_lock(config.out, "run"):
        return _run_pipeline(config)


def _run_pipeline(config: PipelineConfig) -> PipelineResult:
    root = Path(config.out)
    lines, variant_runs = plan_lines(config, root)
    result = PipelineResult(root, lines, stage_runs=list(variant_runs))
    for line in lines:
        run_line(config, line, root)
        result.stage_runs += line.stages.values()
    publish = run_stage(root, "bundle", {"targets": config["bench"]["targets"]}, _bundle_inputs(lines),
                        lambda folder, resume: _bundles_and_report(config, lines, folder))
    if publish.cached and not _published_intact(root, publish.result):
        publish = _republish(config, lines, root, publish)
    result.stage_runs.append(publish)
    result.bundles = [_outcome(o) for o in publish.result["bundles"]]
    result.report = Path(publish.result["report"])
    return result


def _bundle_inputs(lines: list[ModelLine]) -> dict:
    return {line.name: {s: run.key for s, run in line.stages.items()} | {"targets": line.targets} for line in lines}


def _line_for_target(lines: list[ModelLine], target: str) -> ModelLine:
    """A NAS variant chosen for the target ships there; otherwise the source model."""
    return next((l for l in reversed(lines) if target in l.targets), lines[0])


def _bundles_and_report(config: PipelineConfig, lines: list[ModelLine], folder: Path) -> dict:
    from vitedge import api

    root = Path(config.out)
    outcomes = []
    for target in config["bench"]["targets"]:
        line = _line_for_target(lines, target)
        written = api.bundle(line.folder("quantize"), line.folder("validate"), line.folder("bench"), target,
                             out=folder / "bundles", force=True)
        outcomes += [_outcome_dict(o, line.name, root) for o in written]
    reports = {}
    for line in lines:
        md, _ = api.report(line.folder("quantize"), line.folder("validate"), line.folder("bench"),
                           out=folder / "report" / line.name, targets=",".join(line.targets), force=True)
        reports[line.name] = str(md)
    from vitedge.pipeline.index import write_index
    from vitedge.pipeline.variants import nas_summaries

    write_index(folder / "report", outcomes, reports, config["model"]["source"], nas_summaries(lines))
    _publish(folder, root)
    return {"bundles": outcomes, "report": str(root / "report" / "report.md"), "reports": reports}


def _publish(folder: Path, root: Path) -> None:
    """Replace OUT/bundles and OUT/report by the stage's fresh ones: copied beside, then swapped by renames."""
    for name in ("bundles", "report"):
        final, staged, old = root / name, root / f".{name}.new", root / f".{name}.old"
        for stale in (staged, old):
            shutil.rmtree(stale, ignore_errors=True)
        shutil.copytree(folder / name, staged)
        if final.exists():
            final.rename(old)
        staged.rename(final)
        shutil.rmtree(old, ignore_errors=True)


def _published_intact(root: Path, result: dict) -> bool:
    from vitedge.bundle import verify_bundle

    for bundle in result["bundles"]:
        if bundle["folder"] and verify_bundle(bundle["folder"]):
            return False
    return Path(result["report"]).is_file()


def _republish(config: PipelineConfig, lines: list[ModelLine], root: Path, publish: StageRun) -> StageRun:
    log("[bundle] the published bundles or report were changed or removed: publishing them again from "
        f"{publish.folder}")
    _publish(publish.folder, root)
    if not _published_intact(root, publish.result):
        from vitedge.errors import VitedgeError
        raise VitedgeError(f"the cached bundles in {publish.folder} are damaged",
                           f"delete {publish.folder} and run again")
    return publish


def _outcome_dict(outcome, line: str, root: Path) -> dict:
    """The outcome with the published paths (OUT/bundles/...), not the stage folder's."""
    published = lambda p: str(root / "bundles" / Path(p).name) if p else None
    return {"target": outcome.target, "line": line, "folder": published(outcome.folder),
            "zip": published(outcome.zip), "primary": outcome.primary,
            "artifacts": outcome.artifacts, "reason": outcome.reason}


def _outcome(d: dict):
    from vitedge.bundle import BundleOutcome

    return BundleOutcome(d["target"], Path(d["folder"]) if d["folder"] else None, Path(d["zip"]) if d["zip"] else None,
                         d["primary"], d["artifacts"], d["reason"])


__all__ = ["PipelineResult", "dry_run", "run_pipeline", "stage_key"]
