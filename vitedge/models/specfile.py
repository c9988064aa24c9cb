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
from vitedge.readfile import read_text
from vitedge.schema import is_kind, type_name

TOP_KEYS = {"name": str, "task": str, "base": str, "weights": str, "weights_sha256": str, "labels": list,
            "labels_file": str, "architecture": dict, "head": dict, "preprocessing": dict, "description": str,
            "derived_from": dict, "onnx": str, "input_size": list}
HEAD_KEYS = {"hidden": list, "act": str}
PREPROCESSING_KEYS = {"mean": list, "std": list, "crop_pct": float, "interpolation": str}
SPEC_SUFFIXES = (".toml", ".json")
MAX_LABELS_BYTES = 16 << 20
MAX_SPEC_BYTES = 16 << 20  # a spec is a few KiB (labels of 100k classes fit)
SPEC_HINT = "see 'Model spec files' in the README for the format"


def read_spec_file(path: Path) -> dict:
    """Parse and check the keys and their types; paths inside it are resolved against its folder."""
    text = read_text(path, "model spec", SPEC_HINT, MAX_SPEC_BYTES)
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelSourceError(f"model spec {path} could not be parsed: {str(exc)[:300]}", SPEC_HINT) from None
    if not isinstance(raw, dict):
        raise ModelSourceError(f"model spec {path} must be a table / object at the top level", SPEC_HINT)
    _check_table(path, "top level", raw, TOP_KEYS)
    _check_table(path, "[head]", raw.get("head", {}), HEAD_KEYS)
    _check_table(path, "[preprocessing]", raw.get("preprocessing", {}), PREPROCESSING_KEYS)
    _check_lineage(path, raw.get("derived_from", {}))
    if "labels" in raw and not all(isinstance(v, str) for v in raw["labels"]):
        raise ModelSourceError(f"model spec {path}: labels must be a list of strings (class names), got "
                               f"{raw['labels']!r}"[:300], 'e.g. labels = ["cat", "dog"]')
    for key in ("name", "task", "base", "weights", "weights_sha256", "labels_file", "onnx"):
        if key in raw and not raw[key].strip():
            raise ModelSourceError(f"model spec {path}: {key} is an empty string",
                                   f"give {key} a value, or remove the key" + (
                                       " (an empty weights path would mean the spec's whole folder)"
                                       if key == "weights" else ""))
    if "labels" in raw and "labels_file" in raw:
        raise ModelSourceError(f"model spec {path}: both labels and labels_file are given",
                               "keep one of them: the class names in the spec, or a file of them beside it")
    if "weights" in raw:
        raw["weights"] = str((path.parent / raw["weights"]).resolve())
    if "labels_file" in raw:
        raw["labels"] = _read_labels(_inside(path, "labels_file", raw.pop("labels_file")), path)
    if "onnx" in raw:
        raw["onnx"] = str(_inside(path, "onnx", raw["onnx"]))
    return raw


def _check_table(path: Path, where: str, table, allowed: dict[str, type]) -> None:
    """Unknown keys, and each key's type (an integer is a number; a boolean is never one)."""
    if not isinstance(table, dict):
        raise ModelSourceError(f"model spec {path}: {where} must be a table, got {table!r}"[:300],
                               f"write it as {where} with key = value lines" if where != "top level" else SPEC_HINT)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ModelSourceError(f"model spec {path}: unknown key(s) {unknown} in {where}",
                               f"allowed keys there: {sorted(allowed)}")
    for key, kind in allowed.items():
        if key in table and not is_kind(table[key], kind):
            raise ModelSourceError(f"model spec {path}: {key} in {where} must be {type_name(kind)}, got "
                                   f"{table[key]!r}"[:300], SPEC_HINT)


def _check_lineage(path: Path, table: dict) -> None:
    """[derived_from]: how a derived model was made (written by `vitedge nas`); flat strings, numbers, lists."""
    for key, value in table.items():
        flat = isinstance(value, (str, int, float)) or (isinstance(value, list) and all(
            isinstance(v, (str, int, float)) for v in value))
        if not flat or len(str(value)) > 2000:
            raise ModelSourceError(f"model spec {path}: [derived_from] {key} must be a short string, number or list "
                                   f"of them, got {value!r}"[:300], SPEC_HINT)


def _inside(spec_path: Path, key: str, value: str) -> Path:
    """A file named by the spec, which must lie in the spec's folder (or below it)."""
    folder = spec_path.parent.resolve()
    target = (folder / value).resolve()
    if not target.is_relative_to(folder):
        raise ModelSourceError(f"model spec {spec_path}: {key} {value!r} lies outside the spec's folder {folder}",
                               f"put the file beside the spec (or below its folder) and name it relative to it")
    return target


def _read_labels(labels_path: Path, spec_path: Path) -> list[str]:
    where = f"model spec {spec_path}: labels_file"
    text = read_text(labels_path, where, "a UTF-8 text file beside the spec, one class name per line",
                     MAX_LABELS_BYTES)
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ModelSourceError(f"{where} {labels_path} holds no class names", "one class name per line, one line per class")
    return labels


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
                   description: str | None = None, derived_from: dict | None = None) -> str:
    """The spec file of a vitedge ViT (`config`: ViTConfig, `spec`: IOSpec) whose weights lie beside it."""
    head_fields = {"head_hidden": "hidden", "head_act": "act"}
    arch = {k: v for k, v in config.to_dict().items() if v is not None and k not in head_fields}
    head = {new: config.to_dict()[old] for old, new in head_fields.items()} if config.head_hidden else {}
    top = {"name": name, "task": spec.task, "description": description, "weights": weights,
           "weights_sha256": weights_sha256, "labels": list(spec.labels) if spec.labels else None}
    pre = {"mean": list(spec.mean), "std": list(spec.std), "crop_pct": spec.crop_pct,
           "interpolation": spec.interpolation}
    lines = [f"# {comment}"] + [f"{k} = {toml_value(v)}" for k, v in top.items() if v is not None]
    for table, entries in (("architecture", arch), ("head", head), ("preprocessing", pre),
                           ("derived_from", derived_from or {})):
        if entries:
            lines += ["", f"[{table}]"] + [f"{k} = {toml_value(v)}" for k, v in entries.items() if v is not None]
    return "\n".join(lines) + "\n"
