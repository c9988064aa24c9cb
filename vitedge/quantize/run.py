"""Quantize FP32 artifacts to each (format, scheme), evaluate them on held-out data, and record them."""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from vitedge.artifact import Artifact, artifact_id, write_artifacts_file
from vitedge.console import log
from vitedge.data import Dataset
from vitedge.data.overlap import image_hashes
from vitedge.errors import VitedgeError
from vitedge.export.base import EXPORTERS
from vitedge.export.run import previous_artifacts
from vitedge.fileio import remove_stale_staging, staging_dir
from vitedge.models.loaded import LoadedModel
from vitedge.paths import model_stem, write_target
from vitedge.quantize.base import QUANTIZERS, QuantInput
from vitedge.quantize.evaluate import CalibrationProbe, Evaluator, finite_inputs
from vitedge.quantize.gate import QuantGate
from vitedge.quantize.pt2e_route import pt2e_fallback
from vitedge.quantize.qdq_route import qdq_fallback
from vitedge.quantize.scheme import Scheme
from vitedge.quantize.sensitivity import FallbackResult, accuracy_aware, group_layers
from vitedge.versions import tool_versions


@dataclass
class QuantizeResult:
    out: Path
    artifacts: list[Artifact]
    reused: list[str] = field(default_factory=list)  # artifact ids kept from an earlier run
    failures: list[str] = field(default_factory=list)  # conversions that failed, drops beyond --max-drop
    written: Path | None = None  # OUT/artifacts.json once this run wrote it (None: nothing was written)


@dataclass
class QuantizeContext:
    """Everything one (format, scheme) job needs."""

    model: LoadedModel
    out: Path
    calib: Dataset
    evaluator: Evaluator
    probe: CalibrationProbe
    calib_inputs: object
    max_drop: float | None
    threads: int
    nncf_accuracy_control: bool = False
    gate: QuantGate = QuantGate()  # what the accuracy-aware fallback must reach (inactive: no fallback)


def quantize_artifacts(model: LoadedModel, fp32: list[Artifact], fp32_root: Path, out: Path, calib: Dataset,
                       evaluation: Dataset, schemes: list[Scheme], *, max_drop: float | None = None,
                       threads: int | None = None, force: bool = False, resume: bool = False,
                       nncf_accuracy_control: bool = False, min_agreement: float | None = None) -> QuantizeResult:
    """Quantize every FP32 artifact in `fp32` (paths relative to `fp32_root`) with every applicable scheme."""
    out = Path(out)
    model_stem(model)  # a name that is a path is refused before any work
    previous, _ = previous_artifacts(out, force, resume)
    remove_stale_staging(out)
    threads = threads or os.cpu_count() or 1
    calib_inputs = finite_inputs(calib, model, "calibration")
    log(f"reference: {model.reference_runtime} FP32 on {len(evaluation)} held-out images from {evaluation.source}")
    ctx = QuantizeContext(model, out, calib, Evaluator(model, evaluation, threads),
                          CalibrationProbe(model, calib_inputs, threads), calib_inputs, max_drop, threads,
                          nncf_accuracy_control, QuantGate(max_drop, min_agreement))
    result = QuantizeResult(out, [])
    model_doc, data_doc = model.describe(), evaluation.describe()
    for base in fp32:
        result.artifacts.append(_evaluated_fp32(ctx, base, fp32_root))
        for scheme in schemes:
            artifact = _quantize_or_keep(ctx, base, fp32_root, scheme, previous, result)
            if artifact is not None:
                result.artifacts.append(artifact)
            result.written = write_artifacts_file(out, model_doc, data_doc, tool_versions(), result.artifacts)
    return result


def _evaluated_fp32(ctx: QuantizeContext, base: Artifact, root: Path) -> Artifact:
    """The FP32 artifact as the quantized ones' reference row; its path is made relative to OUT."""
    relocated = Artifact(**{**base.to_dict(), "path": _relative(root / base.path, ctx.out),
                            "files": [{**f, "path": _relative(root / f["path"], ctx.out)} for f in base.files]})
    log(f"{base.format} fp32: evaluating on {len(ctx.evaluator.data)} held-out images")
    relocated.accuracy = ctx.evaluator.evaluate(base.format, root / base.path)
    return relocated


