"""Parity of an artifact's outputs against the PyTorch reference on the same images."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from vitedge.errors import ParityError


@dataclass(frozen=True)
class Tolerance:
    """Bounds an FP32 artifact must meet. `max_abs_diff` (relative to the largest |reference logit|, at least 1) and
    `min_cosine` hold for every image, or for the `abs_diff_share` of images closest to the reference when the model
    makes discrete choices (token merging: a near-tie, common in flat images, can merge another token in another
    runtime); the other images must still reach `outlier_min_cosine` (a wrong graph scores far below it). Top-1
    agreement holds over all images."""

    max_abs_diff: float = 1e-3
    min_cosine: float = 0.9999
    min_top1_agreement: float = 0.999
    abs_diff_share: float = 1.0
    outlier_min_cosine: float = 0.99


FP32_TOLERANCE = Tolerance()
MERGE_TIE_SHARE = 0.98  # images held to max_abs_diff for a model with token merging


def tolerance_for(model, tolerance: Tolerance = FP32_TOLERANCE) -> Tolerance:
    """`tolerance`, with per-image abs-diff outliers allowed for a model that merges tokens."""
    config = model.config or getattr(model.module, "cfg", None)  # a VisionTransformer wrapped by from_module
    merges = getattr(config, "token_merge", 0) > 0
    return replace(tolerance, abs_diff_share=min(tolerance.abs_diff_share, MERGE_TIE_SHARE)) if merges else tolerance


@dataclass(frozen=True)
class ParityFigures:
    samples: int
    max_abs_diff: float
    mean_cosine: float
    min_cosine: float
    top1_agreement: float
    top1: float | None  # artifact accuracy when labels exist
    reference_top1: float | None
    abs_diffs: tuple[float, ...] = ()  # per image, largest first (kept for the check, not written)
    cosines: tuple[float, ...] = ()  # per image, smallest first (kept for the check, not written)

    def abs_diff_of_share(self, share: float) -> float:
        """The largest abs diff among the `share` of images closest to the reference."""
        if share >= 1.0 or not self.abs_diffs:
            return self.max_abs_diff
        return self.abs_diffs[_outliers(len(self.abs_diffs), share)]

    def min_cosine_of_share(self, share: float) -> float:
        """The smallest cosine among the `share` of images closest to the reference."""
        if share >= 1.0 or not self.cosines:
            return self.min_cosine
        return self.cosines[_outliers(len(self.cosines), share)]

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("abs_diffs", "cosines")}


def _outliers(count: int, share: float) -> int:
    """Images left out when `share` of `count` must meet a bound (an index into the worst-first figures)."""
    return min(int(count * (1.0 - share)), count - 1)


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
    per_image = np.abs(reference.astype(np.float64) - output).reshape(len(reference), -1).max(axis=1)
    ref_top1, out_top1 = reference.argmax(axis=1), output.argmax(axis=1)
    return ParityFigures(
        samples=len(reference),
        max_abs_diff=float(per_image.max()),
        mean_cosine=float(cosines.mean()),
        min_cosine=float(cosines.min()),
        top1_agreement=float((ref_top1 == out_top1).mean()),
        top1=float((out_top1 == labels).mean()) if labels is not None else None,
        reference_top1=float((ref_top1 == labels).mean()) if labels is not None else None,
        abs_diffs=tuple(float(d) for d in np.sort(per_image)[::-1]),
        cosines=tuple(float(c) for c in np.sort(cosines)),
    )


def parity_failures(figures: ParityFigures, reference: np.ndarray, tolerance: Tolerance,
                    classification: bool = True) -> list[str]:
    """What exceeds the tolerance, each with the measured value and the bound; empty when parity holds.
    Top-1 agreement is only a criterion for classifiers (an embedding's argmax means nothing)."""
    atol = tolerance.max_abs_diff * max(1.0, float(np.abs(reference).max()))
    share = tolerance.abs_diff_share
    diff, cosine = figures.abs_diff_of_share(share), figures.min_cosine_of_share(share)
    closest = "" if share >= 1.0 else f" of the {100 * share:g}% closest images"
    checks = [
        (f"max abs diff{closest}", diff, atol, diff <= atol, "<="),
        (f"min cosine{closest}", cosine, tolerance.min_cosine, cosine >= tolerance.min_cosine, ">="),
        ("top-1 agreement", figures.top1_agreement, tolerance.min_top1_agreement,
         figures.top1_agreement >= tolerance.min_top1_agreement or not classification, ">="),
    ]
    if share < 1.0:
        checks.append(("min cosine of any image", figures.min_cosine, tolerance.outlier_min_cosine,
                       figures.min_cosine >= tolerance.outlier_min_cosine, ">="))
    return [f"{name} {value:.6g} (must be {op} {bound:.6g})" for name, value, bound, ok, op in checks if not ok]
