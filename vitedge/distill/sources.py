"""`vitedge distill` from model sources and data paths: load, check, train (the CLI's entry into the stage)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from vitedge.console import log as _log
from vitedge.data import Dataset, load_dataset
from vitedge.data.dataset import check_labels, model_classes
from vitedge.data.defaults import default_data
from vitedge.data.overlap import overlapping_images
from vitedge.distill.config import DistillConfig, DistillError, DistillResult
from vitedge.distill.loop import distill
from vitedge.errors import DataError, ModelSourceError
from vitedge.models import LoadedModel, load_model
from vitedge.models.specfile import SPEC_SUFFIXES, read_spec_file


MIN_TRAIN_IMAGES = 16


def distill_sources(teacher: str, student: str, data: str | None, eval_data: str | None, out: Path,
                    cfg: DistillConfig, teacher_weights: str | None = None, student_weights: str | None = None,
                    random_init: bool = False, allow_overlap: bool = False, force: bool = False,
                    progress: bool = True) -> DistillResult:
    """Load teacher and student, the training and evaluation data (defaults: the teacher's calib_data sets),
    refuse overlapping data, then distill into `out` (resuming a checkpoint there unless `force`)."""
    teacher_model = load_model(teacher, weights=teacher_weights)
    with torch.random.fork_rng(devices=[]):  # a random student starts from the run's seed, and only from it
        torch.manual_seed(cfg.seed)
        student_model = load_student(student, student_weights, random_init)
    student_model.require_pytorch("the distillation student")
    spec = teacher_model.spec
    _check_compatible(teacher_model, student_model)
    classes = model_classes(teacher_model)
    train = check_labels(_load(data or default_data(teacher_model.name, "calib"), spec, "--data", teacher_model.name),
                         classes, teacher_model.name)
    if len(train) < MIN_TRAIN_IMAGES:
        raise DataError(f"--data {train.source} has {len(train)} image(s): too few to train a student on (at least "
                        f"{MIN_TRAIN_IMAGES})", "pass more training images (hundreds or more)")
    evaluation = check_labels(_load(eval_data or default_data(teacher_model.name, "eval"), spec, None,
                                    teacher_model.name), classes, teacher_model.name)
    if evaluation is not None:
        _check_overlap(train, evaluation, allow_overlap)
    meta = {"teacher": {"source": teacher, "name": teacher_model.name, "weights": teacher_model.weights_path},
            "student": {"source": student, "init": "random" if student_model.weights_path is None
                        else student_model.weights_path}}
    return distill(teacher_model.module, student_model.module, train, spec, cfg, out=out, eval_data=evaluation,
                   resume=not force, progress=progress, name=student_model.name, meta=meta)


def log(message: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # once under torchrun
        _log(message)


def load_student(source: str, weights: str | None, random_init: bool) -> LoadedModel:
    """The student as load_model gives it; a spec whose weights file is missing starts from random weights only
    with `random_init`."""
    path = Path(source)
    if not random_init:
        try:
            return load_model(source, weights=weights)
        except ModelSourceError as exc:
            if "weights" not in exc.message:
                raise
            raise ModelSourceError(exc.message, f"{exc.hint + '; or ' if exc.hint else ''}pass --random-init to "
                                   "start the student from random weights") from None
    if weights or path.suffix not in SPEC_SUFFIXES or not path.is_file():
        return load_model(source, weights=weights, random_init=True)
    raw = read_spec_file(path)
    if raw.get("weights") and not Path(raw["weights"]).exists():
        log(f"note: the student's weights {raw['weights']} are missing; starting from random weights")
        from vitedge.models.source import _from_spec  # the spec as written, minus the missing weights

        raw = {k: v for k, v in raw.items() if k not in ("weights", "weights_sha256")}
        return _from_spec(raw, source, None, True)
    return load_model(source, random_init=True)


def _check_compatible(teacher: LoadedModel, student: LoadedModel) -> None:
    t, s = teacher.spec, student.spec
    if t.input_size != s.input_size:
        raise DistillError(f"the student takes {s.input_size} inputs, the teacher {t.input_size}",
                           "distill into a student with the teacher's input size")
    if (t.mean, t.std) != (s.mean, s.std):
        log(f"note: the student is trained (and its spec written) with the teacher's preprocessing "
            f"mean {t.mean} std {t.std}")
    classes = [getattr(m.config, "num_classes", None) for m in (teacher, student)]
    if None not in classes and classes[0] != classes[1]:
        raise DistillError(f"the student has {classes[1]} classes, the teacher {classes[0]}",
                           "the student's head must have the teacher's classes")


def _load(arg: str | None, spec, flag: str | None, teacher_name: str) -> Dataset | None:
    if arg is None:
        if flag is None:
            log("note: no --eval data: no held-out accuracy will be reported")
            return None
        raise DataError(f"{flag} is required for the teacher {teacher_name}",
                        f"pass {flag} DATA (class-folder tree, .npz or IDX, optionally PATH[START:END])")
    return load_dataset(arg, spec)


def _check_overlap(train: Dataset, evaluation: Dataset, allow_overlap: bool) -> None:
    shared = 0 if allow_overlap else overlapping_images(train, evaluation)
    if shared:
        raise DataError(f"{shared} image(s) of the evaluation data {evaluation.source} also appear in the "
                        f"training data {train.source}", "use held-out evaluation images, or pass --allow-overlap")

