"""Resolve a model argument (built-in name, standard timm name + weights, spec file, HF folder) to a LoadedModel."""
from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

from vitedge.errors import ModelSourceError
from vitedge.models.hf_layout import HF_HINT, HF_MODEL_TYPES, labels_from_hf_config, vit_kwargs_from_hf_config
from vitedge.models.loaded import LoadedModel
from vitedge.models.onnx_load import load_onnx, spec_beside
from vitedge.models.posembed import fit_pos_embed
from vitedge.models.size import check_size
from vitedge.models.spec import IOSpec
from vitedge.models.specfile import SPEC_SUFFIXES, read_spec_file
from vitedge.models.vit import ViTConfig, VisionTransformer
from vitedge.models.weights import load_strict, read_state_dict
from vitedge.models.zoo import ZOO, ZooEntry
from vitedge.schema import SchemaError, number, read_json_object

BUILTIN_DIR = Path(__file__).parent / "builtin"
EXPORTED_SUFFIXES = (".xml", ".bin", ".tflite", ".engine")
SOURCE_HINT = ("pass a built-in name (`vitedge models`), a standard name with --weights, a model spec file (.toml / "
               ".json), a Hugging Face folder (config.json + model.safetensors) or an .onnx file with its spec")


def builtin_names() -> list[str]:
    return sorted(p.name for p in BUILTIN_DIR.iterdir() if (p / "model.toml").is_file())


def available_models() -> list[str]:
    return builtin_names() + sorted(ZOO)


def load_model(source: str | Path, weights: str | Path | None = None, random_init: bool = False) -> LoadedModel:
    """Build and load a model. `source`: built-in name, standard name (needs weights), spec file or HF folder."""
    text = str(source)
    path = Path(text)
    if path.is_dir() and (path / "config.json").exists():
        return _from_hf_folder(path, weights, random_init)
    if path.suffix in SPEC_SUFFIXES and (path.exists() or path.is_symlink()):  # read_spec_file says what is wrong
        raw = read_spec_file(path)
        return load_onnx(raw, text) if "onnx" in raw else _from_spec(raw, text, weights, random_init)
    if path.suffix == ".onnx":
        return load_onnx(read_spec_file(spec_beside(path)), text)
    if text in builtin_names():
        return _from_spec(read_spec_file(BUILTIN_DIR / text / "model.toml"), text, weights, random_init)
    if text in ZOO:
        return _from_spec({"name": text, "base": text, "weights": weights}, text, None, random_init)
    raise _unknown_source(text, path)


