"""Pareto fronts are exactly the non-dominated points; the choice respects the budget and max-drop."""
import random

from vitedge.nas.pareto import choose, dominates, pareto_front


def test_front_is_exactly_the_non_dominated_points():
    rng = random.Random(0)
    for _ in range(50):
        points = [(round(rng.uniform(0, 1), 2), round(rng.uniform(50, 100), 1)) for _ in range(rng.randint(1, 30))]
        front = pareto_front(points)
        for i in front:
            assert not any(dominates(q, points[i]) for q in points)
        for j in set(range(len(points))) - set(front):
            assert any(dominates(points[i], points[j]) or points[i] == points[j] for i in front)
        assert [points[i][0] for i in front] == sorted(points[i][0] for i in front)
        accs = [points[i][1] for i in front]
        assert accs == sorted(accs) and len(set(accs)) == len(accs)  # slower only when more accurate


def test_front_of_a_known_set():
    points = [(1.0, 90.0), (2.0, 95.0), (2.5, 94.0), (3.0, 95.0), (0.5, 80.0), (4.0, 97.0), (0.5, 80.0)]
    assert pareto_front(points) == [4, 0, 1, 5]


def test_choose_within_budget_and_max_drop():
    points = [(4.0, 97.0), (0.5, 80.0), (1.0, 90.0), (2.0, 95.0)]
    front = pareto_front(points)
    assert choose(points, front, None, None, None) == 0
    assert choose(points, front, 2.5, None, None) == 3
    assert choose(points, front, 2.0, None, None) == 3  # the budget is inclusive
    assert choose(points, front, 0.1, None, None) is None
    assert choose(points, front, None, 7.5, 97.0) == 2  # the fastest within 7.5 points of the parent
    assert choose(points, front, 0.9, 1.0, 97.0) == 1  # none close enough within budget: the most accurate
