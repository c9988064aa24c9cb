"""LiteRT static INT8 with the fine-grained fallback: calibrate once (pt2e.py), rank and choose ops in the PyTorch
simulation, convert to .tflite only to check the gate (finegrained.py's bisection: a conversion is ~20-40 s).

On the real DeiT-Tiny (2-core AMD EPYC, `--max-drop 0.5 --min-agreement 97`): 155-158 s with three conversions, one
op in float; the block-level search it replaces re-calibrated and re-converted per try: 787 s, five blocks in float.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vitedge.errors import ExportError, VitedgeError
from vitedge.export.base import EXPORTERS, quiet_converters
from vitedge.fileio import raise_if_storage
from vitedge.paths import model_stem
from vitedge.quantize.base import QuantInput
from vitedge.quantize.finegrained import OpSpace, fine_grained, mean_kl, split_calibration
from vitedge.quantize.gate import QuantGate
from vitedge.quantize.pt2e import calibrated, lower, run, with_float
from vitedge.quantize.scheme import Scheme
from vitedge.quantize.sensitivity import FallbackResult

OBJECTIVE_IMAGES = 32  # held-out images the simulation scores each try on (~40 ms an image on 2 cores for DeiT-Tiny)


@dataclass
class SimulatedKL:
    """Mean KL(FP32 || simulated INT8) of the logits on held-out calibration images, run in PyTorch."""

    inputs: np.ndarray
    reference: np.ndarray

    def __call__(self, graph) -> float:
        return mean_kl(self.reference, run(graph, self.inputs))


def float_logits(module: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module.eval()(torch.from_numpy(np.ascontiguousarray(inputs, np.float32))).numpy()


@contextlib.contextmanager
def converter_errors(inp: QuantInput, scheme: Scheme, folder: Path):
    """Quiet converters; anything torch.export or litert-torch raises becomes an ExportError naming the model."""
    with quiet_converters():
        try:
            yield
        except VitedgeError:
            raise
        except Exception as exc:  # noqa: BLE001  (torch.export and the converters raise anything)
            raise_if_storage(exc, folder)
            raise ExportError(f"TFLite {scheme.tag} quantization of {inp.model.name} failed: {exc}",
                              "try another int8 mode, or keep the failing layers in float") from exc


def tflite_bytes(inp: QuantInput, scheme: Scheme) -> bytes:
    """The static INT8 .tflite of `inp` with `scheme.keep_float` in float."""
    sim = calibrated(inp.model, inp.calibration, scheme)
    return lower(with_float(sim, scheme.keep_float), sim, inp.model)


def _search(inp: QuantInput, scheme: Scheme, staging: Path, evaluator, gate: QuantGate) -> FallbackResult:
    """Ranges from most calibration images, the objective on (up to OBJECTIVE_IMAGES of) the rest, `gate` checked on
    the converted .tflite in ai-edge-litert."""
    from vitedge.quantize.tflite import finish_tflite

    ranges, held_out = split_calibration(inp.calibration)
    held_out = held_out[:OBJECTIVE_IMAGES]
    sim = calibrated(inp.model, ranges, scheme)
    objective = SimulatedKL(held_out, float_logits(inp.model.module, held_out))
    tries = iter(range(1, 100_000))

    def check(graph, kept: list[str]) -> tuple[Path, dict, bool]:
        folder = staging / f"try-{next(tries)}"
        folder.mkdir()
        path = folder / f"{model_stem(inp.model)}_{scheme.tag}.tflite"
        path.write_bytes(finish_tflite(lower(graph, sim, inp.model), inp.model))
        EXPORTERS.get("tflite")._check_builtin_ops(path)
        evaluation = evaluator.evaluate("tflite", path, scheme.precision)
        return path, evaluation, gate.holds(evaluation)

    space = OpSpace(sim.graph, sim.ops, lambda kept: with_float(sim, kept))
    return fine_grained(space, scheme, objective, check, check_each_step=False)


def pt2e_fallback(inp: QuantInput, scheme: Scheme, staging: Path, evaluator, gate: QuantGate) -> FallbackResult:
    """The op-level fallback (_search), its converter errors reported as for a plain quantization."""
    with converter_errors(inp, scheme, staging):
        return _search(inp, scheme, staging, evaluator, gate)
