"""Export a model to several formats, check each against PyTorch, and record them in artifacts.json."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vitedge.artifact import SCHEMA, VERSION, Artifact, artifact_id, read_artifacts_file, write_artifacts_file
from vitedge.console import log
from vitedge.errors import ExportError, OutputExistsError, ParityError, VitedgeError
from vitedge.export.base import EXPORTERS, Exporter
from vitedge.export.parity import FP32_TOLERANCE, Tolerance, compare_outputs, parity_failures, tolerance_for
from vitedge.fileio import raise_if_storage, remove_stale_staging, staging_dir
from vitedge.models.loaded import LoadedModel
from vitedge.paths import model_stem, write_target
from vitedge.versions import tool_versions


@dataclass
class ExportResult:
    out: Path
    artifacts: list[Artifact]
    reused: list[str] = field(default_factory=list)  # formats taken from a previous run (resume)
    failures: list[str] = field(default_factory=list)  # one message per artifact that failed export or parity
    written: Path | None = None  # OUT/artifacts.json once this run wrote it (None: no artifact, nothing written)


def parse_formats(text: str) -> list[str]:
    from vitedge.names import name_list

    return name_list(text, "--format", EXPORTERS.names(), all_word="all", kind="format")


def reference_logits(model: LoadedModel, batches) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([model.module(torch.from_numpy(x)).numpy() for x, _ in batches])


NO_TFLITE_FROM_ONNX = ("TFLite is not made from ONNX sources: the maintained converter, onnx2tf (via TensorFlow), "
                       "failed on the real DeiT-Tiny ONNX (onnx2tf 1.28.8, TF 2.21: the position-embedding Add, even "
                       "with its own replacement file) and its full-integer path collapsed to cosine 0.886 on a "
                       "ViT-Tiny; export TFLite from the PyTorch model")


def _formats_for_source(model: LoadedModel, formats: list[str]) -> list[str]:
    """An ONNX source exports to ONNX and OpenVINO only; asking for nothing else is an error."""
    if not model.onnx_path or "tflite" not in formats:
        return formats
    log(f"tflite: skipped: {NO_TFLITE_FROM_ONNX}")
    kept = [f for f in formats if f != "tflite"]
    if not kept:
        raise ExportError(f"{model.onnx_path}: {NO_TFLITE_FROM_ONNX}", "choose --format onnx,openvino")
    return kept


def export_model(model: LoadedModel, formats: list[str], out: Path, data, *, threads: int | None = None,
                 force: bool = False, resume: bool = False, tolerance: Tolerance = FP32_TOLERANCE) -> ExportResult:
    """Export `model` to each format under `out`, checking parity on `data` (a vitedge.data.Dataset)."""
    out = Path(out)
    stem = model_stem(model)  # a name that is a path is refused before any work
    if stem != model.name:
        log(f"note: the model name {model.name!r} is written as the file name {stem!r}")
    formats = _formats_for_source(model, formats)
    previous, previous_data = previous_artifacts(out, force, resume)
    remove_stale_staging(out)
    threads = threads or os.cpu_count() or 1
    model_doc = model.describe()
    data_doc = data.describe()
    log(f"reference: {model.reference_runtime} FP32 on {len(data)} images from {data.source}")
    reference = reference_logits(model, data.batches(model.spec, 64))
    tolerance = tolerance_for(model, tolerance)
    result = ExportResult(out, [])
    for fmt in formats:
        exporter = EXPORTERS.get(fmt)
        config = {"format": fmt, "precision": "fp32", "tools": tool_versions(("torch", exporter.runtime))}
        art_id = artifact_id("export", model_doc["id"], config)
        artifact = previous.get(art_id)
        if artifact is not None and artifact.verify(out) is None:
            log(f"{fmt}: unchanged since the last run, kept {artifact.path}")
            result.reused.append(fmt)
        else:
            artifact = _export_one(exporter, model, out, art_id, model_doc["id"], config, result)
        if artifact is None:
            continue
        if fmt not in result.reused or previous_data != data_doc["sha256"]:
            _check_parity(exporter, artifact, out, data, reference, model.spec, threads, tolerance, result)
        result.artifacts.append(artifact)
        result.written = write_artifacts_file(out, model_doc, data_doc, tool_versions(), result.artifacts)
    return result


def previous_artifacts(out: Path, force: bool, resume: bool) -> tuple[dict[str, Artifact], str | None]:
    """Artifacts of an earlier run that --resume may keep, and the hash of the data their parity was measured on."""
    manifest = out / "artifacts.json"
    suffixes = {EXPORTERS.get(f).suffix for f in EXPORTERS.names()}
    has_outputs = manifest.is_file() or (out.is_dir() and any(p.suffix in suffixes for p in out.iterdir()))
    # artifacts.json is rewritten after every artifact, so an interrupted run leaves a consistent one to resume
    if not has_outputs:
        return {}, None
    if not (force or resume):
        raise OutputExistsError(f"output folder {out} already holds artifacts",
                                "pass --force to replace them, --resume to keep those still valid, or another --out")
    _refuse_foreign(manifest)
    if force or not manifest.is_file():
        return {}, None
    try:
        doc = read_artifacts_file(manifest)
    except VitedgeError:
        return {}, None
    return {a.id: a for a in doc["artifacts"]}, (doc.get("data") or {}).get("sha256")


def _refuse_foreign(manifest: Path) -> None:
    """--force / --resume replace vitedge's own artifacts.json, never a file of that name vitedge did not write."""
    from vitedge.schema import header, read_json_object

    if not (manifest.exists() or manifest.is_symlink()):
        return
    try:
        header(read_json_object(manifest, "artifacts file", ""), manifest, SCHEMA, VERSION, "")
    except VitedgeError as exc:
        raise OutputExistsError(f"{manifest} is not an artifacts.json vitedge wrote ({exc.message}): --force and "
                                "--resume never replace it", "move it away, or pass another --out") from None


