"""Hugging Face key layouts -> timm layout, and HF config.json -> ViT arguments.

Layouts read: ViT (`ViTModel`, `ViTForImageClassification`: prefix `vit.`), DeiT (`DeiTModel`,
`DeiTForImageClassification`, `DeiTForImageClassificationWithTeacher`: prefix `deit.`, distillation token) and
DINOv2 (`Dinov2Model`, `Dinov2WithRegistersModel`: no prefix, LayerScale `layer_scale1.lambda1`).
"""
from __future__ import annotations

import torch

from vitedge.errors import WeightsMismatchError
from vitedge.schema import SchemaError, number, require

HF_PREFIXES = ("vit.", "deit.", "dinov2.", "dinov2_with_registers.", "")  # the bare one last: models saved alone
HF_LAYOUTS = ("ViT (ViTModel, ViTForImageClassification), DeiT (DeiTModel, DeiTForImageClassification, "
              "DeiTForImageClassificationWithTeacher) and DINOv2 (Dinov2Model, Dinov2WithRegistersModel)")
_EMBEDDINGS = {
    "embeddings.cls_token": "cls_token",
    "embeddings.distillation_token": "dist_token",
    "embeddings.register_tokens": "reg_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
}
_UNUSED = ("embeddings.mask_token", "pooler.dense.weight", "pooler.dense.bias")  # pre-training / ViTModel's pooler
_HEADS = {"classifier": "head", "cls_classifier": "head", "distillation_classifier": "head_dist"}  # no prefix
_BLOCK_RENAMES = {  # ViT / DeiT names, then DINOv2's
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "norm1": "norm1",
    "norm2": "norm2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
    "layer_scale1.lambda1": "ls1.gamma",
    "layer_scale2.lambda1": "ls2.gamma",
}
_QKV = ("query", "key", "value")


def hf_prefix(state: dict) -> str | None:
    """The model prefix of a Hugging Face state dict ("vit.", "deit.", "" ...), or None when it is not one."""
    for prefix in HF_PREFIXES:
        if any(k.startswith(f"{prefix}encoder.layer.") for k in state):
            return prefix
    return None


def is_hf_layout(state: dict) -> bool:
    return hf_prefix(state) is not None


def hf_layout_name(state: dict) -> str:
    """"hf-dinov2" for DINOv2's block names (LayerNorm eps 1e-6), else "hf" (ViT / DeiT: eps 1e-12)."""
    return "hf-dinov2" if any(".layer_scale1." in k for k in state) else "hf"


def hf_to_timm(state: dict[str, torch.Tensor], source: str = "weights") -> dict[str, torch.Tensor]:
    """Rename Hugging Face keys to timm's and fuse query/key/value into qkv; a key of another layout is refused."""
    prefix = hf_prefix(state) or ""
    out: dict[str, torch.Tensor] = {}
    qkv_parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in state.items():
        inner = key[len(prefix):] if key.startswith(prefix) else None
        if inner in _EMBEDDINGS:
            out[_EMBEDDINGS[inner]] = value
        elif inner in _UNUSED:
            continue
        elif inner is not None and inner.startswith("encoder.layer.") and inner.count(".") > 2:
            index, rest = inner[len("encoder.layer."):].split(".", 1)
            if rest.startswith("attention.attention.") and rest.count(".") == 3:
                proj, kind = rest[len("attention.attention."):].split(".")
                qkv_parts.setdefault((index, kind), {})[proj] = value
            elif _rename_block(rest):
                out[f"blocks.{index}.{_rename_block(rest)}"] = value
            else:
                unknown.append(key)
        elif key.rsplit(".", 1)[0] in _HEADS and key.endswith((".weight", ".bias")):
            head, param = key.rsplit(".", 1)
            out[f"{_HEADS[head]}.{param}"] = value
        else:
            unknown.append(key)
    _refuse_unsupported(prefix, state, unknown, source)
    out.update(_fuse_qkv(qkv_parts, source))
    return _fold_register_layout(out)


def _rename_block(rest: str) -> str | None:
    """A block's key after `encoder.layer.N.` in timm's names, or None when it is none of the known ones."""
    if rest in _BLOCK_RENAMES:  # LayerScale: a parameter, not a module
        return _BLOCK_RENAMES[rest]
    module, _, param = rest.rpartition(".")
    return f"{_BLOCK_RENAMES[module]}.{param}" if module in _BLOCK_RENAMES and param in ("weight", "bias") else None


