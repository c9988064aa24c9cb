"""The one table `vitedge bench` prints (like `yolo benchmark`)."""
from __future__ import annotations

from vitedge.console import human_bytes, table
from vitedge.targets.bench import BenchRow, computes_in, precision_label

HEADERS = ["target", "format", "precision", "scheme", "size", "top-1", "p50 ms", "p90 ms", "img/s", "how obtained",
           "x vs SAM3/T4"]


def bench_table(rows: list[BenchRow]) -> str:
    """The rows as a table; without the top-1 column when no artifact has one (embeddings, dense maps)."""
    cells = []
    for r in rows:
        noisy = " NOISY" if "NOISY" in r.basis else ""
        precision = precision_label(r.precision, computes_in(r.details))
        cells.append([r.target, r.format, precision, r.scheme, human_bytes(r.bytes),
                      "-" if r.top1 is None else f"{100 * r.top1:.2f}%",
                      "-" if r.latency_ms_p50 is None else f"{r.latency_ms_p50:.3f}",
                      "-" if r.latency_ms_p90 is None else f"{r.latency_ms_p90:.3f}",
                      "-" if r.throughput_per_s is None else f"{r.throughput_per_s:.0f}",
                      r.obtained.upper() if r.obtained == "estimated" else r.obtained + noisy,
                      "-" if r.speedup_vs_baseline is None else f"{r.speedup_vs_baseline:g}x"])
    if all(r.top1 is None for r in rows):
        column = HEADERS.index("top-1")
        return table([h for i, h in enumerate(HEADERS) if i != column],
                     [[c for i, c in enumerate(row) if i != column] for row in cells])
    return table(HEADERS, cells)


def fastest_lines(rows: list[BenchRow], max_drop_pp: float | None = None) -> list[str]:
    """Per target, the fastest artifact whose held-out top-1 drop is within the default top-1 gate (the one to
    ship unless `vitedge validate` fails it; `vitedge bundle` picks from validated artifacts only)."""
    from vitedge.validate.gates import DEFAULT_GATES

    limit = max_drop_pp if max_drop_pp is not None else next(
        g.value for g in DEFAULT_GATES if g.metric == "top1" and g.type == "max-drop")
    lines = []
    for target in dict.fromkeys(r.target for r in rows):
        ok = [r for r in rows if r.target == target and r.latency_ms_p50 and (r.drop_pp is None or r.drop_pp <= limit)]
        if ok:
            best = min(ok, key=lambda r: (r.obtained == "estimated", r.latency_ms_p50))
            rule = (f"within {limit:g} pp top-1 drop" if any(r.drop_pp is not None for r in ok) else
                    "of all (no top-1 measured: check the cosine / map figures with vitedge validate)")
            lines.append(f"{target}: fastest {rule}: {best.format} {best.scheme} "
                         f"{best.path} at {best.latency_ms_p50:.3f} ms ({best.obtained})")
    return lines
