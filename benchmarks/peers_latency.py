"""Side by side on this machine, the real DeiT-Tiny: vitedge's shipped x86 artifacts against what a user gets by hand
from each peer's documented recipe, accuracy and latency measured the same way.

    python benchmarks/peers_latency.py [--threads 2] [--rounds 15]   # ~8 min on 2 cores; needs ../shared

Rows (batch 1; calibration imagenet_sample classes 0-499, 300 images; quality on classes 500-999, 500 photos):
- vitedge: `vitedge quantize --format onnx,openvino,tflite --precision bf16,int8 --int8 static,dynamic
  --max-drop 0.5`, each run as vitedge runs it (OpenVINO bf16 with INFERENCE_PRECISION_HINT bf16, INT8 float ops in
  the plugin's default); the verdict line names vitedge's pick (the fastest row passing the default gates: what the
  x86 bundle ships) against the fastest peer row.
- OpenVINO default: the FP32 IR compiled with no hints (BF16 on AMX / AVX512-BF16 hosts).
- NNCF: `nncf.quantize(ir, dataset, model_type=TRANSFORMER)` on the FP32 IR (the NNCF docs' transformer recipe).
- ONNX Runtime transformer optimizer: `optimize_model(model_type="vit")` (fused attention / LayerNorm / GELU), FP32,
  and the same graph with `quantize_dynamic` (its documented INT8 path for transformers).
- ONNX Runtime `quantize_static` with its defaults, after `quant_pre_process` (the docs' recipe).
- LiteRT dynamic-range: ai-edge-quantizer's dynamic INT8 recipe on the FP32 .tflite, which is vitedge's int8-dynamic
  (one row).
Latency: all rows timed in interleaved rounds in one process (vitedge/targets/interleave.py: the median of round
medians, a 95% interval, and each row's speed-up over the FP32 ONNX Runtime row as the median of per-round ratios).
Writes benchmarks/results/peers.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vitedge import api  # noqa: E402
from vitedge.data import load_dataset  # noqa: E402
from vitedge.export.base import EXPORTERS  # noqa: E402
from vitedge.models import load_model  # noqa: E402
from vitedge.targets.host import cpu_info  # noqa: E402
from vitedge.targets.interleave import interleaved  # noqa: E402
from vitedge.versions import tool_versions  # noqa: E402

MODEL = "deit_tiny_patch16_224"
SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "models/deit_tiny_imagenet/deit_tiny_patch16_224.safetensors"
CALIB, EVAL = f"{SHARED}/data/imagenet_sample[0:500]", f"{SHARED}/data/imagenet_sample[500:1000]"
RESULTS = Path(__file__).parent / "results"
REFERENCE = "ONNX Runtime FP32 (plain graph)"
OV_DEFAULT = "OpenVINO default on the FP32 IR"
# vitedge's tflite int8-dynamic IS LiteRT's dynamic-range recipe (ai-edge-quantizer), so one row serves both
LITERT_DYNAMIC = "vitedge tflite INT8 dynamic = LiteRT dynamic-range recipe (ai-edge-quantizer)"
INT8_FLOOR, FLOAT_FLOOR, MAX_DROP = 0.95, 0.98, 1.0  # vitedge's default validate gates (validate/gates.py)


def ours(out: Path, threads: int) -> dict[str, tuple[str, Path, dict]]:
    """label -> (format, path, runner options) of vitedge's artifacts (and the FP32 ones they came from)."""
    result = api.quantize(MODEL, formats="onnx,openvino,tflite", precisions="bf16,int8", int8_modes="static,dynamic",
                          calib=CALIB, eval_data=EVAL, weights=str(WEIGHTS), max_drop=0.5, out=out, threads=threads)
    rows = {}
    for a in result.artifacts:
        mode = (a.quantization or {}).get("scheme", {}).get("mode")
        if a.precision == "int8" and mode == "static":
            rows[f"vitedge {a.format} INT8 static"] = (a.format, out / a.path, {"precision": "int8"})
        elif a.format == "tflite" and mode == "dynamic":
            rows[LITERT_DYNAMIC] = ("tflite", out / a.path, {"precision": "int8"})
        elif a.precision == "bf16":
            rows["vitedge openvino bf16"] = ("openvino", out / a.path, {"precision": "bf16"})
    rows[REFERENCE] = ("onnx", out / "fp32" / f"{MODEL}.onnx", {})
    rows[OV_DEFAULT] = ("openvino", out / "fp32" / f"{MODEL}.xml", {"plugin_default": True})
    return rows


