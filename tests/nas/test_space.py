"""The search space: analytic MACs equal the exported graph's, parameters the module's; sampling stays valid."""
import random

import pytest

from vitedge.export.base import EXPORTERS
from vitedge.nas import Choice, count_macs, count_params, default_space, subnet_config
from vitedge.targets.estimate import count_graph

from vitedge.models.loaded import from_module
from vitedge.models.vit import VisionTransformer

from .conftest import SPEC, tiny_model


@pytest.fixture(scope="module")
def space():
    return default_space(tiny_model().config, removal_order=(2, 0, 1))


def test_options_scale_with_the_parent(space):
    assert space.head_options == (4, 3, 2, 1) and space.mlp_options == (64, 48, 32, 16)
    assert space.embed_options == (32, 24) and space.min_depth == 1


def test_analytic_macs_and_params_match_the_onnx_graph_and_module(tmp_path, space):
    config = subnet_config(space.parent, Choice(heads=(1, 4, 0), mlp=(16, 64, 0), embed_dim=24))
    model = from_module(VisionTransformer(config), SPEC, name="variant")
    path = EXPORTERS.get("onnx").export(model, tmp_path)[0]
    assert count_macs(config) == count_graph(path).macs
    assert count_params(config) == model.parameters


def test_random_mutated_and_crossed_choices_are_valid(space):
    rng = random.Random(0)
    full = space.full()
    choices = [space.random(rng) for _ in range(50)]
    choices += [space.mutate(rng, c) for c in choices] + [space.crossover(rng, a, b) for a, b in
                                                           zip(choices, choices[1:])]
    for c in choices:
        assert space.min_depth <= c.depth <= 3 and c.embed_dim in space.embed_options
        assert all(c.heads[i] in space.head_options and c.mlp[i] in space.mlp_options for i in c.blocks)
        assert set(range(3)) - set(c.blocks) == space.dropped_for(c.depth)  # blocks go in the removal order
        assert space.macs(c) <= space.macs(full)
    assert len({c.key for c in choices}) > 40


def test_choice_refuses_inconsistent_blocks():
    with pytest.raises(ValueError, match="dropped block"):
        Choice((4, 0), (64, 8), 32)
    with pytest.raises(ValueError, match="at least one block"):
        Choice((0, 0), (0, 0), 32)
    with pytest.raises(ValueError, match="exceed"):
        subnet_config(tiny_model().config, Choice((8, 4, 4), (64, 64, 64), 32))


def test_choice_round_trips_through_a_dict():
    c = Choice((4, 0, 2), (64, 0, 16), 24)
    assert Choice.from_dict(c.to_dict()) == c and c.key == Choice.from_dict(c.to_dict()).key
    assert c.label() == "depth 2, embed 24, heads 4/2, mlp 64/16"
