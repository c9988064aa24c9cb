"""The quantizer contract and its registry."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vitedge.models.loaded import LoadedModel
from vitedge.quantize.scheme import Scheme
from vitedge.registry import Registry


@dataclass
class QuantInput:
    """What a backend quantizes from: the PyTorch model, its FP32 artifact in this format, calibration inputs."""

    model: LoadedModel
    fp32_path: Path  # the exported FP32 artifact (ONNX file, OpenVINO .xml, .tflite)
    calibration: np.ndarray  # float32 N x C x H x W, normalized as the model expects


class Quantizer(Protocol):
    format: str  # the export format it quantizes (onnx, openvino, tflite)
    int8_modes: tuple[str, ...]  # the Scheme.mode values it supports for int8
    precisions: tuple[str, ...]  # the Scheme.precision values it makes

    def unavailable(self, scheme: Scheme) -> str | None:
        """Why `scheme` cannot be made (and validated) for this format on this host, or None."""

    def quantize(self, inp: QuantInput, scheme: Scheme, folder: Path) -> list[Path]:
        """Write the quantized artifact into `folder` (main file first), named `{model.name}_{scheme.tag}{suffix}`."""

    def layers(self, inp: QuantInput, scheme: Scheme) -> list[str]:
        """Names of the ops `scheme` quantizes, in graph order: what `Scheme.keep_float` may name."""


QUANTIZERS: Registry[Quantizer] = Registry("quantization backend")


def unavailable_here(quantizer: Quantizer, scheme: Scheme) -> str | None:
    """The common refusals: a precision or int8 mode the format's runtime has no kernels for."""
    if scheme.precision not in quantizer.precisions:
        return f"{quantizer.format} has no {scheme.precision} execution (bf16 is OpenVINO's)"
    if scheme.precision == "int8" and scheme.mode not in quantizer.int8_modes:
        return f"{quantizer.format} has no {scheme.mode} int8 scheme"
    return None
