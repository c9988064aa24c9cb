"""Token merging (ToMe): the dense graph equals a plain loop implementation; the merge schedule; every format runs a
merging ViT as PyTorch does, flat images (ties everywhere) and a batch of 80 included."""
import numpy as np
import pytest
import torch

from vitedge.export import EXPORTERS
from vitedge.export.base import per_image
from vitedge.models.loaded import from_module
from vitedge.models.merging import merge_count, merge_tokens
from vitedge.models.spec import IOSpec
from vitedge.models.vit import ViTConfig, VisionTransformer

SPEC = IOSpec(input_size=(1, 28, 28), mean=(0.5,), std=(0.5,), labels=tuple(str(i) for i in range(10)))


def loop_merge(x: torch.Tensor, size: torch.Tensor, keys: torch.Tensor, r: int):
    """ToMe's bipartite soft matching written plainly, one image at a time."""
    outs, sizes = [], []
    for xi, si, ki in zip(x, size, keys):
        n = xi.shape[0]
        a_idx, b_idx = list(range(0, n, 2)), list(range(1, n, 2))
        k = ki / ki.norm(dim=-1, keepdim=True)
        scores = k[a_idx] @ k[b_idx].T
        best, match = scores.max(dim=-1)
        best[0] = -2.0  # the class token never merges
        chosen = set(best.topk(merge_count(n, r)).indices.tolist())
        total = {b: (xi[j] * si[j], si[j].clone()) for b, j in enumerate(b_idx)}
        for a in sorted(chosen):
            b = int(match[a])
            total[b] = (total[b][0] + xi[a_idx[a]] * si[a_idx[a]], total[b][1] + si[a_idx[a]])
        kept = [(xi[a_idx[a]], si[a_idx[a]]) for a in range(len(a_idx)) if a not in chosen]
        merged = [(s / w, w) for s, w in (total[b] for b in range(len(b_idx)))]
        outs.append(torch.stack([t for t, _ in kept + merged]))
        sizes.append(torch.stack([w for _, w in kept + merged]))
    return torch.stack(outs), torch.stack(sizes)


@pytest.mark.parametrize("tokens,r", [(17, 4), (50, 12), (197, 28), (9, 40), (2, 1)])
def test_dense_merge_equals_the_loop(tokens, r):
    g = torch.Generator().manual_seed(tokens)
    x, keys = torch.randn(3, tokens, 8, generator=g), torch.randn(3, tokens, 5, generator=g)
    size = torch.randint(1, 4, (3, tokens, 1), generator=g).float()
    dense, loop = merge_tokens(x, size, keys, r), loop_merge(x, size, keys, r)
    assert dense[0].shape == (3, tokens - merge_count(tokens, r), 8)
    assert torch.allclose(dense[0], loop[0], atol=1e-5) and torch.equal(dense[1], loop[1])
    assert torch.allclose(dense[0][:, 0], x[:, 0])  # the class token stays first, untouched
    assert torch.allclose(dense[1].sum(dim=1), size.sum(dim=1))  # every patch is still counted once


def merging_vit(every: int, r: int = 3, depth: int = 4) -> VisionTransformer:
    torch.manual_seed(0)
    cfg = ViTConfig(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=32, depth=depth, num_heads=4,
                    mlp_ratio=2.0, token_merge=r, token_merge_every=every)
    return VisionTransformer(cfg).eval()


def test_merge_every_k_blocks_merges_after_blocks_k_minus_1_2k_minus_1_but_not_the_last():
    assert [b for b in range(7) if merging_vit(every=3, depth=7).cfg.merges_after(b)] == [2, 5]
    assert [b for b in range(6) if merging_vit(every=3, depth=6).cfg.merges_after(b)] == [2]
    assert "token_merge_every" not in merging_vit(every=1).cfg.to_dict()  # fingerprints of older specs unchanged
    tokens = []
    model = merging_vit(every=2)
    for block in model.blocks:
        block.mlp.register_forward_hook(lambda m, i, o: tokens.append(o.shape[1]))
    with torch.no_grad():
        model(torch.randn(2, 1, 28, 28))
    assert tokens == [50, 47, 47, 47]  # 49 patches + class token; 3 merged after block 1 (3 is the last)


def test_a_merging_step_every_block_is_the_old_behaviour():
    every1 = merging_vit(every=1)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        features, size = every1.forward_features(x)
    assert features.shape[1] == 50 - 3 * 3 and size.sum() == 2 * 49 + 2


def _images() -> np.ndarray:
    """Noise and flat images, a batch of 80: OpenVINO once lost the class token's protection only at batch >= 64."""
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(78, 1, 28, 28)).astype(np.float32)
    flat = np.zeros((2, 1, 28, 28), np.float32)
    flat[1, :, 14:] = 1.0  # two flat regions: ties in every similarity
    return np.concatenate([noise, flat])


@pytest.mark.parametrize("fmt", EXPORTERS.names())
@pytest.mark.parametrize("every", [1, 2])
def test_every_format_runs_a_merging_vit_as_pytorch_does(tmp_path, fmt, every):
    module = merging_vit(every)
    model = from_module(module, SPEC, name="merging")
    x = _images()
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    exporter = EXPORTERS.get(fmt)
    path = exporter.export(model, tmp_path)[0]
    run = exporter.open_runner(path, threads=1)
    got = per_image(run)(x) if fmt == "tflite" else run(x)
    assert np.abs(got - expected).max() < 1e-3, f"{fmt}: max difference {np.abs(got - expected).max()}"


def test_a_spec_file_keeps_the_merge_schedule(tmp_path):
    from safetensors.torch import save_file

    from vitedge.models import load_model
    from vitedge.models.specfile import spec_file_text

    module = merging_vit(every=2)
    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, tmp_path / "w.safetensors")
    text = spec_file_text(module.cfg, SPEC, "stepped", "w.safetensors", None, "a merging ViT")
    assert "token_merge_every = 2" in text
    (tmp_path / "model.toml").write_text(text)
    loaded = load_model(str(tmp_path / "model.toml"))
    x = torch.from_numpy(_images())
    assert loaded.module.cfg.token_merge_every == 2
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), module(x), atol=1e-6)
