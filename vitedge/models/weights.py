"""Read checkpoints safely (safetensors, or torch.load with weights_only=True) and match them to a ViT."""
from __future__ import annotations

from pathlib import Path

import torch

from vitedge.errors import ModelSourceError, WeightsMismatchError
from vitedge.models.hf_layout import hf_layout_name, hf_to_timm, is_hf_layout
from vitedge.readfile import check_regular

WRAPPER_KEYS = ("state_dict", "model", "model_state", "module", "ema")


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors of a checkpoint in timm's key layout, and the layout it was stored in ("timm", "hf" for Hugging Face
    ViT / DeiT, "hf-dinov2")."""
    path = Path(path)
    if path.is_dir():
        path = _weights_in_folder(path)
    if not path.exists():
        raise ModelSourceError(f"weights file not found: {path}", "check the path given to --weights / `weights`")
    check_regular(path, "weights file", "check the path given to --weights / `weights`")  # a FIFO, a device
    state = _read_safetensors(path) if path.suffix == ".safetensors" else _read_torch(path)
    state = _strip_prefix(_unwrap(state, path), "module.")
    if not is_hf_layout(state):
        return state, "timm"
    return hf_to_timm(state, str(path)), hf_layout_name(state)


def _weights_in_folder(folder: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.pth")) + sorted(folder.glob("*.pt"))
    if len(found) == 1:
        return found[0]
    raise ModelSourceError(
        f"no single weights file in folder {folder} (found {[p.name for p in found] or 'none'})",
        "pass the weights file itself",
    )


def _read_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelSourceError(f"{path} is not a readable safetensors file: {str(exc)[:300]}",
                               "the file is damaged, truncated or not safetensors; download or save it again "
                               "(safetensors.torch.save_file(model.state_dict(), ...))") from None


def _read_torch(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle refusals, truncated zip files, wrong format: all the user's to fix
        raise ModelSourceError(
            f"{path} could not be read as a PyTorch state dict with weights_only=True: {str(exc).splitlines()[0]}",
            "vitedge never unpickles arbitrary objects; save plain tensors (model.state_dict()) or use safetensors",
        ) from None


def _unwrap(state, path: Path) -> dict:
    for _ in range(3):
        if isinstance(state, dict) and not any(torch.is_tensor(v) for v in state.values()):
            inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
            if inner is None:
                break
            state = inner
    if not isinstance(state, dict) or not any(torch.is_tensor(v) for v in state.values()):
        raise ModelSourceError(f"{path} holds no state dict of tensors", "save model.state_dict()")
    return {k: v for k, v in state.items() if torch.is_tensor(v)}


FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)  # converted to float32 on load


def check_values(state: dict[str, torch.Tensor], path) -> None:
    """Weights are real numbers: an integer, boolean or complex tensor is not a trained weight, and a NaN or
    infinity makes every output NaN (parity would compare NaN with NaN)."""
    for key, tensor in state.items():
        if tensor.dtype not in FLOAT_DTYPES:
            raise WeightsMismatchError(f"weights {path}: tensor {key!r} is {str(tensor.dtype).replace('torch.', '')}, "
                                       "not a floating-point weight",
                                       "save the model's float state dict (float32, float16 or bfloat16)")
        if tensor.numel() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise WeightsMismatchError(f"weights {path}: tensor {key!r} holds {bad} NaN or infinite value(s)",
                                       "the checkpoint is damaged or comes from a diverged run; use another one")


def _strip_prefix(state: dict, prefix: str) -> dict:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load with strict key and shape matching; a mismatch lists the missing, unexpected and misshapen keys."""
    expected = module.state_dict()
    check_shapes({k: tuple(v.shape) for k, v in expected.items()}, state, source)
    check_values(state, source)
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def check_shapes(expected: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor], source: str) -> None:
    """WeightsMismatchError listing the missing, unexpected and misshapen keys of `state` against `expected`."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshapen = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k])}"
        for k in sorted(set(expected) & set(state))
        if tuple(state[k].shape) != tuple(expected[k])
    ]
    if missing or unexpected or misshapen:
        parts = [f"{label} ({len(keys)}): {_short(keys)}" for label, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", misshapen)) if keys]
        raise WeightsMismatchError(
            f"weights {source} do not match the architecture:\n    " + "\n    ".join(parts),
            "check the model name or the spec's [architecture] (embed_dim, depth, heads, head) against the checkpoint",
        )


def _short(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")
