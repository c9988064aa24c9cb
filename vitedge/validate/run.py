"""`vitedge validate`: run every artifact in its own runtime on held-out data, measure drift, apply the gates."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vitedge.artifact import Artifact, read_artifacts_file
from vitedge.console import log
from vitedge.data import Dataset
from vitedge.data.overlap import image_hashes
from vitedge.errors import DataError, VitedgeError
from vitedge.export.base import EXPORTERS, open_artifact
from vitedge.export.run import reference_logits
from vitedge.models.loaded import LoadedModel
from vitedge.schema import ARTIFACT_FORMATS, ARTIFACT_PRECISIONS
from vitedge.validate.gates import Gate, check_coverage
from vitedge.validate.metrics import all_metrics
from vitedge.versions import tool_versions

BATCH = 256


class ArtifactIntegrityError(VitedgeError):
    """An artifact file missing or not matching its recorded sha256."""


@dataclass
class ArtifactReport:
    artifact: Artifact
    runtime: str
    executed_precision: str
    metrics: dict
    checks: list[dict] = field(default_factory=list)  # one per applicable gate: gate, value, threshold, passed

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks)


@dataclass
class Validation:
    reports: list[ArtifactReport]
    gates: tuple[Gate, ...]
    data: dict
    reference: dict
    warnings: list[str]
    skipped: list[Gate] = field(default_factory=list)  # optional gates that selected no artifact

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.reports)


def load_artifacts(path: Path, formats: list[str] | None, precisions: list[str] | None) -> tuple[list[Artifact], Path]:
    """Artifacts of an artifacts.json (or its folder), filtered, each checked against its recorded hashes."""
    _check_names("--formats", formats, ARTIFACT_FORMATS)
    _check_names("--precisions", precisions, ARTIFACT_PRECISIONS)
    path = path / "artifacts.json" if path.is_dir() else path
    if not path.is_file():
        raise VitedgeError(f"{path} not found", "pass the artifacts.json written by export or quantize")
    root = path.parent
    recorded = read_artifacts_file(path)["artifacts"]
    chosen = [a for a in recorded
              if (not formats or a.format in formats) and (not precisions or a.precision in precisions)]
    if not chosen:
        present = sorted({f"{a.format} {a.precision}" for a in recorded})
        raise VitedgeError(f"{path}: no artifact matches --formats {','.join(formats or ['any'])} / --precisions "
                           f"{','.join(precisions or ['any'])}",
                           f"it holds: {', '.join(present) or 'no artifacts'}; choose among those")
    for artifact in chosen:
        problem = artifact.verify(root)
        if problem:
            raise ArtifactIntegrityError(f"artifact {artifact.path} ({artifact.format} {artifact.precision}): "
                                         f"{problem}",
                                         "the file was changed or removed after it was recorded; re-create it")
    return chosen, root


def _check_names(flag: str, names: list[str] | None, allowed: tuple[str, ...]) -> None:
    unknown = [n for n in names or [] if n not in allowed]
    if unknown:
        raise VitedgeError(f"{flag}: unknown name(s) {', '.join(map(repr, unknown))}",
                           f"allowed values: {', '.join(allowed)} (comma-separated, lowercase)")


def check_inputs(artifacts: list[Artifact], model: LoadedModel, data: Dataset, allow_overlap: bool) -> None:
    """Shape agreement and held-out discipline (no calibration image in the evaluation data)."""
    for artifact in artifacts:
        shape = artifact.inputs[0]["shape"][1:] if artifact.inputs else None
        if shape and list(shape) != list(model.spec.input_size):
            raise DataError(f"artifact {artifact.path} takes inputs of shape {shape}, but the reference model and the "
                            f"data are {list(model.spec.input_size)}", "pass the --reference the artifact came from")
    if allow_overlap:
        return
    evaluation = image_hashes(data)
    for artifact in artifacts:
        calibration = ((artifact.quantization or {}).get("calibration") or {}).get("image_hashes") or []
        shared = len(evaluation & set(calibration))
        if shared:
            raise DataError(f"{shared} evaluation image(s) of {data.source} were used to calibrate {artifact.path}",
                            "evaluate on held-out images, or pass --allow-overlap")


def validate(artifacts: list[Artifact], root: Path, model: LoadedModel, data: Dataset, gates: tuple[Gate, ...],
             threads: int | None = None, full_precision: bool = False) -> Validation:
    check_coverage(gates, artifacts, None)
    threads = threads or os.cpu_count() or 1
    log(f"reference: {model.reference_runtime} FP32 {model.name} on {len(data)} images from {data.source}")
    reference = reference_logits(model, data.batches(model.spec, BATCH))
    reports, unmeasured = [], set()
    for artifact in artifacts:
        log(f"{artifact.format} {artifact.precision}: running {artifact.path}")
        outputs, runtime, executed = _run(artifact, root, data, model, threads, full_precision)
        metrics = all_metrics(reference, outputs, data.labels, model.spec.task)
        report = ArtifactReport(artifact, runtime, executed, metrics)
        checks = [_check(gate, metrics) for gate in gates if gate.applies_to(artifact.format, artifact.precision)]
        report.checks = [c for c in checks if c["passed"] is not None]
        unmeasured.update(c["gate"] for c in checks if c["passed"] is None)
        reports.append(report)
    warnings = _small_set_warnings(reports, gates, len(data))
    skipped = [g for g in gates if not any(g.applies_to(a.format, a.precision) for a in artifacts)]
    warnings += [f"optional gate '{g.name}' selected no artifact: skipped" for g in skipped]
    warnings += [f"optional gate '{name}' not measurable on this data ({_unmeasured_reason(reports)}): "
                 "not checked" for name in sorted(unmeasured)]
    return Validation(reports, gates, data.describe(), model.describe(), warnings, skipped)


def _run(artifact: Artifact, root: Path, data: Dataset, model: LoadedModel, threads: int, full_precision: bool):
    exporter = EXPORTERS.get(artifact.format)
    path = root / artifact.path
    runner = open_artifact(artifact.format, path, threads, artifact.precision, full_precision)
    executed = exporter.inference_precision(path, artifact.precision, full_precision)
    outputs = np.concatenate([runner(x) for x, _ in data.batches(model.spec, BATCH)])
    runtime = f"{exporter.runtime} {tool_versions((exporter.runtime,)).get(exporter.runtime, '?')}, {threads} threads"
    return outputs, runtime, executed


def _unmeasured_reason(reports: list[ArtifactReport]) -> str:
    notes = {r.metrics.get("worst_class_note") for r in reports} - {None}
    return "; ".join(sorted(notes)) or "its figure is absent"


def _check(gate: Gate, metrics: dict) -> dict:
    measured, passed = gate.check(metrics)
    return {"gate": gate.name, **gate.to_dict(), "measured": measured, "threshold": gate.value, "passed": passed}


def _small_set_warnings(reports: list[ArtifactReport], gates: tuple[Gate, ...], count: int) -> list[str]:
    """An accuracy gate is only meaningful when the 95% interval of the measured drop is narrower than it."""
    drop_gates = [g for g in gates if g.type == "max-drop" and g.metric == "top1"]
    warnings = [f"{count} evaluation images: one image changes top-1 by {100 / count:.2f} pp, more than the "
                f"{g.value:g} pp gate '{g.name}'" for g in drop_gates if 100 / count > g.value]
    for report in reports:
        interval = report.metrics.get("top1_drop_ci95_pp")
        for gate in drop_gates:
            if interval and None not in interval and gate.applies_to(report.artifact.format,
                                                                     report.artifact.precision):
                half = (interval[1] - interval[0]) / 2
                if half > gate.value:
                    warnings.append(f"{report.artifact.path}: with {count} images the 95% interval of the top-1 "
                                    f"drop is +/-{half:.2f} pp, wider than the {gate.value:g} pp gate; use more "
                                    f"evaluation images")
    return warnings
