"""Data shipped in the repo's calib_data/ for the built-in models, and sample images for any model."""
from __future__ import annotations

from pathlib import Path

CALIB_DIR = Path(__file__).resolve().parents[2] / "calib_data"
DEFAULT_DATA = {"vit4mnist": {"calib": "mnist_calib.npz", "eval": "mnist_eval.npz"}}
SAMPLE_IMAGES = "mnist_eval.npz"  # real images for parity checks of models that have no data of their own


def default_data(model_name: str, split: str) -> str | None:
    """calib_data/ path of a built-in model's `split` ("calib" or "eval"), or None."""
    name = DEFAULT_DATA.get(model_name, {}).get(split)
    return str(CALIB_DIR / name) if name else None


def sample_images() -> str:
    return str(CALIB_DIR / SAMPLE_IMAGES)
