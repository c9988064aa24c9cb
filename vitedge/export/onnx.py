"""ONNX: torch.onnx (opset 18, dynamic batch), simplified with onnxslim, checked with ONNX Runtime."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vitedge.export.base import EXPORTERS, Runner, per_image, quiet_converters, require
from vitedge.models.loaded import LoadedModel
from vitedge.paths import model_stem

OPSET = 18


class OnnxExporter:
    format, suffix, runtime, extra = "onnx", ".onnx", "onnxruntime", "onnx"

    def export(self, model: LoadedModel, folder: Path) -> list[Path]:
        onnx = require("onnx", self.extra)
        onnxslim = require("onnxslim", self.extra)
        path = folder / f"{model_stem(model)}.onnx"
        if model.onnx_path:  # an ONNX source is its own FP32 artifact (external data merged into one file)
            onnx.save(onnx.load(model.onnx_graph), str(path))
            return [path]
        spec = model.spec
        example = torch.zeros(2, *spec.input_size)
        with quiet_converters(), torch.no_grad():
            torch.onnx.export(
                model.module, (example,), str(path), dynamo=False, opset_version=OPSET,
                input_names=[spec.input_name], output_names=[spec.output_name],
                dynamic_axes={spec.input_name: {0: "batch"}, spec.output_name: {0: "batch"}},
            )
            slim = onnxslim.slim(onnx.load(str(path)))
        onnx.checker.check_model(slim)
        onnx.save(slim, str(path))
        return [path]

    def inference_precision(self, path: Path, precision: str = "fp32", full_precision: bool = False) -> str:
        return f"{precision} (as stored)"

    def open_runner(self, path: Path, threads: int, precision: str = "fp32", full_precision: bool = False) -> Runner:
        """Runs the file as stored (`precision` and `full_precision` matter only to OpenVINO). The session's threads
        stop spinning when a run returns, so sessions timed side by side in one process do not take cores from
        each other between runs (a session left spinning slows the next one, most of all a graph of small ops)."""
        ort = require("onnxruntime", self.extra)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.force_spinning_stop", "1")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        first = session.get_inputs()[0]
        run = lambda batch: session.run(None, {first.name: np.ascontiguousarray(batch, np.float32)})[0]  # noqa: E731
        return per_image(run) if first.shape[0] == 1 else run

    def io_description(self, path: Path) -> tuple[list[dict], list[dict]]:
        onnx = require("onnx", self.extra)
        graph = onnx.load(str(path), load_external_data=False).graph

        def describe(value) -> dict:
            dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
            dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
            return {"name": value.name, "shape": dims, "dtype": str(np.dtype(dtype))}

        return [describe(v) for v in graph.input], [describe(v) for v in graph.output]


EXPORTERS.register("onnx")(OnnxExporter())
