"""Side by side, in one run on this machine: vitedge's INT8 artifacts of a ViT-Tiny/16@224 against the peers' own
tools run as their docs say.

    python benchmarks/peers_latency.py [--weights deit_tiny.safetensors] [--threads 2] [--seconds 15]

Peers:
- OpenVINO + NNCF: `nncf.quantize(ov_model, nncf.Dataset(...), model_type=nncf.ModelType.TRANSFORMER)` on the FP32
  IR (the NNCF docs' recipe for transformers), timed with OpenVINO's own `benchmark_app` (sync, 1 stream).
- ONNX Runtime: `quantize_static(fp32.onnx, out, reader)` with its defaults (QDQ, every supported op, per-tensor),
  timed with a plain `InferenceSession` loop as in the ORT docs.
vitedge's artifacts come from `vitedge quantize` (the same calibration images) and are timed with the same tools
(benchmark_app for IRs, the same InferenceSession loop for ONNX), so the ratios compare artifacts, not timers.
Quality is logit cosine / top-1 agreement against FP32 PyTorch on held-out images (random weights have no accuracy).
Writes benchmarks/results/peers.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import deit_random_weights  # noqa: E402
from vitedge import api  # noqa: E402
from vitedge.data import load_dataset  # noqa: E402
from vitedge.models import load_model  # noqa: E402
from vitedge.targets.host import cpu_info  # noqa: E402
from vitedge.versions import tool_versions  # noqa: E402

MODEL = "deit_tiny_patch16_224"
CALIB, EVAL = "calib_data/mnist_calib.npz[0:256]", "calib_data/mnist_eval.npz[0:128]"
RESULTS = Path(__file__).parent / "results"



def ours(weights: str, out: Path, threads: int) -> dict[str, Path]:
    result = api.quantize(MODEL, formats="onnx,openvino", precisions="int8", calib=CALIB, eval_data=EVAL,
                          weights=weights, out=out, threads=threads)
    paths = {f"vitedge {a.format} int8": out / a.path for a in result.artifacts if a.precision == "int8"}
    paths["fp32 onnx"] = out / "fp32" / f"{MODEL}.onnx"
    paths["fp32 openvino"] = out / "fp32" / f"{MODEL}.xml"
    return paths


def nncf_docs_int8(fp32_xml: Path, calib: np.ndarray, out: Path) -> Path:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32_xml))
    dataset = nncf.Dataset([calib[i:i + 1] for i in range(len(calib))])
    quantized = nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calib))
    path = out / "nncf_int8.xml"
    ov.save_model(quantized, str(path))
    return path


def ort_docs_int8(fp32_onnx: Path, calib: np.ndarray, out: Path) -> Path:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    name = onnx.load(str(fp32_onnx), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{name: calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.items, None)

    pre = out / "ort_pre.onnx"
    quant_pre_process(str(fp32_onnx), str(pre))  # the docs' recommended pre-processing step
    path = out / "ort_int8.onnx"
    quantize_static(str(pre), str(path), Reader())
    return path


def benchmark_app(xml: Path, threads: int, seconds: int) -> dict:
    """OpenVINO's own tool, synchronous, one stream, batch 1, fixed threads (benchmark_app only takes -nthreads
    with `-hint none`); its reported median and average."""
    cmd = [str(Path(sys.executable).parent / "benchmark_app"), "-m", str(xml), "-d", "CPU", "-hint", "none",
           "-api", "sync", "-nthreads", str(threads), "-nstreams", "1", "-b", "1", "-t", str(seconds)]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    found = {k: float(re.search(rf"{k}:\s+([\d.]+) ms", text).group(1)) for k in ("Median", "Average", "Min")}
    precision = re.search(r"INFERENCE_PRECISION_HINT: <Type: '(\w+)'>", text)
    return {"p50_ms": found["Median"], "mean_ms": found["Average"], "min_ms": found["Min"],
            "tool": "benchmark_app -api sync -nstreams 1", "executed": precision.group(1) if precision else "?",
            "command": " ".join(cmd[1:])}


def ort_loop(onnx_path: Path, image: np.ndarray, threads: int, seconds: int) -> dict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: image}
    for _ in range(20):
        session.run(None, feed)
    times, started = [], time.perf_counter()
    while time.perf_counter() - started < seconds:
        begin = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - begin) * 1000)
    return {"p50_ms": round(statistics.median(times), 3), "mean_ms": round(statistics.fmean(times), 3),
            "min_ms": round(min(times), 3), "cv": round(statistics.pstdev(times) / statistics.fmean(times), 3),
            "tool": f"onnxruntime InferenceSession, intra_op_num_threads={threads}", "runs": len(times)}


def quality(path: Path, fmt: str, images: np.ndarray, reference: np.ndarray, threads: int) -> dict:
    from vitedge.export.base import EXPORTERS

    exporter = EXPORTERS.get(fmt)
    run = exporter.open_runner(path, threads, precision_hint=None) if fmt == "openvino" else \
        exporter.open_runner(path, threads)
    logits = np.concatenate([run(images[i:i + 1]) for i in range(len(images))])
    cos = (logits * reference).sum(1) / (np.linalg.norm(logits, axis=1) * np.linalg.norm(reference, axis=1))
    return {"mean_cosine": round(float(cos.mean()), 5), "min_cosine": round(float(cos.min()), 5),
            "top1_agreement": round(float((logits.argmax(1) == reference.argmax(1)).mean()), 4)}


def size_of(path: Path) -> int:
    return path.stat().st_size + (path.with_suffix(".bin").stat().st_size if path.suffix == ".xml" else 0)


def measure_all(paths: dict[str, Path], eval_images: np.ndarray, reference: np.ndarray, args) -> dict:
    image = eval_images[:1]
    rows = {}
    for label, path in paths.items():
        fmt = "openvino" if path.suffix == ".xml" else "onnx"
        print(f"timing {label} ({path.name})", flush=True)
        timing = benchmark_app(path, args.threads, args.seconds) if fmt == "openvino" else \
            ort_loop(path, image, args.threads, args.seconds)
        rows[label] = {"format": fmt, "file": path.name, "bytes": size_of(path), **timing,
                       **quality(path, fmt, eval_images, reference, args.threads)}
    return rows


def ratios(rows: dict) -> list[str]:
    pairs = [("NNCF (docs) int8 IR", "vitedge openvino int8"), ("ORT quantize_static (docs) int8", "vitedge onnx int8"),
             ("fp32 openvino", "vitedge openvino int8"), ("fp32 onnx", "vitedge onnx int8")]
    lines = []
    for peer, mine in pairs:
        p, m = rows[peer], rows[mine]
        lines.append(f"{mine} vs {peer}: {p['p50_ms'] / m['p50_ms']:.2f}x the speed (p50 {m['p50_ms']:.2f} vs "
                     f"{p['p50_ms']:.2f} ms), min cosine {m['min_cosine']:.4f} vs {p['min_cosine']:.4f}, "
                     f"top-1 agreement {m['top1_agreement']:.2%} vs {p['top1_agreement']:.2%}")
    return lines


def write_results(rows: dict, lines: list[str], args, seconds: float) -> None:
    header = ["artifact", "file", "size MiB", "p50 ms", "mean ms", "min ms", "timed with", "min cos", "agree"]
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, r in rows.items():
        table.append(f"| {label} | {r['file']} | {r['bytes'] / 2**20:.2f} | {r['p50_ms']:.3f} | {r['mean_ms']:.3f} | "
                     f"{r['min_ms']:.3f} | {r['tool']} | {r['min_cosine']:.4f} | {r['top1_agreement']:.2%} |")
    cpu = cpu_info()
    text = (f"# INT8 latency side by side with the peers' tools\n\n`python benchmarks/peers_latency.py --threads "
            f"{args.threads} --seconds {args.seconds}` ({seconds:.0f} s), {time.strftime('%Y-%m-%d')}, on "
            f"{cpu['model']} ({cpu['logical_cores']} cores, flags {', '.join(cpu['flags'])}), tools "
            f"{json.dumps(tool_versions())}.\n\nModel: {MODEL} (random weights, seed 0), batch 1, "
            f"{args.threads} threads. Calibration {CALIB}, quality on {EVAL} against FP32 PyTorch.\n\n"
            + "\n".join(table) + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "peers.md").write_text(text)
    (RESULTS / "peers.json").write_text(json.dumps({"rows": rows, "ratios": lines, "cpu": cpu}, indent=1))
    print(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="timm-layout deit_tiny weights (default: random, seed 0)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = args.weights or deit_random_weights(tmp)
        model = load_model(MODEL, weights=weights)
        calib = np.concatenate([b for b, _ in load_dataset(CALIB, model.spec).batches(model.spec, 64)])
        eval_images = np.concatenate([b for b, _ in load_dataset(EVAL, model.spec).batches(model.spec, 64)])
        import torch
        with torch.no_grad():
            reference = model.module.eval()(torch.from_numpy(eval_images)).numpy()
        paths = ours(weights, tmp / "vitedge", args.threads)
        paths["NNCF (docs) int8 IR"] = nncf_docs_int8(paths["fp32 openvino"], calib, tmp)
        paths["ORT quantize_static (docs) int8"] = ort_docs_int8(paths["fp32 onnx"], calib, tmp)
        rows = measure_all(paths, eval_images, reference, args)
    write_results(rows, ratios(rows), args, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
