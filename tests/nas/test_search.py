"""The evolutionary search: the parent first, a fixed number of evaluations, the same seed the same run."""
import pytest

from vitedge.nas import default_space, evolve

from .conftest import tiny_model


@pytest.fixture(scope="module")
def space():
    return default_space(tiny_model().config, removal_order=(2, 0, 1))


def score(space):
    """A deterministic stand-in for accuracy: more MACs, more accuracy, with diminishing returns."""
    full = space.macs(space.full())
    return lambda c: round(100 * (space.macs(c) / full) ** 0.3, 4)


def test_same_seed_same_candidates_in_the_same_order(space):
    first = evolve(space, score(space), 12, seed=3)
    again = evolve(space, score(space), 12, seed=3)
    other = evolve(space, score(space), 12, seed=4)
    assert [c.key for c, _ in first] == [c.key for c, _ in again]
    assert [c.key for c, _ in first] != [c.key for c, _ in other]


def test_parent_first_and_every_candidate_distinct(space):
    results = evolve(space, score(space), 10, seed=0)
    assert len(results) == 10 and results[0][0] == space.full()
    assert len({c.key for c, _ in results}) == 10


def test_initial_candidates_spread_over_cost(space):
    results = evolve(space, score(space), 7, seed=0, initial=6)
    full = space.macs(space.full())
    fractions = sorted(space.macs(c) / full for c, _ in results[1:])
    assert fractions[0] < 0.35 and fractions[-1] > 0.6


def test_gaps_weigh_sparse_stretches_of_the_front():
    from vitedge.nas.search import gaps

    assert gaps([1.0, 2.0, 4.0]) == [2.0, 3.0, 4.0] and gaps([5.0]) == [1.0]
