"""Quantization accuracy / size benchmark: every format x precision on vit4mnist (real MNIST, calibration on
test images 0-7999, evaluation on 8000-9999), plus a run that shows what the accuracy-aware fallback buys, and
DeiT-Tiny/16 at 224 (random weights: sizes and cosine only).

    python benchmarks/quantize_accuracy.py            # writes benchmarks/results/quantize.md and .json

Not a test: it records figures. Takes about 10 minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import deit_random_weights  # noqa: E402
from vitedge import api  # noqa: E402
from vitedge.quantize.table import quantize_table  # noqa: E402
from vitedge.versions import tool_versions  # noqa: E402

RESULTS = Path(__file__).parent / "results"
RUNS = [
    ("vit4mnist: every format x precision, plain (no fallback)",
     dict(source="vit4mnist", int8_modes="static,dynamic,full-integer")),
    ("vit4mnist: the same with the accuracy-aware fallback (--max-drop 0.3)",
     dict(source="vit4mnist", int8_modes="static,dynamic,full-integer", max_drop=0.3)),
    ("vit4mnist, ONNX static INT8 with Entropy (KL) calibration: plain, then with --max-drop 0.3",
     dict(source="vit4mnist", formats="onnx", precisions="int8", calibration_method="entropy")),
    ("", dict(source="vit4mnist", formats="onnx", precisions="int8", calibration_method="entropy", max_drop=0.3)),
]


def command(options: dict) -> str:
    flags = {"formats": "--format", "precisions": "--precision", "int8_modes": "--int8",
             "calibration_method": "--calibration-method", "max_drop": "--max-drop", "weights": "--weights",
             "calib": "--calib", "eval_data": "--eval"}
    parts = ["vitedge quantize", options["source"]] + [f"{flags[k]} {v}" for k, v in options.items() if k in flags]
    return " ".join(parts)


def fallback_steps(artifacts) -> str:
    """What each step of the accuracy-aware fallback bought, for artifacts where it had to act."""
    lines = []
    for a in artifacts:
        steps = ((a.quantization or {}).get("fallback") or {}).get("steps", [])
        if len(steps) > 1:
            walk = " -> ".join(f"{'+'.join(s['float_groups']) or 'all int8'}: {100 * s['top1']:.2f}% "
                               f"({s['drop_pp']:+.2f} pp)" for s in steps)
            lines.append(f"\nfallback for {a.path}: {walk}")
    return "".join(lines)



def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main() -> int:
    sections, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        runs = RUNS + [("deit_tiny_patch16_224 (random weights, 256 calibration / 128 evaluation images of the "
                        "built-in MNIST set resized to 3x224x224; sizes and cosine only)",
                        dict(source="deit_tiny_patch16_224", weights=deit_random_weights(Path(tmp)),
                             int8_modes="static,dynamic", calib="calib_data/mnist_calib.npz[0:256]",
                             eval_data="calib_data/mnist_eval.npz[0:128]"))]
        for index, (title, options) in enumerate(runs):
            started = time.perf_counter()
            result = api.quantize(out=Path(tmp) / f"run{index}", threads=2, **options)
            seconds = time.perf_counter() - started
            table = quantize_table(result.artifacts) + fallback_steps(result.artifacts)
            sections.append((f"### {title}\n\n" if title else "") + f"`{command(options)}` ({seconds:.0f} s)\n\n"
                            f"```\n{table}\n```\n" + "".join(f"\nnot met: {f}\n" for f in result.failures))
            records.append({"command": command(options), "seconds": round(seconds, 1),
                            "artifacts": [a.to_dict() for a in result.artifacts], "failures": result.failures})
            print(sections[-1], flush=True)
    header = (f"# Quantization: accuracy, drop and size\n\nMeasured by `benchmarks/quantize_accuracy.py` on "
              f"{cpu_name()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d')}, tools "
              f"{json.dumps(tool_versions())}.\nDrop is in percentage points against the FP32 PyTorch reference "
              f"(98.05% on MNIST test 8000-9999); sizes are whole artifacts (an OpenVINO IR is .xml + .bin).\n\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quantize.md").write_text(header + "\n".join(sections))
    (RESULTS / "quantize.json").write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
