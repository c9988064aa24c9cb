"""NAS (and optional distillation) stages of `vitedge run`: the model is trained once as a supernet, one
sub-network is picked per target, and each distinct pick becomes a model line for the targets that chose it."""
from __future__ import annotations

from pathlib import Path

from vitedge.config import PipelineConfig
from vitedge.console import log
from vitedge.pipeline.cache import StageRun, planned, run_stage
from vitedge.pipeline.line import ModelLine, line_for


def nas_targets(config: PipelineConfig) -> list[str]:
    return config["nas"]["targets"] or config["bench"]["targets"]


def nas_settings(config: PipelineConfig):
    """The NASConfig of the pipeline's [nas] section."""
    from vitedge.nas.run import NASConfig
    from vitedge.nas.supernet import SupernetSettings

    nas = config["nas"]
    targets = tuple(nas_targets(config))
    return NASConfig(targets=targets, budgets={t: nas["budget_ms"] for t in targets} if nas["budget_ms"] else {},
                     budget_fraction=nas["budget_fraction"], min_speedup=nas["min_speedup"],
                     max_drop=nas["max_drop"], min_agreement=nas["min_agreement"],
                     supernet=SupernetSettings(epochs=nas["epochs"], batch_size=nas["batch_size"], lr=nas["lr"],
                                               seed=nas["seed"]),
                     screen=nas["screen"], finalists=nas["finalists"], merge=nas["merge"],
                     merge_every=nas["merge_every"], seed=nas["seed"],
                     threads=config["bench"]["threads"])


def _nas_stage(config: PipelineConfig, base: ModelLine) -> tuple[dict, dict]:
    return ({**config["nas"], "targets": nas_targets(config), "threads": config["bench"]["threads"]},
            {"model": base.fingerprint, "data": base.calib_sha, "eval": base.eval_sha})


def _run_nas(config: PipelineConfig, base: ModelLine, folder: Path) -> dict:
    from vitedge import api
    from vitedge.nas.report import summary_line

    result = api.nas(base.source, data=base.calib, eval_data=base.eval, out=folder, config=nas_settings(config),
                     weights=base.weights, force=True)
    targets = {}
    for p in result.picks:
        spec = result.variants.get(p.target)
        targets[p.target] = {"variant": str(folder / spec) if spec else None,
                             "id": p.pick.sub.key if p.pick else None, "summary": summary_line(p),
                             "reason": p.reason}
        if not spec:
            log(f"nas: {p.target} keeps the model itself: {p.reason}")
    return {"targets": targets, "nas_json": str(folder / "nas.json")}


def _run_distill(config: PipelineConfig, base: ModelLine, student: str, folder: Path) -> dict:
    from vitedge import api
    from vitedge.distill import DistillConfig

    d = config["distill"]
    settings = DistillConfig(epochs=d["epochs"], batch_size=d["batch_size"], lr=d["lr"], temperature=d["temperature"],
                             alpha=d["alpha"], hard_distill=d["hard"], seed=d["seed"])
    result = api.distill(base.source, student, data=base.calib, eval_data=base.eval, out=folder, config=settings,
                         teacher_weights=base.weights)
    return {"spec": str(folder / "student.toml"), "eval_top1": result.eval_top1, "teacher_top1": result.teacher_top1}


def _polished(config: PipelineConfig, base: ModelLine, root: Path, nas: StageRun, pick: str, spec: str,
              name: str, dry_run: bool) -> tuple[str | None, StageRun | None]:
    """The pick after [distill] (its spec and stage), or (None, None) when a dry run has not distilled it yet."""
    inputs = {"teacher": base.fingerprint, "nas": nas.key, "variant": pick, "data": base.calib_sha,
              "eval": base.eval_sha}
    if dry_run and not planned(root, "distill", config["distill"], inputs)[1]:
        log(f"  distill   to run  {planned(root, 'distill', config['distill'], inputs)[0]} ({name})")
        return None, None
    run = run_stage(root, "distill", config["distill"], inputs,
                    lambda folder, resume: _run_distill(config, base, spec, folder), label=name)
    return run.result["spec"], run


def variant_lines(config: PipelineConfig, base: ModelLine, root: Path, dry_run: bool = False
                  ) -> tuple[list[ModelLine], list[StageRun]]:
    """Run (or reuse) NAS and [distill]; one line per distinct pick, for the targets that chose it; and the stage
    runs. Targets whose search kept the parent stay on the base line."""
    nas_config, nas_inputs = _nas_stage(config, base)
    if dry_run:
        folder, done = planned(root, "nas", nas_config, nas_inputs)
        log(f"  nas       {'cached' if done else 'to run':<7} {folder} (variants and their stages follow from it)")
        if not done:
            return [], []
    nas = run_stage(root, "nas", nas_config, nas_inputs, lambda folder, resume: _run_nas(config, base, folder))
    base.stages["nas"] = nas  # the report says what the search picked, even when every target keeps the model
    by_pick: dict[str, list[str]] = {}
    for target, chosen in nas.result["targets"].items():
        if chosen["variant"]:
            by_pick.setdefault(chosen["id"], []).append(target)
    lines, runs = [], [nas]
    for pick, targets in by_pick.items():
        name, spec = f"nas-{pick}", nas.result["targets"][targets[0]]["variant"]
        stages = {"nas": nas}
        if config.enabled("distill"):
            spec, run = _polished(config, base, root, nas, pick, spec, name, dry_run)
            if run is None:
                continue
            stages["distill"] = run
            runs.append(run)
        line = line_for(config, name, spec, None, targets, parent=base)
        line.stages.update(stages)
        lines.append(line)
    return lines, runs


def nas_summaries(lines: list[ModelLine]) -> list[str]:
    """What the search picked per target (or why the model itself stays), for the pipeline report."""
    nas = next((line.stages["nas"] for line in lines if "nas" in line.stages), None)
    if nas is None:
        return []
    return [chosen["summary"] for chosen in nas.result["targets"].values()]
