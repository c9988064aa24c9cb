"""The PT2E route on the real vit4mnist: calibrate once, simulate in PyTorch, ops back to float by graph surgery,
the fallback ranking and choosing in the simulation and converting only to check the gate."""
import numpy as np
import pytest
import torch

pytest.importorskip("litert_torch")

from tests.conftest import CALIB_DATA  # noqa: E402
from vitedge.data import load_dataset  # noqa: E402
from vitedge.export import EXPORTERS  # noqa: E402
from vitedge.quantize.base import QuantInput  # noqa: E402
from vitedge.quantize.evaluate import Evaluator  # noqa: E402
from vitedge.quantize.finegrained import MAX_FLOAT_SHARE, mean_kl  # noqa: E402
from vitedge.quantize.gate import QuantGate  # noqa: E402
from vitedge.quantize.pt2e import (PERCENTILE, _percentile_observer, calibrated, output_layers, run,  # noqa: E402
                                   trace, with_float)
from vitedge.errors import ExportError  # noqa: E402
from vitedge.quantize import pt2e_route  # noqa: E402
from vitedge.quantize.pt2e_route import float_logits, pt2e_fallback  # noqa: E402
from vitedge.quantize.scheme import Scheme  # noqa: E402

SCHEME = Scheme("int8", calibration="percentile", smoothquant=0.8)


@pytest.fixture(scope="module")
def images(vit4mnist):
    data = load_dataset(CALIB_DATA / "mnist_calib.npz", vit4mnist.spec, limit=160)
    return next(data.batches(vit4mnist.spec, 160))[0]


@pytest.fixture(scope="module")
def sim(vit4mnist, images):
    return calibrated(vit4mnist, images[:128], SCHEME)


def quantizers(graph) -> int:
    return sum(node.op == "call_function" and "quantize_per" in str(node.target) for node in graph.graph.nodes)


def test_the_output_layer_is_found_and_left_float(vit4mnist, sim):
    assert output_layers(trace(vit4mnist)) == {"head.2"}
    assert sim.output_layers == ("head.2",) and "head.2" not in [op.node for op in sim.ops]


def test_ops_carry_their_macs_per_image(vit4mnist, sim):
    cfg = vit4mnist.config
    tokens, dim = (cfg.img_size // cfg.patch_size) ** 2 + 1, cfg.embed_dim
    macs = {op.node: op.macs for op in sim.ops}
    assert len(macs) == 1 + 4 * cfg.depth + 1  # patch embedding, four Linears per block, head.0
    assert macs["blocks.0.attn.qkv"] == tokens * dim * 3 * dim == 3 * macs["blocks.0.attn.proj"]
    assert macs["patch_embed.proj"] == (tokens - 1) * dim * cfg.patch_size ** 2


def test_ops_in_float_move_the_simulation_toward_fp32(vit4mnist, sim, images):
    held = images[128:]
    reference = float_logits(vit4mnist.module, held)
    quantized = mean_kl(reference, run(sim.graph, held))
    before = quantizers(sim.graph)
    one = with_float(sim, {"blocks.2.mlp.fc1"})
    everything = with_float(sim, [op.node for op in sim.ops])
    assert quantizers(sim.graph) == before  # the calibrated graph itself is left as it was
    assert quantizers(everything) < quantizers(one) < before
    assert mean_kl(reference, run(one, held)) != quantized
    assert mean_kl(reference, run(everything, held)) < 0.75 * quantized  # input, adds and muls stay int8


def test_percentile_ranges_clip_a_rare_outlier():
    observer = _percentile_observer(__import__("torchao.quantization.pt2e", fromlist=["x"]).MinMaxObserver)()
    values = torch.randn(200_000)
    values[7] = 1000.0
    observer(values)
    assert 3.0 < float(observer.max_val) < 6.0 and -6.0 < float(observer.min_val) < -3.0
    assert PERCENTILE > 99.9


def test_fallback_ranks_in_the_simulation_and_converts_only_to_check(vit4mnist, images, tmp_path):
    eval_data = load_dataset(CALIB_DATA / "mnist_eval.npz", vit4mnist.spec, limit=200)
    fp32 = EXPORTERS.get("tflite").export(vit4mnist, tmp_path)[0]
    unreachable = QuantGate(max_drop=-50.0)  # no INT8 model scores 50 pp above FP32: the whole search runs
    result = pt2e_fallback(QuantInput(vit4mnist, fp32, images), SCHEME, tmp_path, Evaluator(vit4mnist, eval_data, 2),
                           unreachable)
    assert not result.met and len(result.sensitivity) == 1 + 4 * vit4mnist.config.depth + 1
    kls = [step["kl"] for step in result.steps]
    assert len(result.steps) <= 2  # converted twice at most: as quantized, and the greedy's last step
    assert kls == sorted(kls, reverse=True)
    assert all(step["float_mac_share"] <= MAX_FLOAT_SHARE for step in result.steps)
    assert result.path.suffix == ".tflite" and result.path.exists()
    assert set(result.scheme.keep_float) == set(result.float_ops)
    assert np.isfinite(result.evaluation["top1"])


def test_a_converter_failure_in_the_fallback_is_a_clear_error(vit4mnist, images, tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("torch.export could not trace the model")

    monkeypatch.setattr(pt2e_route, "calibrated", broken)
    with pytest.raises(ExportError, match="TFLite int8 quantization of vit4mnist failed: torch.export could not"):
        pt2e_fallback(QuantInput(vit4mnist, tmp_path / "m.tflite", images), SCHEME, tmp_path, None, QuantGate(0.5))
