"""DINOv2 as a backbone from Hugging Face folders (Dinov2Model, Dinov2WithRegistersModel): config.json and tensors
named as transformers writes them load via load_model(folder) and give the pooled embedding (the class token after
the final LayerNorm) of a forward written independently, position embeddings interpolated as transformers does."""

import pytest
import torch

from vitedge.errors import VitedgeError, WeightsMismatchError
from vitedge.models import load_model

from ._reference import (DEPTH, DIM, HEADS, MLP, blocks, hf_blocks, hf_embeddings, hf_folder, outputs, patch_tokens,
                         resampled, timm_forward, timm_state)


def dinov2_config(model_type: str = "dinov2", architecture: str = "Dinov2Model", **changes) -> dict:
    """config.json of a tiny DINOv2 as transformers' save_pretrained writes it."""
    return {"architectures": [architecture], "attention_probs_dropout_prob": 0.0, "drop_path_rate": 0.0,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": DIM, "image_size": 56,
            "initializer_range": 0.02, "layer_norm_eps": 1e-06, "layerscale_value": 1.0, "mlp_ratio": MLP / DIM,
            "model_type": model_type, "num_attention_heads": HEADS, "num_channels": 3, "num_hidden_layers": DEPTH,
            "patch_size": 14, "qkv_bias": True, "torch_dtype": "float32", "transformers_version": "4.44.0",
            "use_swiglu_ffn": False, **changes}


BIT_PROCESSOR = {"crop_size": {"height": 42, "width": 42}, "do_center_crop": True, "do_convert_rgb": True,
                 "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.485, 0.456, 0.406],
                 "image_processor_type": "BitImageProcessor", "image_std": [0.229, 0.224, 0.225], "resample": 3,
                 "rescale_factor": 1 / 255, "size": {"shortest_edge": 48}}


def dinov2_tensors(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """Dinov2Model's names: embeddings.* (with the unused mask_token), encoder.layer.N.{norm1, attention,
    layer_scale1, norm2, mlp, layer_scale2}, layernorm."""
    hf = hf_embeddings(state, prefix) | hf_blocks(state, prefix, dinov2=True)
    hf[f"{prefix}embeddings.mask_token"] = torch.zeros(1, DIM)
    return hf




def test_dinov2_model_folder_at_its_configured_size(tmp_path):
    state = timm_state(14, (3, 3), 0, layer_scale=True)
    model = load_model(hf_folder(tmp_path, dinov2_config(image_size=42), dinov2_tensors(state)))
    cfg = model.config
    assert (cfg.patch_size, cfg.num_classes, cfg.norm_eps, cfg.init_values) == (14, 0, 1e-6, 1.0)
    assert model.spec.task == "feature-extraction" and model.spec.input_size == (3, 42, 42) and not model.notes
    x = torch.randn(2, 3, 42, 42)
    torch.testing.assert_close(outputs(model, x), timm_forward(x, state, 14), atol=1e-5, rtol=1e-5)


def test_dinov2_folder_takes_its_processor_crop_and_interpolates_like_transformers(tmp_path):
    """The checkpoint's grid (56 px: 4x4) is interpolated to the processor's 42 px crop (3x3) as transformers'
    interpolate_pos_encoding does: bicubic, no antialiasing; crop_pct is crop / resized side."""
    state = timm_state(14, (4, 4), 0, layer_scale=True, seed=1)
    model = load_model(hf_folder(tmp_path, dinov2_config(), dinov2_tensors(state), BIT_PROCESSOR))
    assert model.spec.input_size == (3, 42, 42) and model.spec.crop_pct == 42 / 48
    assert model.spec.interpolation == "bicubic" and model.spec.mean == (0.485, 0.456, 0.406)
    assert any("4x4 grid to 3x3 (bicubic)" in note for note in model.notes)
    expected_state = {**state, "pos_embed": resampled(state["pos_embed"], 1, (4, 4), (3, 3), antialias=False)}
    x = torch.randn(2, 3, 42, 42)
    torch.testing.assert_close(outputs(model, x), timm_forward(x, expected_state, 14), atol=1e-5, rtol=1e-5)


def hf_registers_forward(x, hf: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> torch.Tensor:
    """Dinov2WithRegistersEmbeddings: position embeddings added to [cls, patches], then the registers inserted after
    the class token; the blocks; the final LayerNorm; the class token."""
    t = torch.cat([hf["embeddings.cls_token"].expand(x.shape[0], -1, -1), patch_tokens(x, state, 14)], dim=1)
    t = t + hf["embeddings.position_embeddings"]
    t = torch.cat([t[:, :1], hf["embeddings.register_tokens"].expand(x.shape[0], -1, -1), t[:, 1:]], dim=1)
    t = blocks(t, state, 1e-6)
    return torch.nn.functional.layer_norm(t, (DIM,), state["norm.weight"], state["norm.bias"], 1e-6)[:, 0]


def test_dinov2_with_registers_folder(tmp_path):
    """transformers' register model gives the class token a position embedding and the registers none; timm's
    layout (no_embed_class) folds the class position into the class token, which gives the same sums."""
    state = timm_state(14, (3, 3), 0, layer_scale=True, seed=2)
    hf = dinov2_tensors(state)
    hf["embeddings.register_tokens"] = torch.randn(1, 4, DIM)
    config = dinov2_config("dinov2_with_registers", "Dinov2WithRegistersModel", image_size=42, num_register_tokens=4)
    model = load_model(hf_folder(tmp_path, config, hf))
    assert model.config.reg_tokens == 4 and model.config.no_embed_class
    x = torch.randn(2, 3, 42, 42)
    torch.testing.assert_close(outputs(model, x), hf_registers_forward(x, hf, state), atol=1e-5, rtol=1e-5)


def test_dinov2_image_classification_is_refused(tmp_path):
    state = timm_state(14, (3, 3), 0, layer_scale=True)
    config = dinov2_config(architecture="Dinov2ForImageClassification", image_size=42)
    with pytest.raises(VitedgeError) as err:
        load_model(hf_folder(tmp_path, config, dinov2_tensors(state, "dinov2.")))
    assert "config.json" in str(err.value) and "class token and the mean patch token" in str(err.value)
    assert "Dinov2Model" in str(err.value)


def test_dinov2_classifier_tensors_are_refused(tmp_path):
    state = timm_state(14, (3, 3), 0, layer_scale=True)
    tensors = dinov2_tensors(state, "dinov2.") | {"classifier.weight": torch.zeros(3, 2 * DIM),
                                                   "classifier.bias": torch.zeros(3)}
    with pytest.raises(WeightsMismatchError, match="model.safetensors: Dinov2ForImageClassification"):
        load_model(hf_folder(tmp_path, dinov2_config(image_size=42), tensors))


def test_swiglu_dinov2_is_refused(tmp_path):
    state = timm_state(14, (3, 3), 0, layer_scale=True)
    with pytest.raises(VitedgeError, match="use_swiglu_ffn = True: the SwiGLU MLP"):
        load_model(hf_folder(tmp_path, dinov2_config(use_swiglu_ffn=True, image_size=42), dinov2_tensors(state)))
