"""Parity of an artifact's outputs against the PyTorch reference on the same images."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from vitedge.errors import ParityError


@dataclass(frozen=True)
class Tolerance:
    """Bounds an FP32 artifact must meet. `max_abs_diff` is relative to the largest |reference logit| (at least 1)."""

    max_abs_diff: float = 1e-3
    min_cosine: float = 0.9999
    min_top1_agreement: float = 0.999


FP32_TOLERANCE = Tolerance()


@dataclass(frozen=True)
class ParityFigures:
    samples: int
    max_abs_diff: float
    mean_cosine: float
    min_cosine: float
    top1_agreement: float
    top1: float | None  # artifact accuracy when labels exist
    reference_top1: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def cosine_per_sample(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(norms > 0, (a * b).sum(axis=1) / np.maximum(norms, 1e-300), 1.0)


def compare_outputs(reference: np.ndarray, output: np.ndarray, labels: np.ndarray | None,
                    classification: bool = True) -> ParityFigures:
    """Figures for one artifact; `reference` and `output` are outputs for the same images in the same order.
    Labels are only compared with a classifier's argmax (an embedding's or a map's argmax is no class)."""
    if not classification:
        labels = None
    if reference.shape != output.shape:
        raise ParityError(f"output shape {output.shape} differs from the PyTorch reference's {reference.shape}")
    cosines = cosine_per_sample(reference, output)
    ref_top1, out_top1 = reference.argmax(axis=1), output.argmax(axis=1)
    return ParityFigures(
        samples=len(reference),
        max_abs_diff=float(np.abs(reference.astype(np.float64) - output).max()),
        mean_cosine=float(cosines.mean()),
        min_cosine=float(cosines.min()),
        top1_agreement=float((ref_top1 == out_top1).mean()),
        top1=float((out_top1 == labels).mean()) if labels is not None else None,
        reference_top1=float((ref_top1 == labels).mean()) if labels is not None else None,
    )


def parity_failures(figures: ParityFigures, reference: np.ndarray, tolerance: Tolerance,
                    classification: bool = True) -> list[str]:
    """What exceeds the tolerance, each with the measured value and the bound; empty when parity holds.
    Top-1 agreement is only a criterion for classifiers (an embedding's argmax means nothing)."""
    atol = tolerance.max_abs_diff * max(1.0, float(np.abs(reference).max()))
    checks = [
        ("max abs diff", figures.max_abs_diff, atol, figures.max_abs_diff <= atol, "<="),
        ("min cosine", figures.min_cosine, tolerance.min_cosine, figures.min_cosine >= tolerance.min_cosine, ">="),
        ("top-1 agreement", figures.top1_agreement, tolerance.min_top1_agreement,
         figures.top1_agreement >= tolerance.min_top1_agreement or not classification, ">="),
    ]
    return [f"{name} {value:.6g} (must be {op} {bound:.6g})" for name, value, bound, ok, op in checks if not ok]
