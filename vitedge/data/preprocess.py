"""Bring images to an IOSpec's geometry (timm-style eval transform) and normalize them."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from vitedge.errors import DataError

if TYPE_CHECKING:
    from vitedge.models.spec import IOSpec

RESAMPLE_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}
SUPPORTED_CHANNELS = (1, 3)
# ITU-R 601-2 luma in 16.16 fixed point, bit-exact with Pillow's RGB -> "L" conversion.
_LUMA_WEIGHTS = (19595, 38470, 7471)


def check_spec(spec: IOSpec) -> None:
    """Raise DataError if images cannot be prepared for `spec`."""
    if spec.channels not in SUPPORTED_CHANNELS:
        raise DataError(
            f"the model expects {spec.channels}-channel input; image data can only be prepared "
            "for 1-channel (grayscale) or 3-channel (RGB) models",
            "feed such a model pre-normalized tensors instead of an image dataset",
        )
    if spec.interpolation not in RESAMPLE_FILTERS:
        raise DataError(
            f"unknown interpolation {spec.interpolation!r} in the model's IOSpec",
            f"use one of {', '.join(RESAMPLE_FILTERS)}",
        )


def pil_mode(spec: IOSpec) -> str:
    """Pillow mode matching the spec's channel count."""
    return "L" if spec.channels == 1 else "RGB"


def convert_channels(images_nhwc: np.ndarray, channels: int) -> np.ndarray:
    """Convert N x H x W x C uint8 (C in 1, 3, 4) to `channels` (1 or 3); alpha is dropped."""
    if images_nhwc.shape[-1] == 4:
        images_nhwc = images_nhwc[..., :3]
    source_channels = images_nhwc.shape[-1]
    if source_channels == channels:
        return images_nhwc
    if channels == 3:
        return np.repeat(images_nhwc, 3, axis=-1)
    red, green, blue = (images_nhwc[..., i].astype(np.uint32) for i in range(3))
    weighted = red * _LUMA_WEIGHTS[0] + green * _LUMA_WEIGHTS[1] + blue * _LUMA_WEIGHTS[2]
    return ((weighted + 0x8000) >> 16).astype(np.uint8)[..., None]


def resized_size(height: int, width: int, spec: IOSpec) -> tuple[int, int]:
    """(height, width) before the centre crop, as timm's eval transform computes it."""
    scale_h = math.floor(spec.height / spec.crop_pct)
    scale_w = math.floor(spec.width / spec.crop_pct)
    if scale_h == scale_w:  # torchvision Resize(int): shorter side to scale, keep the aspect ratio
        if height <= width:
            return scale_h, int(scale_h * width / height)
        return int(scale_w * height / width), scale_w
    ratio = min(height / scale_h, width / scale_w)  # timm ResizeKeepRatio: cover both target sides
    return round(height / ratio), round(width / ratio)


def _crop_offset(source: int, target: int) -> int:
    """Top/left offset of a centre crop (torchvision rounding; negative means zero padding)."""
    if source >= target:
        return int(round((source - target) / 2.0))
    return -((target - source) // 2)


def resize_and_crop(image: Image.Image, spec: IOSpec) -> Image.Image:
    """Resize the shorter side to size / crop_pct, then centre-crop to the spec's H x W."""
    if (image.height, image.width) == (spec.height, spec.width):
        return image
    new_h, new_w = resized_size(image.height, image.width, spec)
    if (new_h, new_w) != (image.height, image.width):
        image = image.resize((new_w, new_h), RESAMPLE_FILTERS[spec.interpolation])
    top, left = _crop_offset(new_h, spec.height), _crop_offset(new_w, spec.width)
    return image.crop((left, top, left + spec.width, top + spec.height))


def image_to_chw(image: Image.Image, spec: IOSpec) -> np.ndarray:
    """A decoded Pillow image as a C x H x W uint8 array matching `spec`."""
    image = resize_and_crop(image.convert(pil_mode(spec)), spec)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def array_to_nchw(images_nhwc: np.ndarray, spec: IOSpec) -> np.ndarray:
    """N x H x W x C uint8 images as N x C x H x W uint8 matching `spec`."""
    converted = convert_channels(images_nhwc, spec.channels)
    if converted.shape[1:3] == (spec.height, spec.width):
        return np.ascontiguousarray(converted.transpose(0, 3, 1, 2))
    planes = converted[..., 0] if spec.channels == 1 else converted  # H x W -> "L", H x W x 3 -> "RGB"
    out = np.empty((len(converted), *spec.input_size), dtype=np.uint8)
    for index, plane in enumerate(planes):
        out[index] = image_to_chw(Image.fromarray(np.ascontiguousarray(plane)), spec)
    return out


def normalize(images_nchw: np.ndarray, spec: IOSpec) -> np.ndarray:
    """uint8 N x C x H x W -> float32 `(x / 255 - mean) / std` per channel."""
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(1, -1, 1, 1)
    return (images_nchw.astype(np.float32) / np.float32(255.0) - mean) / std
