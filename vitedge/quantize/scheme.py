"""Quantization schemes: a small dataclass every backend understands."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from vitedge.errors import VitedgeError

PRECISIONS = ("fp16", "bf16", "int8")  # bf16: OpenVINO only, computed in bf16 (AMX / AVX512-BF16 CPUs)
INT8_MODES = ("static", "dynamic", "full-integer")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


@dataclass(frozen=True)
class Scheme:
    """What to quantize and how.

    int8 modes: `static` (int8 weights and calibrated int8 activations on the weight-bearing MatMul / Linear / Conv
    ops; LayerNorm, Softmax, GELU and activation x activation MatMuls stay float; LiteRT also runs the GELU between
    int8 Linears in int8 and keeps the output layer float), `dynamic` (int8 weights,
    activation ranges computed at run time), `full-integer` (every op the backend can, for integer-only accelerators).
    `keep_float` names backend layers left in float (the accuracy-aware fallback fills it). `smoothquant`: the
    SmoothQuant alpha folded into the FP32 model before static INT8 (smooth.py), 0 for none.
    """

    precision: str
    mode: str = "static"
    per_channel: bool = True
    calibration: str = "minmax"
    keep_float: tuple[str, ...] = ()
    smoothquant: float = 0.0

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise VitedgeError(f"unknown precision {self.precision!r}", f"choose from {', '.join(PRECISIONS)}")
        if self.precision == "int8" and self.mode not in INT8_MODES:
            raise VitedgeError(f"unknown int8 scheme {self.mode!r}", f"choose from {', '.join(INT8_MODES)}")
        if not 0.0 <= self.smoothquant <= 1.0:
            raise VitedgeError(f"SmoothQuant alpha {self.smoothquant!r} is outside [0, 1]",
                               "pass an alpha between 0 and 1 (0.8 by default), or 0 for no smoothing")
        if self.calibration not in CALIBRATION_METHODS:
            raise VitedgeError(f"unknown calibration method {self.calibration!r}",
                               f"choose from {', '.join(CALIBRATION_METHODS)}")

    @property
    def needs_calibration(self) -> bool:
        return self.precision == "int8" and self.mode in ("static", "full-integer")

    @property
    def smooths(self) -> bool:
        """SmoothQuant applies: static INT8 with an alpha above 0."""
        return self.precision == "int8" and self.mode == "static" and self.smoothquant > 0

    @property
    def tag(self) -> str:
        """File-name tag: fp16, bf16, int8, int8-dynamic, int8-full."""
        if self.precision != "int8":
            return self.precision
        return {"static": "int8", "dynamic": "int8-dynamic", "full-integer": "int8-full"}[self.mode]

    def with_float(self, layers: list[str] | tuple[str, ...]) -> "Scheme":
        return replace(self, keep_float=tuple(layers))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["keep_float"] = list(self.keep_float)
        return d
