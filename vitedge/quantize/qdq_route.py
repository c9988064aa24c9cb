"""Static INT8 through one ONNX Runtime QDQ model, for ONNX Runtime and OpenVINO alike.

The QDQ model (onnx.py's recipe: int8 weights per channel and int8 activations on the weight-bearing ops, their
outputs float) is the artifact for ONNX Runtime; OpenVINO reads the same file into an IR with FakeQuantize ops.
Measured on the real DeiT-Tiny (imagenet_sample, 2-core AMD EPYC): NNCF's TRANSFORMER recipe -1.00 pp top-1, 93.0%
agreement, 11.8 ms; the QDQ model in OpenVINO +0.20 pp, 95.8%, 10.0 ms (FP32 IR 13.5 ms), interleaved in one process.
One model also means one fine-grained fallback (finegrained.py) serves both runtimes.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vitedge.export.base import require
from vitedge.fileio import process_scratch
from vitedge.paths import model_stem
from vitedge.quantize.base import QuantInput
from vitedge.quantize.finegrained import KLObjective, fine_grained, qdq_space, run_onnx, split_calibration
from vitedge.quantize.gate import QuantGate
from vitedge.quantize.scheme import Scheme
from vitedge.quantize.sensitivity import FallbackResult


def fp32_onnx(inp: QuantInput) -> Path:
    """The FP32 ONNX model of `inp`: its own file for an ONNX artifact, else exported once per process."""
    if inp.fp32_path.suffix == ".onnx":
        return inp.fp32_path
    kept = _EXPORTED.get(id(inp.model))
    if kept is None or kept[0] is not inp.model:
        from vitedge.export.onnx import OnnxExporter

        folder = process_scratch("qdq") / str(len(_EXPORTED))  # one folder per model: two models may share a name
        folder.mkdir()
        kept = _EXPORTED[id(inp.model)] = (inp.model, OnnxExporter().export(inp.model, folder)[0])
    return kept[1]


_EXPORTED: dict[int, tuple[object, Path]] = {}  # id(model) -> (model, its FP32 ONNX file), for this process


def qdq_model(inp: QuantInput, scheme: Scheme, folder: Path) -> Path:
    """The ONNX Runtime static QDQ model of `inp` (keep_float: ONNX node names), written into `folder`."""
    from vitedge.quantize.onnx import OnnxQuantizer

    return OnnxQuantizer().quantize(replace(inp, fp32_path=fp32_onnx(inp)), scheme, folder)[0]


def save_openvino(onnx_path: Path, inp: QuantInput, scheme: Scheme, folder: Path) -> list[Path]:
    """The OpenVINO IR of a QDQ ONNX model (FakeQuantize ops, int8 weights), as `{model}_{tag}.xml` + `.bin`."""
    ov = require("openvino", "openvino")
    xml = folder / f"{model_stem(inp.model)}_{scheme.tag}.xml"
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml), compress_to_fp16=False)
    return [xml, xml.with_suffix(".bin")]


def qdq_fallback(fmt: str, inp: QuantInput, scheme: Scheme, staging: Path, evaluator, gate: QuantGate,
                 threads: int) -> FallbackResult:
    """The fine-grained fallback for `fmt` (onnx or openvino): ranges from most calibration images, the objective on
    the rest (FP32 ONNX Runtime logits as the reference), `gate` checked in `fmt`'s own runtime."""
    onnx = require("onnx", "onnx")
    ranges, held_out = split_calibration(inp.calibration)
    first = staging / "qdq"
    first.mkdir()
    qdq_path = qdq_model(replace(inp, calibration=ranges), scheme, first)
    from vitedge.quantize.onnx import float_model_path

    fp32 = onnx.load(str(fp32_onnx(inp)))
    objective = KLObjective(held_out, run_onnx(fp32, held_out, threads), threads)
    # the float ops the fallback puts back take their weights from the model the QDQ one was made from
    fp32 = onnx.load(str(float_model_path(replace(inp, fp32_path=fp32_onnx(inp), calibration=ranges), scheme)))
    qdq = onnx.load(str(qdq_path))
    tries = iter(range(1, 100_000))

    def check(model, kept: list[str]) -> tuple[Path, dict, bool]:
        folder = staging / f"try-{next(tries)}"
        folder.mkdir()
        path = folder / qdq_path.name
        onnx.save(model, str(path))
        if fmt == "openvino":
            path = save_openvino(path, inp, scheme, folder)[0]
            path.with_name(qdq_path.name).unlink()
        evaluation = evaluator.evaluate(fmt, path, scheme.precision)
        return path, evaluation, gate.holds(evaluation)

    return fine_grained(qdq_space(qdq, fp32), scheme, objective, check)
