"""Model spec files (TOML or JSON): architecture, head override, preprocessing, labels and weights path.

    name = "vit4mnist"
    task = "image-classification"
    base = "vit_tiny_patch16_224"         # optional: start from a standard size, then override below
    weights = "vit4mnist.safetensors"      # relative to this file; timm or Hugging Face key layout
    weights_sha256 = "5019e147..."         # optional: verified before loading
    labels = ["0", "1", ...]               # or labels_file = "labels.txt" (one per line)
    [architecture]                         # ViTConfig fields: img_size, patch_size, in_chans, embed_dim, ...
    [head]                                 # hidden = [128], act = "gelu": Linear -> GELU -> Linear head
    [preprocessing]                        # mean, std, crop_pct, interpolation
"""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

from vitedge.errors import ModelSourceError

TOP_KEYS = {"name", "task", "base", "weights", "weights_sha256", "labels", "labels_file",
            "architecture", "head", "preprocessing", "description"}
HEAD_KEYS = {"hidden", "act"}
PREPROCESSING_KEYS = {"mean", "std", "crop_pct", "interpolation"}
SPEC_SUFFIXES = (".toml", ".json")


def read_spec_file(path: Path) -> dict:
    """Parse and check the keys of a spec file; paths inside it are resolved against its folder."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ModelSourceError(f"model spec {path} could not be parsed: {exc}",
                               "see 'Model spec files' in the README for the format") from None
    if not isinstance(raw, dict):
        raise ModelSourceError(f"model spec {path} must be a table / object at the top level")
    _check_keys(path, "top level", raw, TOP_KEYS)
    _check_keys(path, "[head]", raw.get("head", {}), HEAD_KEYS)
    _check_keys(path, "[preprocessing]", raw.get("preprocessing", {}), PREPROCESSING_KEYS)
    for key in ("weights", "labels_file"):
        if key in raw:
            raw[key] = str((path.parent / raw[key]).resolve())
    if "labels_file" in raw:
        raw["labels"] = _read_labels(Path(raw.pop("labels_file")), path)
    return raw


def _check_keys(path: Path, where: str, table: dict, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ModelSourceError(f"model spec {path}: unknown key(s) {unknown} in {where}",
                               f"allowed keys there: {sorted(allowed)}")


def _read_labels(labels_path: Path, spec_path: Path) -> list[str]:
    try:
        return [line.strip() for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError as exc:
        raise ModelSourceError(f"model spec {spec_path}: labels_file {labels_path} unreadable: {exc}") from None


def toml_value(value) -> str:
    """A Python value as TOML (the subset spec files use)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def spec_file_text(config, spec, name: str, weights: str, weights_sha256: str | None, comment: str,
                   description: str | None = None) -> str:
    """The spec file of a vitedge ViT (`config`: ViTConfig, `spec`: IOSpec) whose weights lie beside it."""
    head_fields = {"head_hidden": "hidden", "head_act": "act"}
    arch = {k: v for k, v in config.to_dict().items() if v is not None and k not in head_fields}
    head = {new: config.to_dict()[old] for old, new in head_fields.items()} if config.head_hidden else {}
    top = {"name": name, "task": spec.task, "description": description, "weights": weights,
           "weights_sha256": weights_sha256, "labels": list(spec.labels) if spec.labels else None}
    pre = {"mean": list(spec.mean), "std": list(spec.std), "crop_pct": spec.crop_pct,
           "interpolation": spec.interpolation}
    lines = [f"# {comment}"] + [f"{k} = {toml_value(v)}" for k, v in top.items() if v is not None]
    for table, entries in (("architecture", arch), ("head", head), ("preprocessing", pre)):
        if entries:
            lines += ["", f"[{table}]"] + [f"{k} = {toml_value(v)}" for k, v in entries.items() if v is not None]
    return "\n".join(lines) + "\n"