def _unknown_source(text: str, path: Path) -> ModelSourceError:
    if path.suffix in EXPORTED_SUFFIXES:
        return ModelSourceError(f"cannot load model {text!r}: a {path.suffix} file is an exported artifact, not a "
                                "model source (vitedge needs the PyTorch model)", SOURCE_HINT)
    if path.suffix in SPEC_SUFFIXES or "/" in text or path.is_dir():
        what = f"{path} is a folder without a config.json" if path.is_dir() else f"file not found: {path}"
        return ModelSourceError(f"cannot load model {text!r}: {what}", SOURCE_HINT)
    close = difflib.get_close_matches(text, available_models(), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else "run `vitedge models` to list the known names"
    return ModelSourceError(f"unknown model {text!r}", hint)


def _from_spec(raw: dict, source: str, weights_override, random_init: bool) -> LoadedModel:
    entry = _base_entry(raw.get("base"), source)
    arch = dict(entry.config.to_dict()) if entry else {}
    arch.update(raw.get("architecture", {}))
    head = raw.get("head", {})
    if "hidden" in head:
        arch["head_hidden"] = head["hidden"]
    if "act" in head:
        arch["head_act"] = head["act"]
    weights = weights_override or raw.get("weights")
    _make_config(arch, source)  # refuse bad values before reading a checkpoint
    state, layout = _read_weights(weights, raw.get("weights_sha256"), source, random_init)
    notes = _adapt_to_checkpoint(arch, state, layout, entry is not None and "architecture" not in raw)
    config = _make_config(arch, source)
    if state is not None:  # timm resamples with antialiasing, transformers without
        notes += filter(None, [fit_pos_embed(state, config, str(weights), antialias=layout == "timm")])
    pre = raw.get("preprocessing", {})
    spec = _make_spec(raw, config, pre, entry, source)
    check_size(config, state, weights, source)  # before anything is allocated
    module = VisionTransformer(config)
    if state is not None:
        load_strict(module, state, str(weights))
    digest = _file_sha256(weights) if weights and Path(weights).is_file() else None
    weights_path = str(Path(weights).resolve()) if weights else None
    return LoadedModel(module, spec, raw.get("name", source), source, config, digest, notes, weights_path,
                       raw.get("derived_from"))


def _base_entry(base: str | None, source: str) -> ZooEntry | None:
    if base is None:
        return None
    if base not in ZOO:
        close = difflib.get_close_matches(base, sorted(ZOO), n=3, cutoff=0.5)
        raise ModelSourceError(f"{source}: unknown base model {base!r}",
                               f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(sorted(ZOO))}")
    return ZOO[base]


def _read_weights(weights, expected_sha: str | None, source: str, random_init: bool):
    if weights is None:
        if random_init:
            return None, None
        raise ModelSourceError(f"model {source!r} needs weights",
                               "pass --weights FILE (.safetensors, .pth or .pt; timm or Hugging Face layout)")
    if expected_sha and Path(weights).is_file() and _file_sha256(weights) != expected_sha:
        raise ModelSourceError(f"weights {weights} do not match weights_sha256 {expected_sha[:12]}... in {source}",
                               "the file changed or is the wrong one; fix the file or the spec")
    return read_state_dict(weights)


def _adapt_to_checkpoint(arch: dict, state, layout: str | None, standard: bool) -> list[str]:
    """A standard size keeps its shape but not its head: fine-tuned class counts, headless backbones, HF's eps."""
    if state is None or not standard:
        return []
    notes = []
    if layout == "hf":
        arch["norm_eps"] = 1e-12
        notes.append("Hugging Face layout: LayerNorm eps 1e-12 as in transformers' ViTConfig")
    head = state.get("head.weight")
    if head is None and not any(k.startswith("head.") for k in state):
        arch["num_classes"] = 0
        notes.append("the checkpoint has no classifier head: exporting the backbone (pooled embeddings)")
    elif head is not None and head.shape[0] != arch.get("num_classes"):
        arch["num_classes"] = int(head.shape[0])
        notes.append(f"num_classes set to {head.shape[0]} from the checkpoint's head")
    if arch.get("head_dist") and head is not None and "head_dist.weight" not in state:
        arch["head_dist"] = False
        notes.append("the checkpoint has no distillation head (head_dist): the class-token head alone")
    return notes


def _make_config(arch: dict, source: str) -> ViTConfig:
    try:
        return ViTConfig.from_dict(arch)
    except (TypeError, ValueError) as exc:
        message = str(exc).replace("head_hidden", "[head] hidden").replace("head_act", "[head] act")
        raise ModelSourceError(f"model {source}: invalid architecture value: {message}",
                               "fix the value in the spec ([architecture] / [head]); see 'Model spec files' in the "
                               "README") from None


def _make_spec(raw: dict, config: ViTConfig, pre: dict, entry: ZooEntry | None, source: str) -> IOSpec:
    labels = raw.get("labels")
    check_class_names(labels, source)
    if labels is not None and len(labels) != config.num_classes:
        raise ModelSourceError(f"{source}: {len(labels)} labels for a head of {config.num_classes} classes",
                               "give one class name per output of the head (labels / labels_file), or fix "
                               "num_classes")
    default_mean = entry.mean if entry else (0.5,) * config.in_chans
    default_std = entry.std if entry else (0.5,) * config.in_chans
    try:
        return IOSpec(
            input_size=(config.in_chans, *config.img_hw),
            mean=tuple(pre.get("mean", default_mean)),
            std=tuple(pre.get("std", default_std)),
            labels=tuple(labels) if labels else None,
            task=raw.get("task", "image-classification" if config.num_classes > 0 else "feature-extraction"),
            crop_pct=pre.get("crop_pct", entry.crop_pct if entry else 1.0),
            interpolation=pre.get("interpolation", entry.interpolation if entry else "bilinear"),
        )
    except ValueError as exc:
        raise ModelSourceError(f"model {source}: invalid [preprocessing] value: {exc}",
                               "fix the value in the spec; see 'Model spec files' in the README") from None


def _from_hf_folder(folder: Path, weights, random_init: bool) -> LoadedModel:
    path = folder / "config.json"
    config = read_json_object(path, "Hugging Face config", HF_HINT)
    if config.get("model_type") is not None and config.get("model_type") not in HF_MODEL_TYPES:
        raise ModelSourceError(f"{path}: model_type {config.get('model_type')!r} is not supported",
                               f"vitedge reads Hugging Face folders of model_type {', '.join(HF_MODEL_TYPES)}")
    arch = vit_kwargs_from_hf_config(config, str(path))
    labels = labels_from_hf_config(config, str(path)) if arch["num_classes"] else None
    pre = _hf_preprocessing(folder, arch["in_chans"])
    arch["img_size"] = pre.pop("input_size", arch["img_size"])
    raw = {"name": folder.name, "weights": str(weights or folder), "architecture": arch, "labels": labels,
           "preprocessing": pre}
    return _from_spec(raw, str(folder), None, random_init)


def check_class_names(labels, source: str) -> None:
    """Class names must be non-empty: class folders, bundles and reports name classes by them. (Repeated names
    are allowed: ImageNet's labels have two "crane"s; a data folder named after one is refused in vitedge.data.)"""
    blank = [i for i, name in enumerate(labels or ()) if not name.strip()]
    if blank:
        raise ModelSourceError(f"{source}: class name(s) at position(s) {blank[:5]} are empty",
                               "give every class a name (labels / labels_file / id2label)")


HF_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}  # PIL's codes


