"""Graph surgery on the real vit4mnist QDQ model: ops switched back to float one at a time, all at once, with
their MACs; and the fine-grained fallback's greedy loop on it."""
import numpy as np
import onnx
import pytest

from tests.conftest import CALIB_DATA
from vitedge.data import load_dataset
from vitedge.export.onnx import OnnxExporter
from vitedge.quantize.base import QuantInput
from vitedge.quantize.finegrained import (MAX_FLOAT_SHARE, MIN_COST_SHARE, KLObjective, fine_grained, mean_kl,
                                           qdq_space, run_onnx, split_calibration)
from vitedge.quantize.onnx import OnnxQuantizer
from vitedge.quantize.qdq import op_label, quantized_ops, weight_op_macs, with_float_ops
from vitedge.quantize.scheme import Scheme


@pytest.fixture(scope="module")
def models(vit4mnist, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qdq")
    fp32_path = OnnxExporter().export(vit4mnist, folder)[0]
    data = load_dataset(CALIB_DATA / "mnist_calib.npz", vit4mnist.spec, limit=200)
    images = next(data.batches(vit4mnist.spec, 200))[0]
    out = folder / "int8"
    out.mkdir()
    qdq_path = OnnxQuantizer().quantize(QuantInput(vit4mnist, fp32_path, images[:150]), Scheme("int8"), out)[0]
    return onnx.load(str(fp32_path)), onnx.load(str(qdq_path)), images[150:]


def count(model, op_type: str) -> int:
    return sum(node.op_type == op_type for node in model.graph.node)


@pytest.mark.parametrize("node, label", [
    ("/blocks/blocks.3/attn/qkv/MatMul", "blocks.3.attn.qkv"),
    ("/patch_embed/proj/Conv", "patch_embed.proj"),
    ("/head/head.2/Gemm", "head.2"),
    ("/vit/encoder/layer.0/attention/attention/query/MatMul", "vit.encoder.layer.0.attention.attention.query"),
    ("MatMul_12", "MatMul_12"),
])
def test_op_labels_follow_the_module_path(node, label):
    assert op_label(node) == label


def test_every_weight_op_is_quantized_with_its_macs(models, vit4mnist):
    fp32, qdq, _ = models
    ops = quantized_ops(qdq, fp32)
    cfg = vit4mnist.config
    tokens, dim, hidden = (cfg.img_size // cfg.patch_size) ** 2 + 1, cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio)
    assert len(ops) == 1 + 4 * cfg.depth + 2  # patch embedding, qkv / proj / fc1 / fc2 per block, two head layers
    macs = {op.label: op.macs for op in ops}
    assert macs["blocks.0.attn.qkv"] == tokens * dim * 3 * dim
    assert macs["blocks.5.mlp.fc2"] == tokens * hidden * dim
    assert macs["patch_embed.proj"] == (tokens - 1) * dim * cfg.patch_size ** 2
    assert weight_op_macs(fp32) == {op.node: op.macs for op in ops}


def test_all_ops_in_float_is_the_fp32_model(models):
    fp32, qdq, images = models
    everything = with_float_ops(qdq, fp32, {op.node for op in quantized_ops(qdq, fp32)})
    assert count(everything, "QuantizeLinear") == count(everything, "DequantizeLinear") == 0
    reference, plain = run_onnx(fp32, images, 2), run_onnx(qdq, images, 2)
    np.testing.assert_allclose(run_onnx(everything, images, 2), reference, rtol=1e-4, atol=1e-4)
    assert np.abs(plain - reference).max() > 1e-3  # the quantized model does differ


def test_one_op_in_float_leaves_every_other_quantizer_as_it_was(models):
    fp32, qdq, images = models
    op = next(op for op in quantized_ops(qdq, fp32) if op.label == "blocks.2.mlp.fc2")
    single = with_float_ops(qdq, fp32, {op.node})
    assert count(single, "QuantizeLinear") == count(qdq, "QuantizeLinear") - 1  # its input's quantizer only
    assert count(single, "DequantizeLinear") == count(qdq, "DequantizeLinear") - 2  # and its weight's
    assert [o.label for o in quantized_ops(single, fp32)] == [o.label for o in quantized_ops(qdq, fp32) if o != op]
    survivors = {i.name: onnx.numpy_helper.to_array(i) for i in single.graph.initializer if i.name.endswith("_scale")}
    original = {i.name: onnx.numpy_helper.to_array(i) for i in qdq.graph.initializer if i.name in survivors}
    assert all(np.array_equal(survivors[name], original[name]) for name in survivors)
    reference = run_onnx(fp32, images, 2)
    assert mean_kl(reference, run_onnx(single, images, 2)) != mean_kl(reference, run_onnx(qdq, images, 2))


def test_split_keeps_a_quarter_out_of_the_ranges():
    ranges, held = split_calibration(np.zeros((300, 1)))
    assert (len(ranges), len(held)) == (225, 75)
    ranges, held = split_calibration(np.zeros((20, 1)))  # too few to split: both use all
    assert len(ranges) == len(held) == 20


def test_fallback_keeps_only_steps_that_lower_the_objective_and_stops_at_the_gate(models, tmp_path):
    fp32, qdq, images = models
    objective = KLObjective(images, run_onnx(fp32, images, 2), 2)
    calls = []

    def gate(model, kept):  # passes once an op runs in float
        calls.append(list(kept))
        return tmp_path / "m.onnx", {"top1": 0.9, "drop_pp": max(0.0, 1 - len(kept)), "top1_agreement": 0.9,
                                     "min_cosine": 0.99}, len(kept) >= 1

    result = fine_grained(qdq_space(qdq, fp32), Scheme("int8"), objective, gate)
    assert result.met and len(result.float_ops) == 1 and len(result.scheme.keep_float) == 1
    kls = [step["kl"] for step in result.steps]
    assert kls == sorted(kls, reverse=True) and len(set(kls)) == len(kls)  # every kept step lowered the KL
    assert [len(k) for k in calls] == [0, 1]
    assert result.float_ops[0] == next(iter(result.sensitivity))  # the most sensitive op goes first
    assert 0 < result.float_mac_share < 0.5 and len(result.sensitivity) == len(quantized_ops(qdq, fp32))


def test_fallback_not_needed_when_the_gate_holds(models, tmp_path):
    fp32, qdq, images = models
    objective = KLObjective(images[:20], run_onnx(fp32, images[:20], 2), 2)
    result = fine_grained(qdq_space(qdq, fp32), Scheme("int8"), objective,
                          lambda model, kept: (tmp_path / "m.onnx", {"drop_pp": 0.0}, True))
    assert result.met and result.float_ops == [] and result.sensitivity == {} and len(result.steps) == 1


def test_unmet_gate_ships_the_step_closest_to_it(models, tmp_path):
    fp32, qdq, images = models
    objective = KLObjective(images, run_onnx(fp32, images, 2), 2)
    drops = iter([1.0, 0.4, 0.8, 0.6, 0.9, 0.7, 0.5, 1.1] + [1.2] * 100)

    def gate(model, kept):  # never passes; the second try (one op in float) comes closest
        return tmp_path / f"m{len(kept)}.onnx", {"drop_pp": next(drops), "top1_agreement": 0.9}, False

    result = fine_grained(qdq_space(qdq, fp32), Scheme("int8"), objective, gate)
    assert not result.met and len(result.steps) >= 2
    assert result.path.name == "m1.onnx" and len(result.float_ops) == 1 and result.evaluation["drop_pp"] == 0.4


def test_the_fallback_ranks_by_kl_per_mac_share_and_keeps_within_the_float_share(models, tmp_path):
    fp32, qdq, images = models
    objective = KLObjective(images, run_onnx(fp32, images, 2), 2)

    def gate(model, kept):  # never passes: the loop runs until no op fits the float share any more
        return tmp_path / f"m{len(kept)}.onnx", {"drop_pp": 1.0, "top1_agreement": 0.9}, False

    result = fine_grained(qdq_space(qdq, fp32), Scheme("int8"), objective, gate)
    assert all(step["float_mac_share"] <= MAX_FLOAT_SHARE for step in result.steps)
    ops = {op.label: op for op in quantized_ops(qdq, fp32)}
    total = sum(op.macs for op in ops.values())
    per_share = [gain / max(ops[label].macs / total, MIN_COST_SHARE) for label, gain in result.sensitivity.items()]
    assert per_share == sorted(per_share, reverse=True)


def test_without_a_check_per_step_the_last_step_is_checked_then_bisected(models, tmp_path):
    fp32, qdq, images = models
    objective = KLObjective(images, run_onnx(fp32, images, 2), 2)
    calls = []

    def gate(model, kept):  # passes from one op in float on
        calls.append(len(kept))
        return tmp_path / f"m{len(kept)}.onnx", {"drop_pp": 1.0 - len(kept), "top1_agreement": 0.9}, len(kept) >= 1

    result = fine_grained(qdq_space(qdq, fp32), Scheme("int8"), objective, gate, check_each_step=False)
    steps = calls[1]  # the greedy's last step was checked right after the quantized model
    assert calls[0] == 0 and steps >= 2 and calls[2:] and len(calls) <= 2 + int(np.ceil(np.log2(steps)))
    assert result.met and len(result.float_ops) == 1 and result.path.name == "m1.onnx"
