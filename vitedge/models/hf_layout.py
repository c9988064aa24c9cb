"""Hugging Face `ViTForImageClassification` key layout -> timm layout, and HF config.json -> ViT arguments."""
from __future__ import annotations

import torch

from vitedge.schema import SchemaError, number, require

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


HF_HINT = ("vitedge reads Hugging Face ViT folders (config.json of a ViTForImageClassification / ViTModel); fix the "
           "value or re-download the folder")
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}
# config.json key -> (required, low, high) for integers
HF_INTS = {"hidden_size": (True, 1, 65536), "num_attention_heads": (True, 1, 4096),
           "num_hidden_layers": (True, 1, 1024), "image_size": (False, 1, 8192), "patch_size": (False, 1, 8192),
           "num_channels": (False, 1, 64), "intermediate_size": (False, 1, 65536 * 64)}


def vit_kwargs_from_hf_config(config: dict, where: str = "config.json") -> dict:
    """ViTConfig fields from a Hugging Face ViT config.json; each key checked and named as HF names it."""
    values = {}
    for key, (required, low, high) in HF_INTS.items():
        value = _square(config.get(key), f"{where}: {key}")
        if value is None and required:
            require(config, key, int, where, HF_HINT)
        values[key] = None if value is None else number(value, f"{where}: {key}", low, high, integer=True,
                                                       hint=HF_HINT)
    hidden, image, patch = values["hidden_size"], values["image_size"] or 224, values["patch_size"] or 16
    for (a, x), (b, y) in ((("hidden_size", hidden), ("num_attention_heads", values["num_attention_heads"])),
                           (("image_size", image), ("patch_size", patch))):
        if x % y:
            raise SchemaError(f"{where}: {a} {x} is not a multiple of {b} {y}", HF_HINT)
    eps = config.get("layer_norm_eps", 1e-12)
    act = config.get("hidden_act", "gelu")
    if not isinstance(act, str) or act not in HF_ACTIVATIONS:
        raise SchemaError(f"{where}: hidden_act = {act!r} is not supported; allowed values: "
                          f"{', '.join(HF_ACTIVATIONS)}", HF_HINT)
    return {
        "img_size": image,
        "patch_size": patch,
        "in_chans": values["num_channels"] or 3,
        "num_classes": len(labels_from_hf_config(config, where) or ()) or 1000,
        "embed_dim": hidden,
        "depth": values["num_hidden_layers"],
        "num_heads": values["num_attention_heads"],
        "mlp_ratio": (values["intermediate_size"] or 4 * hidden) / hidden,
        "qkv_bias": require(config, "qkv_bias", bool, where, HF_HINT, optional=True) is not False,
        "norm_eps": number(eps, f"{where}: layer_norm_eps", 0, 1, low_open=True, hint=HF_HINT),
        "act": HF_ACTIVATIONS[act],
    }


def _square(value, where: str):
    """HF allows image_size / patch_size as [height, width]: vitedge takes square ones."""
    if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
        return value[0]
    if isinstance(value, list):
        raise SchemaError(f"{where} = {value!r}: vitedge supports square sizes only", HF_HINT)
    return value


def labels_from_hf_config(config: dict, where: str = "config.json") -> tuple[str, ...] | None:
    """Class names from id2label ({"0": "cat", ...}): every index from 0 to n-1 exactly once."""
    id2label = require(config, "id2label", dict, where, HF_HINT, optional=True)
    if not id2label:
        return None
    indices = {key: _index(key) for key in id2label}
    missing = sorted(set(range(len(id2label))) - set(indices.values()))
    if missing or None in indices.values():
        bad = [k for k, i in indices.items() if i is None or i >= len(id2label)]
        raise SchemaError(f"{where}: id2label must map every index 0..{len(id2label) - 1} to a class name; missing "
                          f"{missing[:10]}, unexpected keys {bad[:10]}", HF_HINT)
    names = {indices[k]: v for k, v in id2label.items()}
    if not all(isinstance(v, str) for v in names.values()):
        raise SchemaError(f"{where}: id2label values must be class names (strings)", HF_HINT)
    return tuple(names[i] for i in range(len(names)))


def _index(key: str) -> int | None:
    return int(key) if isinstance(key, str) and key.isdigit() and key.isascii() else None