def _fuse_qkv(parts: dict[tuple[str, str], dict[str, torch.Tensor]], source: str) -> dict[str, torch.Tensor]:
    """Each block's separate query, key and value tensors as timm's fused qkv (rows: q, then k, then v)."""
    fused = {}
    for (index, kind), found in sorted(parts.items()):
        if sorted(found) != sorted(_QKV) or kind not in ("weight", "bias"):
            raise WeightsMismatchError(
                f"weights {source}: block {index} has attention.attention {kind} tensors for {sorted(found)}, "
                "not query, key and value",
                f"the file is incomplete or of another layout; vitedge reads {HF_LAYOUTS}")
        fused[f"blocks.{index}.attn.qkv.{kind}"] = torch.cat([found[p] for p in _QKV], dim=0)
    return fused


def _refuse_unsupported(prefix: str, state: dict, unknown: list[str], source: str) -> None:
    """WeightsMismatchError naming the file and the keys of a layout vitedge does not build."""
    if prefix.startswith("dinov2") and "classifier.weight" in state:
        raise WeightsMismatchError(
            f"weights {source}: Dinov2ForImageClassification's classifier reads the class token and the mean patch "
            "token together, which vitedge does not build",
            "export the backbone: save the Dinov2Model without the classifier.* tensors")
    if unknown:
        swiglu = any(".mlp.weights_in." in k for k in unknown)
        shown = ", ".join(unknown[:8]) + (f", ... (+{len(unknown) - 8} more)" if len(unknown) > 8 else "")
        raise WeightsMismatchError(
            f"weights {source}: Hugging Face keys vitedge does not read ({len(unknown)}): {shown}"
            + ("; the SwiGLU MLP (use_swiglu_ffn, DINOv2 giant) is not supported" if swiglu else ""),
            f"vitedge reads {HF_LAYOUTS}")


