"""NAS and distillation stages of `vitedge run`: one variant per target within its budget, distilled from the model,
each becoming a line of its own for the targets it was chosen for."""
from __future__ import annotations

from pathlib import Path

from vitedge.config import PipelineConfig
from vitedge.console import log
from vitedge.pipeline.cache import planned, run_stage
from vitedge.pipeline.line import ModelLine, line_for


def _nas_stage(config: PipelineConfig, base: ModelLine) -> tuple[dict, dict]:
    return ({**config["nas"], "targets": config["bench"]["targets"]},
            {"model": base.fingerprint, "data": base.calib_sha, "eval": base.eval_sha})


def _run_nas(config: PipelineConfig, base: ModelLine, folder: Path) -> dict:
    from vitedge import api
    from vitedge.nas import NASConfig, ProxySettings

    nas = config["nas"]
    targets = tuple(config["bench"]["targets"])
    settings = {"targets": targets, "budgets": {t: nas["budget_ms"] for t in targets}, "seed": nas["seed"]}
    if nas["max_candidates"]:
        settings["evaluations"] = nas["max_candidates"]
    if nas["proxy_steps"]:
        settings["proxy"] = ProxySettings(steps=nas["proxy_steps"])
    result = api.nas(base.source, data=base.calib, eval_data=base.eval, out=folder, config=NASConfig(**settings),
                     weights=base.weights, force=True)
    chosen = {t.target: str(folder / t.variant) for t in result.targets if t.variant}
    for t in result.targets:
        if not t.variant:
            log(f"nas: no variant of {base.source} fits {t.target}'s {t.budget_ms:g} ms budget; the model itself "
                f"goes there")
    return {"variants": chosen}


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
    return {"spec": str(folder / "student.toml"), "eval_top1": getattr(result, "eval_top1", None)}


def variant_lines(config: PipelineConfig, base: ModelLine, root: Path, dry_run: bool = False) -> list[ModelLine]:
    """Run (or reuse) NAS and distillation; one line per distinct variant, for the targets that chose it."""
    nas_config, nas_inputs = _nas_stage(config, base)
    if dry_run:
        folder, done = planned(root, "nas", nas_config, nas_inputs)
        log(f"  nas       {'cached' if done else 'to run':<7} {folder} (variants and their stages follow from it)")
        if not done:
            return []
    nas = run_stage(root, "nas", nas_config, nas_inputs, lambda folder, resume: _run_nas(config, base, folder))
    by_spec: dict[str, list[str]] = {}
    for target, spec in nas.result["variants"].items():
        by_spec.setdefault(spec, []).append(target)
    lines = []
    for spec, targets in by_spec.items():
        name = f"nas-{targets[0]}"
        stages = {"nas": nas}
        if config.enabled("distill"):
            stage_config, inputs = _distill_stage(config, base, nas.key, targets[0])
            if dry_run and not planned(root, "distill", stage_config, inputs)[1]:
                log(f"  distill   to run  {planned(root, 'distill', stage_config, inputs)[0]} ({name})")
                continue
            stages["distill"] = run_stage(root, "distill", stage_config, inputs,
                                          lambda folder, resume, s=spec: _run_distill(config, base, s, folder),
                                          label=name)
            spec = stages["distill"].result["spec"]
        line = line_for(config, name, spec, None, targets)
        line.stages.update(stages)
        lines.append(line)
    return lines
