"""TFLite (LiteRT) via litert-torch, no TensorFlow; checked with the ai-edge-litert interpreter (XNNPACK)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from vitedge.errors import ExportError
from vitedge.export.base import EXPORTERS, Runner, quiet_converters, require, run_in_batches
from vitedge.export.tflite_names import module_scopes, readable_names
from vitedge.models.loaded import LoadedModel
from vitedge.paths import model_stem

STATIC_BATCH = 1


class _NamedIO(torch.nn.Module):
    """Gives the TFLite signature the IOSpec's input and output names instead of `args_0` / `output_0`."""

    def __init__(self, module: torch.nn.Module, output_name: str):
        super().__init__()
        self.module, self.output_name = module, output_name

    def forward(self, pixel_values: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.output_name: self.module(pixel_values)}


class TfliteExporter:
    format, suffix, runtime, extra = "tflite", ".tflite", "ai-edge-litert", "tflite"

    def export(self, model: LoadedModel, folder: Path) -> list[Path]:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the converter's C++ logging
        example = torch.zeros(STATIC_BATCH, *model.spec.input_size)
        with quiet_converters(), torch.no_grad():
            litert_torch = require("litert_torch", self.extra)
            litert_torch.progress.config.show_progress = False
            wrapped = _NamedIO(model.module, model.spec.output_name).eval()
            edge_model = litert_torch.convert(wrapped, sample_kwargs={"pixel_values": example})
        path = folder / f"{model_stem(model)}.tflite"
        edge_model.export(str(path))
        path.write_bytes(readable_names(path.read_bytes(), module_scopes(model.module)))
        self._check_builtin_ops(path)
        return [path]

    def _interpreter(self, path: Path, threads: int, delegates: bool = True):
        litert = require("ai_edge_litert.interpreter", self.extra)
        resolver = litert.OpResolverType.AUTO if delegates else litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        interpreter = litert.Interpreter(model_path=str(path), num_threads=threads,
                                         experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        return interpreter

    def _check_builtin_ops(self, path: Path) -> None:
        ops = {op["op_name"] for op in self._interpreter(path, 1, delegates=False)._get_ops_details()}
        foreign = sorted(op for op in ops if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE"))
        if foreign:
            raise ExportError(f"{path.name} needs ops outside the TFLite builtin set: {foreign}",
                              "these need the Select-TF (Flex) runtime that phones do not ship; report the model")

    def inference_precision(self, path: Path, precision: str = "fp32", full_precision: bool = False) -> str:
        return f"{precision} (as stored)"

    def open_runner(self, path: Path, threads: int, precision: str = "fp32", full_precision: bool = False) -> Runner:
        """Runs the file as stored (`precision` and `full_precision` matter only to OpenVINO)."""
        interpreter = self._interpreter(path, threads)
        inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

        def run_one(batch: np.ndarray) -> np.ndarray:
            interpreter.set_tensor(inp["index"], _to_input(np.ascontiguousarray(batch, np.float32), inp))
            interpreter.invoke()
            return _from_output(interpreter.get_tensor(out["index"]), out)

        return lambda batch: run_in_batches(run_one, batch, STATIC_BATCH)

    def io_description(self, path: Path) -> tuple[list[dict], list[dict]]:
        interpreter = self._interpreter(path, 1)
        signature = interpreter.get_signature_runner()
        describe = lambda name, d: {"name": name, "shape": d["shape"].tolist(), "dtype": np.dtype(d["dtype"]).name}
        return ([describe(n, d) for n, d in signature.get_input_details().items()],
                [describe(n, d) for n, d in signature.get_output_details().items()])


def _to_input(batch: np.ndarray, detail: dict) -> np.ndarray:
    """Quantize a float batch for an int8 / uint8 model input (float inputs pass through)."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return batch
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(batch / scale) + zero_point, info.min, info.max).astype(dtype)


def _from_output(values: np.ndarray, detail: dict) -> np.ndarray:
    """Dequantize an int8 / uint8 model output to float32 (float outputs are copied)."""
    if np.dtype(detail["dtype"]).kind not in "iu":
        return values.copy()
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


EXPORTERS.register("tflite")(TfliteExporter())
