"""Training views for the supernet: random resized crops and flips of the user's images, seeded per step.

The teacher sees each view at the parent's resolution; a sub-network sees the same view resized to its own, so the
pretrained model labels every view it is asked to match (no labels needed), and a small set of images goes further.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from vitedge.models.spec import IOSpec


def random_resized_crops(images: np.ndarray, rng: np.random.Generator, scale: tuple[float, float] = (0.35, 1.0),
                         ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: bool = True) -> torch.Tensor:
    """uint8 N x C x H x W -> float32 N x C x H x W in [0, 1]: a random crop of each image, resized back, maybe
    mirrored (timm's RandomResizedCrop and horizontal flip, on images already at the model's input size)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255)
    _, _, height, width = x.shape
    views = []
    for image in x:
        area = height * width * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w = max(1, min(width, round(math.sqrt(area * aspect))))
        h = max(1, min(height, round(math.sqrt(area / aspect))))
        top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        view = F.interpolate(image[None, :, top:top + h, left:left + w], size=(height, width), mode="bilinear",
                             antialias=True, align_corners=False)[0]
        views.append(view.flip(-1) if flip and rng.random() < 0.5 else view)
    return torch.stack(views)


def normalize(x: torch.Tensor, spec: IOSpec) -> torch.Tensor:
    """[0, 1] images -> the model input (x - mean) / std."""
    mean = torch.tensor(spec.mean, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def at_resolution(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """A batch resized to `resolution` (antialiased bilinear); unchanged when it is already that size."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
