"""A finished run's folder: student.safetensors, student.toml (a model spec any command loads) and distill.json."""
from __future__ import annotations

from pathlib import Path

import torch

from vitedge.distill.checkpoint import save_tensors
from vitedge.fileio import sha256_file, write_json_atomic, write_text_atomic
from vitedge.models.spec import IOSpec
from vitedge.models.specfile import spec_file_text
from vitedge.models.vit import VisionTransformer

WEIGHTS, SPEC, REPORT = "student.safetensors", "student.toml", "distill.json"


def spec_toml(student: VisionTransformer, spec: IOSpec, name: str, weights_sha256: str | None = None) -> str:
    """The model spec file (vitedge.models.specfile format) of a distilled vitedge ViT."""
    return spec_file_text(student.cfg, spec, name, WEIGHTS, weights_sha256,
                          f"Distilled by `vitedge distill`; see {REPORT} beside this file.")


def write_outputs(out: Path, student: torch.nn.Module, spec: IOSpec, name: str, report: dict) -> dict[str, str]:
    """Write the student's weights, its spec (vitedge ViTs only) and the run report; returns their paths."""
    save_tensors(out / WEIGHTS, student.state_dict(), {"format": "pt"})
    written = {"weights": str(out / WEIGHTS)}
    digest = sha256_file(out / WEIGHTS)
    if isinstance(student, VisionTransformer):
        write_text_atomic(out / SPEC, spec_toml(student, spec, name, digest))
        written["spec"] = str(out / SPEC)
    report = {**report, "student": {**report.get("student", {}), "weights": WEIGHTS, "weights_sha256": digest,
                                    "spec": SPEC if "spec" in written else None}}
    write_json_atomic(out / REPORT, report)
    written["report"] = str(out / REPORT)
    return written
