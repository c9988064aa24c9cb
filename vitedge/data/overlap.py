"""Content-level overlap between two datasets (the same image in calibration and evaluation)."""
from __future__ import annotations

import hashlib

from vitedge.data.dataset import Dataset


def image_hashes(data: Dataset) -> set[str]:
    return {hashlib.sha256(image.tobytes()).hexdigest() for image in data.images}


def overlapping_images(a: Dataset, b: Dataset) -> int:
    """How many distinct images of `b` also appear in `a` (byte-identical after preprocessing)."""
    return len(image_hashes(a) & image_hashes(b))
