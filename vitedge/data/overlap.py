"""Content-level overlap between two datasets (the same image in calibration and evaluation)."""
from __future__ import annotations

import hashlib

from vitedge.data.dataset import Dataset


HASH_CHARS = 16  # 64-bit prefixes: collisions among a few thousand images are out of reach


def image_hashes(data: Dataset) -> set[str]:
    """Content hash of every image (after preprocessing to the model's input), as recorded in artifacts."""
    return {hashlib.sha256(image.tobytes()).hexdigest()[:HASH_CHARS] for image in data.images}


def overlapping_images(a: Dataset | set[str], b: Dataset) -> int:
    """How many distinct images of `b` also appear in `a` (a dataset, or the image hashes an artifact recorded)."""
    return len((a if isinstance(a, set) else image_hashes(a)) & image_hashes(b))
