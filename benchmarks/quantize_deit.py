"""Static INT8 of the real DeiT-Tiny on ONNX Runtime, OpenVINO and LiteRT: calibration on imagenet_sample classes
0-499 (300 images), evaluation on classes 500-999 (500 photos), `--max-drop 0.5`, one backend at a time so each
one's time is its own. Records per backend the plain INT8 figures (the fallback's first step), the shipped ones,
the ops / groups kept in float with their share of the weight-op MACs, and the seconds.

    python benchmarks/quantize_deit.py [--max-drop 0.5] [--min-agreement 97] [--formats onnx,openvino,tflite]
    # ~6 min on 2 cores; needs ../shared (DeiT-Tiny, images); writes results/quantize_deit[_agree97].{json,md}

Agreement: top-1 agreement with the FP32 PyTorch model on the evaluation images (one image is 0.2 pp).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.quantize_accuracy import cpu_name  # noqa: E402
from vitedge import api  # noqa: E402
from vitedge.versions import tool_versions  # noqa: E402

SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "models/deit_tiny_imagenet/deit_tiny_patch16_224.safetensors"
CALIB, EVAL = f"{SHARED}/data/imagenet_sample[0:500]", f"{SHARED}/data/imagenet_sample[500:1000]"
RESULTS = Path(__file__).parent / "results"
FORMATS = ("onnx", "openvino", "tflite")


def row(fmt: str, artifact, wall: float) -> dict:
    q, acc = artifact.quantization, artifact.accuracy
    fallback = q.get("fallback") or {}
    first = (fallback.get("steps") or [{}])[0]
    share = fallback.get("float_mac_share", 0.0 if not q["float_groups"] else None)
    return {"format": fmt, "plain_drop_pp": first.get("drop_pp"), "plain_agreement": first.get("agreement"),
            "drop_pp": acc["drop_pp"], "agreement": acc["top1_agreement"], "top1": acc["top1"],
            "float": q["float_groups"], "float_mac_share": share, "granularity": fallback.get("granularity"),
            "met": fallback.get("met"), "quantize_seconds": q["seconds"], "wall_seconds": round(wall, 1)}


def markdown(rows: list[dict], args) -> str:
    gate = f"--max-drop {args.max_drop}" + (f" --min-agreement {args.min_agreement:g}" if args.min_agreement else "")
    lines = [f"# Static INT8 of the real DeiT-Tiny, `{gate}`", "",
             f"Measured by `benchmarks/quantize_deit.py` on {cpu_name()} ({os.cpu_count()} cores), "
             f"{time.strftime('%Y-%m-%d')}; calibration imagenet_sample classes 0-499 (300 images, a quarter held out "
             "for the fallback's objective), evaluation classes 500-999 (500 photos); FP32 top-1 77.60%.", "",
             "| backend | plain INT8: drop pp / agree | shipped: drop pp / agree | in float | MACs in float | "
             "quantize s |", "|---|---|---|---|---|---|"]
    for r in rows:
        plain = "-" if r["plain_drop_pp"] is None else f"{r['plain_drop_pp']:+.2f} / {100 * r['plain_agreement']:.1f}%"
        share = "n/a" if r["float_mac_share"] is None else f"{100 * r['float_mac_share']:.1f}%"
        lines.append(f"| {r['format']} | {plain} | {r['drop_pp']:+.2f} / {100 * r['agreement']:.1f}% | "
                     f"{', '.join(r['float']) or '-'} | {share} | {r['quantize_seconds']:.0f} |")
    lines += ["", "Drop: FP32 top-1 minus INT8 top-1 (negative: INT8 scored higher). MACs in float: share of the "
              "weight-bearing ops' multiply-accumulates left in float (attention's activation x activation "
              "MatMuls always run in float and are not counted). Tools: " + json.dumps(tool_versions())]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-drop", type=float, default=0.5)
    parser.add_argument("--min-agreement", type=float)
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export"
        api.export("deit_tiny_patch16_224", "all", out=export, weights=str(WEIGHTS), data=EVAL, threads=2)
        for fmt in args.formats.split(","):
            started = time.perf_counter()
            result = api.quantize(str(export), formats=fmt, precisions="int8", calib=CALIB, eval_data=EVAL,
                                  max_drop=args.max_drop, min_agreement=args.min_agreement, out=Path(tmp) / fmt,
                                  threads=2)
            int8 = next(a for a in result.artifacts if a.stage == "quantize")
            rows.append(row(fmt, int8, time.perf_counter() - started))
            print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    stem = "quantize_deit" + (f"_agree{args.min_agreement:g}" if args.min_agreement is not None else "")
    doc = {"max_drop_pp": args.max_drop, "min_agreement": args.min_agreement, "host": cpu_name(), "rows": rows,
           "tools": tool_versions()}
    (RESULTS / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(rows, args))
    print(markdown(rows, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