def _export_one(exporter: Exporter, model: LoadedModel, out: Path, art_id: str, parent: str, config: dict,
                result: ExportResult) -> Artifact | None:
    log(f"{exporter.format}: exporting ...")
    started = time.perf_counter()
    try:
        with staging_dir(out) as staging:
            staged = exporter.export(model, staging)
            seconds = time.perf_counter() - started
            final = [write_target(out, out / p.name) for p in staged]
            for src, dst in zip(staged, final):
                os.replace(src, dst)  # atomic: same filesystem
    except VitedgeError as exc:
        result.failures.append(f"{exporter.format}: {exc}")
        log(f"{exporter.format}: FAILED: {exc}")
        return None
    except Exception as exc:  # a converter crash on this model: report it and go on with the other formats
        raise_if_storage(exc, out)  # a full or read-only disk is not the converter's fault
        if os.environ.get("VITEDGE_DEBUG"):
            raise
        message = f"{exporter.format}: the converter failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
        result.failures.append(message)
        log(message)
        return None
    inputs, outputs = exporter.io_description(final[0])
    log(f"{exporter.format}: wrote {final[0].name} in {seconds:.1f} s")
    return Artifact.from_files(out, final, id=art_id, format=exporter.format, precision="fp32", stage="export",
                               parent=parent, config=config, inputs=inputs, outputs=outputs,
                               export_seconds=round(seconds, 3))


def _check_parity(exporter: Exporter, artifact: Artifact, out: Path, data, reference: np.ndarray, spec,
                  threads: int, tolerance: Tolerance, result: ExportResult) -> None:
    """Run the artifact in its own runtime on the same images as the reference and record the figures."""
    log(f"{exporter.format}: checking parity on {len(data)} images in {exporter.runtime} ...")
    try:
        runner = exporter.open_runner(out / artifact.path, threads)
        outputs = np.concatenate([runner(x) for x, _ in data.batches(spec, 256)])
        figures = compare_outputs(reference, outputs, data.labels, spec.task == "image-classification")
    except ParityError as exc:
        failures = [str(exc)]
        figures = None
    except Exception as exc:  # the runtime refused the artifact: record it, go on with the other formats
        raise_if_storage(exc, out / artifact.path)
        if os.environ.get("VITEDGE_DEBUG"):
            raise
        failures = [f"{exporter.runtime} could not run it: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"]
        figures = None
    else:
        failures = parity_failures(figures, reference, tolerance, classification=spec.task == "image-classification")
    share = tolerance.abs_diff_share
    checked = {"abs_diff_checked": figures.abs_diff_of_share(share),
               "min_cosine_checked": figures.min_cosine_of_share(share)} if figures and share < 1.0 else {}
    artifact.parity = {**(figures.to_dict() if figures else {}), **checked, "runtime": _runtime_label(exporter),
                       "threads": threads, "passed": not failures, "tolerance": vars(tolerance)}
    if failures:
        message = f"{exporter.format}: {artifact.path} output '{artifact.outputs[0]['name']}' differs from PyTorch: " \
                  + "; ".join(failures)
        result.failures.append(message)
        log(message)


def _runtime_label(exporter: Exporter) -> str:
    version = tool_versions((exporter.runtime,)).get(exporter.runtime, "?")
    suffix = " (CPU, INFERENCE_PRECISION_HINT=f32)" if exporter.format == "openvino" else " (CPU)"
    return f"{exporter.runtime} {version}{suffix}"


def raise_for_failures(result: ExportResult) -> None:
    if result.failures:
        raise ExportError(f"{len(result.failures)} artifact(s) failed:\n  " + "\n  ".join(result.failures),
                          f"the others are recorded in {result.out / 'artifacts.json'}")
