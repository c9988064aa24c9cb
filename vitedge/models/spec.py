"""IOSpec: what a model expects and returns; everything preprocessing and a bundle need."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

TASKS = ("image-classification", "feature-extraction", "dense-prediction")  # logits | a vector | a map
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")  # vitedge.data.preprocess's filters
CROP_PCT_RANGE = (0.1, 1.0)
MAX_INPUT_SIDE = 8192


@dataclass(frozen=True)
class IOSpec:
    """Input geometry, preprocessing and labels of an image model.

    Images are uint8 in [0, 255]; the model input is `(x / 255 - mean) / std`, NCHW float32.
    `crop_pct` follows timm: resize the shorter side to `size / crop_pct`, then centre-crop `size`.
    """

    input_size: tuple[int, int, int]  # (channels, height, width)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...] | None = None
    task: str = "image-classification"
    crop_pct: float = 1.0
    interpolation: str = "bilinear"
    input_name: str = "pixel_values"
    output_name: str = "logits"
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        """ValueError naming the field, the value and the allowed range: an IOSpec is never half-valid."""
        for name in ("input_size", "mean", "std", "labels"):
            if isinstance(getattr(self, name), list):  # lists from Python callers and documents: tuples here
                object.__setattr__(self, name, tuple(getattr(self, name)))
        size = self.input_size
        if not isinstance(size, tuple) or len(size) != 3 or not all(_is_int(v) and 1 <= v <= MAX_INPUT_SIDE
                                                                    for v in size):
            raise ValueError(f"input_size must be (channels, height, width), integers from 1 to {MAX_INPUT_SIDE}, "
                             f"got {size!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if not isinstance(values, tuple) or not all(_is_number(v) for v in values):
                raise ValueError(f"{name} must be a list of finite numbers, got {values!r}")
            if len(values) != size[0]:
                raise ValueError(f"mean/std need one value per input channel ({size[0]}); got {name} = "
                                 f"{list(values)}")
        if any(v <= 0 for v in self.std):
            raise ValueError(f"std must be positive (images are divided by it), got {list(self.std)}")
        if not _is_number(self.crop_pct) or not CROP_PCT_RANGE[0] <= self.crop_pct <= CROP_PCT_RANGE[1]:
            raise ValueError(f"crop_pct = {self.crop_pct!r} must be a number from {CROP_PCT_RANGE[0]} to "
                             f"{CROP_PCT_RANGE[1]} (1.0: no crop)")
        _one_of("interpolation", self.interpolation, INTERPOLATIONS)
        _one_of("task", self.task, TASKS)
        if self.labels is not None and (not isinstance(self.labels, tuple)
                                        or not all(isinstance(v, str) for v in self.labels)):
            raise ValueError(f"labels must be a list of strings, got {self.labels!r}")
        for name in ("input_name", "output_name"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string, got {getattr(self, name)!r}")

    @property
    def channels(self) -> int:
        return self.input_size[0]

    @property
    def height(self) -> int:
        return self.input_size[1]

    @property
    def width(self) -> int:
        return self.input_size[2]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["labels"] = list(self.labels) if self.labels else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "IOSpec":
        """The inverse of to_dict; ValueError names a missing, unknown or invalid key."""
        if not isinstance(d, dict):
            raise ValueError(f"an IOSpec must be a table / object, got {d!r}"[:200])
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(d) - known), [k for k in ("input_size", "mean", "std") if k not in d]
        if unknown or missing:
            raise ValueError(f"unknown key(s) {unknown}" if unknown else f"missing key(s) {missing}")
        d = dict(d, labels=d.get("labels") or None)
        if not isinstance(d.get("extra", {}), dict):
            raise ValueError(f"extra must be a table / object, got {d['extra']!r}")
        return cls(**d)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _one_of(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed or not isinstance(value, str):
        raise ValueError(f"{name} = {value!r} is not supported; allowed values: {', '.join(allowed)}")
