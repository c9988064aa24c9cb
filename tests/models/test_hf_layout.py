"""Hugging Face DeiT folders (DeiTForImageClassificationWithTeacher, DeiTForImageClassification): config.json and
tensors named as transformers writes them (separate query / key / value) load to the logits of a forward written
independently (tests/models/_reference.py); layouts vitedge does not build are refused naming the file and keys."""

import pytest
import torch
from safetensors.torch import save_file

from vitedge.errors import VitedgeError, WeightsMismatchError
from vitedge.models import load_model

from ._reference import DEPTH, DIM, HEADS, MLP, hf_blocks, hf_embeddings, hf_folder, outputs, timm_forward, timm_state

LABELS = {"0": "cat", "1": "dog", "2": "fox"}


def deit_config(architecture: str, **changes) -> dict:
    """config.json of a tiny DeiT as transformers' save_pretrained writes it."""
    return {"architectures": [architecture], "attention_probs_dropout_prob": 0.0, "encoder_stride": 7,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": DIM, "id2label": LABELS,
            "label2id": {v: int(k) for k, v in LABELS.items()}, "image_size": 28, "initializer_range": 0.02,
            "intermediate_size": MLP, "layer_norm_eps": 1e-12, "model_type": "deit", "num_attention_heads": HEADS,
            "num_channels": 3, "num_hidden_layers": DEPTH, "patch_size": 7, "qkv_bias": True,
            "torch_dtype": "float32", "transformers_version": "4.44.0", **changes}


def deit_tensors(state: dict[str, torch.Tensor], heads: dict[str, str]) -> dict[str, torch.Tensor]:
    """transformers' DeiT names: deit.embeddings.{cls_token, distillation_token, position_embeddings}, the ViT
    block names, and the heads at the top level."""
    hf = hf_embeddings(state, "deit.") | hf_blocks(state, "deit.", dinov2=False)
    hf["deit.embeddings.distillation_token"] = state["dist_token"]
    for timm, name in heads.items():
        hf |= {f"{name}.weight": state[f"{timm}.weight"], f"{name}.bias": state[f"{timm}.bias"]}
    return hf




def test_deit_with_teacher_folder(tmp_path):
    state = timm_state(7, (4, 4), 3, dist=True, head_dist=True)
    tensors = deit_tensors(state, {"head": "cls_classifier", "head_dist": "distillation_classifier"})
    preprocessor = {"crop_size": {"height": 28, "width": 28}, "do_center_crop": True, "do_normalize": True,
                    "do_rescale": True, "do_resize": True, "image_mean": [0.485, 0.456, 0.406],
                    "image_processor_type": "DeiTImageProcessor", "image_std": [0.229, 0.224, 0.225], "resample": 3,
                    "rescale_factor": 1 / 255, "size": {"height": 32, "width": 32}}
    model = load_model(hf_folder(tmp_path, deit_config("DeiTForImageClassificationWithTeacher"), tensors,
                                 preprocessor))
    assert model.config.dist_token and model.config.head_dist and model.config.norm_eps == 1e-12
    assert model.spec.labels == ("cat", "dog", "fox") and model.spec.input_size == (3, 28, 28)
    assert model.spec.crop_pct == 0.875 and model.spec.interpolation == "bicubic"
    x = torch.randn(2, 3, 28, 28)
    torch.testing.assert_close(outputs(model, x), timm_forward(x, state, 7, eps=1e-12), atol=1e-5, rtol=1e-5)


def test_deit_for_image_classification_reads_the_class_token_only(tmp_path):
    """DeiTForImageClassification keeps the distillation token in the sequence but classifies the class token."""
    state = timm_state(7, (4, 4), 3, dist=True, seed=1)
    tensors = deit_tensors(state, {"head": "classifier"})
    model = load_model(hf_folder(tmp_path, deit_config("DeiTForImageClassification"), tensors))
    assert model.config.dist_token and not model.config.head_dist
    x = torch.randn(2, 3, 28, 28)
    torch.testing.assert_close(outputs(model, x), timm_forward(x, state, 7, eps=1e-12), atol=1e-5, rtol=1e-5)


def test_deit_weights_under_a_standard_name(tmp_path):
    """HF DeiT tensors alone (no config.json) load under timm's name of the architecture, as timm's layout does."""
    state = timm_state(7, (4, 4), 3, dist=True, head_dist=True, seed=2)
    save_file(deit_tensors(state, {"head": "cls_classifier", "head_dist": "distillation_classifier"}),
              tmp_path / "deit.safetensors")
    spec = tmp_path / "deit.toml"
    spec.write_text('base = "deit_tiny_distilled_patch16_224"\nweights = "deit.safetensors"\n[architecture]\n'
                    f"img_size = 28\npatch_size = 7\nembed_dim = {DIM}\ndepth = {DEPTH}\nnum_heads = {HEADS}\n"
                    f"mlp_ratio = {MLP / DIM}\nnum_classes = 3\nnorm_eps = 1e-12\n")
    x = torch.randn(2, 3, 28, 28)
    torch.testing.assert_close(outputs(load_model(spec), x), timm_forward(x, state, 7, eps=1e-12), atol=1e-5,
                               rtol=1e-5)


def test_unknown_hugging_face_keys_are_named(tmp_path):
    state = timm_state(7, (4, 4), 3, dist=True, head_dist=True)
    tensors = deit_tensors(state, {"head": "cls_classifier", "head_dist": "distillation_classifier"})
    tensors["deit.encoder.layer.1.crossattention.dense.weight"] = torch.zeros(DIM, DIM)
    folder = hf_folder(tmp_path, deit_config("DeiTForImageClassificationWithTeacher"), tensors)
    with pytest.raises(WeightsMismatchError) as err:
        load_model(folder)
    message = str(err.value)
    assert "model.safetensors" in message and "deit.encoder.layer.1.crossattention.dense.weight" in message
    assert "DeiTForImageClassificationWithTeacher" in message and "Dinov2Model" in message  # what is supported


def test_incomplete_query_key_value_is_named(tmp_path):
    state = timm_state(7, (4, 4), 3, dist=True, head_dist=True)
    tensors = deit_tensors(state, {"head": "cls_classifier", "head_dist": "distillation_classifier"})
    del tensors["deit.encoder.layer.0.attention.attention.value.weight"]
    with pytest.raises(WeightsMismatchError, match=r"block 0 has attention.attention weight tensors for \['key', "
                                                   r"'query'\]"):
        load_model(hf_folder(tmp_path, deit_config("DeiTForImageClassificationWithTeacher"), tensors))


def test_model_type_outside_the_supported_ones(tmp_path):
    folder = hf_folder(tmp_path, deit_config("BeitModel", model_type="beit"), {"x": torch.zeros(1)})
    with pytest.raises(VitedgeError, match="model_type 'beit' is not supported") as err:
        load_model(folder)
    assert "vit, deit, dinov2, dinov2_with_registers" in str(err.value)
