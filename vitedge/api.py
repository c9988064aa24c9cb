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
from vitedge.errors import DataError, ExportError, ModelSourceError, OutputExistsError
from vitedge.export import export_model, parse_formats
from vitedge.export.run import ExportResult, previous_artifacts
from vitedge.lock import locks
from vitedge.models import LoadedModel, load_model
from vitedge.quantize.run import QuantizeResult, quantize_artifacts
from vitedge.quantize.scheme import Scheme
from vitedge.schema import DEFAULT_SMOOTHQUANT
from vitedge.schema import ARTIFACT_FORMATS, ARTIFACT_PRECISIONS


DEFAULT_PARITY_SAMPLES = 500  # enough for an FP32 numerics check; the built-in held-out set is used whole
SAMPLE_IMAGES_COUNT = 256


def resolve_eval_data(model: LoadedModel, data: str | None, samples: int | None) -> Dataset:
    """The user's data; else the built-in model's held-out set; else real sample images without labels."""
    if data:
        dataset = load_dataset(data, model.spec, limit=DEFAULT_PARITY_SAMPLES if samples is None else samples,
                               spread=True)
        return check_labels(dataset, model_classes(model), model.name)
    own = default_data(model.name, "eval")
    if own:
        return load_dataset(own, model.spec, limit=samples, spread=True)
    if not Path(sample_images()).is_file():
        raise DataError(f"no --data given for {model.name} and the sample images {sample_images()} are missing",
                        "pass --data with images for this model (folder of class folders, .npz or IDX)")
    sample = load_dataset(sample_images(), model.spec, limit=SAMPLE_IMAGES_COUNT if samples is None else samples)
    log(f"no --data given: parity on {len(sample)} sample images (MNIST digits resized to "
        f"{'x'.join(map(str, model.spec.input_size))}, no labels); pass --data for images of your domain")
    return dataclasses.replace(sample, labels=None, class_names=None)


@locks("out", "export", {"source": "MODEL", "weights": "--weights", "data": "--data"})
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


@locks("out", "quantize", {"source": "SOURCE", "weights": "--weights", "calib": "--calib",
                                "eval_data": "--eval"})
def quantize(source: str, formats: str = "all", precisions: str = "fp16,int8", int8_modes: str = "static",
             calibration_method: str = "percentile", per_channel: bool = True, calib: str | None = None,
             calib_samples: int | None = None, eval_data: str | None = None, eval_samples: int | None = None,
             max_drop: float | None = None, out: str | Path = "runs/quantize", weights: str | None = None,
             threads: int | None = None, force: bool = False, resume: bool = False,
             allow_overlap: bool = False, nncf_accuracy_control: bool = False,
             min_agreement: float | None = None, smoothquant: float = DEFAULT_SMOOTHQUANT) -> QuantizeResult:
    """`vitedge quantize`: FP32 artifacts (exported here, or from an export's artifacts.json) -> FP16 / INT8."""
    out = Path(out)
    previous_artifacts(out, force, resume)  # refuse a used --out before any work
    schemes = parse_schemes(precisions, int8_modes, calibration_method, per_channel, smoothquant)
    chosen = parse_formats(formats)
    model, export_doc = _model_and_export(source, weights)
    calib_samples = DEFAULT_CALIBRATION_SAMPLES if calib_samples is None else calib_samples  # 0 is refused, not 300
    calib_set = _data_for(model, calib, "calib", calib_samples, "--calib")
    eval_set = _data_for(model, eval_data, "eval", eval_samples, "--eval")
    _check_calibration(calib_set, eval_set, allow_overlap, any(s.needs_calibration for s in schemes))
    if export_doc is None:
        export_result = export_model(model, chosen, out / "fp32", eval_set, threads=threads, force=force, resume=True)
        fp32, root = export_result.artifacts, out / "fp32"
    else:
        root = export_doc[1]
        fp32 = _recorded_fp32(*export_doc, chosen)
    usable = [a for a in fp32 if a.parity and a.parity.get("passed")]
    for skipped in set(a.format for a in fp32) - set(a.format for a in usable):
        log(f"{skipped}: the FP32 artifact failed its parity check; not quantized")
    if not usable:
        raise ExportError(f"no FP32 artifact of {', '.join(chosen)} passed its parity check: nothing to quantize",
                          "fix the export first (vitedge export prints why each artifact failed)")
    return quantize_artifacts(model, usable, root, out, calib_set, eval_set, schemes, max_drop=max_drop,
                              threads=threads, force=force, resume=resume,
                              nncf_accuracy_control=nncf_accuracy_control, min_agreement=min_agreement)