def _fold_register_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Dinov2WithRegisters adds the position embeddings to the class and patch tokens, then inserts the registers
    after the class token. timm's layout (no_embed_class) adds them to the patch tokens only: the class token's
    position embedding folds into the class token, which gives the same sums."""
    pos, cls = state.get("pos_embed"), state.get("cls_token")
    if "reg_token" in state and pos is not None and cls is not None and pos.ndim == 3 and pos.shape[1] > 1 \
            and cls.shape == pos[:, :1].shape:
        state["cls_token"], state["pos_embed"] = cls + pos[:, :1], pos[:, 1:]
    return state


HF_HINT = ("vitedge reads Hugging Face ViT, DeiT and DINOv2 folders (config.json + model.safetensors); fix the value "
           "or re-download the folder")
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}
# model_type -> transformers' defaults for patch_size and layer_norm_eps
HF_MODEL_TYPES = {"vit": (16, 1e-12), "deit": (16, 1e-12), "dinov2": (14, 1e-6), "dinov2_with_registers": (14, 1e-6)}
# config.json key -> (required, low, high) for integers
HF_INTS = {"hidden_size": (True, 1, 65536), "num_attention_heads": (True, 1, 4096),
           "num_hidden_layers": (True, 1, 1024), "patch_size": (False, 1, 8192), "num_channels": (False, 1, 64),
           "intermediate_size": (False, 1, 65536 * 64), "num_register_tokens": (False, 0, 1024)}
# model_type -> {architectures[0] -> head}: "backbone" (pooled embedding), "linear" (a classifier on the class
# token) or "distilled" (DeiT's two heads, averaged); the first is the default when config.json names none
HF_HEADS = {
    "vit": {"ViTForImageClassification": "linear", "ViTModel": "backbone"},
    "deit": {"DeiTForImageClassificationWithTeacher": "distilled", "DeiTForImageClassification": "linear",
             "DeiTModel": "backbone"},
    "dinov2": {"Dinov2Model": "backbone", "Dinov2Backbone": "backbone"},
    "dinov2_with_registers": {"Dinov2WithRegistersModel": "backbone", "Dinov2WithRegistersBackbone": "backbone"},
}


def vit_kwargs_from_hf_config(config: dict, where: str = "config.json") -> dict:
    """ViTConfig fields from a Hugging Face ViT / DeiT / DINOv2 config.json; each key checked and named as HF names
    it. model_type must be one of HF_MODEL_TYPES (absent: "vit")."""
    model_type = config.get("model_type") or "vit"
    default_patch, default_eps = HF_MODEL_TYPES[model_type]
    values = {}
    for key, (required, low, high) in HF_INTS.items():
        value = _square(config.get(key), f"{where}: {key}") if key == "patch_size" else config.get(key)
        if value is None and required:
            require(config, key, int, where, HF_HINT)
        values[key] = None if value is None else number(value, f"{where}: {key}", low, high, integer=True,
                                                       hint=HF_HINT)
    hidden, patch = values["hidden_size"], values["patch_size"] or default_patch
    image = _image_size(224 if config.get("image_size") is None else config["image_size"], patch, where)
    if hidden % values["num_attention_heads"]:
        raise SchemaError(f"{where}: hidden_size {hidden} is not a multiple of num_attention_heads "
                          f"{values['num_attention_heads']}", HF_HINT)
    act = config.get("hidden_act", "gelu")
    if not isinstance(act, str) or act not in HF_ACTIVATIONS:
        raise SchemaError(f"{where}: hidden_act = {act!r} is not supported; allowed values: "
                          f"{', '.join(HF_ACTIVATIONS)}", HF_HINT)
    kwargs = {
        "img_size": image,
        "patch_size": patch,
        "in_chans": values["num_channels"] or 3,
        "embed_dim": hidden,
        "depth": values["num_hidden_layers"],
        "num_heads": values["num_attention_heads"],
        "qkv_bias": require(config, "qkv_bias", bool, where, HF_HINT, optional=True) is not False,
        "norm_eps": number(config.get("layer_norm_eps", default_eps), f"{where}: layer_norm_eps", 0, 1,
                           low_open=True, hint=HF_HINT),
        "act": HF_ACTIVATIONS[act],
    }
    kwargs.update(_head_kwargs(model_type, config, where))
    if model_type.startswith("dinov2"):
        kwargs.update(_dinov2_kwargs(config, values, where, registers=model_type == "dinov2_with_registers"))
    else:
        kwargs["mlp_ratio"] = (values["intermediate_size"] or 4 * hidden) / hidden
        kwargs["dist_token"] = model_type == "deit"
    return kwargs


def _image_size(value, patch: int, where: str) -> int | tuple[int, int]:
    """image_size as an integer or [height, width], each side a multiple of the patch size."""
    sides = value if isinstance(value, list) and len(value) == 2 else [value]
    for side in sides:
        number(side, f"{where}: image_size", 1, 8192, integer=True, hint=HF_HINT)
        if side % patch:
            raise SchemaError(f"{where}: image_size {value} is not a multiple of patch_size {patch}", HF_HINT)
    return sides[0] if len(sides) == 1 or sides[0] == sides[1] else (sides[0], sides[1])


def _head_kwargs(model_type: str, config: dict, where: str) -> dict:
    """num_classes and head_dist from the saved class (`architectures`), else the model type's usual one."""
    names = require(config, "architectures", list, where, HF_HINT, optional=True) or []
    heads = HF_HEADS[model_type]
    name = names[0] if names and names[0] in heads else next(iter(heads))
    if names and str(names[0]).endswith("ForImageClassification") and model_type.startswith("dinov2"):
        raise SchemaError(f"{where}: architectures = {names!r}: {names[0]}'s classifier reads the class token and "
                          "the mean patch token together, which vitedge does not build"[:300],
                          f"export the backbone instead: {', '.join(heads)}")
    if heads[name] == "backbone":
        return {"num_classes": 0}
    return {"num_classes": len(labels_from_hf_config(config, where) or ()) or 1000,
            "head_dist": heads[name] == "distilled"}


def _dinov2_kwargs(config: dict, values: dict, where: str, registers: bool) -> dict:
    """DINOv2: MLP width from mlp_ratio, LayerScale in every block; registers without position embeddings."""
    if config.get("use_swiglu_ffn", False) is not False:
        raise SchemaError(f"{where}: use_swiglu_ffn = {config['use_swiglu_ffn']!r}: the SwiGLU MLP (DINOv2 giant) "
                          "is not supported", "use a DINOv2 small, base or large checkpoint (use_swiglu_ffn false)")
    ratio = number(config.get("mlp_ratio", 4), f"{where}: mlp_ratio", 0, 64, low_open=True, hint=HF_HINT)
    scale = number(config.get("layerscale_value", 1.0), f"{where}: layerscale_value", 0, 1e6, low_open=True,
                   hint=HF_HINT)
    kwargs = {"mlp_ratio": float(ratio), "init_values": float(scale)}
    if registers:
        count = values["num_register_tokens"]
        kwargs.update(reg_tokens=4 if count is None else count, no_embed_class=True)
    return kwargs


def _square(value, where: str):
    """HF allows patch_size as [height, width]: vitedge takes square patches."""
    if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
        return value[0]
    if isinstance(value, list):
        raise SchemaError(f"{where} = {value!r}: vitedge supports square patches only", HF_HINT)
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