def _hf_preprocessing(folder: Path, channels: int) -> dict:
    """mean / std of preprocessor_config.json, each checked and named. ViTImageProcessor resizes, never crops; a
    centre-cropping processor (DINOv2's BitImageProcessor, DeiT's) sets the input size and crop_pct."""
    path = folder / "preprocessor_config.json"
    if not (path.exists() or path.is_symlink()):
        return {}
    pre = read_json_object(path, "Hugging Face preprocessor config", HF_HINT)
    out = {"crop_pct": 1.0, **_hf_center_crop(pre, path)}
    for key, name in (("image_mean", "mean"), ("image_std", "std")):
        values = pre.get(key, [0.5] * channels)
        if not isinstance(values, list) or len(values) != channels:
            raise SchemaError(f"{path}: {key} must list one number per input channel ({channels}), got "
                              f"{values!r}"[:300], HF_HINT)
        low = 0.0 if name == "std" else None
        out[name] = [number(v, f"{path}: {key}", low, low_open=name == "std", hint=HF_HINT) for v in values]
    return out


def _hf_center_crop(pre: dict, path: Path) -> dict:
    """input_size (the crop), crop_pct (crop / resized side) and interpolation of a centre-cropping processor;
    sizes as transformers writes them ({"height", "width"} / {"shortest_edge"}) or as single integers (older files)."""
    crop, size = pre.get("crop_size"), pre.get("size")
    if pre.get("do_center_crop") is not True or crop is None or size is None:
        return {}
    crop = crop if isinstance(crop, dict) else {"height": crop, "width": crop}
    size = size if isinstance(size, dict) else {"shortest_edge": size}
    height = number(crop.get("height"), f"{path}: crop_size height", 1, 8192, integer=True, hint=HF_HINT)
    width = number(crop.get("width"), f"{path}: crop_size width", 1, 8192, integer=True, hint=HF_HINT)
    resized = number(size.get("shortest_edge", size.get("height")), f"{path}: size (shortest_edge or height)", 1,
                     8192, integer=True, hint=HF_HINT)
    out = {"input_size": height if height == width else (height, width),
           "crop_pct": min(1.0, min(height, width) / resized)}
    if type(pre.get("resample")) is int and pre["resample"] in HF_RESAMPLE:
        out["interpolation"] = HF_RESAMPLE[pre["resample"]]
    return out


def _file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
