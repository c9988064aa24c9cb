"""Checkpoints in timm and Hugging Face layouts load with strict key matching; bad ones give clear errors."""
import pickle

import pytest
import torch
from safetensors.torch import save_file

from vitedge.errors import ModelSourceError, WeightsMismatchError
from vitedge.models import load_model
from vitedge.models.source import load_model as load


def timm_vit_keys(depth: int) -> set[str]:
    """timm VisionTransformer's state-dict keys for a standard ViT/DeiT (token pool, final norm, Linear head),
    written out from timm's naming so the test does not derive them from our own module."""
    keys = {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
            "norm.weight", "norm.bias", "head.weight", "head.bias"}
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys |= {f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"}
    return keys


def random_state(name: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in load(name, random_init=True).module.state_dict().items()}


def test_standard_model_uses_timm_key_layout():
    state = random_state("deit_tiny_patch16_224")
    assert set(state) == timm_vit_keys(12)
    assert state["pos_embed"].shape == (1, 197, 192) and state["blocks.0.attn.qkv.weight"].shape == (576, 192)


def test_timm_safetensors_loads_strictly(tmp_path):
    state = random_state("deit_tiny_patch16_224")
    save_file(state, tmp_path / "deit_tiny.safetensors")
    model = load_model("deit_tiny_patch16_224", weights=tmp_path / "deit_tiny.safetensors")
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert model.spec.input_size == (3, 224, 224) and model.spec.mean == (0.485, 0.456, 0.406)


def test_pth_with_wrapper_and_module_prefix(tmp_path):
    state = random_state("vit_tiny_patch16_224")
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, tmp_path / "ckpt.pth")
    model = load_model("vit_tiny_patch16_224", weights=tmp_path / "ckpt.pth")
    assert torch.equal(model.module.state_dict()["head.weight"], state["head.weight"])


def to_hf_layout(state: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    """timm -> Hugging Face ViTForImageClassification names, written from HF's modeling_vit naming."""
    hf = {"vit.embeddings.cls_token": state["cls_token"], "vit.embeddings.position_embeddings": state["pos_embed"],
          "vit.layernorm.weight": state["norm.weight"], "vit.layernorm.bias": state["norm.bias"],
          "classifier.weight": state["head.weight"], "classifier.bias": state["head.bias"]}
    for p in ("weight", "bias"):
        hf[f"vit.embeddings.patch_embeddings.projection.{p}"] = state[f"patch_embed.proj.{p}"]
    for i in range(depth):
        pre, b = f"vit.encoder.layer.{i}.", f"blocks.{i}."
        for p in ("weight", "bias"):
            q, k, v = state[f"{b}attn.qkv.{p}"].chunk(3)
            hf |= {f"{pre}attention.attention.query.{p}": q, f"{pre}attention.attention.key.{p}": k,
                   f"{pre}attention.attention.value.{p}": v,
                   f"{pre}attention.output.dense.{p}": state[f"{b}attn.proj.{p}"],
                   f"{pre}layernorm_before.{p}": state[f"{b}norm1.{p}"],
                   f"{pre}layernorm_after.{p}": state[f"{b}norm2.{p}"],
                   f"{pre}intermediate.dense.{p}": state[f"{b}mlp.fc1.{p}"],
                   f"{pre}output.dense.{p}": state[f"{b}mlp.fc2.{p}"]}
    return hf


def test_hugging_face_layout_loads_to_the_same_model(tmp_path):
    state = random_state("vit_tiny_patch16_224")
    save_file(to_hf_layout(state, 12), tmp_path / "hf.safetensors")
    model = load_model("vit_tiny_patch16_224", weights=tmp_path / "hf.safetensors")
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_fine_tuned_head_size_taken_from_checkpoint(tmp_path):
    state = random_state("deit_tiny_patch16_224")
    state["head.weight"], state["head.bias"] = torch.randn(10, 192), torch.randn(10)
    save_file(state, tmp_path / "ft.safetensors")
    model = load_model("deit_tiny_patch16_224", weights=tmp_path / "ft.safetensors")
    assert model.config.num_classes == 10 and "num_classes set to 10" in model.notes[0]


def test_mismatched_state_dict_lists_keys(tmp_path):
    state = random_state("deit_tiny_patch16_224")
    del state["blocks.3.mlp.fc1.weight"]
    state["blocks.3.extra.weight"] = torch.zeros(1)
    save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(WeightsMismatchError) as err:
        load_model("deit_small_patch16_224", weights=tmp_path / "bad.safetensors")
    message = str(err.value)
    assert "bad.safetensors" in message and "shape mismatches" in message
    with pytest.raises(WeightsMismatchError) as err:
        load_model("deit_tiny_patch16_224", weights=tmp_path / "bad.safetensors")
    assert "missing keys (1): blocks.3.mlp.fc1.weight" in str(err.value)
    assert "unexpected keys (1): blocks.3.extra.weight" in str(err.value)


class NotATensor:
    pass


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": NotATensor()}, f)
    with pytest.raises(ModelSourceError, match="weights_only=True"):
        load_model("deit_tiny_patch16_224", weights=path)


def test_missing_weights_file_named(tmp_path):
    with pytest.raises(ModelSourceError, match="weights file not found: .*nope.safetensors"):
        load_model("deit_tiny_patch16_224", weights=tmp_path / "nope.safetensors")


def test_standard_name_without_weights_asks_for_them():
    with pytest.raises(ModelSourceError, match="needs weights"):
        load_model("deit_tiny_patch16_224")


def test_unknown_name_suggests_close_names():
    with pytest.raises(ModelSourceError) as err:
        load_model("deit_tiny_patch16_244")
    assert "deit_tiny_patch16_224" in str(err.value)


def test_headless_backbone_exports_embeddings(tmp_path):
    state = {k: v for k, v in random_state("vit_small_patch16_224").items() if not k.startswith("head.")}
    save_file(state, tmp_path / "dino.safetensors")
    model = load_model("vit_small_patch16_224", weights=tmp_path / "dino.safetensors")
    assert model.spec.task == "feature-extraction" and "no classifier head" in model.notes[0]
    assert model.module(torch.zeros(1, 3, 224, 224)).shape == (1, 384)


def test_hugging_face_layout_uses_its_layer_norm_eps(tmp_path):
    save_file(to_hf_layout(random_state("vit_tiny_patch16_224"), 12), tmp_path / "hf.safetensors")
    model = load_model("vit_tiny_patch16_224", weights=tmp_path / "hf.safetensors")
    assert model.config.norm_eps == 1e-12 and model.module.blocks[0].norm1.eps == 1e-12


def test_hugging_face_folder_with_config(tmp_path):
    import json

    state = random_state("vit_tiny_patch16_224")
    state["head.weight"], state["head.bias"] = torch.randn(2, 192), torch.randn(2)
    save_file(to_hf_layout(state, 12), tmp_path / "model.safetensors")
    config = {"model_type": "vit", "hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3,
              "intermediate_size": 768, "image_size": 224, "patch_size": 16, "num_channels": 3,
              "layer_norm_eps": 1e-12, "qkv_bias": True, "id2label": {"0": "cat", "1": "dog"}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    model = load_model(tmp_path)
    assert model.spec.labels == ("cat", "dog") and model.config.norm_eps == 1e-12
    assert torch.equal(model.module.state_dict()["blocks.5.attn.qkv.weight"], state["blocks.5.attn.qkv.weight"])
