"""Seeded evolutionary search over a SearchSpace with a fixed number of evaluations.

The parent is evaluated first. Then `initial` sub-networks spread over cost (for each of evenly spaced fractions
of the parent's MACs, the closest of a batch of random samples), then children of the current (MACs, accuracy)
Pareto front by mutation or crossover until `evaluations` candidates have been scored; a front member is picked in
proportion to the MACs gap around it, so the search fills the sparse stretches of the front rather than crowding
next to the parent. The front that steers the
search is on MACs, which every target's latency follows; each target's own front is drawn from the same
candidates afterwards. Same seed and same scores: same candidates, in the same order.
"""
from __future__ import annotations

import random
from typing import Callable

from vitedge.nas.pareto import pareto_front
from vitedge.nas.space import Choice, SearchSpace

SAMPLES_PER_SLOT = 64
MAX_TRIES = 200
MIN_FRACTION, MAX_FRACTION = 0.2, 0.9


def spread(space: SearchSpace, rng: random.Random, count: int, seen: set[str]) -> list[Choice]:
    """`count` random sub-networks whose MACs are closest to evenly spaced fractions of the parent's."""
    full = space.macs(space.full())
    picks: list[Choice] = []
    for k in range(count):
        fraction = MIN_FRACTION + (MAX_FRACTION - MIN_FRACTION) * k / max(1, count - 1)
        pool = [space.random(rng) for _ in range(SAMPLES_PER_SLOT)]
        pool = [c for c in pool if c.key not in seen] or pool
        best = min(pool, key=lambda c: abs(space.macs(c) / full - fraction))
        if best.key not in seen:
            seen.add(best.key)
            picks.append(best)
    return picks


def gaps(costs: list[float]) -> list[float]:
    """How far each front member (cheapest first) is from its neighbours: sparse stretches of the front weigh more."""
    if len(costs) == 1:
        return [1.0]
    padded = [2 * costs[0] - costs[1], *costs, 2 * costs[-1] - costs[-2]]
    return [max(padded[i + 2] - padded[i], 1e-9) for i in range(len(costs))]


def child(space: SearchSpace, rng: random.Random, parents: list[Choice], weights: list[float], seen: set[str]
          ) -> Choice | None:
    """A new choice from the front (members drawn by `weights`): a mutation, or one time in three a crossover of
    two members then a mutation."""
    for _ in range(MAX_TRIES):
        a = rng.choices(parents, weights)[0]
        if len(parents) > 1 and rng.random() < 1 / 3:
            a = space.crossover(rng, a, rng.choice([p for p in parents if p is not a]))
        candidate = space.mutate(rng, a)
        if candidate.key not in seen:
            seen.add(candidate.key)
            return candidate
    return None


def evolve(space: SearchSpace, score: Callable[[Choice], float], evaluations: int, seed: int,
           initial: int | None = None) -> list[tuple[Choice, float]]:
    """Score `evaluations` choices (the parent first); returns (choice, accuracy) in evaluation order."""
    rng = random.Random(seed)
    parent = space.full()
    seen = {parent.key}
    results = [(parent, score(parent))]
    initial = max(0, evaluations // 2 if initial is None else initial)
    for choice in spread(space, rng, min(initial, evaluations - 1), seen):
        results.append((choice, score(choice)))
    while len(results) < evaluations:
        points = [(space.macs(c), acc) for c, acc in results]
        order = pareto_front(points)
        front = [results[i][0] for i in order]
        candidate = child(space, rng, front, gaps([points[i][0] for i in order]), seen)
        if candidate is None:
            break  # the neighbourhood of the front is exhausted
        results.append((candidate, score(candidate)))
    return results
