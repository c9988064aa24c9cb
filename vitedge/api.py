"""The Python API behind each CLI verb: resolve inputs, run the stage, return its result."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from vitedge.artifact import read_artifacts_file
from vitedge.console import log
from vitedge.data import Dataset, load_dataset
from vitedge.data.dataset import check_labels, model_classes
from vitedge.data.defaults import default_data, sample_images
from vitedge.data.overlap import overlapping_images
from vitedge.errors import DataError, ModelSourceError, OutputExistsError
from vitedge.export import export_model, parse_formats
from vitedge.export.run import ExportResult, previous_artifacts
from vitedge.lock import locks
from vitedge.models import LoadedModel, load_model
from vitedge.quantize.run import QuantizeResult, quantize_artifacts
from vitedge.quantize.scheme import Scheme


DEFAULT_PARITY_SAMPLES = 500  # enough for an FP32 numerics check; the built-in held-out set is used whole
SAMPLE_IMAGES_COUNT = 256


def resolve_eval_data(model: LoadedModel, data: str | None, samples: int | None) -> Dataset:
    """The user's data; else the built-in model's held-out set; else real sample images without labels."""
    if data:
        dataset = load_dataset(data, model.spec, limit=DEFAULT_PARITY_SAMPLES if samples is None else samples)
        return check_labels(dataset, model_classes(model), model.name)
    own = default_data(model.name, "eval")
    if own:
        return load_dataset(own, model.spec, limit=samples)
    if not Path(sample_images()).is_file():
        raise DataError(f"no --data given for {model.name} and the sample images {sample_images()} are missing",
                        "pass --data with images for this model (folder of class folders, .npz or IDX)")
    sample = load_dataset(sample_images(), model.spec, limit=SAMPLE_IMAGES_COUNT if samples is None else samples)
    log(f"no --data given: parity on {len(sample)} sample images (MNIST digits resized to "
        f"{'x'.join(map(str, model.spec.input_size))}, no labels); pass --data for images of your domain")
    return dataclasses.replace(sample, labels=None, class_names=None)


@locks("out", "export")
def export(source: str, formats: str = "all", out: str | Path = "runs/export", weights: str | None = None,
           data: str | None = None, samples: int | None = None, threads: int | None = None,
           force: bool = False, resume: bool = False) -> ExportResult:
    """`vitedge export`: load, export to each format, check parity, write OUT/artifacts.json."""
    model = load_model(source, weights=weights)
    for note in model.notes:
        log(f"note: {note}")
    chosen = parse_formats(formats)
    dataset = resolve_eval_data(model, data, samples)
    return export_model(model, chosen, Path(out), dataset, threads=threads, force=force, resume=resume)


MIN_CALIBRATION = 16
DEFAULT_CALIBRATION_SAMPLES = 300


@locks("out", "quantize")
def quantize(source: str, formats: str = "all", precisions: str = "fp16,int8", int8_modes: str = "static",
             calibration_method: str = "minmax", per_channel: bool = True, calib: str | None = None,
             calib_samples: int | None = None, eval_data: str | None = None, eval_samples: int | None = None,
             max_drop: float | None = None, out: str | Path = "runs/quantize", weights: str | None = None,
             threads: int | None = None, force: bool = False, resume: bool = False,
             allow_overlap: bool = False, nncf_accuracy_control: bool = False) -> QuantizeResult:
    """`vitedge quantize`: FP32 artifacts (exported here, or from an export's artifacts.json) -> FP16 / INT8."""
    out = Path(out)
    previous_artifacts(out, force, resume)  # refuse a used --out before any work
    schemes = parse_schemes(precisions, int8_modes, calibration_method, per_channel)
    model, export_doc = _model_and_export(source, weights)
    calib_samples = DEFAULT_CALIBRATION_SAMPLES if calib_samples is None else calib_samples  # 0 is refused, not 300
    calib_set = _data_for(model, calib, "calib", calib_samples, "--calib")
    eval_set = _data_for(model, eval_data, "eval", eval_samples, "--eval")
    _check_calibration(calib_set, eval_set, allow_overlap, any(s.needs_calibration for s in schemes))
    chosen = parse_formats(formats)
    if export_doc is None:
        export_result = export_model(model, chosen, out / "fp32", eval_set, threads=threads, force=force, resume=True)
        fp32, root = export_result.artifacts, out / "fp32"
    else:
        doc, root = export_doc
        fp32 = [a for a in doc["artifacts"] if a.stage == "export" and a.format in chosen]
    usable = [a for a in fp32 if a.parity and a.parity.get("passed")]
    for skipped in set(a.format for a in fp32) - set(a.format for a in usable):
        log(f"{skipped}: the FP32 artifact failed its parity check; not quantized")
    return quantize_artifacts(model, usable, root, out, calib_set, eval_set, schemes, max_drop=max_drop,
                              threads=threads, force=force, resume=resume,
                              nncf_accuracy_control=nncf_accuracy_control)


def parse_schemes(precisions: str, int8_modes: str, calibration: str, per_channel: bool) -> list[Scheme]:
    chosen = [p.strip().lower() for p in precisions.split(",") if p.strip()]
    schemes = []
    for precision in chosen:
        if precision == "fp32":
            continue  # the FP32 artifacts are always part of the output
        modes = [m.strip() for m in int8_modes.split(",") if m.strip()] if precision == "int8" else ["static"]
        schemes += [Scheme(precision, mode, per_channel, calibration) for mode in modes]
    return schemes


def _model_and_export(source: str, weights: str | None):
    """A model source, or an export folder / its artifacts.json (then the model is rebuilt and checked)."""
    path = Path(source)
    manifest = path / "artifacts.json" if path.is_dir() and (path / "artifacts.json").is_file() else path
    if manifest.name != "artifacts.json":
        return load_model(source, weights=weights), None
    doc = read_artifacts_file(manifest)
    recorded = doc["model"]
    model = load_model(recorded["source"], weights=weights or recorded.get("weights"))
    if model.fingerprint() != recorded["id"]:
        raise ModelSourceError(f"{manifest}: the model {recorded['source']} no longer matches the exported one",
                               "re-export it, or pass the weights it was exported from with --weights")
    return model, (doc, manifest.parent)


def _data_for(model: LoadedModel, arg: str | None, split: str, limit: int | None, flag: str) -> Dataset:
    arg = arg or default_data(model.name, split)
    if arg is None:
        raise DataError(f"{flag} is required for {model.name}",
                        f"pass {flag} DATA (class-folder tree, .npz or IDX, optionally PATH[START:END])")
    return check_labels(load_dataset(arg, model.spec, limit=limit), model_classes(model), model.name)


def _check_calibration(calib: Dataset, evaluation: Dataset, allow_overlap: bool, needs_calibration: bool) -> None:
    if needs_calibration and len(calib) < MIN_CALIBRATION:
        raise DataError(f"calibration data {calib.source} has {len(calib)} images; INT8 calibration needs at least "
                        f"{MIN_CALIBRATION}", "pass more images with --calib (100-1000 is typical)")
    shared = 0 if allow_overlap else overlapping_images(calib, evaluation)
    if shared:
        raise DataError(f"{shared} image(s) of the evaluation data {evaluation.source} also appear in the "
                        f"calibration data {calib.source}", "use held-out evaluation images, or pass --allow-overlap")


@locks("report", "validate")
def validate(artifacts: str | Path, reference: str | None = None, data: str | None = None,
             gates: str | Path | None = None, report: str | Path = "runs/validate", formats: str | None = None,
             precisions: str | None = None, samples: int | None = None, weights: str | None = None,
             threads: int | None = None, allow_overlap: bool = False, full_precision: bool = False,
             force: bool = False):
    """`vitedge validate`: drift of each artifact against the FP32 reference on held-out data, gated."""
    from vitedge.validate.gates import check_coverage, read_gates
    from vitedge.validate.report import write_reports
    from vitedge.validate.run import check_inputs, load_artifacts, validate as run_validation

    report = Path(report)
    if (report / "report.json").exists() and not force:
        raise OutputExistsError(f"report folder {report} already holds a report", "pass --force or another --report")
    gate_list = read_gates(gates)
    chosen, root = load_artifacts(Path(artifacts), _csv(formats), _csv(precisions))
    check_coverage(gate_list, chosen, gates)  # before any model or data is loaded
    if reference is None:
        recorded = read_artifacts_file(root / "artifacts.json")["model"]
        reference, weights = recorded["source"], weights or recorded.get("weights")
    model = load_model(reference, weights=weights)
    dataset = _data_for(model, data, "eval", samples, "--data")
    check_inputs(chosen, model, dataset, allow_overlap)
    validation = run_validation(chosen, root, model, dataset, gate_list, threads, full_precision)
    return validation, write_reports(validation, report)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


@locks("out", "bench")
def bench(artifacts: str | Path, targets: str = "x86-cpu", threads: int | None = None, data: str | None = None,
          out: str | Path = "runs/bench", formats: str | None = None, precisions: str | None = None,
          force: bool = False):
    """`vitedge bench`: latency per target for every artifact; writes OUT/bench.json (and device scripts)."""
    import numpy as np

    from vitedge.fileio import write_json_atomic
    from vitedge.models.spec import IOSpec
    from vitedge.targets.bench import run_bench
    from vitedge.validate.run import load_artifacts

    out = Path(out)
    if (out / "bench.json").exists() and not force:
        raise OutputExistsError(f"{out} already holds bench.json", "pass --force or another --out")
    chosen, root = load_artifacts(Path(artifacts), _csv(formats), _csv(precisions))
    model_doc = read_artifacts_file(root / "artifacts.json")["model"]
    spec = IOSpec.from_dict(model_doc["io"])
    source = data or default_data(model_doc["name"], "eval")
    image = (next(load_dataset(source, spec, limit=1).batches(spec, 1))[0] if source
             else np.random.default_rng(0).normal(size=(1, *spec.input_size)).astype(np.float32))
    result = run_bench(chosen, root, _csv(targets) or ["x86-cpu"], image, threads, out)
    write_json_atomic(out / "bench.json", result.to_dict())
    return result


@locks("out", "distill")
def distill(teacher: str, student: str, data: str | None = None, eval_data: str | None = None,
            out: str | Path = "runs/distill", config=None, teacher_weights: str | None = None,
            student_weights: str | None = None, random_init: bool = False, allow_overlap: bool = False,
            force: bool = False):
    """`vitedge distill`: train `student` on `teacher`'s outputs; OUT gets student.toml / .safetensors, distill.json.

    `config` is a vitedge.distill.DistillConfig (default settings when None). Re-running with the same OUT resumes.
    """
    from vitedge.distill import DistillConfig
    from vitedge.distill.sources import distill_sources

    return distill_sources(teacher, student, data, eval_data, Path(out), config or DistillConfig(),
                           teacher_weights, student_weights, random_init, allow_overlap, force)


@locks("out", "nas")
def nas(source: str, data: str | None = None, eval_data: str | None = None, out: str | Path = "runs/nas",
        config=None, weights: str | None = None, force: bool = False):
    """`vitedge nas`: sub-networks of `source` on each target's accuracy / latency front; OUT gets nas.json, a plot
    per target, variants/<target>.toml and candidates/. `config` is a vitedge.nas.NASConfig (defaults when None)."""
    from vitedge.nas import NASConfig
    from vitedge.nas.sources import nas_sources

    return nas_sources(source, data, eval_data, Path(out), config or NASConfig(), weights, force)


@locks("out", "bundle create")
def bundle(artifacts: str | Path, validation: str | Path = "runs/validate", bench: str | Path = "runs/bench",
           targets: str | None = None, out: str | Path = "runs/bundles", force: bool = False):
    """`vitedge bundle create`: OUT/<target>/ (+ .zip) per target with the artifacts that passed; list of outcomes."""
    from vitedge.bundle import write_bundles

    return write_bundles(artifacts, validation, bench, _csv(targets), out, force)


def verify_bundle(path: str | Path) -> list[str]:
    """`vitedge bundle verify`: the problems of a bundle folder or .zip (empty when it is intact)."""
    from vitedge.bundle import verify_bundle as verify

    return verify(path)


@locks("out", "report")
def report(artifacts: str | Path, validation: str | Path = "runs/validate", bench: str | Path = "runs/bench",
           targets: str | None = None, out: str | Path = "runs/report", force: bool = False):
    """`vitedge report`: OUT/report.md and OUT/report.html with per-target Pareto plots; returns both paths."""
    from vitedge.report import write_report

    return write_report(artifacts, validation, bench, _csv(targets), out, force)
