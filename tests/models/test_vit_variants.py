"""ViT variants in timm's key layout (DeiT distilled, register tokens, DINOv2, global pools, non-square inputs): a
tiny checkpoint written under timm's names loads through a spec file and gives the logits of a forward written
independently in plain torch ops (tests/models/_reference.py)."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from vitedge.errors import ModelSourceError, WeightsMismatchError
from vitedge.models import ViTConfig, VisionTransformer, load_model
from vitedge.models.size import parameter_count
from vitedge.models.specfile import toml_value

from ._reference import DEPTH, DIM, HEADS, MLP, resampled, timm_forward, timm_state

TINY = {"embed_dim": DIM, "depth": DEPTH, "num_heads": HEADS, "mlp_ratio": MLP / DIM}


def spec_for(tmp_path, state, arch: dict, base: str | None = None):
    """tmp_path/model.toml naming weights.safetensors (the state) and the [architecture] given."""
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "weights.safetensors")
    lines = ['name = "variant"', 'weights = "weights.safetensors"'] + ([f'base = "{base}"'] if base else [])
    lines += ["[architecture]"] + [f"{k} = {toml_value(v)}" for k, v in {**TINY, **arch}.items()]
    (tmp_path / "model.toml").write_text("\n".join(lines) + "\n")
    return tmp_path / "model.toml"


def logits(model, x):
    with torch.no_grad():
        return model.module(x)


def test_deit_distilled_averages_both_heads(tmp_path):
    state = timm_state(7, (4, 4), 5, dist=True, head_dist=True)
    model = load_model(spec_for(tmp_path, state, {"img_size": 28, "patch_size": 7, "num_classes": 5,
                                                 "dist_token": True, "head_dist": True}))
    x = torch.randn(2, 3, 28, 28)
    torch.testing.assert_close(logits(model, x), timm_forward(x, state, 7), atol=1e-5, rtol=1e-5)
    assert state["pos_embed"].shape[1] == 2 + 16  # the position embeddings cover both prefix tokens


def test_deit_distilled_standard_name_carries_the_variant(tmp_path):
    state = timm_state(7, (4, 4), 5, dist=True, head_dist=True, seed=1)
    spec = spec_for(tmp_path, state, {"img_size": 28, "patch_size": 7, "num_classes": 5},
                    base="deit_tiny_distilled_patch16_224")
    model = load_model(spec)
    assert model.config.dist_token and model.config.head_dist
    x = torch.randn(2, 3, 28, 28)
    torch.testing.assert_close(logits(model, x), timm_forward(x, state, 7), atol=1e-5, rtol=1e-5)


def test_register_tokens_without_class_position(tmp_path):
    """timm's vit_*_reg4_dinov2: 4 register tokens, no_embed_class (pos_embed on the patch tokens only), LayerScale,
    no head: the output is the class token after the final norm."""
    state = timm_state(14, (3, 3), 0, regs=4, no_embed_class=True, layer_scale=True)
    model = load_model(spec_for(tmp_path, state, {"img_size": 42, "patch_size": 14},
                                base="vit_small_patch14_reg4_dinov2"))
    assert model.config.reg_tokens == 4 and model.config.no_embed_class and model.spec.task == "feature-extraction"
    x = torch.randn(2, 3, 42, 42)
    expected = timm_forward(x, state, 14, no_embed_class=True)
    assert expected.shape == (2, DIM)
    torch.testing.assert_close(logits(model, x), expected, atol=1e-5, rtol=1e-5)


def test_dinov2_518px_grid_is_resampled_to_the_configured_one(tmp_path):
    """timm's vit_small_patch14_dinov2 stores a 37x37 grid (518 px); built for 42 px (3x3) the patch positions are
    resampled as timm's checkpoint filter does: bicubic with antialiasing."""
    state = timm_state(14, (37, 37), 0, layer_scale=True, seed=2)
    model = load_model(spec_for(tmp_path, state, {"img_size": 42, "patch_size": 14}, base="vit_small_patch14_dinov2"))
    assert model.config.init_values and any("37x37 grid to 3x3" in note for note in model.notes)
    expected_state = {**state, "pos_embed": resampled(state["pos_embed"], 1, (37, 37), (3, 3), antialias=True)}
    x = torch.randn(2, 3, 42, 42)
    torch.testing.assert_close(logits(model, x), timm_forward(x, expected_state, 14), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pool", ["avg", "max", "avgmax"])
def test_global_pools_of_the_patch_tokens(tmp_path, pool):
    state = timm_state(7, (4, 4), 3, fc_norm=True, seed=3)
    model = load_model(spec_for(tmp_path, state, {"img_size": 28, "patch_size": 7, "num_classes": 3,
                                                 "global_pool": pool}))
    x = torch.randn(2, 3, 28, 28)
    torch.testing.assert_close(logits(model, x), timm_forward(x, state, 7, pool=pool), atol=1e-5, rtol=1e-5)


def test_non_square_input_and_grid(tmp_path):
    state = timm_state(7, (4, 6), 3, seed=4)
    model = load_model(spec_for(tmp_path, state, {"img_size": [28, 42], "patch_size": 7, "num_classes": 3}))
    assert model.spec.input_size == (3, 28, 42) and model.config.grid == (4, 6) and not model.notes
    x = torch.randn(2, 3, 28, 42)
    torch.testing.assert_close(logits(model, x), timm_forward(x, state, 7), atol=1e-5, rtol=1e-5)


def test_square_checkpoint_resampled_to_a_non_square_grid(tmp_path):
    state = timm_state(7, (5, 5), 3, seed=5)
    model = load_model(spec_for(tmp_path, state, {"img_size": [28, 42], "patch_size": 7, "num_classes": 3}))
    expected_state = {**state, "pos_embed": resampled(state["pos_embed"], 1, (5, 5), (4, 6), antialias=True)}
    x = torch.randn(2, 3, 28, 42)
    torch.testing.assert_close(logits(model, x), timm_forward(x, expected_state, 7), atol=1e-5, rtol=1e-5)


def test_position_grid_that_fits_nothing_is_refused(tmp_path):
    state = timm_state(7, (4, 4), 3)
    state["pos_embed"] = state["pos_embed"][:, :-2]  # 1 + 14 positions: not 1 + 4x4, not 1 + a square
    with pytest.raises(WeightsMismatchError, match=r"weights\.safetensors: pos_embed holds 15 positions"):
        load_model(spec_for(tmp_path, state, {"img_size": 28, "patch_size": 7, "num_classes": 3}))


def test_a_distilled_checkpoint_is_not_a_plain_vit(tmp_path):
    state = timm_state(7, (4, 4), 3, dist=True, head_dist=True)
    with pytest.raises(WeightsMismatchError) as err:
        load_model(spec_for(tmp_path, state, {"img_size": 28, "patch_size": 7, "num_classes": 3}))
    assert "unexpected keys" in str(err.value) and "dist_token" in str(err.value)


@pytest.mark.parametrize("arch, mentions", [
    ({"head_dist": True}, "head_dist needs dist_token"),
    ({"dist_token": True, "class_token": False, "global_pool": "avg"}, "dist_token needs class_token"),
    ({"dist_token": True, "head_dist": True, "global_pool": "avg"}, "head_dist needs dist_token = true and "
                                                                     "global_pool"),
    ({"reg_tokens": 4, "token_merge": 2}, "token_merge keeps only the class token"),
    ({"token_merge": 2, "token_merge_every": 0}, "token_merge_every = 0 is not allowed"),
    ({"img_size": [28, 30]}, "img_size [28, 30] is not a multiple of patch_size 7"),
    ({"img_size": [28, 28, 28]}, "img_size = (28, 28, 28) is not allowed"),
    ({"reg_tokens": -1}, "reg_tokens = -1"),
    ({"global_pool": "map"}, "token, avg, avgmax, max"),
])
def test_bad_variant_values_are_refused(tmp_path, arch, mentions):
    spec = spec_for(tmp_path, timm_state(7, (4, 4), 3), {"img_size": 28, "patch_size": 7, "num_classes": 3, **arch})
    with pytest.raises(ModelSourceError) as err:
        load_model(spec)
    assert mentions in str(err.value) and "model.toml" in str(err.value)


@pytest.mark.parametrize("variant", [
    {"dist_token": True, "head_dist": True}, {"reg_tokens": 4, "no_embed_class": True, "init_values": 0.1},
    {"img_size": (28, 42), "global_pool": "avgmax", "head_hidden": (8,)}, {"reg_tokens": 2, "num_classes": 0},
])
def test_parameter_count_of_variants(variant):
    cfg = ViTConfig(**{"img_size": 28, "patch_size": 7, "num_classes": 3, **TINY, **variant})
    assert parameter_count(cfg) == sum(p.numel() for p in VisionTransformer(cfg).parameters())


def test_square_pair_is_the_plain_size():
    assert ViTConfig(img_size=(28, 28), patch_size=7).img_size == 28
    assert ViTConfig(img_size=[28, 42], patch_size=7).to_dict()["img_size"] == [28, 42]


def test_onnx_export_of_a_distilled_variant(tmp_path):
    from vitedge.export.base import EXPORTERS

    state = timm_state(7, (4, 6), 5, dist=True, head_dist=True, seed=6)
    model = load_model(spec_for(tmp_path, state, {"img_size": [28, 42], "patch_size": 7, "num_classes": 5,
                                                 "dist_token": True, "head_dist": True}))
    exporter = EXPORTERS.get("onnx")
    (path,) = exporter.export(model, tmp_path)
    x = torch.randn(3, 3, 28, 42)
    out = exporter.open_runner(path, threads=1)(x.numpy())
    np.testing.assert_allclose(out, logits(model, x).numpy(), atol=1e-4, rtol=0)
