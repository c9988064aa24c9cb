"""The Python API behind each CLI verb: resolve inputs, run the stage, return its result."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from vitedge.console import log
from vitedge.data import Dataset, load_dataset
from vitedge.data.defaults import default_data, sample_images
from vitedge.errors import DataError
from vitedge.export import export_model, parse_formats
from vitedge.export.run import ExportResult
from vitedge.models import LoadedModel, load_model


DEFAULT_PARITY_SAMPLES = 500  # enough for an FP32 numerics check; the built-in held-out set is used whole
SAMPLE_IMAGES_COUNT = 256


def resolve_eval_data(model: LoadedModel, data: str | None, samples: int | None) -> Dataset:
    """The user's data; else the built-in model's held-out set; else real sample images without labels."""
    if data:
        return load_dataset(data, model.spec, limit=samples or DEFAULT_PARITY_SAMPLES)
    own = default_data(model.name, "eval")
    if own:
        return load_dataset(own, model.spec, limit=samples)
    if not Path(sample_images()).is_file():
        raise DataError(f"no --data given for {model.name} and the sample images {sample_images()} are missing",
                        "pass --data with images for this model (folder of class folders, .npz or IDX)")
    sample = load_dataset(sample_images(), model.spec, limit=samples or SAMPLE_IMAGES_COUNT)
    log(f"no --data given: parity on {len(sample)} sample images (MNIST digits resized to "
        f"{'x'.join(map(str, model.spec.input_size))}, no labels); pass --data for images of your domain")
    return dataclasses.replace(sample, labels=None, class_names=None)


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
