"""Roofline estimator: MAC count of an exported ViT against an analytic count; the bound it picks."""
from __future__ import annotations

import numpy as np
import pytest

from vitedge.errors import VitedgeError
from vitedge.targets.estimate import Estimate, GraphCost, count_graph, estimate_latency_ms, host_correction
from vitedge.targets.profile import get_target

IMG, PATCH, CHANS, CLASSES, DIM, DEPTH, HEADS = 32, 8, 1, 10, 32, 2, 4


def analytic_macs() -> int:
    """Patch conv, per block qkv / q@k / attn@v / proj / fc1 / fc2, then the head on the class token."""
    patches = (IMG // PATCH) ** 2
    tokens, head_dim, hidden = patches + 1, DIM // HEADS, 4 * DIM
    conv = patches * DIM * CHANS * PATCH * PATCH
    block = (tokens * DIM * 3 * DIM  # qkv
             + HEADS * tokens * head_dim * tokens  # q @ k^T
             + HEADS * tokens * tokens * head_dim  # attn @ v
             + tokens * DIM * DIM  # proj
             + tokens * DIM * hidden + tokens * hidden * DIM)  # fc1, fc2
    return conv + DEPTH * block + DIM * CLASSES


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    from vitedge.export import EXPORTERS
    from vitedge.models.loaded import from_module
    from vitedge.models.spec import IOSpec
    from vitedge.models.vit import ViTConfig, VisionTransformer

    config = ViTConfig(img_size=IMG, patch_size=PATCH, in_chans=CHANS, num_classes=CLASSES, embed_dim=DIM,
                       depth=DEPTH, num_heads=HEADS)
    model = from_module(VisionTransformer(config), IOSpec(input_size=(CHANS, IMG, IMG), mean=(0.5,), std=(0.5,)),
                        name="tiny_vit")
    path = EXPORTERS.get("onnx").export(model, tmp_path_factory.mktemp("tiny"))[0]
    return model, path


def test_mac_count_matches_analytic(tiny_vit):
    model, path = tiny_vit
    cost = count_graph(path)
    assert analytic_macs() == 487_872
    assert cost.macs == analytic_macs() and cost.unresolved == ()
    params = sum(p.numel() for p in model.module.parameters())
    assert 0.95 * 4 * params <= cost.weight_bytes <= 1.05 * 4 * params  # fp32: 4 bytes per parameter
    assert cost.activation_bytes > 0


def test_int8_qdq_weights_count_one_byte(tiny_vit, tmp_path):
    quantization = pytest.importorskip("onnxruntime.quantization")
    _, path = tiny_vit
    rng = np.random.default_rng(0)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"pixel_values": rng.standard_normal((1, CHANS, IMG, IMG), np.float32)}
                                 for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    out = tmp_path / "int8.onnx"
    quantization.quantize_static(str(path), str(out), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                 op_types_to_quantize=["MatMul", "Gemm", "Conv"], per_channel=True)
    fp32, int8 = count_graph(path), count_graph(out)
    assert int8.macs == fp32.macs
    assert int8.weight_bytes < 0.4 * fp32.weight_bytes


def test_roofline_picks_the_bound():
    orin = get_target("jetson-agx-orin")
    compute_heavy = GraphCost(macs=10**12, weight_bytes=10**6, activation_bytes=10**6)
    memory_heavy = GraphCost(macs=10**6, weight_bytes=10**9, activation_bytes=10**8)
    est = estimate_latency_ms(compute_heavy, orin, "fp16")
    assert est.bound == "compute"
    assert est.latency_ms == pytest.approx(2 * 10**12 / 42.5e12 * 1e3)
    est = estimate_latency_ms(memory_heavy, orin, "int8", host_correction=2.0)
    assert est.bound == "memory"
    assert est.latency_ms == pytest.approx(2.0 * 1.1e9 / 204.8e9 * 1e3)
    assert "204.8 GB/s" in est.basis and "Technical Brief" in est.basis and "host correction 2" in est.basis


def test_host_correction_and_bad_inputs():
    host = get_target("x86-cpu")
    estimate = estimate_latency_ms(GraphCost(macs=10**9, weight_bytes=1, activation_bytes=1), host, "fp32")
    assert host_correction(4 * estimate.latency_ms, estimate) == pytest.approx(4.0)
    with pytest.raises(VitedgeError):
        estimate_latency_ms(GraphCost(1, 1, 1), host, "fp32", host_correction=0)
    with pytest.raises(VitedgeError, match="does not run"):
        estimate_latency_ms(GraphCost(1, 1, 1), get_target("android-arm64"), "bf16")
    assert isinstance(estimate, Estimate)


def test_unreadable_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(VitedgeError, match="bad.onnx"):
        count_graph(bad)


def test_fp16_weights_count_two_bytes(tiny_vit, tmp_path):
    """The project's fp16 conversion appends its Cast nodes last; counting must still resolve every shape."""
    float16 = pytest.importorskip("onnxruntime.transformers.float16")
    import onnx

    _, path = tiny_vit
    out = tmp_path / "fp16.onnx"
    onnx.save(float16.convert_float_to_float16(onnx.load(str(path)), keep_io_types=True), str(out))
    fp32, fp16 = count_graph(path), count_graph(out)
    assert fp16.macs == fp32.macs and fp16.unresolved == ()
    assert fp16.weight_bytes == pytest.approx(fp32.weight_bytes / 2, rel=0.05)
