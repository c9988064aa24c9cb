"""Accuracy vs latency per target as a PNG: every candidate, the front, the budget and the chosen variant."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def plot_target(path: Path, title: str, points: list[tuple[float, float]], front: list[int], chosen: int | None,
                parent: int | None, budget: float | None, xlabel: str, ylabel: str) -> Path:
    """Write the plot to `path` atomically. A bare Figure renders with Agg and never touches pyplot's global
    backend, so no display is needed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=120)
    ax = fig.add_subplot()
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ax.scatter(xs, ys, s=18, color="0.65", label="candidates", zorder=2)
    ax.plot([xs[i] for i in front], [ys[i] for i in front], "-o", color="tab:blue", ms=5, label="Pareto front",
            zorder=3)
    if parent is not None:
        ax.scatter([xs[parent]], [ys[parent]], marker="D", s=50, color="black", label="parent", zorder=4)
    if budget is not None:
        ax.axvline(budget, color="tab:red", ls="--", lw=1, label=f"budget {budget:g} ms")
    if chosen is not None:
        ax.scatter([xs[chosen]], [ys[chosen]], marker="*", s=220, color="tab:orange", edgecolor="black",
                   label="chosen", zorder=5)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
