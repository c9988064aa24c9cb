"""Pareto fronts (lower cost, higher accuracy) and the choice of a variant within a latency budget."""
from __future__ import annotations


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(cost, accuracy) `a` is at least as good as `b` in both and better in one."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (cost, accuracy) points, cheapest first; of exact duplicates the first."""
    front = []
    for i, p in enumerate(points):
        if any(dominates(q, p) or (q == p and j < i) for j, q in enumerate(points) if j != i):
            continue
        front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1]))


def choose(points: list[tuple[float, float]], front: list[int], budget: float | None,
           max_drop: float | None, reference: float | None) -> int | None:
    """On the front within `budget`: the most accurate; with `max_drop`, the cheapest within `max_drop` points of
    `reference` (the parent's accuracy), else the most accurate. None when nothing fits the budget."""
    fits = [i for i in front if budget is None or points[i][0] <= budget]
    if not fits:
        return None
    if max_drop is not None and reference is not None:
        close = [i for i in fits if points[i][1] >= reference - max_drop]
        if close:
            return min(close, key=lambda i: (points[i][0], -points[i][1]))
    return max(fits, key=lambda i: (points[i][1], -points[i][0]))
