"""Position embeddings fitted to the configured grid: prefix rows kept, the patch grid resampled bicubically."""
import pytest
import torch

from vitedge.errors import WeightsMismatchError
from vitedge.models import ViTConfig
from vitedge.models.posembed import fit_pos_embed, resample_pos_embed

from ._reference import resampled


def test_prefix_rows_kept_and_patch_rows_resampled():
    pos = torch.randn(1, 2 + 5 * 5, 8)
    out = resample_pos_embed(pos, 2, (5, 5), (3, 4), antialias=True)
    assert out.shape == (1, 2 + 12, 8) and torch.equal(out[:, :2], pos[:, :2])
    torch.testing.assert_close(out, resampled(pos, 2, (5, 5), (3, 4), antialias=True))


def test_a_constant_grid_stays_constant():
    """Bicubic weights sum to one: a grid of one value resamples to that value, at any size."""
    pos = torch.cat([torch.zeros(1, 1, 4), torch.full((1, 36, 4), 0.25)], dim=1)
    torch.testing.assert_close(resample_pos_embed(pos, 1, (6, 6), (2, 9), antialias=False)[:, 1:],
                               torch.full((1, 18, 4), 0.25))


def test_same_grid_is_untouched():
    pos = torch.randn(1, 17, 8)
    assert resample_pos_embed(pos, 1, (4, 4), (4, 4)) is pos


def test_fit_keeps_a_checkpoint_of_the_configured_grid():
    cfg = ViTConfig(img_size=(28, 42), patch_size=7, embed_dim=8, num_heads=2)
    state = {"cls_token": torch.zeros(1, 1, 8), "pos_embed": torch.randn(1, 1 + 24, 8)}
    before = state["pos_embed"]
    assert fit_pos_embed(state, cfg, "w.safetensors") is None and state["pos_embed"] is before


def test_fit_resamples_patch_positions_only_with_no_embed_class():
    cfg = ViTConfig(img_size=42, patch_size=14, embed_dim=8, num_heads=2, reg_tokens=4, no_embed_class=True)
    state = {"cls_token": torch.zeros(1, 1, 8), "reg_token": torch.zeros(1, 4, 8), "pos_embed": torch.randn(1, 16, 8)}
    pos = state["pos_embed"]
    note = fit_pos_embed(state, cfg, "w.safetensors", antialias=False)
    assert note == "position embeddings resampled from the checkpoint's 4x4 grid to 3x3 (bicubic)"
    torch.testing.assert_close(state["pos_embed"], resampled(pos, 0, (4, 4), (3, 3), antialias=False))


def test_fit_refuses_a_grid_it_cannot_resample():
    cfg = ViTConfig(img_size=28, patch_size=7, embed_dim=8, num_heads=2)
    state = {"cls_token": torch.zeros(1, 1, 8), "pos_embed": torch.randn(1, 1 + 15, 8)}
    with pytest.raises(WeightsMismatchError, match="w.safetensors: pos_embed holds 16 positions"):
        fit_pos_embed(state, cfg, "w.safetensors")
