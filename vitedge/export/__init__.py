"""Export to ONNX, OpenVINO IR and TFLite: one file per format, one registry."""
from vitedge.export import onnx as _onnx, openvino as _openvino, tflite as _tflite  # noqa: F401  (register)
from vitedge.export.base import EXPORTERS, Exporter
from vitedge.export.parity import ParityFigures, Tolerance, compare_outputs
from vitedge.export.run import export_model, parse_formats

__all__ = ["EXPORTERS", "Exporter", "ParityFigures", "Tolerance", "compare_outputs", "export_model", "parse_formats"]
