"""OpenVINO IR (.xml + .bin) via openvino.convert_model from PyTorch, FP32 weights, dynamic batch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitedge.export.base import EXPORTERS, Runner, per_image, quiet_converters, require
from vitedge.models.loaded import LoadedModel
from vitedge.paths import model_stem


# An artifact's precision -> the CPU plugin's INFERENCE_PRECISION_HINT it runs with, everywhere (validate, bench,
# bundles). FP32 and FP16 (FP16-stored weights) compute in f32, as their names promise; bf16 in bf16; INT8's float
# parts in the plugin's default (bf16 on AMX / AVX512-BF16 CPUs, f32 elsewhere): what a user of the IR gets.
EXECUTION_HINTS = {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": None}


def execution_hint(precision: str, full_precision: bool = False) -> str | None:
    return "f32" if full_precision else EXECUTION_HINTS[precision]


class OpenVinoExporter:
    format, suffix, runtime, extra = "openvino", ".xml", "openvino", "openvino"

    def export(self, model: LoadedModel, folder: Path) -> list[Path]:
        ov = require("openvino", self.extra)
        spec = model.spec
        with quiet_converters(), torch.no_grad():
            if model.onnx_path:  # OpenVINO reads ONNX itself
                converted = ov.convert_model(model.onnx_graph)
            else:
                converted = ov.convert_model(model.module, example_input=torch.zeros(1, *spec.input_size))
        if not (model.onnx_path and converted.inputs[0].get_partial_shape()[0].is_static):  # a fixed batch stays
            converted.reshape({converted.inputs[0]: ov.PartialShape([-1, *spec.input_size])})
        converted.inputs[0].get_tensor().set_names({spec.input_name})
        converted.outputs[0].get_tensor().set_names({spec.output_name})
        xml = folder / f"{model_stem(model)}.xml"
        ov.save_model(converted, str(xml), compress_to_fp16=False)  # the default would halve the weights to FP16
        return [xml, xml.with_suffix(".bin")]

    def open_runner(self, path: Path, threads: int, precision: str = "fp32", full_precision: bool = False) -> Runner:
        """Runs the IR in its precision's EXECUTION_HINTS (`full_precision`: f32 whatever the precision)."""
        ov = require("openvino", self.extra)
        compiled = ov.Core().compile_model(str(path), "CPU", _config(threads, precision, full_precision))
        request = compiled.create_infer_request()
        run = lambda batch: np.array(request.infer([np.ascontiguousarray(batch, np.float32)])[0])  # noqa: E731
        return per_image(run) if compiled.inputs[0].get_partial_shape()[0] == 1 else run

    def inference_precision(self, path: Path, precision: str = "fp32", full_precision: bool = False) -> str:
        """The precision the CPU plugin actually computes in on this host."""
        ov = require("openvino", self.extra)
        compiled = ov.Core().compile_model(str(path), "CPU", _config(1, precision, full_precision))
        return compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # f32 | bf16 | f16

    def io_description(self, path: Path) -> tuple[list[dict], list[dict]]:
        ov = require("openvino", self.extra)
        model = ov.Core().read_model(str(path))

        def describe(port) -> dict:
            dims = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
            return {"name": port.get_any_name(), "shape": dims, "dtype": port.get_element_type().to_dtype().name}

        return [describe(p) for p in model.inputs], [describe(p) for p in model.outputs]


def _config(threads: int, precision: str, full_precision: bool) -> dict:
    hint = execution_hint(precision, full_precision)
    return {"INFERENCE_NUM_THREADS": threads} | ({"INFERENCE_PRECISION_HINT": hint} if hint else {})


EXPORTERS.register("openvino")(OpenVinoExporter())
