"""Accuracy of an artifact, run in its own runtime, against the FP32 PyTorch reference on held-out data."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vitedge.data import Dataset
from vitedge.errors import DataError
from vitedge.export.base import open_artifact
from vitedge.export.parity import compare_outputs, cosine_per_sample
from vitedge.export.run import reference_logits
from vitedge.models.loaded import LoadedModel

BATCH = 256


def finite_inputs(data: Dataset, model: LoadedModel, role: str) -> np.ndarray:
    """The normalized inputs of `data`, refusing NaN or infinity (a broken mean/std, a corrupt file)."""
    inputs = np.concatenate([x for x, _ in data.batches(model.spec, BATCH)])
    if not np.isfinite(inputs).all():
        raise DataError(f"{role} data {data.source}: inputs contain NaN or infinity after preprocessing",
                        "check the model's mean/std (std must not be 0) and the image files")
    return inputs


class Evaluator:
    """Runs artifacts on one evaluation set and reports accuracy and drift against the FP32 reference."""

    def __init__(self, model: LoadedModel, data: Dataset, threads: int):
        self.model, self.data, self.threads = model, data, threads
        finite_inputs(data, model, "evaluation")
        self.reference = reference_logits(model, data.batches(model.spec, BATCH))
        self.classifier = model.spec.task == "image-classification"
        self.reference_top1 = None if data.labels is None or not self.classifier else float(
            (self.reference.argmax(1) == data.labels).mean())

    def outputs(self, fmt: str, path: Path, precision: str = "fp32") -> np.ndarray:
        runner = open_artifact(fmt, path, self.threads, precision)
        return np.concatenate([runner(x) for x, _ in self.data.batches(self.model.spec, BATCH)])

    def evaluate(self, fmt: str, path: Path, precision: str = "fp32") -> dict:
        """Accuracy and drift of the artifact, run in the precision its runtime computes `precision` in."""
        figures = compare_outputs(self.reference, self.outputs(fmt, path, precision), self.data.labels,
                                  self.classifier)
        drop = None if figures.top1 is None else round(100 * (figures.reference_top1 - figures.top1), 4)
        return {**figures.to_dict(), "drop_pp": drop, "data_sha256": self.data.sha256(), "data": self.data.source}


class CalibrationProbe:
    """Cheap error of an artifact on a few calibration images: mean (1 - logit cosine) against FP32 PyTorch.
    The accuracy-aware fallback ranks layers with it, keeping the held-out set for the accuracy decision."""

    def __init__(self, model: LoadedModel, inputs: np.ndarray, threads: int, count: int = 128):
        self.inputs, self.threads = inputs[:count], threads
        self.reference = reference_logits(model, [(self.inputs, None)])

    def error(self, fmt: str, path: Path, precision: str = "fp32") -> float:
        outputs = open_artifact(fmt, path, self.threads, precision)(self.inputs)
        return float((1.0 - cosine_per_sample(self.reference, outputs)).mean())
