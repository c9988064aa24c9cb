"""A sub-network run inside the supernet equals the standalone model extracted from it; the full configuration is
the parent; reordering units by importance changes no output."""
import random

import numpy as np
import pytest
import torch

from vitedge.nas.elastic import elastic_forward, extract, resample_pos_embed
from vitedge.nas.importance import Importance
from vitedge.nas.reorder import reorder_by_importance
from vitedge.nas.space import default_space
from vitedge.nas.subnet import SubnetConfig, largest, subnet_architecture

from .conftest import tiny_model

CONFIGS = [SubnetConfig(28, (0, 1, 2), 4, 64, 32), SubnetConfig(21, (0, 2), 3, 48, 24),
           SubnetConfig(14, (1,), 2, 32, 32, 3), SubnetConfig(28, (0, 1, 2), 4, 64, 32, 5),
           SubnetConfig(28, (0, 1, 2), 4, 64, 32, 9, merge_every=2), SubnetConfig(21, (0, 2), 4, 64, 32, 6, 2)]


def images(size: int = 28, count: int = 6) -> torch.Tensor:
    return torch.randn(count, 1, size, size, generator=torch.Generator().manual_seed(1))


def test_the_largest_configuration_is_the_parent():
    model = tiny_model(mlp_ratio=2.0)
    x = images()
    with torch.no_grad():
        assert torch.allclose(elastic_forward(model.module, x, largest(model.config)), model.module(x), atol=1e-5)


@pytest.mark.parametrize("sub", CONFIGS, ids=lambda s: s.label())
def test_extracted_model_equals_the_elastic_forward(sub):
    model = tiny_model()
    x = images(sub.resolution)
    standalone = extract(model.module, sub)
    assert standalone.cfg == subnet_architecture(model.config, sub)
    with torch.no_grad():
        assert torch.allclose(standalone(x), elastic_forward(model.module, x, sub), atol=1e-5)
    assert sum(p.numel() for p in standalone.parameters()) <= model.parameters


def test_reordering_by_importance_keeps_every_output():
    model = tiny_model(seed=3)
    rng = np.random.default_rng(0)
    cfg = model.config
    importance = Importance((2, 0, 1), (0.1, 0.2, 0.3), [rng.random(cfg.num_heads) for _ in range(cfg.depth)],
                            [rng.random(cfg.mlp_dim_of(0)) for _ in range(cfg.depth)], rng.random(cfg.embed_dim),
                            8, "test")
    x = images()
    with torch.no_grad():
        before = model.module(x)
        reordered = reorder_by_importance(model.module, importance)
        assert torch.allclose(reordered(x), before, atol=1e-5)


def test_a_narrow_configuration_keeps_the_most_important_units():
    """After reordering, a width is a prefix of the units ranked best: dropping the least important head changes
    the output less than dropping the most important one."""
    model = tiny_model(seed=4)
    cfg = model.config
    heads = [np.array([0.0, 0.0, 0.0, 10.0]) for _ in range(cfg.depth)]
    importance = Importance((0, 1, 2), (0.0,) * 3, heads, [np.ones(cfg.mlp_dim_of(0))] * cfg.depth,
                            np.ones(cfg.embed_dim), 8, "test")
    vit = reorder_by_importance(model.module, importance)
    hd = cfg.per_head_dim
    first = vit.blocks[0].attn.qkv.weight[:hd]  # query rows of the first head, columns in channel order
    best = model.module.blocks[0].attn.qkv.weight[3 * hd:4 * hd]  # query rows of head 3, the most important
    assert torch.allclose(first.norm(dim=1), best.norm(dim=1))  # the same rows (columns may be permuted)
    x = images()
    narrow = SubnetConfig(28, (0, 1, 2), 3, cfg.mlp_dim_of(0), cfg.embed_dim)
    with torch.no_grad():  # three heads of the reordered net keep head 3; of the original, they drop it
        kept = (elastic_forward(vit, x, narrow) - model.module(x)).abs().mean()
        assert kept < (elastic_forward(model.module, x, narrow) - model.module(x)).abs().mean() or kept < 1e-6


def test_position_embeddings_resample_to_a_new_grid():
    pos = torch.randn(1, 1 + 16, 8)
    out = resample_pos_embed(pos, 1, 3)
    assert out.shape == (1, 1 + 9, 8) and torch.equal(out[:, :1], pos[:, :1])
    assert torch.equal(resample_pos_embed(pos, 1, 4), pos)


def test_every_configuration_of_the_space_runs():
    model = tiny_model()
    space = default_space(model.config, (2, 1, 0))
    rng = random.Random(0)
    with torch.no_grad():
        for sub in [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(6))]:
            out = elastic_forward(model.module, images(sub.resolution, 2), sub)
            assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_merge_every_is_part_of_the_key_only_when_above_one():
    plain, stepped = SubnetConfig(28, (0, 1, 2), 4, 64, 32, 9), SubnetConfig(28, (0, 1, 2), 4, 64, 32, 9, 2)
    assert "merge_every" not in plain.to_dict() and plain.key != stepped.key
    assert SubnetConfig.from_dict(stepped.to_dict()) == stepped and "merge 9 every 2 blocks" in stepped.label()
    assert [p for p in range(3) if stepped.merges_after(p)] == [1]
