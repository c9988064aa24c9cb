"""Checkpoints as one safetensors file: tensors (weights, optimizer moments, RNG) plus the run's state as JSON
metadata. Nothing is pickled; writes are atomic, so an interrupted save leaves the previous checkpoint intact."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from vitedge.distill.config import CheckpointMismatchError, DistillError
from vitedge.fileio import write_bytes_atomic

CHECKPOINT = "checkpoint.safetensors"
FORMAT = "vitedge-distill-checkpoint/1"


def module_sha256(module: torch.nn.Module) -> str:
    """Hash of a module's state dict (names, shapes, dtypes and values)."""
    digest = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key} {t.dtype} {list(t.shape)}\n".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def architecture_sha256(module: torch.nn.Module) -> str:
    """Hash of a module's parameter names and shapes: its architecture, whatever its weights."""
    names = [f"{k} {list(v.shape)}" for k, v in sorted(module.state_dict().items())]
    return hashlib.sha256("\n".join(names).encode()).hexdigest()



def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    cpu = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    write_bytes_atomic(path, save(cpu, metadata=metadata))


def save_checkpoint(path: Path, trainee: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict,
                    fmt: str = FORMAT) -> None:
    """Weights of the trainee (student + projector), AdamW moments, RNG state; `state` (JSON) as metadata."""
    tensors = {f"model.{k}": v for k, v in trainee.state_dict().items()}
    for index, slots in optimizer.state_dict()["state"].items():
        tensors.update({f"optim.{index}.{name}": value for name, value in slots.items() if torch.is_tensor(value)})
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    save_tensors(path, tensors, {"format": fmt, "state": json.dumps(state)})


def read_checkpoint(path: Path, fmt: str = FORMAT) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), "pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DistillError(f"checkpoint {path} is unreadable: {exc}", "delete it, or pass --force to start over")
    if metadata.get("format") != fmt:
        raise DistillError(f"{path} is not a {fmt} checkpoint", "pass another --out, or --force")
    return tensors, json.loads(metadata["state"])


def restore(tensors: dict[str, torch.Tensor], trainee: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Load weights, optimizer state and RNG state saved by save_checkpoint (in place)."""
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    trainee.load_state_dict(weights, strict=True)
    slots: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": optimizer.state_dict()["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])


def check_identity(path: Path, saved: dict, current: dict) -> None:
    """Refuse to resume a checkpoint whose run differs (config, data, teacher, student architecture)."""
    differences = []
    old_cfg, new_cfg = saved.get("config", {}), current["config"]
    changed = [f"{k} {old_cfg.get(k)!r} -> {new_cfg.get(k)!r}" for k in sorted(set(old_cfg) | set(new_cfg))
               if old_cfg.get(k) != new_cfg.get(k)]
    if changed:
        differences.append("config: " + ", ".join(changed))
    labels = {"train": "training data", "eval": "evaluation data", "teacher": "teacher weights",
              "student": "student architecture", "spec": "preprocessing / input spec"}
    differences += [f"{label} differ" for key, label in labels.items() if saved.get(key) != current[key]]
    if differences:
        raise CheckpointMismatchError(
            f"the checkpoint {path} was made by a different run: " + "; ".join(differences),
            "pass --force (resume=False) to start over there, or choose another --out")
