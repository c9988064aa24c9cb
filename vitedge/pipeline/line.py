"""One model through export -> quantize -> validate -> bench, each stage cached by what went into it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vitedge.config import PipelineConfig
from vitedge.fileio import sha256_file
from vitedge.pipeline.cache import StageRun, planned, run_stage


@dataclass
class ModelLine:
    """A model the pipeline takes to the targets: the source model, or a variant NAS derived for some targets."""

    name: str
    source: str
    weights: str | None
    fingerprint: str
    calib: str | None
    calib_sha: str
    eval: str | None
    eval_sha: str
    targets: list[str]
    stages: dict[str, StageRun] = field(default_factory=dict)

    def folder(self, stage: str) -> Path:
        return self.stages[stage].folder


def line_for(config: PipelineConfig, name: str, source: str, weights: str | None, targets: list[str],
             parent: ModelLine | None = None) -> ModelLine:
    """Load the model and the data at its input geometry, for the identities the cache keys need. A variant takes
    the data of its `parent` line (whose built-in sets apply when [data] names none)."""
    from vitedge import api
    from vitedge.data.defaults import default_data
    from vitedge.models import load_model

    model = load_model(source, weights=weights)
    if model.onnx_path:
        check_onnx_line(config, targets)
    data = config["data"]
    calib_arg = parent.calib if parent else data["calib"] or default_data(model.name, "calib")
    eval_arg = parent.eval if parent else data["eval"] or default_data(model.name, "eval")
    calib = api._data_for(model, calib_arg, "calib", data["calib_samples"], "[data] calib")
    evaluation = api._data_for(model, eval_arg, "eval", data["eval_samples"], "[data] eval")
    return ModelLine(name, source, weights, model.fingerprint(), calib_arg, calib.sha256(), eval_arg,
                     evaluation.sha256(), targets)


def check_onnx_line(config: PipelineConfig, targets: list[str]) -> None:
    """An ONNX source: no NAS, and every target must run a format made from ONNX (TFLite is not)."""
    from vitedge.config import ConfigError
    from vitedge.export.run import NO_TFLITE_FROM_ONNX
    from vitedge.targets.profile import get_target

    if config.enabled("nas") or config.enabled("distill"):
        raise ConfigError(f"{config.path}: [nas] / [distill] need the PyTorch model, and [model] source is an ONNX "
                          "file", "remove [nas] / [distill], or give the model as a name + weights or a spec")
    made = set(config["export"]["formats"]) - {"tflite"}
    for name in targets:
        if not made & set(get_target(name).formats):
            raise ConfigError(f"{config.path}: target {name} runs {', '.join(get_target(name).formats)} only, and "
                              f"{NO_TFLITE_FROM_ONNX}", f"remove {name} from [bench] targets, or give the model as "
                              "a name + weights or a spec")


def _gates_identity(config: PipelineConfig) -> str:
    """The gates file's hash, or the default gates themselves: a validation cached under other gates is stale."""
    from vitedge.validate.gates import DEFAULT_GATES

    gates = config["validate"]["gates"]
    if not gates:
        return "defaults: " + "; ".join(f"{g.name}{' (optional)' if g.optional else ''}" for g in DEFAULT_GATES)
    return sha256_file(gates) if Path(gates).is_file() else gates


def stage_plan(config: PipelineConfig, line: ModelLine) -> list[tuple[str, dict, dict]]:
    """(stage, config, inputs) of each stage of the line; each stage's inputs name the key of the one before."""
    from vitedge.pipeline.cache import stage_key

    export = ("export", config["export"], {"model": line.fingerprint, "parity_data": line.eval_sha})
    quantize = ("quantize", {k: v for k, v in config["quantize"].items()} | {"samples": config["data"]["calib_samples"]},
                {"export": stage_key(*export), "calib": line.calib_sha, "eval": line.eval_sha})
    validate = ("validate", {"gates": _gates_identity(config)}, {"quantize": stage_key(*quantize), "eval": line.eval_sha})
    bench = ("bench", {"targets": line.targets, "threads": config["bench"]["threads"]},
             {"quantize": stage_key(*quantize)})
    return [export, quantize, validate, bench]


def describe_plan(config: PipelineConfig, line: ModelLine, root: Path) -> list[str]:
    lines = []
    for stage, stage_config, inputs in stage_plan(config, line):
        folder, done = planned(root, stage, stage_config, inputs)
        lines.append(f"  {stage:<9} {'cached' if done else 'to run':<7} {folder}")
    return lines


def run_line(config: PipelineConfig, line: ModelLine, root: Path) -> ModelLine:
    """Run (or reuse) every stage of the line; a stage that raises stops the run with its own clear error."""
    work = {"export": _export, "quantize": _quantize, "validate": _validate, "bench": _bench}
    for stage, stage_config, inputs in stage_plan(config, line):
        line.stages[stage] = run_stage(root, stage, stage_config, inputs,
                                       lambda folder, resume, s=stage: work[s](config, line, folder, resume),
                                       label=line.name)
    return line


def _export(config: PipelineConfig, line: ModelLine, folder: Path, resume: bool) -> dict:
    from vitedge import api

    result = api.export(line.source, formats=",".join(config["export"]["formats"]), out=folder, weights=line.weights,
                        data=line.eval, samples=config["data"]["eval_samples"], resume=True)
    return {"artifacts": [a.path for a in result.artifacts]}


def _quantize(config: PipelineConfig, line: ModelLine, folder: Path, resume: bool) -> dict:
    from vitedge import api

    q = config["quantize"]
    result = api.quantize(str(line.folder("export")), formats=",".join(config["export"]["formats"]),
                          precisions=",".join(q["precisions"]), int8_modes=",".join(q["int8"]),
                          calibration_method=q["calibration_method"], per_channel=q["per_channel"],
                          smoothquant=q["smoothquant"], calib=line.calib,
                          calib_samples=config["data"]["calib_samples"], eval_data=line.eval,
                          eval_samples=config["data"]["eval_samples"], max_drop=q["max_drop"],
                          min_agreement=q["min_agreement"], out=folder,
                          weights=line.weights, resume=True)
    return {"artifacts": [a.path for a in result.artifacts], "not_met": result.failures}


def _validate(config: PipelineConfig, line: ModelLine, folder: Path, resume: bool) -> dict:
    from vitedge import api

    validation, reports = api.validate(line.folder("quantize"), data=line.eval, gates=config["validate"]["gates"],
                                       report=folder, samples=config["data"]["eval_samples"], weights=line.weights,
                                       force=True)
    failed = [r.artifact.path for r in validation.reports if not r.passed]
    return {"passed": validation.passed, "failed": failed, "reports": [str(p) for p in reports]}


def _bench(config: PipelineConfig, line: ModelLine, folder: Path, resume: bool) -> dict:
    from vitedge import api

    result = api.bench(line.folder("quantize"), targets=",".join(line.targets), threads=config["bench"]["threads"],
                       data=line.eval, out=folder, force=True)
    return {"rows": len(result.rows), "scripts": [str(s) for s in result.scripts]}
