"""A sub-network as a model spec file (TOML, format in vitedge/models/specfile.py) plus safetensors weights,
loadable by `vitedge.models.load_model(path)` and so by every other command."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vitedge.fileio import naming, raise_if_storage, sha256_file, write_text_atomic
from vitedge.lock import check_write
from vitedge.models.loaded import LoadedModel
from vitedge.models.specfile import spec_file_text
from vitedge.paths import safe_name


def spec_text(model: LoadedModel, weights_name: str, weights_sha256: str, description: str) -> str:
    """The TOML spec of `model` with its weights file beside it."""
    return spec_file_text(model.config, model.spec, model.name, weights_name, weights_sha256,
                          "Written by `vitedge nas`: a sub-network of a pretrained ViT. Load it with "
                          "vitedge.load_model(path).", description)


def save_weights_atomic(model: LoadedModel, path: Path) -> None:
    from safetensors.torch import save_file

    check_write(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise naming(exc, path) from exc
    os.close(fd)
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
        save_file(state, tmp, metadata={"format": "pt", "producer": "vitedge nas"})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, Exception):
            raise_if_storage(exc, path)
        raise


def write_variant(model: LoadedModel, folder: Path, stem: str, description: str) -> Path:
    """Write `folder/stem.safetensors` then `folder/stem.toml`; returns the spec path. `stem` (a candidate key or a
    target name) is made a safe file name first."""
    stem = safe_name(stem, "the NAS variant name")
    weights = Path(folder) / f"{stem}.safetensors"
    save_weights_atomic(model, weights)
    spec_path = Path(folder) / f"{stem}.toml"
    write_text_atomic(spec_path, spec_text(model, weights.name, sha256_file(weights), description))
    return spec_path
