"""The search space, the choice per target and the knob pruning, on hand-made figures."""
import random

import pytest

from vitedge.models.vit import ViTConfig
from vitedge.nas.knobs import prune, single_knob_configs
from vitedge.nas.latency import Timing
from vitedge.nas.search import Entry, Limits, choose, screen_set
from vitedge.nas.space import KNOBS, default_space

from .conftest import tiny_model


@pytest.fixture(scope="module")
def space():
    return default_space(tiny_model().config, (2, 0, 1))


def test_space_values_keep_pretrained_behaviour(space):
    parent = space.parent
    assert space.resolution[0] == parent.img_size and all(r % parent.patch_size == 0 for r in space.resolution)
    assert space.depth == (3, 2) and space.heads[0] == parent.num_heads and space.merge[0] == 0
    assert space.largest().blocks == (0, 1, 2) and space.blocks_for(2) == (0, 1)  # block 2 matters least
    assert space.size == len(space.all()) == len(set(space.all()))


def test_sandwich_holds_the_largest_and_the_smallest(space):
    subs = space.sandwich(random.Random(0), 4)
    assert subs[0] == space.largest() and subs[1] == space.smallest() and len(subs) == 4


def test_restrict_keeps_the_parent_value_and_union_restores(space):
    small = space.restrict(resolution=(), heads=(space.heads[-1],))
    assert small.resolution == (space.resolution[0],) and small.heads == (space.heads[0], space.heads[-1])
    assert small.union(space).size == space.size


def test_screen_set_always_holds_the_extremes_and_single_knob_changes(space):
    subs = screen_set(space, 5, seed=0)
    assert space.largest() in subs and space.smallest() in subs
    assert set(single_knob_configs(space).values()) <= set(subs)
    assert screen_set(space, 10 ** 6, seed=0) == space.all()


def timing(ms: float, parent_ms: float = 10.0, low: float | None = None) -> Timing:
    ratio = parent_ms / ms
    return Timing(ms, ratio, "measured here", "test", {"ratio_low": ratio * 0.98 if low is None else low})


def entry(sub, ms: float, agreement: float, drop: float, target: str = "x86-cpu") -> Entry:
    figures = {"agreement": agreement, "top1": 90.0 - drop, "parent_top1": 90.0, "drop_pp": drop, "kl": 0.1,
               "images": 100}
    return Entry(sub, figures, full=figures, timings={target: timing(ms)})


def test_the_pick_is_the_fastest_within_the_limits(space):
    subs = space.all()
    parent = entry(space.largest(), 10.0, 100.0, 0.0)
    candidates = [parent, entry(subs[1], 5.0, 85.0, 0.4), entry(subs[2], 6.0, 95.0, 1.5),
                  entry(subs[3], 7.0, 94.0, 0.8), entry(subs[4], 8.0, 97.0, 0.2)]
    pick = choose("x86-cpu", candidates, parent, Limits(max_drop=1.0, min_agreement=90.0))
    assert pick.pick.sub == subs[3] and "1.43x" in pick.reason
    budget = choose("x86-cpu", candidates, parent, Limits(max_drop=1.0, min_agreement=90.0, min_speedup=1.5))
    assert budget.pick is None and "budget" in budget.reason  # 7 ms is over 10 / 1.5 ms
    fraction = choose("x86-cpu", candidates, parent, Limits(max_drop=1.0, budget_fraction=0.85))
    assert fraction.pick.sub == subs[3] and fraction.budget_ms == pytest.approx(8.5)
    front = {e.sub for e in pick.front}
    assert subs[1] in front and parent.sub in front


def test_no_pick_when_nothing_is_faster(space):
    subs = space.all()
    parent = entry(space.largest(), 10.0, 100.0, 0.0)
    slower = entry(subs[1], 11.0, 99.0, 0.0)
    pick = choose("x86-cpu", [parent, slower], parent, Limits())
    assert pick.pick is None and "parent" in pick.reason


def test_a_knob_value_that_is_not_faster_leaves_the_targets_space(space):
    timings = {}
    for (knob, value), sub in single_knob_configs(space).items():
        ms = 9.0 if knob == "depth" else 10.5 if knob == "resolution" else 9.9  # 1% faster: noise, not a gain
        timings[sub] = {"x86-cpu": timing(ms)}
    pruned, effects = prune(space, timings, "x86-cpu")
    assert pruned.depth == space.depth and pruned.resolution == (space.resolution[0],)
    assert all(len(getattr(pruned, k)) == 1 for k in KNOBS if k != "depth")
    assert effects["depth=2"]["kept"] and not effects[f"resolution={space.resolution[1]}"]["kept"]


def test_a_gain_whose_interval_reaches_one_is_not_kept(space):
    (knob, value), sub = next(iter(single_knob_configs(space).items()))
    timings = {s: {"x86-cpu": timing(10.0)} for s in single_knob_configs(space).values()}
    timings[sub] = {"x86-cpu": timing(8.0, low=0.99)}
    _, effects = prune(space, timings, "x86-cpu")
    assert not effects[f"{knob}={value}"]["kept"]


