"""distill.json: what was trained, on what, and how well; written with the student's files."""
from __future__ import annotations

from pathlib import Path

import torch

from vitedge.data.dataset import Dataset
from vitedge.distill.config import DistillConfig, DistillResult
from vitedge.distill.output import write_outputs
from vitedge.models.spec import IOSpec
from vitedge.versions import tool_versions


def final_report(out: Path, result: DistillResult, cfg: DistillConfig, spec: IOSpec, identity: dict, train: Dataset,
                 eval_data: Dataset | None, teacher: torch.nn.Module, name: str, meta: dict) -> dict[str, str]:
    """Write student.safetensors, student.toml and distill.json into `out`."""
    meta = dict(meta)
    epochs = [h["seconds"] for h in result.history]
    student = result.student
    report = {
        "stage": "distill",
        "config": cfg.to_dict(),
        "teacher": {"sha256": identity["teacher"], "parameters": _count(teacher), **meta.pop("teacher", {})},
        "student": {"name": name, "parameters": _count(student),
                    "architecture": student.cfg.to_dict() if hasattr(student, "cfg") else None,
                    **meta.pop("student", {})},
        "data": {"train": train.describe(), "eval": eval_data.describe() if eval_data is not None else None},
        "teacher_top1": result.teacher_top1,
        "eval_top1": result.eval_top1,
        "agreement": result.agreement,
        "steps": result.steps,
        "seconds": result.seconds,
        "seconds_per_epoch": sum(epochs) / len(epochs) if epochs else None,
        "world_size": result.world_size,
        "resumed_from": result.resumed_from,
        "history": result.history,
        "io": spec.to_dict(),
        "versions": tool_versions(("vitedge", "torch", "numpy", "safetensors")),
        **meta,
    }
    return write_outputs(out, student, spec, name, report)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
