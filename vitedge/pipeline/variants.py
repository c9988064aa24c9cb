"""NAS and distillation stages of `vitedge run`: one variant per target within its budget, distilled from the model,
each becoming a line of its own for the targets it was chosen for."""
from __future__ import annotations

from pathlib import Path

from vitedge.config import PipelineConfig
from vitedge.console import log
from vitedge.pipeline.cache import StageRun, planned, run_stage
from vitedge.pipeline.line import ModelLine, line_for


def nas_targets(config: PipelineConfig) -> list[str]:
    return config["nas"]["targets"] or config["bench"]["targets"]


def _nas_stage(config: PipelineConfig, base: ModelLine) -> tuple[dict, dict]:
    return ({**config["nas"], "targets": nas_targets(config)},
            {"model": base.fingerprint, "data": base.calib_sha, "eval": base.eval_sha})


def _run_nas(config: PipelineConfig, base: ModelLine, folder: Path) -> dict:
    from vitedge import api
    from vitedge.nas import NASConfig, ProxySettings

    nas = config["nas"]
    targets = tuple(nas_targets(config))
    budgets = {t: nas["budget_ms"] for t in targets} if nas["budget_ms"] is not None else {}
    settings = {"targets": targets, "budgets": budgets, "budget_fraction": nas["budget_fraction"], "seed": nas["seed"],
                "evaluations": nas["candidates"], "max_drop": nas["max_drop"],
                "proxy": ProxySettings(steps=nas["proxy_steps"], seed=nas["seed"])}
    result = api.nas(base.source, data=base.calib, eval_data=base.eval, out=folder, config=NASConfig(**settings),
                     weights=base.weights, force=True)
    chosen = {t.target: str(folder / t.variant) for t in result.targets if t.variant}
    top1 = {t.target: t.eval_top1 for t in result.targets if t.variant}
    for t in result.targets:
        if not t.variant:
            log(f"nas: no variant of {base.source} fits {t.target}'s {t.budget_ms:g} ms budget; the model itself "
                f"goes there")
    return {"variants": chosen, "eval_top1": top1, "parent_eval_top1": result.parent_eval_top1}


def _distill_stage(config: PipelineConfig, base: ModelLine, nas_key: str, target: str) -> tuple[dict, dict]:
    return config["distill"], {"teacher": base.fingerprint, "nas": nas_key, "variant": target,
                               "data": base.calib_sha, "eval": base.eval_sha}


def _run_distill(config: PipelineConfig, base: ModelLine, student: str, folder: Path) -> dict:
    from vitedge import api
    from vitedge.distill import DistillConfig

    d = config["distill"]
    settings = DistillConfig(epochs=d["epochs"], batch_size=d["batch_size"], lr=d["lr"], temperature=d["temperature"],
                             alpha=d["alpha"], hard_distill=d["hard"], seed=d["seed"])
    result = api.distill(base.source, student, data=base.calib, eval_data=base.eval, out=folder, config=settings,
                         teacher_weights=base.weights)
    return {"spec": str(folder / "student.toml"), "eval_top1": result.eval_top1, "teacher_top1": result.teacher_top1}


def _close_enough(config: PipelineConfig, name: str, top1: float | None, parent_top1: float | None) -> bool:
    """A variant replaces the model on its targets only within [nas] max_drop of the model's FP32 top-1."""
    limit = config["nas"]["max_drop"]
    if top1 is None or parent_top1 is None or parent_top1 - top1 <= limit:
        return True
    log(f"{name}: FP32 top-1 {top1:.2f}% is {parent_top1 - top1:.2f} pp below the model's {parent_top1:.2f}% "
        f"(more than [nas] max_drop {limit:g}): its targets get the model itself")
    return False


def variant_lines(config: PipelineConfig, base: ModelLine, root: Path, dry_run: bool = False
                  ) -> tuple[list[ModelLine], list[StageRun]]:
    """Run (or reuse) NAS and distillation; one line per distinct variant, for the targets that chose it; and the
    stage runs (a variant too far below the model gets no line, but its stages ran)."""
    nas_config, nas_inputs = _nas_stage(config, base)
    if dry_run:
        folder, done = planned(root, "nas", nas_config, nas_inputs)
        log(f"  nas       {'cached' if done else 'to run':<7} {folder} (variants and their stages follow from it)")
        if not done:
            return [], []
    nas = run_stage(root, "nas", nas_config, nas_inputs, lambda folder, resume: _run_nas(config, base, folder))
    by_spec: dict[str, list[str]] = {}
    for target, spec in nas.result["variants"].items():
        by_spec.setdefault(spec, []).append(target)
    lines, runs = [], [nas]
    for spec, targets in by_spec.items():
        name = f"nas-{targets[0]}"
        stages = {"nas": nas}
        top1 = nas.result["eval_top1"].get(targets[0])
        if config.enabled("distill"):
            stage_config, inputs = _distill_stage(config, base, nas.key, targets[0])
            if dry_run and not planned(root, "distill", stage_config, inputs)[1]:
                log(f"  distill   to run  {planned(root, 'distill', stage_config, inputs)[0]} ({name})")
                continue
            stages["distill"] = run_stage(root, "distill", stage_config, inputs,
                                          lambda folder, resume, s=spec: _run_distill(config, base, s, folder),
                                          label=name)
            runs.append(stages["distill"])
            spec, top1 = stages["distill"].result["spec"], stages["distill"].result["eval_top1"]
        if not _close_enough(config, name, top1, nas.result["parent_eval_top1"]):
            continue
        line = line_for(config, name, spec, None, targets, parent=base)
        line.stages.update(stages)
        lines.append(line)
    return lines, runs
