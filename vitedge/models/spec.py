"""IOSpec: what a model expects and returns; everything preprocessing and a bundle need."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


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
        channels = self.input_size[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(
                f"mean/std need one value per input channel ({channels}); got mean={self.mean} std={self.std}"
            )

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
        d = dict(d)
        d["input_size"] = tuple(d["input_size"])
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        d["labels"] = tuple(d["labels"]) if d.get("labels") else None
        return cls(**d)