def nncf_transformer(fp32_xml: Path, calib: np.ndarray, out: Path) -> Path:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32_xml))
    dataset = nncf.Dataset([calib[i:i + 1] for i in range(len(calib))])
    quantized = nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calib))
    path = out / "nncf_int8.xml"
    ov.save_model(quantized, str(path))
    return path


def ort_optimized(fp32_onnx: Path, out: Path) -> tuple[Path, Path]:
    """ORT's transformer optimizer (fused ViT graph), FP32 and with quantize_dynamic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    fused = out / "ort_vit_fused.onnx"
    optimize_model(str(fp32_onnx), model_type="vit", num_heads=3, hidden_size=192).save_model_to_file(str(fused))
    dynamic = out / "ort_vit_fused_int8_dynamic.onnx"
    quantize_dynamic(str(fused), str(dynamic), weight_type=QuantType.QInt8)
    return fused, dynamic


def ort_static_defaults(fp32_onnx: Path, calib: np.ndarray, out: Path) -> Path:
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
    quant_pre_process(str(fp32_onnx), str(pre))
    path = out / "ort_static_defaults.onnx"
    quantize_static(str(pre), str(path), Reader())
    return path


def runner(fmt: str, path: Path, threads: int, options: dict):
    if options.get("plugin_default"):  # what a user of the IR gets: no INFERENCE_PRECISION_HINT (bf16 where it can)
        import openvino as ov

        request = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads}).create_infer_request()
        return lambda batch: np.array(request.infer([np.ascontiguousarray(batch, np.float32)])[0])
    return EXPORTERS.get(fmt).open_runner(path, threads, options.get("precision", "fp32"))


def quality(run, images: np.ndarray, labels: np.ndarray, reference: np.ndarray) -> dict:
    logits = np.concatenate([run(images[i:i + 1]) for i in range(len(images))])
    return {"top1": round(float((logits.argmax(1) == labels).mean()), 4),
            "agreement": round(float((logits.argmax(1) == reference.argmax(1)).mean()), 4)}


def size_of(path: Path) -> int:
    return path.stat().st_size + (path.with_suffix(".bin").stat().st_size if path.suffix == ".xml" else 0)


def measure(rows: dict, images, labels, reference, args) -> dict:
    runners = {label: runner(fmt, path, args.threads, opts) for label, (fmt, path, opts) in rows.items()}
    figures = {}
    for label, run in runners.items():
        print(f"quality: {label}", flush=True)
        figures[label] = {"format": rows[label][0], "file": rows[label][1].name, "bytes": size_of(rows[label][1]),
                          **quality(run, images, labels, reference)}
    image = images[:1]
    print(f"timing {len(runners)} rows in {args.rounds} interleaved rounds", flush=True)
    stats = interleaved({label: (lambda run=run: run(image)) for label, run in runners.items()},
                        reference=REFERENCE, rounds=args.rounds, round_seconds=0.3)
    for label, s in stats.items():
        figures[label].update(s.to_dict())
    return figures


def write_results(figures: dict, args, seconds: float) -> None:
    header = ["artifact", "file", "MiB", "p50 ms [95%]", "speed-up vs ORT FP32", "top-1", "agree"]
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, r in sorted(figures.items(), key=lambda item: item[1]["ms"]):
        table.append(f"| {label} | {r['file']} | {r['bytes'] / 2**20:.1f} | {r['ms']:.2f} [{r['low']:.2f}-"
                     f"{r['high']:.2f}] | {r['ratio']:.2f}x [{r['ratio_low']:.2f}-{r['ratio_high']:.2f}] | "
                     f"{100 * r['top1']:.1f}% | {100 * r['agreement']:.1f}% |")
    cpu = cpu_info()
    text = (f"# The real DeiT-Tiny: vitedge's x86 artifacts against the peers' recipes\n\n"
            f"`python benchmarks/peers_latency.py --threads {args.threads} --rounds {args.rounds}` ({seconds:.0f} s), "
            f"{time.strftime('%Y-%m-%d')}, on {cpu['model']} ({cpu['logical_cores']} cores, flags "
            f"{', '.join(cpu['flags'])}), tools {json.dumps(tool_versions())}.\n\n"
            f"Batch 1, {args.threads} threads, all rows timed in {args.rounds} interleaved rounds in one process. "
            "Calibration imagenet_sample classes 0-499 (300 images); top-1 and agreement with FP32 PyTorch on "
            "classes 500-999 (500 photos; FP32 top-1 77.6%; one image is 0.2 pp).\n\n" + "\n".join(table) + "\n")
    text += "\n" + verdict(figures) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "peers.md").write_text(text)
    (RESULTS / "peers.json").write_text(json.dumps({"rows": figures, "cpu": cpu}, indent=1) + "\n")
    print(text)


def passes_default_gates(label: str, r: dict, reference_top1: float) -> bool:
    floor = INT8_FLOOR if "INT8" in label else FLOAT_FLOOR
    return r["agreement"] >= floor and 100 * (reference_top1 - r["top1"]) <= MAX_DROP


def verdict(figures: dict) -> str:
    """vitedge's x86 pick (what `vitedge run` ships: the fastest of its artifacts that pass the default gates)
    against the fastest peer row."""
    reference_top1 = figures[REFERENCE]["top1"]
    ours_ = {k: r for k, r in figures.items() if k.startswith("vitedge") and passes_default_gates(k, r, reference_top1)}
    peers = {k: r for k, r in figures.items() if not k.startswith("vitedge") or k == LITERT_DYNAMIC}
    pick = min(ours_, key=lambda k: ours_[k]["ms"])
    best = min(peers, key=lambda k: peers[k]["ms"])
    p, b = figures[pick], figures[best]
    same = " (the same artifact: vitedge ships the peer's best recipe)" if pick == best else ""
    return (f"vitedge's x86 pick (fastest of its rows passing the default gates): **{pick}**, {p['ms']:.2f} ms, "
            f"agreement {100 * p['agreement']:.1f}%. Fastest peer row: **{best}**, {b['ms']:.2f} ms, agreement "
            f"{100 * b['agreement']:.1f}%{same}. As fast: {'yes' if p['ms'] <= b['ms'] else 'no'}; agreement no "
            f"lower: {'yes' if p['agreement'] >= b['agreement'] else 'no'}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    started = time.perf_counter()
    model = load_model(MODEL, weights=str(WEIGHTS))
    calib = np.concatenate([b for b, _ in load_dataset(CALIB, model.spec, limit=300).batches(model.spec, 64)])
    evaluation = load_dataset(EVAL, model.spec)
    images = np.concatenate([b for b, _ in evaluation.batches(model.spec, 64)])
    import torch
    with torch.no_grad():
        reference = model.module.eval()(torch.from_numpy(images)).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = ours(tmp / "vitedge", args.threads)
        fp32_onnx, fp32_xml = rows[REFERENCE][1], rows[OV_DEFAULT][1]
        rows["NNCF TRANSFORMER INT8 IR (docs)"] = ("openvino", nncf_transformer(fp32_xml, calib, tmp),
                                                  {"plugin_default": True})
        fused, dynamic = ort_optimized(fp32_onnx, tmp)
        rows["ORT transformer optimizer FP32"] = ("onnx", fused, {})
        rows["ORT transformer optimizer + quantize_dynamic INT8"] = ("onnx", dynamic, {})
        rows["ORT quantize_static defaults (docs)"] = ("onnx", ort_static_defaults(fp32_onnx, calib, tmp), {})
        figures = measure(rows, images, evaluation.labels, reference, args)
    write_results(figures, args, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