def test_resolution_and_depth_keep_values_between_kept_ones():
    """Fewer blocks is always less work: a noisy reading of a milder depth does not drop it when a bolder one is
    kept. Width knobs have no such rule."""
    space = default_space(tiny_model(depth=6, img_size=56).config, (5, 4, 3, 2, 1, 0))
    assert len(space.depth) == 4 and len(space.resolution) >= 3
    timings = {}
    for (knob, value), sub in single_knob_configs(space).items():
        timings[sub] = {"x86-cpu": timing(10.0)}
    bold = space.config(space.resolution[0], space.depth[-1], space.heads[0], space.mlp[0], space.embed[0])
    mild = space.config(space.resolution[-1], space.depth[0], space.heads[0], space.mlp[0], space.embed[0])
    timings[bold] = {"x86-cpu": timing(6.0)}
    timings[mild] = {"x86-cpu": timing(7.0)}
    pruned, effects = prune(space, timings, "x86-cpu")
    assert pruned.depth == space.depth and pruned.resolution == space.resolution
    assert pruned.heads == (space.heads[0],) and not effects[f"heads={space.heads[1]}"]["kept"]


def test_values_that_destroy_the_pretrained_function_are_not_trained(space):
    from vitedge.nas.knobs import recoverable

    single = single_knob_configs(space)
    broken = {sub for (knob, _), sub in single.items() if knob == "heads"}
    evaluate = lambda sub, count: {"agreement": 20.0 if sub in broken else 95.0}
    kept, zero_shot = recoverable(space, evaluate, 64, floor=60.0)
    assert kept["heads"] == () and kept["depth"] == space.depth[1:]
    assert all(zero_shot[f"heads={h}"] == 20.0 for h in space.heads[1:])
    assert space.restrict(**kept).heads == (space.heads[0],)


def test_entries_timed_in_different_sessions_are_ranked_by_their_speedup(space):
    """A busy session made one entry look slow in ms although it beat the parent there: its speed-up decides, and
    its ms is put on the parent's scale (the session's ms kept in details)."""
    subs = space.all()
    parent = entry(space.largest(), 10.0, 100.0, 0.0)
    busy = entry(subs[1], 12.0, 97.0, 0.2)
    busy.timings["x86-cpu"] = Timing(12.0, 2.0, "measured here", "busy session", {"ratio_low": 1.9})
    calm = entry(subs[2], 6.0, 97.0, 0.2)  # 1.67x in a calm session
    pick = choose("x86-cpu", [parent, busy, calm], parent, Limits(1.0, 90.0))
    assert pick.pick is busy and busy.timings["x86-cpu"].ms == 5.0
    assert busy.timings["x86-cpu"].details["session_ms"] == 12.0


def screened(sub, agreement: float, kl: float, weights: str) -> Entry:
    return Entry(sub, {"agreement": agreement, "kl": kl, "images": 64}, weights=weights)


def test_better_of_keeps_per_configuration_the_weights_closer_to_the_parent(space):
    from vitedge.nas.search import better_of

    a, b, c = space.all()[:3]
    trained = [screened(sub, agreement, kl, "supernet") for sub, agreement, kl in ((a, 90.0, 0.2), (b, 80.0, 0.5),
                                                                                     (c, 70.0, 0.9))]
    pretrained = [screened(a, 95.0, 0.1, "pretrained"), screened(b, 75.0, 0.4, "pretrained")]
    kept = better_of(trained, pretrained)
    assert [e.sub for e in kept] == [a, b, c]  # one entry per configuration, in screening order
    assert [e.weights for e in kept] == ["pretrained", "supernet", "supernet"]
    tie = better_of([screened(a, 90.0, 0.3, "supernet")], [screened(a, 90.0, 0.2, "pretrained")])
    assert tie[0].weights == "pretrained"  # same agreement: the lower KL


def test_zero_shot_plausible_needs_every_changed_knob_value_above_the_floor(space):
    from vitedge.nas.search import zero_shot_plausible

    full = space.largest()
    lower = space.config(space.resolution[-1], full.depth, full.heads, full.mlp, full.embed)
    both = space.config(space.resolution[-1], space.depth[-1], full.heads, full.mlp, full.embed)
    figures = {f"resolution={space.resolution[-1]}": 92.0, f"depth={space.depth[-1]}": 40.0}
    assert zero_shot_plausible(space, full, figures, 84.0)  # nothing changed
    assert zero_shot_plausible(space, lower, figures, 84.0) and not zero_shot_plausible(space, lower, figures, 95.0)
    assert not zero_shot_plausible(space, both, figures, 84.0)


def test_a_deep_parent_merges_in_steps_of_three_blocks():
    parent = ViTConfig(img_size=224, patch_size=16, embed_dim=192, depth=12, num_heads=3)
    space = default_space(parent, tuple(range(12)))
    assert space.merge_every == 3 and space.merge[0] == 0 and max(space.merge) <= 98
    assert 25 in space.merge and 49 in space.merge  # 197 tokens x (1/24, 1/12) per block x 3 blocks
    sub = space.config(224, 12, 3, 768, 192, 25)
    assert sub.merge_every == 3 and space.config(224, 12, 3, 768, 192, 0).merge_every == 1
    assert default_space(parent, tuple(range(12)), merge_every=1).merge_every == 1