def parse_schemes(precisions: str, int8_modes: str, calibration: str, per_channel: bool,
                  smoothquant: float = DEFAULT_SMOOTHQUANT) -> list[Scheme]:
    from vitedge.names import name_list
    from vitedge.quantize.scheme import INT8_MODES, PRECISIONS

    chosen = name_list(precisions, "--precision", ("fp32", *PRECISIONS), kind="precision")
    modes = name_list(int8_modes, "--int8", INT8_MODES, kind="int8 scheme")
    schemes = []
    for precision in chosen:
        if precision == "fp32":
            continue  # the FP32 artifacts are always part of the output
        schemes += [Scheme(precision, mode, per_channel, calibration, smoothquant=smoothquant) for mode in
                    (modes if precision == "int8" else ["static"])]
    return schemes


def _model_and_export(source: str, weights: str | None):
    """A model source, or an export folder / its artifacts.json (then the model is rebuilt and checked)."""
    path = Path(source)
    manifest = path / "artifacts.json" if path.is_dir() and _lexists(path / "artifacts.json") else path
    if manifest.name != "artifacts.json":
        if path.is_dir() and not _lexists(path / "config.json"):
            raise ModelSourceError(f"{path} holds neither artifacts.json (an export folder) nor config.json (a "
                                   "Hugging Face folder)", "pass an export folder (or its artifacts.json), a model "
                                   "name, a spec file or a Hugging Face folder")
        return load_model(source, weights=weights), None
    doc = read_artifacts_file(manifest)
    recorded = doc["model"]
    model = load_model(recorded["source"], weights=weights or recorded.get("weights"))
    if model.fingerprint() != recorded["id"]:
        raise ModelSourceError(f"{manifest}: the model {recorded['source']} no longer matches the exported one",
                               "re-export it, or pass the weights it was exported from with --weights")
    return model, (doc, manifest.parent)


def _lexists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _recorded_fp32(doc: dict, root: Path, formats: list[str]) -> list:
    """The export's FP32 artifacts of `formats`, each checked against its recorded hashes before it is used."""
    from vitedge.validate.run import ArtifactIntegrityError

    fp32 = [a for a in doc["artifacts"] if a.stage == "export" and a.format in formats]
    if not fp32:
        present = sorted({f"{a.format} ({a.stage})" for a in doc["artifacts"]})
        raise DataError(f"{root / 'artifacts.json'} holds no FP32 export artifact of --format {','.join(formats)}",
                        f"it holds: {', '.join(present) or 'no artifacts'}; export those formats first")
    for artifact in fp32:
        problem = artifact.verify(root)
        if problem:
            raise ArtifactIntegrityError(f"FP32 artifact {artifact.path} of {root / 'artifacts.json'}: {problem}",
                                         "the file was changed or removed after export; re-export it")
    return fp32


def _data_for(model: LoadedModel, arg: str | None, split: str, limit: int | None, flag: str) -> Dataset:
    arg = arg or default_data(model.name, split)
    if arg is None:
        raise DataError(f"{flag} is required for {model.name}",
                        f"pass {flag} DATA (class-folder tree, .npz or IDX, optionally PATH[START:END])")
    return check_labels(load_dataset(arg, model.spec, limit=limit, spread=True), model_classes(model), model.name)


def _check_calibration(calib: Dataset, evaluation: Dataset, allow_overlap: bool, needs_calibration: bool) -> None:
    if needs_calibration and len(calib) < MIN_CALIBRATION:
        raise DataError(f"calibration data {calib.source} has {len(calib)} images; INT8 calibration needs at least "
                        f"{MIN_CALIBRATION}", "pass more images with --calib (100-1000 is typical)")
    shared = 0 if allow_overlap else overlapping_images(calib, evaluation)
    if shared:
        raise DataError(f"{shared} image(s) of the evaluation data {evaluation.source} also appear in the "
                        f"calibration data {calib.source}", "use held-out evaluation images, or pass --allow-overlap")


