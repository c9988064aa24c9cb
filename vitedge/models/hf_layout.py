"""Hugging Face `ViTForImageClassification` key layout -> timm layout, and HF config.json -> ViT arguments."""
from __future__ import annotations

import torch

HF_PREFIX = "vit."

_BLOCK_RENAMES = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "lambda1": "ls1.gamma",
    "lambda2": "ls2.gamma",
}
_TOP_RENAMES = {
    "vit.embeddings.cls_token": "cls_token",
    "vit.embeddings.position_embeddings": "pos_embed",
    "vit.embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "vit.embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "vit.layernorm.weight": "norm.weight",
    "vit.layernorm.bias": "norm.bias",
    "classifier.weight": "head.weight",
    "classifier.bias": "head.bias",
}


def is_hf_layout(state: dict) -> bool:
    return any(k.startswith("vit.encoder.layer.") for k in state)


def hf_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename HF ViT keys to timm's and fuse query/key/value into qkv. Unknown keys pass through unchanged."""
    out: dict[str, torch.Tensor] = {}
    qkv_parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key in _TOP_RENAMES:
            out[_TOP_RENAMES[key]] = value
        elif key.startswith("vit.encoder.layer."):
            index, rest = key[len("vit.encoder.layer."):].split(".", 1)
            attn = rest.startswith("attention.attention.")
            if attn:
                proj, kind = rest[len("attention.attention."):].split(".")
                qkv_parts.setdefault((index, kind), {})[proj] = value
            else:
                out[f"blocks.{index}.{_rename_block(rest)}"] = value
        elif key == "vit.pooler.dense.weight" or key == "vit.pooler.dense.bias":
            continue  # ViTModel's pooler is unused by ViTForImageClassification
        else:
            out[key] = value
    for (index, kind), parts in qkv_parts.items():
        out[f"blocks.{index}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], dim=0)
    return out


def _rename_block(rest: str) -> str:
    for old, new in _BLOCK_RENAMES.items():
        if rest.startswith(old + ".") or rest == old:
            return new + rest[len(old):]
    return rest


def vit_kwargs_from_hf_config(config: dict) -> dict:
    """ViTConfig fields from a Hugging Face ViT config.json."""
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    return {
        "img_size": config.get("image_size", 224),
        "patch_size": config.get("patch_size", 16),
        "in_chans": config.get("num_channels", 3),
        "num_classes": len(config["id2label"]) if config.get("id2label") else 1000,
        "embed_dim": hidden,
        "depth": config["num_hidden_layers"],
        "num_heads": heads,
        "mlp_ratio": config.get("intermediate_size", 4 * hidden) / hidden,
        "qkv_bias": config.get("qkv_bias", True),
        "norm_eps": config.get("layer_norm_eps", 1e-12),
        "act": {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}.get(
            config.get("hidden_act", "gelu"), "gelu"),
    }


def labels_from_hf_config(config: dict) -> tuple[str, ...] | None:
    id2label = config.get("id2label")
    if not id2label:
        return None
    return tuple(id2label[str(i)] if str(i) in id2label else id2label[i] for i in range(len(id2label)))
