"""NAS variants of vit4mnist, distilled and quantized: the front per target and the chosen variant's accuracy after
INT8 on held-out data, against the teacher.

    python benchmarks/nas_distill.py [--budget-ms 0.15] [--epochs 5]

Data: NAS and distillation use calib_data/mnist_calib.npz (MNIST test 0-7999) only; every accuracy below is on
calib_data/mnist_eval.npz (8000-9999). Writes benchmarks/results/nas_distill.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vitedge import api  # noqa: E402
from vitedge.distill import DistillConfig  # noqa: E402
from vitedge.nas import NASConfig  # noqa: E402
from vitedge.nas.report import nas_table  # noqa: E402
from vitedge.targets.host import cpu_info  # noqa: E402
from vitedge.versions import tool_versions  # noqa: E402

TARGETS = ("x86-cpu", "jetson-orin-nano", "android-arm64")
CALIB, EVAL = "calib_data/mnist_calib.npz", "calib_data/mnist_eval.npz"
RESULTS = Path(__file__).parent / "results"


def run(args, tmp: Path) -> dict:
    started = time.perf_counter()
    nas = api.nas("vit4mnist", data=CALIB, eval_data=EVAL, out=tmp / "nas", config=NASConfig(
        targets=TARGETS, budgets={t: args.budget_ms for t in TARGETS}, seed=0))
    nas_seconds = time.perf_counter() - started
    x86 = next(t for t in nas.targets if t.target == "x86-cpu")
    chosen = next(c for c in nas.candidates if c.id == x86.chosen)
    started = time.perf_counter()
    distilled = api.distill("vit4mnist", str(tmp / "nas" / x86.variant), data=CALIB, eval_data=EVAL,
                            out=tmp / "distill", config=DistillConfig(epochs=args.epochs, seed=0))
    distill_seconds = time.perf_counter() - started
    quant = api.quantize(str(tmp / "distill" / "student.toml"), formats="onnx,openvino,tflite", precisions="int8",
                         calib=CALIB, eval_data=EVAL, max_drop=0.3, out=tmp / "quant")
    bench = api.bench(tmp / "quant", targets="x86-cpu", threads=2, data=EVAL, out=tmp / "bench")
    return {"nas_table": nas_table(nas), "nas_seconds": round(nas_seconds, 1), "parent_macs": nas.candidates[0].macs,
            "chosen": {"id": chosen.id, "label": chosen.choice.label(), "macs": chosen.macs, "params": chosen.params,
                       "fp32_top1_before_distill": x86.eval_top1},
            "teacher_top1": distilled.teacher_top1, "distilled_fp32_top1": distilled.eval_top1,
            "distill_seconds": round(distill_seconds, 1), "epochs": args.epochs,
            "int8": [{"format": a.format, "path": a.path, "top1": a.accuracy["top1"], "bytes": a.bytes}
                     for a in quant.artifacts if a.precision == "int8"],
            "x86_latency": [{"format": r.format, "precision": r.precision, "p50_ms": r.latency_ms_p50,
                             "basis": r.basis} for r in bench.rows]}


def write(record: dict, args) -> None:
    c = record["chosen"]
    lines = ["# NAS + distillation on vit4mnist", "",
             f"`python benchmarks/nas_distill.py --budget-ms {args.budget_ms} --epochs {args.epochs}`, "
             f"{time.strftime('%Y-%m-%d')}, {cpu_info()['model']} ({cpu_info()['logical_cores']} cores), tools "
             f"{json.dumps(tool_versions())}.", "",
             f"NAS ({record['nas_seconds']:.0f} s; proxy top-1 on 1000 images held out of the NAS data):", "",
             "```", record["nas_table"], "```", "",
             f"x86-cpu variant: {c['label']}, {c['macs']:,} MACs = {c['macs'] / record['parent_macs']:.0%} of the "
             f"teacher's, {c['params']:,} parameters; FP32 top-1 on 8000-9999 before distillation "
             f"{c['fp32_top1_before_distill']:.2f}%.",
             f"After {record['epochs']} epochs of distillation ({record['distill_seconds']:.0f} s): FP32 top-1 "
             f"{record['distilled_fp32_top1']:.2f}% (teacher {record['teacher_top1']:.2f}%).", "",
             "| INT8 artifact | top-1 on 8000-9999 | vs teacher FP32 | size |", "|---|---|---|---|"]
    for a in record["int8"]:
        lines.append(f"| {a['format']} `{a['path']}` | {100 * a['top1']:.2f}% | "
                     f"{100 * a['top1'] - record['teacher_top1']:+.2f} pp | {a['bytes'] / 1024:.1f} KiB |")
    lines += ["", "x86-cpu latency of the distilled variant (2 threads, batch 1):", ""]
    lines += [f"- {r['format']} {r['precision']}: p50 {r['p50_ms']:.4f} ms ({r['basis']})" for r in record["x86_latency"]]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nas_distill.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "nas_distill.json").write_text(json.dumps(record, indent=1))
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-ms", type=float, default=0.15)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write(run(args, Path(tmp)), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