@locks("report", "validate", {"artifacts": "ARTIFACTS", "data": "--data", "reference": "--reference"})
def validate(artifacts: str | Path, reference: str | None = None, data: str | None = None,
             gates: str | Path | None = None, report: str | Path = "runs/validate", formats: str | None = None,
             precisions: str | None = None, samples: int | None = None, weights: str | None = None,
             threads: int | None = None, allow_overlap: bool = False, full_precision: bool = False,
             force: bool = False):
    """`vitedge validate`: drift of each artifact against the FP32 reference on held-out data, gated."""
    from vitedge.validate.gates import check_coverage, check_labelled, default_gates, read_gates
    from vitedge.validate.report import write_reports
    from vitedge.validate.run import check_inputs, load_artifacts, validate as run_validation

    report = Path(report)
    if (report / "report.json").exists() and not force:
        raise OutputExistsError(f"report folder {report} already holds a report", "pass --force or another --report")
    gate_list = read_gates(gates) if gates is not None else None  # None: the defaults of the model's task
    chosen, root = load_artifacts(Path(artifacts), _csv(formats, "--formats", ARTIFACT_FORMATS, "format"),
                                  _csv(precisions, "--precisions", ARTIFACT_PRECISIONS, "precision"))
    if gate_list is not None:
        check_coverage(gate_list, chosen, gates)  # before any model or data is loaded
    if reference is None:
        recorded = read_artifacts_file(root / "artifacts.json")["model"]
        reference, weights = recorded["source"], weights or recorded.get("weights")
    model = load_model(reference, weights=weights)
    gate_list = gate_list or default_gates(model.spec.task)
    dataset = _data_for(model, data, "eval", samples, "--data")
    check_labelled(gate_list, dataset.labels is not None, dataset.source, gates)
    check_inputs(chosen, model, dataset, allow_overlap)
    validation = run_validation(chosen, root, model, dataset, gate_list, threads, full_precision)
    return validation, write_reports(validation, report)


def _csv(text: str | None, flag: str, allowed, kind: str = "name") -> list[str] | None:
    """A name list option (vitedge.names), or None when it was not given (every name)."""
    from vitedge.names import name_list

    return None if text is None else name_list(text, flag, allowed, kind=kind)


def _target_names() -> list[str]:
    from vitedge.targets.profile import TARGETS

    return TARGETS.names()


@locks("out", "bench", {"artifacts": "ARTIFACTS", "data": "--data"})
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
    chosen, root = load_artifacts(Path(artifacts), _csv(formats, "--formats", ARTIFACT_FORMATS, "format"),
                                  _csv(precisions, "--precisions", ARTIFACT_PRECISIONS, "precision"))
    model_doc = read_artifacts_file(root / "artifacts.json")["model"]
    spec = IOSpec.from_dict(model_doc["io"])
    source = data or default_data(model_doc["name"], "eval")
    image = (next(load_dataset(source, spec, limit=1).batches(spec, 1))[0] if source
             else np.random.default_rng(0).normal(size=(1, *spec.input_size)).astype(np.float32))
    names = _csv(targets, "--target", _target_names(), "target") or ["x86-cpu"]
    result = run_bench(chosen, root, names, image, threads, out)
    write_json_atomic(out / "bench.json", result.to_dict())
    return result


@locks("out", "distill", {"teacher": "--teacher", "student": "--student", "data": "--data",
                               "eval_data": "--eval"})
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


@locks("out", "nas", {"source": "MODEL", "data": "--data", "eval_data": "--eval"})
def nas(source: str, data: str | None = None, eval_data: str | None = None, out: str | Path = "runs/nas",
        config=None, weights: str | None = None, force: bool = False):
    """`vitedge nas`: train `source` once as a supernet, pick a sub-network per target; OUT gets nas.json, a plot per
    target, supernet.safetensors and variants/<target>.toml. `config`: a vitedge.nas.run.NASConfig (defaults)."""
    from vitedge.nas.run import NASConfig
    from vitedge.nas.sources import nas_sources

    return nas_sources(source, data, eval_data, Path(out), config or NASConfig(), weights, force)


@locks("out", "bundle create", {"artifacts": "ARTIFACTS", "validation": "--validation", "bench": "--bench"})
def bundle(artifacts: str | Path, validation: str | Path = "runs/validate", bench: str | Path = "runs/bench",
           targets: str | None = None, out: str | Path = "runs/bundles", force: bool = False):
    """`vitedge bundle create`: OUT/<target>/ (+ .zip) per target with the artifacts that passed; list of outcomes."""
    from vitedge.bundle import write_bundles

    return write_bundles(artifacts, validation, bench, _csv(targets, "--target", _target_names(), "target"), out, force)


def verify_bundle(path: str | Path) -> list[str]:
    """`vitedge bundle verify`: the problems of a bundle folder or .zip (empty when it is intact)."""
    from vitedge.bundle import verify_bundle as verify
    from vitedge.readfile import names_too_long_refused

    with names_too_long_refused():
        return verify(path)


@locks("out", "report", {"artifacts": "ARTIFACTS", "validation": "--validation", "bench": "--bench"})
def report(artifacts: str | Path, validation: str | Path = "runs/validate", bench: str | Path = "runs/bench",
           targets: str | None = None, out: str | Path = "runs/report", force: bool = False):
    """`vitedge report`: OUT/report.md and OUT/report.html with per-target Pareto plots; returns both paths."""
    from vitedge.report import write_report

    return write_report(artifacts, validation, bench, _csv(targets, "--target", _target_names(), "target"), out, force)
