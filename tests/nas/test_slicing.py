"""Slicing: keeping everything is the parent exactly; measured importance drops dead units and blocks first."""
import numpy as np
import pytest
import torch

from vitedge.nas import Choice, measure_importance, slice_model
from vitedge.nas.slicing import plan_slice, top_k
from vitedge.nas.space import default_space

from .conftest import tiny_model

DEAD_HEAD, DEAD_NEURONS, IDENTITY_BLOCK, DEAD_CHANNEL = 2, [5, 17, 40], 1, 11


def _logits(model, data, count=64):
    images = torch.from_numpy(next(data.batches(model.spec, count))[0])
    with torch.no_grad():
        return model.module(images)


@pytest.mark.parametrize("changes", [{}, {"head_hidden": (24,)},
                                     {"qkv_bias": True, "init_values": 0.1, "global_pool": "avg"}])
def test_keeping_everything_reproduces_the_parent_exactly(changes, mnist):
    parent = tiny_model(**changes)
    importance = measure_importance(parent, mnist)
    full = default_space(parent.config, importance.removal_order).full()
    child = slice_model(parent, importance, full)
    assert torch.equal(_logits(parent, mnist), _logits(child, mnist))


def _with_dead_units():
    """Block 0 head 2 never reaches the output; block 2 has dead MLP neurons; block 1 adds nothing; channel 11 is
    zero throughout the residual stream."""
    parent = tiny_model(seed=1)
    m, hd = parent.module, parent.config.per_head_dim
    with torch.no_grad():
        m.blocks[0].attn.proj.weight[:, DEAD_HEAD * hd:(DEAD_HEAD + 1) * hd] = 0
        m.blocks[2].mlp.fc2.weight[:, DEAD_NEURONS] = 0
        for layer in (m.blocks[IDENTITY_BLOCK].attn.proj, m.blocks[IDENTITY_BLOCK].mlp.fc2):
            layer.weight.zero_()
            layer.bias.zero_()
        for tensor in (m.patch_embed.proj.weight, m.patch_embed.proj.bias, m.cls_token[0, 0], m.pos_embed[0].T):
            tensor[DEAD_CHANNEL] = 0
        for block in m.blocks:
            block.attn.proj.weight[DEAD_CHANNEL] = 0
            block.attn.proj.bias[DEAD_CHANNEL] = 0
            block.mlp.fc2.weight[DEAD_CHANNEL] = 0
            block.mlp.fc2.bias[DEAD_CHANNEL] = 0
    return parent


def test_importance_ranks_dead_units_and_blocks_last(mnist):
    parent = _with_dead_units()
    importance = measure_importance(parent, mnist)
    assert importance.heads[0][DEAD_HEAD] == 0 and np.all(np.delete(importance.heads[0], DEAD_HEAD) > 0)
    assert np.all(importance.neurons[2][DEAD_NEURONS] == 0) and (importance.neurons[2] > 0).sum() == 64 - 3
    assert importance.channels[DEAD_CHANNEL] == 0 and (importance.channels > 0).sum() == 31
    assert importance.removal_order[0] == IDENTITY_BLOCK and importance.removal_kl[0] < 1e-9


def test_slicing_drops_the_least_important_units(mnist):
    parent = _with_dead_units()
    importance = measure_importance(parent, mnist)
    choice = Choice(heads=(3, 0, 4), mlp=(64, 0, 61), embed_dim=32)
    plan = plan_slice(importance, choice)
    assert plan.blocks == (0, 2) and DEAD_HEAD not in plan.heads[0] and len(plan.heads[0]) == 3
    assert not set(DEAD_NEURONS) & set(plan.neurons[1]) and len(plan.neurons[1]) == 61
    # dropping exactly the units that contribute nothing leaves the function unchanged
    child = slice_model(parent, importance, choice)
    torch.testing.assert_close(_logits(child, mnist), _logits(parent, mnist), rtol=1e-4, atol=1e-5)
    narrow = plan_slice(importance, Choice(heads=(4, 4, 4), mlp=(64, 64, 64), embed_dim=31))
    assert DEAD_CHANNEL not in narrow.channels


def test_sliced_weights_are_the_parents(mnist):
    parent = tiny_model()
    importance = measure_importance(parent, mnist)
    choice = Choice(heads=(2, 4, 1), mlp=(16, 64, 8), embed_dim=24)
    child = slice_model(parent, importance, choice)
    plan = plan_slice(importance, choice)
    c = list(plan.channels)
    fc1 = parent.module.blocks[2].mlp.fc1.weight[list(plan.neurons[2])][:, c]
    assert torch.equal(child.module.blocks[2].mlp.fc1.weight, fc1)
    assert child.config.block_heads == (2, 4, 1) and child.config.embed_dim == 24
    assert child.parameters < parent.parameters


def test_top_k_is_stable_and_in_index_order():
    assert top_k(np.array([1.0, 3.0, 3.0, 0.5]), 2) == (1, 2)
    assert top_k(np.array([2.0, 2.0, 2.0]), 2) == (0, 1)
