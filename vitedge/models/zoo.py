"""Standard ViT / DeiT / DINOv2 sizes under timm's names, with the preprocessing their pretrained weights expect."""
from __future__ import annotations

from dataclasses import dataclass

from vitedge.models.vit import ViTConfig

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
INCEPTION_MEAN, INCEPTION_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ZooEntry:
    config: ViTConfig
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_pct: float
    interpolation: str = "bicubic"


_SIZES = {  # embed_dim, depth, num_heads (timm / DeiT papers)
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
}


DISTILLED = {"dist_token": True, "head_dist": True}  # DeiT distilled: class-token and distillation-token heads
DINOV2 = {"init_values": 1e-5, "num_classes": 0}  # DINOv2 backbones: LayerScale, no head (pooled embedding)
REGISTERS = {**DINOV2, "reg_tokens": 4, "no_embed_class": True}


def _entry(size: str, patch: int, img: int, mean, std, crop_pct: float, **variant) -> ZooEntry:
    dim, depth, heads = _SIZES[size]
    cfg = ViTConfig(img_size=img, patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads, **variant)
    return ZooEntry(cfg, mean, std, crop_pct)


def _build_zoo() -> dict[str, ZooEntry]:
    zoo = {}
    for size in ("tiny", "small", "base", "large"):
        zoo[f"vit_{size}_patch16_224"] = _entry(size, 16, 224, INCEPTION_MEAN, INCEPTION_STD, 0.9)
        zoo[f"vit_{size}_patch16_384"] = _entry(size, 16, 384, INCEPTION_MEAN, INCEPTION_STD, 1.0)
    for size in ("small", "base", "large"):
        zoo[f"vit_{size}_patch32_224"] = _entry(size, 32, 224, INCEPTION_MEAN, INCEPTION_STD, 0.9)
        zoo[f"vit_{size}_patch32_384"] = _entry(size, 32, 384, INCEPTION_MEAN, INCEPTION_STD, 1.0)
    for size in ("tiny", "small", "base"):
        zoo[f"deit_{size}_patch16_224"] = _entry(size, 16, 224, IMAGENET_MEAN, IMAGENET_STD, 0.875)
    zoo["deit_base_patch16_384"] = _entry("base", 16, 384, IMAGENET_MEAN, IMAGENET_STD, 1.0)
    for size in ("tiny", "small", "base"):
        zoo[f"deit_{size}_distilled_patch16_224"] = _entry(size, 16, 224, IMAGENET_MEAN, IMAGENET_STD, 0.875,
                                                           **DISTILLED)
    zoo["deit_base_distilled_patch16_384"] = _entry("base", 16, 384, IMAGENET_MEAN, IMAGENET_STD, 1.0, **DISTILLED)
    for size in ("small", "base", "large"):  # 518 px: the 37x37 grid of the weights; a spec's img_size resamples it
        zoo[f"vit_{size}_patch14_dinov2"] = _entry(size, 14, 518, IMAGENET_MEAN, IMAGENET_STD, 1.0, **DINOV2)
        zoo[f"vit_{size}_patch14_reg4_dinov2"] = _entry(size, 14, 518, IMAGENET_MEAN, IMAGENET_STD, 1.0, **REGISTERS)
    return zoo


ZOO: dict[str, ZooEntry] = _build_zoo()
