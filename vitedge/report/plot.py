"""Per-target Pareto plot (PNG): accuracy against p50 latency, the shipped artifact and the SAM3-on-T4 baseline.

Measured latencies are filled markers, estimates hollow; artifacts that failed a gate are grey crosses. Latency is
on a log axis so the baseline (hundreds of ms) and edge models (fractions of a ms) fit on one plot.
"""
from __future__ import annotations

import io

from vitedge.report.data import Row, TargetSection

COLORS = {"onnx": "#1f77b4", "openvino": "#9467bd", "tflite": "#2ca02c"}


def accuracy_of(row: Row, use_top1: bool) -> float | None:
    value = row.top1 if use_top1 else row.agreement
    return None if value is None else 100 * value


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(latency, accuracy) points no other point beats on both, fastest first."""
    front, best = [], float("-inf")
    for latency, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if accuracy > best:
            front.append((latency, accuracy))
            best = accuracy
    return front


LABEL_OFFSETS = ((6, 5), (6, -11), (6, 15), (6, -21))  # staggered so labels of close points stay readable


def _scatter(ax, rows: list[Row], use_top1: bool) -> list[tuple[float, float]]:
    passing = []
    for i, row in enumerate(sorted(rows, key=lambda r: (r.p50 or 0))):
        y = accuracy_of(row, use_top1)
        if y is None or row.p50 is None:
            continue
        label = f"{row.format} {row.precision}" + (" (est.)" if row.estimated else "")
        if row.verdict != "pass":
            ax.scatter(row.p50, y, marker="x", color="0.55", zorder=3)
        else:
            color = COLORS.get(row.format, "black")
            ax.scatter(row.p50, y, s=46, marker="o", zorder=3, edgecolors=color, linewidths=1.5,
                       facecolors="none" if row.estimated else color, linestyle="--" if row.estimated else "-")
            passing.append((row.p50, y))
        ax.annotate(label, (row.p50, y), xytext=LABEL_OFFSETS[i % len(LABEL_OFFSETS)], textcoords="offset points",
                    fontsize=7, color="0.25")
    return passing


def _legend(ax) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", color="0.3", linestyle="", label="measured"),
               Line2D([], [], marker="o", color="0.3", markerfacecolor="none", linestyle="",
                      label="ESTIMATED (roofline)"),
               Line2D([], [], marker="x", color="0.55", linestyle="", label="failed a gate"),
               Line2D([], [], marker="*", color="#d62728", markersize=13, linestyle="", label="shipped (primary)"),
               Line2D([], [], color="0.4", linestyle="-", label="Pareto front"),
               Line2D([], [], color="#d62728", linestyle="--", label="SAM3 on T4 (baseline)")]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def pareto_png(section: TargetSection, baseline: dict) -> bytes:
    """The plot of one target as PNG bytes (matplotlib's Agg canvas, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    use_top1 = all(r.top1 is not None for r in section.rows if r.verdict != "not validated")
    fig = Figure(figsize=(9, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    passing = _scatter(ax, section.rows, use_top1)
    front = pareto_front(passing)
    if len(front) > 1:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="0.4", linewidth=1, zorder=2)
    if section.shipped and section.shipped.p50 is not None:
        y = accuracy_of(section.shipped, use_top1)
        ax.scatter(section.shipped.p50, y, marker="*", s=260, color="#d62728", zorder=4)
        ax.annotate("shipped", (section.shipped.p50, y), xytext=(-12, -16), textcoords="offset points",
                    fontsize=8, color="#d62728", fontweight="bold")
    base_ms = baseline["latency_ms"]
    ax.axvline(base_ms, color="#d62728", linestyle="--", linewidth=1.2)
    ax.text(base_ms, 0.5, f"{baseline['model']} on {baseline['device']}: {base_ms:g} ms  \n"
            "a different model and device,  \nmeasured elsewhere  ", transform=ax.get_xaxis_transform(),
            fontsize=7, color="#d62728", ha="right", va="center", rotation=0)
    latencies = [r.p50 for r in section.rows if r.p50] + [base_ms]
    ax.set_xscale("log")
    ax.margins(y=0.15)
    ax.set_xlim(min(latencies) / 2, max(latencies) * 2)
    ax.set_xlabel("p50 latency, batch 1 (ms, log scale)")
    ax.set_ylabel("top-1 accuracy (%)" if use_top1 else "top-1 agreement with FP32 (%)")
    ax.set_title(f"{section.name}: accuracy vs latency", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    _legend(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
