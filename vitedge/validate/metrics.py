"""Drift metrics of an artifact's outputs against the FP32 reference's, on the same images in the same order."""
from __future__ import annotations

import math

import numpy as np

from vitedge.export.parity import cosine_per_sample

Z95 = 1.959964
MIN_CLASS_IMAGES = 50  # below this one image moves a class by more than 2 pp: its drop is noise, not a measurement


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _top_k_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def drop_interval(ref_correct: np.ndarray, art_correct: np.ndarray) -> tuple[float, float]:
    """95% interval of the paired accuracy drop in pp (normal approximation on per-image differences)."""
    diff = ref_correct.astype(np.float64) - art_correct.astype(np.float64)
    n = len(diff)
    half = Z95 * diff.std(ddof=1) / math.sqrt(n) if n > 1 else float("inf")
    return 100 * (diff.mean() - half), 100 * (diff.mean() + half)


def psnr(reference: np.ndarray, output: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, peak = the reference's range."""
    mse = float(np.mean((reference.astype(np.float64) - output) ** 2))
    peak = float(reference.max() - reference.min())
    return float("inf") if mse == 0 else 10 * math.log10(peak**2 / mse)


def output_metrics(reference: np.ndarray, output: np.ndarray) -> dict:
    """For any output (logits, an embedding, a map): cosine per image (mean, worst), PSNR, max |diff|."""
    cosines = cosine_per_sample(reference, output)
    return {"samples": len(reference), "mean_cosine": float(cosines.mean()), "min_cosine": float(cosines.min()),
            "psnr_db": psnr(reference, output),
            "max_abs_diff": float(np.abs(reference.astype(np.float64) - output).max())}


def classification_metrics(reference: np.ndarray, output: np.ndarray, labels: np.ndarray | None) -> dict:
    """Top-1 agreement and KL divergence always; with labels: top-1/top-5, drops, per-class accuracy, worst class."""
    ref_p, out_p = _softmax(reference), _softmax(output)
    kl = np.sum(ref_p * (np.log(ref_p + 1e-12) - np.log(out_p + 1e-12)), axis=1)
    figures = {"top1_agreement": float((reference.argmax(1) == output.argmax(1)).mean()),
               "kl_divergence": float(kl.mean())}
    if labels is None:
        return figures
    ref1, out1 = reference.argmax(1) == labels, output.argmax(1) == labels
    ref5, out5 = _top_k_correct(reference, labels, 5), _top_k_correct(output, labels, 5)
    low, high = drop_interval(ref1, out1)
    figures.update({"top1": float(out1.mean()), "reference_top1": float(ref1.mean()),
                    "top1_drop_pp": 100 * float(ref1.mean() - out1.mean()), "top1_drop_ci95_pp": [low, high],
                    "top5": float(out5.mean()), "reference_top5": float(ref5.mean()),
                    "top5_drop_pp": 100 * float(ref5.mean() - out5.mean())})
    figures.update(_per_class(ref1, out1, labels))
    return figures


def _per_class(ref_correct: np.ndarray, out_correct: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy per class; the worst class's drop only among classes with MIN_CLASS_IMAGES images or more."""
    per_class = {}
    for cls in np.unique(labels):
        mask = labels == cls
        per_class[str(int(cls))] = {"count": int(mask.sum()), "top1": float(out_correct[mask].mean()),
                                    "reference_top1": float(ref_correct[mask].mean())}
    drops = {c: 100 * (v["reference_top1"] - v["top1"]) for c, v in per_class.items()
             if v["count"] >= MIN_CLASS_IMAGES}
    if not drops:
        largest = max(v["count"] for v in per_class.values())
        return {"per_class": per_class, "worst_class_note": (
            f"no class has {MIN_CLASS_IMAGES} evaluation images (largest: {largest}): one image would move a class "
            f"by {100 / largest:.0f} pp, so per-class drops are not measured")}
    worst = max(drops, key=lambda c: (drops[c], c))
    return {"per_class": per_class, "worst_class": worst, "worst_class_drop_pp": drops[worst],
            "worst_class_of": len(drops)}


def map_metrics(reference: np.ndarray, output: np.ndarray) -> dict:
    """For maps (batch, channels, height, width): the worst image's PSNR and the share of pixels that agree: the
    channel argmax when there are several channels, else the value thresholded at the midpoint of the reference
    image's range (a saliency or depth map's foreground)."""
    psnrs = [psnr(r, o) for r, o in zip(reference, output)]
    if reference.ndim == 4 and reference.shape[1] > 1:
        agree = (reference.argmax(1) == output.argmax(1)).reshape(len(reference), -1).mean(1)
    else:
        ref, out = reference.reshape(len(reference), -1), output.reshape(len(output), -1)
        middle = (ref.max(1, keepdims=True) + ref.min(1, keepdims=True)) / 2
        agree = ((ref > middle) == (out > middle)).mean(1)
    return {"min_psnr_db": min(psnrs), "pixel_agreement": float(agree.mean()),
            "min_pixel_agreement": float(agree.min())}


def all_metrics(reference: np.ndarray, output: np.ndarray, labels: np.ndarray | None, task: str) -> dict:
    figures = output_metrics(reference, output)
    if task == "image-classification":
        figures.update(classification_metrics(reference, output, labels))
    elif task == "dense-prediction" and reference.ndim >= 3:
        figures.update(map_metrics(reference, output))
    return _rounded(figures)


def _rounded(value):
    """Round floats to 8 significant digits so reports are byte-stable across runs."""
    if isinstance(value, float):
        return float(f"{value:.8g}") if math.isfinite(value) else None  # identical outputs: PSNR is infinite
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
