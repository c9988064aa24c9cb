"""OpenVINO IR (.xml + .bin) via openvino.convert_model from PyTorch, FP32 weights, dynamic batch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitedge.export.base import EXPORTERS, Runner, quiet_converters, require
from vitedge.models.loaded import LoadedModel
from vitedge.paths import model_stem


class OpenVinoExporter:
    format, suffix, runtime, extra = "openvino", ".xml", "openvino", "openvino"

    def export(self, model: LoadedModel, folder: Path) -> list[Path]:
        ov = require("openvino", self.extra)
        spec = model.spec
        with quiet_converters(), torch.no_grad():
            converted = ov.convert_model(model.module, example_input=torch.zeros(1, *spec.input_size))
        converted.reshape({converted.inputs[0]: ov.PartialShape([-1, *spec.input_size])})
        converted.inputs[0].get_tensor().set_names({spec.input_name})
        converted.outputs[0].get_tensor().set_names({spec.output_name})
        xml = folder / f"{model_stem(model)}.xml"
        ov.save_model(converted, str(xml), compress_to_fp16=False)  # the default would halve the weights to FP16
        return [xml, xml.with_suffix(".bin")]

    def open_runner(self, path: Path, threads: int, precision_hint: str = "f32") -> Runner:
        """`precision_hint="f32"` runs what the IR says; OpenVINO's default on AMX/AVX512-BF16 CPUs is bf16."""
        ov = require("openvino", self.extra)
        config = {"INFERENCE_NUM_THREADS": threads}
        if precision_hint:
            config["INFERENCE_PRECISION_HINT"] = precision_hint
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        request = compiled.create_infer_request()
        return lambda batch: np.array(request.infer([np.ascontiguousarray(batch, np.float32)])[0])

    def inference_precision(self, path: Path, precision_hint: str | None) -> str:
        """The precision the CPU plugin actually computes in (bf16 by default on AMX / AVX512-BF16 CPUs)."""
        ov = require("openvino", self.extra)
        config = {"INFERENCE_PRECISION_HINT": precision_hint} if precision_hint else {}
        compiled = ov.Core().compile_model(str(path), "CPU", config)
        return str(compiled.get_property("INFERENCE_PRECISION_HINT")).replace("<Type: '", "").replace("'>", "")

    def io_description(self, path: Path) -> tuple[list[dict], list[dict]]:
        ov = require("openvino", self.extra)
        model = ov.Core().read_model(str(path))

        def describe(port) -> dict:
            dims = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
            return {"name": port.get_any_name(), "shape": dims, "dtype": port.get_element_type().to_dtype().name}

        return [describe(p) for p in model.inputs], [describe(p) for p in model.outputs]


EXPORTERS.register("openvino")(OpenVinoExporter())
