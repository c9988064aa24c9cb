"""SmoothQuant folded into the FP32 model: the same function in float (ONNX graph and PyTorch module), the spread
of the LayerNorm outputs moved into the weights, scales clipped and neutral where a channel never fires."""
import numpy as np
import onnx
import torch

from vitedge.export.onnx import OnnxExporter
from vitedge.models.loaded import from_module
from vitedge.models.spec import IOSpec
from vitedge.models.vit import ViTConfig, VisionTransformer
from vitedge.quantize.finegrained import run_onnx
from vitedge.quantize.smooth import (onnx_activation_absmax, smooth_module, smooth_onnx, smoothable_pairs,
                                     smoothed_module, smoothing_scales)

SPEC = IOSpec(input_size=(1, 28, 28), mean=(0.5,), std=(0.5,), labels=tuple("0123456789"))


def vit_with_outlier_channels() -> VisionTransformer:
    """A small ViT whose LayerNorms make two channels 30x wider than the rest, as pretrained ViTs do."""
    torch.manual_seed(0)
    cfg = ViTConfig(img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=32, depth=2, num_heads=2)
    module = VisionTransformer(cfg).eval()
    with torch.no_grad():
        for block in module.blocks:
            for norm in (block.norm1, block.norm2):
                norm.weight[:2] = 30.0
    return module


def images(count: int = 24) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(count, 1, 28, 28)).astype(np.float32)


def spread(absmax: np.ndarray) -> float:
    return float(absmax.max() / np.median(absmax))


def test_onnx_smoothing_keeps_the_outputs_and_narrows_the_layernorm_outputs(tmp_path):
    module = vit_with_outlier_channels()
    path = OnnxExporter().export(from_module(module, SPEC, name="outliers"), tmp_path)[0]
    model, x = onnx.load(str(path)), images()
    pairs = smoothable_pairs(model)
    assert len(pairs) == 4  # norm1 -> qkv, norm2 -> fc1 in each of two blocks
    names = [ln.output[0] for ln, _ in pairs]
    smoothed, count = smooth_onnx(model, x, 0.8, threads=1)
    assert count == 4
    np.testing.assert_allclose(run_onnx(smoothed, x, 1), run_onnx(model, x, 1), atol=1e-4)
    before, after = onnx_activation_absmax(model, names, x, 1), onnx_activation_absmax(smoothed, names, x, 1)
    assert all(spread(after[n]) < spread(before[n]) / 3 for n in names)


def test_torch_smoothing_keeps_the_outputs_and_leaves_the_original_alone():
    module = vit_with_outlier_channels()
    x = images()
    smoothed, count = smooth_module(module, x, 0.8)
    assert count == 4 and smoothed is not module
    with torch.no_grad():
        np.testing.assert_allclose(smoothed(torch.from_numpy(x)).numpy(), module(torch.from_numpy(x)).numpy(),
                                   atol=1e-4)
    assert float(module.blocks[0].norm1.weight[0]) == 30.0  # the caller's model is not touched


def test_scales_are_clipped_and_neutral_for_silent_channels():
    scales = smoothing_scales(np.array([0.0, 1e6, 1.0]), np.array([1.0, 1e-6, 1.0]), 0.5)
    assert scales.tolist() == [1.0, 100.0, 1.0]


def test_a_graph_without_layernorm_matmul_pairs_is_left_as_it_is():
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = onnx.helper.make_model(graph)
    smoothed, count = smooth_onnx(model, np.ones((2, 4), np.float32), 0.8, threads=1)
    assert count == 0 and smoothed.SerializeToString() == model.SerializeToString()


def test_the_smoothed_module_is_made_once_per_module_images_and_alpha():
    module, x = vit_with_outlier_channels(), images()
    first = smoothed_module(module, x, 0.8)
    assert smoothed_module(module, x, 0.8) is first
    assert smoothed_module(module, x, 0.5) is not first and smoothed_module(module, x[:8], 0.8) is not first
