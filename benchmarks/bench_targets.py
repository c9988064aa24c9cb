"""`vitedge bench` on the quantize artifacts of vit4mnist and deit_tiny_patch16_224 (random weights), for x86-cpu
(measured here), jetson-orin-nano and android-arm64 (estimated, with the on-device commands).

    python benchmarks/bench_targets.py [--threads 2]

Writes benchmarks/results/bench.md (the tables `vitedge bench` prints, with the commands) and bench.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import deit_random_weights  # noqa: E402
from vitedge import api  # noqa: E402
from vitedge.targets.host import cpu_info  # noqa: E402
from vitedge.targets.table import bench_table, fastest_lines  # noqa: E402
from vitedge.versions import tool_versions  # noqa: E402

TARGETS = "x86-cpu,jetson-orin-nano,android-arm64"
RESULTS = Path(__file__).parent / "results"



def models(tmp: Path) -> list[tuple[str, dict, str | None]]:
    return [("vit4mnist", dict(source="vit4mnist", max_drop=0.3), None),
            ("deit_tiny_patch16_224 (random weights)",
             dict(source="deit_tiny_patch16_224", weights=deit_random_weights(tmp),
                  calib="calib_data/mnist_calib.npz[0:256]", eval_data="calib_data/mnist_eval.npz[0:128]"), "calib_data/mnist_eval.npz[0:1]")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    sections, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for index, (title, options, data) in enumerate(models(tmp)):
            quant = tmp / f"quant{index}"
            api.quantize(out=quant, threads=args.threads, **options)
            started = time.perf_counter()
            result = api.bench(quant, targets=TARGETS, threads=args.threads, data=data, out=tmp / f"bench{index}")
            seconds = time.perf_counter() - started
            text = bench_table(result.rows) + "\n\n" + "\n".join(fastest_lines(result.rows))
            scripts = [Path(s).read_text() for s in result.scripts]
            sections.append(f"## {title}\n\n`vitedge bench QUANT --target {TARGETS} --threads {args.threads}` "
                            f"({seconds:.0f} s)\n\n```\n{text}\n```\n\nOn-device commands written "
                            f"(first lines of each script):\n\n```\n"
                            + "\n".join("\n".join(s.splitlines()[:12]) for s in scripts) + "\n```\n")
            records.append({"model": title, "rows": [r.to_dict() for r in result.rows], "seconds": round(seconds, 1)})
            print(sections[-1], flush=True)
    cpu = cpu_info()
    header = (f"# Latency per target\n\n`python benchmarks/bench_targets.py --threads {args.threads}`, "
              f"{time.strftime('%Y-%m-%d')}, {cpu['model']} ({cpu['logical_cores']} cores; {', '.join(cpu['flags'])})"
              f", tools {json.dumps(tool_versions())}.\nx86-cpu rows are measured here; Jetson / Android rows are "
              f"ESTIMATED (roofline from the artifact's ONNX graph over the profile's cited peaks, scaled by this "
              f"host's measured / estimated ratio) until `vitedge bench ingest` replaces them with device logs.\n\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench.md").write_text(header + "\n".join(sections))
    (RESULTS / "bench.json").write_text(json.dumps(records, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
