"""Post-training quantization to FP16 and INT8 on every backend, with an accuracy-aware fallback."""
from vitedge.quantize import onnx as _onnx  # noqa: F401  (registers)
from vitedge.quantize.base import QUANTIZERS, QuantInput, Quantizer
from vitedge.quantize.scheme import Scheme

for _backend in ("openvino", "tflite"):  # written alongside; registered when present
    try:
        __import__(f"vitedge.quantize.{_backend}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"vitedge.quantize.{_backend}":
            raise

__all__ = ["QUANTIZERS", "QuantInput", "Quantizer", "Scheme"]
