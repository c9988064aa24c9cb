"""The variants `vitedge nas` writes: each pick's sub-network of the weight set it was evaluated with."""
import torch

from vitedge.models import load_model
from vitedge.nas.elastic import elastic_forward
from vitedge.nas.latency import Timing
from vitedge.nas.output import write_variants
from vitedge.nas.search import Entry, TargetPick
from vitedge.nas.space import default_space
from vitedge.nas.supernet import TrainingRecord

from .conftest import tiny_model


def _pick(target: str, sub, weights: str) -> TargetPick:
    figures = {"agreement": 95.0, "kl": 0.1, "images": 64, "top1": 90.0, "parent_top1": 91.0, "drop_pp": 1.0}
    entry = Entry(sub, figures, full=figures, timings={target: Timing(5.0, 2.0, "measured here", "test")},
                  weights=weights)
    return TargetPick(target, None, entry, [entry], entry, "test")


def test_each_variant_comes_from_the_weights_its_pick_was_evaluated_with(tmp_path):
    parent, trained = tiny_model(seed=1), tiny_model(seed=2)
    space = default_space(parent.config, (2, 1, 0))
    sub = space.config(space.resolution[0], space.depth[-1], space.heads[-1], space.mlp[0], space.embed[0])
    picks = [_pick("x86-cpu", sub, "pretrained"), _pick("android-arm64", sub, "supernet")]
    record = TrainingRecord({"epochs": 1}, 4, 100, 0, "fp32", 1, 1.0)
    specs = write_variants(tmp_path, parent, {"pretrained": parent.module, "supernet": trained.module}, picks, record)
    x = torch.randn(4, 1, 28, 28)
    zero_shot, supernet = (load_model(str(tmp_path / specs[t])) for t in ("x86-cpu", "android-arm64"))
    assert zero_shot.derived_from["weights"] == "pretrained" and supernet.derived_from["weights"] == "supernet"
    assert zero_shot.name != supernet.name  # one configuration, two weight sets: two variants
    with torch.no_grad():
        assert torch.allclose(zero_shot.module(x), elastic_forward(parent.module, x, sub), atol=1e-5)
        assert torch.allclose(supernet.module(x), elastic_forward(trained.module, x, sub), atol=1e-5)
        assert not torch.allclose(zero_shot.module(x), supernet.module(x), atol=1e-3)
