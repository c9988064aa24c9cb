"""A sub-network as a model spec file (TOML, format in vitedge/models/specfile.py) plus safetensors weights,
loadable by `vitedge.models.load_model(path)` and so by every other command."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from vitedge.fileio import sha256_file, write_text_atomic
from vitedge.models.loaded import LoadedModel

HEAD_FIELDS = {"head_hidden": "hidden", "head_act": "act"}


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")


def _table(name: str, entries: dict) -> list[str]:
    return [f"\n[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in entries.items() if v is not None]


def spec_text(model: LoadedModel, weights_name: str, weights_sha256: str, description: str) -> str:
    """The TOML spec of `model` with its weights file beside it."""
    arch = {k: v for k, v in model.config.to_dict().items() if v is not None and k not in HEAD_FIELDS}
    head = {new: model.config.to_dict()[old] for old, new in HEAD_FIELDS.items()} if model.config.head_hidden else {}
    spec = model.spec
    top = {"name": model.name, "task": spec.task, "description": description, "weights": weights_name,
           "weights_sha256": weights_sha256, "labels": list(spec.labels) if spec.labels else None}
    lines = ["# Written by `vitedge nas`: a sub-network of a pretrained ViT. Load it with vitedge.load_model(path)."]
    lines += [f"{k} = {_toml_value(v)}" for k, v in top.items() if v is not None]
    lines += _table("architecture", arch)
    if head:
        lines += _table("head", head)
    lines += _table("preprocessing", {"mean": list(spec.mean), "std": list(spec.std), "crop_pct": spec.crop_pct,
                                      "interpolation": spec.interpolation})
    return "\n".join(lines) + "\n"


def save_weights_atomic(model: LoadedModel, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
        save_file(state, tmp, metadata={"format": "pt", "producer": "vitedge nas"})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_variant(model: LoadedModel, folder: Path, stem: str, description: str) -> Path:
    """Write `folder/stem.safetensors` then `folder/stem.toml`; returns the spec path."""
    weights = Path(folder) / f"{stem}.safetensors"
    save_weights_atomic(model, weights)
    spec_path = Path(folder) / f"{stem}.toml"
    write_text_atomic(spec_path, spec_text(model, weights.name, sha256_file(weights), description))
    return spec_path