def _relative(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()


def _quantize_or_keep(ctx: QuantizeContext, base: Artifact, root: Path, scheme: Scheme, previous: dict,
                      result: QuantizeResult) -> Artifact | None:
    quantizer = QUANTIZERS.get(base.format)
    reason = quantizer.unavailable(scheme)
    if reason:
        log(f"{base.format} {scheme.tag}: skipped, {reason}")
        return None
    config = {"scheme": scheme.to_dict(), "calibration": ctx.calib.sha256() if scheme.needs_calibration else None,
              "calibration_count": len(ctx.calib), "max_drop_pp": ctx.max_drop,
              "min_agreement": ctx.gate.min_agreement,
              "recipe": _recipe(base.format, scheme),
              "tools": tool_versions(("onnxruntime", "openvino", "nncf", "litert-torch", "ai-edge-quantizer"))}
    art_id = artifact_id("quantize", base.id, config)
    kept = previous.get(art_id)
    if kept is not None and kept.verify(ctx.out) is None:
        log(f"{base.format} {scheme.tag}: unchanged since the last run, kept {kept.path}")
        result.reused.append(art_id)
        _report_unmet(kept, result)
        return kept
    try:
        artifact = _quantize(ctx, base, root, scheme, art_id, config)
    except VitedgeError as exc:
        result.failures.append(f"{base.format} {scheme.tag}: {exc}")
        log(f"{base.format} {scheme.tag}: FAILED: {exc}")
        return None
    _report_unmet(artifact, result)
    return artifact


def _report_unmet(artifact: Artifact, result: QuantizeResult) -> None:
    fallback = (artifact.quantization or {}).get("fallback")
    if fallback and not fallback["met"]:
        acc, gate = artifact.accuracy, QuantGate(fallback["max_drop_pp"], fallback.get("min_agreement"))
        result.failures.append(
            f"{artifact.path}: {_drop_text(acc)}agreement {100 * acc['top1_agreement']:.1f}% fail the "
            f"gate ({gate.describe()}) even with {len(artifact.quantization['float_groups'])} layer group(s) or "
            "op(s) in float (best found, kept for inspection)")


def _drop_text(acc: dict) -> str:
    return "" if acc.get("drop_pp") is None else f"drop {acc['drop_pp']:.2f} pp, "


def _quantize(ctx: QuantizeContext, base: Artifact, root: Path, scheme: Scheme, art_id: str,
              config: dict) -> Artifact:
    quantizer = QUANTIZERS.get(base.format)
    inp = QuantInput(ctx.model, root / base.path, ctx.calib_inputs)
    log(f"{base.format} {scheme.tag}: quantizing ...")
    started = time.perf_counter()
    with staging_dir(ctx.out) as staging:
        attempt = _attempt_function(ctx, quantizer, inp, base.format, staging)
        layers = quantizer.layers(inp, scheme) if scheme.precision == "int8" else []
        if _uses_nncf_control(ctx, base.format, scheme):
            outcome = _nncf_controlled(ctx, inp, scheme, staging)
        elif ctx.gate.active and base.format in QDQ_FORMATS and _is_static_int8(scheme):
            outcome = qdq_fallback(base.format, inp, scheme, staging, ctx.evaluator, ctx.gate, ctx.threads)
        elif ctx.gate.active and base.format == "tflite" and _is_static_int8(scheme):
            outcome = pt2e_fallback(inp, scheme, staging, ctx.evaluator, ctx.gate)
        elif ctx.gate.active and scheme.precision == "int8":
            probe = lambda p: ctx.probe.error(base.format, p, scheme.precision)  # noqa: E731
            outcome = accuracy_aware(attempt, probe, scheme, layers, ctx.gate)
        else:
            path, evaluation = attempt(scheme, True)
            outcome = FallbackResult(path, evaluation, scheme, True)
        seconds = time.perf_counter() - started
        final = _move_into(outcome.path.parent, ctx.out)
    inputs, outputs = EXPORTERS.get(base.format).io_description(final[0])
    artifact = Artifact.from_files(
        ctx.out, final, id=art_id, format=base.format, precision=scheme.precision, stage="quantize", parent=base.id,
        config=config, inputs=inputs, outputs=outputs, export_seconds=round(seconds, 3),
        quantization=_quantization_doc(ctx, outcome, layers, seconds), accuracy=outcome.evaluation)
    log(f"{base.format} {scheme.tag}: wrote {final[0].name} in {seconds:.1f} s; {_accuracy_line(outcome.evaluation)}")
    return artifact


QDQ_FORMATS = ("onnx", "openvino")  # static INT8 from one ONNX Runtime QDQ model: qdq_route.py
# in the artifact id: older artifacts are redone
QDQ_RECIPE = "ort-qdq, float outputs, op-level fallback by KL per MAC share"
PT2E_RECIPE = "pt2e, float output layer, op-level fallback in the simulation"


def _recipe(fmt: str, scheme: Scheme) -> str | None:
    if not _is_static_int8(scheme):
        return None
    return QDQ_RECIPE if fmt in QDQ_FORMATS else PT2E_RECIPE if fmt == "tflite" else None


def _is_static_int8(scheme: Scheme) -> bool:
    return scheme.precision == "int8" and scheme.mode == "static"


def _accuracy_line(acc: dict) -> str:
    if acc["top1"] is None:
        return f"min logit cosine {acc['min_cosine']:.5f}"
    return f"top-1 {100 * acc['top1']:.2f}% (drop {acc['drop_pp']:.2f} pp)"


def _uses_nncf_control(ctx: QuantizeContext, fmt: str, scheme: Scheme) -> bool:
    return ctx.nncf_accuracy_control and fmt == "openvino" and scheme.needs_calibration and ctx.max_drop is not None


def _nncf_controlled(ctx: QuantizeContext, inp: QuantInput, scheme: Scheme, staging: Path) -> FallbackResult:
    """NNCF's own accuracy control (quantize_with_accuracy_control) on the evaluation data, instead of ours."""
    from vitedge.quantize.openvino import quantize_with_accuracy_control

    data = ctx.evaluator.data
    if data.labels is None:
        raise VitedgeError("NNCF accuracy control needs labelled evaluation data", "pass --eval with labels")
    folder = staging / "nncf-accuracy-control"
    folder.mkdir()
    files = quantize_with_accuracy_control(inp, scheme, folder, finite_inputs(data, ctx.model, "evaluation"),
                                           data.labels, ctx.max_drop)
    evaluation = ctx.evaluator.evaluate("openvino", files[0], scheme.precision)
    met = ctx.gate.holds(evaluation)
    return FallbackResult(files[0], evaluation, scheme, met, [{"method": "nncf.quantize_with_accuracy_control",
                                                               "top1": evaluation["top1"],
                                                               "drop_pp": evaluation["drop_pp"]}])


def _attempt_function(ctx: QuantizeContext, quantizer, inp: QuantInput, fmt: str, staging: Path):
    counter = iter(range(1, 10_000))

    def attempt(scheme: Scheme, evaluate: bool):
        folder = staging / f"attempt-{next(counter)}"
        folder.mkdir()
        files = quantizer.quantize(inp, scheme, folder)
        return files[0], (ctx.evaluator.evaluate(fmt, files[0], scheme.precision) if evaluate else None)

    return attempt


def _move_into(folder: Path, out: Path) -> list[Path]:
    """Move an attempt's files into OUT (atomic renames); the main file first, as the quantizer listed it."""
    moved = []
    for src in sorted(folder.iterdir(), key=lambda p: (p.suffix not in (".onnx", ".xml", ".tflite"), p.name)):
        dst = write_target(out, out / src.name)
        os.replace(src, dst)
        moved.append(dst)
    shutil.rmtree(folder, ignore_errors=True)
    return moved


def _quantization_doc(ctx: QuantizeContext, outcome: FallbackResult, layers: list[str], seconds: float) -> dict:
    groups = group_layers(list(outcome.scheme.keep_float))
    doc = {"scheme": outcome.scheme.to_dict(), "layers_quantized": len(layers) - len(outcome.scheme.keep_float),
           "float_groups": outcome.float_ops or list(groups), "seconds": round(seconds, 3),
           "calibration": {"source": ctx.calib.source, "sha256": ctx.calib.sha256(), "count": len(ctx.calib),
                           "selection": ctx.calib.selection, "image_hashes": sorted(image_hashes(ctx.calib))}
           if outcome.scheme.needs_calibration else None}
    if ctx.gate.active and outcome.scheme.precision == "int8":
        doc["fallback"] = {**ctx.gate.to_dict(), "met": outcome.met, "steps": outcome.steps,
                           "sensitivity": outcome.sensitivity,
                           "granularity": "op" if outcome.float_mac_share is not None else "block"}
        if outcome.float_mac_share is not None:
            doc["fallback"]["float_mac_share"] = outcome.float_mac_share
    return doc
