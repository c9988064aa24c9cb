"""Per-target Pareto plot (PNG): accuracy against p50 latency, the shipped artifact and the SAM3-on-T4 baseline.

Measured latencies are filled markers, estimates hollow; artifacts that failed a gate are grey crosses. Latency is
on a log axis so the baseline (hundreds of ms) and edge models (fractions of a ms) fit on one plot.
"""
from __future__ import annotations

import io

from vitedge.report.data import Row, TargetSection

COLORS = {"onnx": "#1f77b4", "openvino": "#9467bd", "tflite": "#2ca02c"}


Y_AXES = (("top1", "top-1 accuracy (%)"), ("agreement", "top-1 agreement with FP32 (%)"),
          ("pixels", "pixels agreeing with FP32 (%)"), ("cosine", "output cosine with FP32 (x 100)"))


def y_axis(rows: list[Row]) -> tuple[str, str]:
    """The first figure every validated row has: top-1, else agreement (no labels), else a map's pixel agreement,
    else the output cosine (an embedding)."""
    validated = [r for r in rows if r.verdict != "not validated"]
    return next(((attr, label) for attr, label in Y_AXES if all(getattr(r, attr) is not None for r in validated)),
                Y_AXES[-1])


def accuracy_of(row: Row, attr: str) -> float | None:
    value = getattr(row, attr)
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


def _scatter(ax, rows: list[Row], y_attr: str) -> list[tuple[float, float]]:
    passing = []
    for i, row in enumerate(sorted(rows, key=lambda r: (r.p50 or 0))):
        y = accuracy_of(row, y_attr)
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

    y_attr, y_label = y_axis(section.rows)
    fig = Figure(figsize=(9, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    passing = _scatter(ax, section.rows, y_attr)
    front = pareto_front(passing)
    if len(front) > 1:
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="0.4", linewidth=1, zorder=2)
    shipped_y = accuracy_of(section.shipped, y_attr) if section.shipped else None
    if shipped_y is not None and section.shipped.p50 is not None:
        y = shipped_y
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
    ax.set_ylabel(y_label)
    ax.set_title(f"{section.name}: accuracy vs latency", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    _legend(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
