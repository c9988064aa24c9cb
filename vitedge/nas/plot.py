"""Accuracy vs latency per target as a PNG: the family (every timed configuration), the front, the pick, the parent
and the SAM3-on-T4 baseline line (log latency axis, so a sub-millisecond model and the baseline share it)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def plot_target(path: Path, title: str, family: list[tuple[float, float]], front: list[tuple[float, float]],
                pick: tuple[float, float] | None, parent: tuple[float, float], baseline: tuple[float, str] | None,
                budget: float | None, xlabel: str, ylabel: str) -> Path:
    """Write the plot to `path` atomically. A bare Figure renders with Agg and never touches pyplot's global
    backend, so no display is needed. Points are (latency ms, accuracy %)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.6), dpi=120)
    ax = fig.add_subplot()
    ax.scatter([p[0] for p in family], [p[1] for p in family], s=16, color="0.65", label="family (timed)", zorder=2)
    ax.plot([p[0] for p in front], [p[1] for p in front], "-o", color="tab:blue", ms=5, label="Pareto front",
            zorder=3)
    ax.scatter([parent[0]], [parent[1]], marker="D", s=50, color="black", label="parent", zorder=4)
    if pick is not None:
        ax.scatter([pick[0]], [pick[1]], marker="*", s=240, color="tab:orange", edgecolor="black", label="pick",
                   zorder=5)
    if budget is not None:
        ax.axvline(budget, color="tab:red", ls="--", lw=1, label=f"budget {budget:.3g} ms")
    if baseline is not None:
        ax.axvline(baseline[0], color="tab:purple", ls=":", lw=1.5, label=baseline[1])
    ax.set_xscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
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
