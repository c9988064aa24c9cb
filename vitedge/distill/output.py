"""A finished run's folder: student.safetensors, student.toml (a model spec any command loads) and distill.json."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from vitedge.distill.checkpoint import save_tensors
from vitedge.fileio import sha256_file, write_json_atomic, write_text_atomic
from vitedge.models.spec import IOSpec
from vitedge.models.vit import VisionTransformer

WEIGHTS, SPEC, REPORT = "student.safetensors", "student.toml", "distill.json"


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def spec_toml(student: VisionTransformer, spec: IOSpec, name: str, weights_sha256: str | None = None) -> str:
    """The model spec file (vitedge.models.specfile format) of a distilled vitedge ViT."""
    arch = {k: v for k, v in student.cfg.to_dict().items() if v is not None and k not in ("head_hidden", "head_act")}
    top = {"name": name, "task": spec.task, "weights": WEIGHTS}
    if weights_sha256:
        top["weights_sha256"] = weights_sha256
    if spec.labels:
        top["labels"] = list(spec.labels)
    lines = [f"# Distilled by `vitedge distill`; see {REPORT} beside this file."]
    lines += [f"{k} = {toml_value(v)}" for k, v in top.items()]
    lines += ["", "[architecture]"] + [f"{k} = {toml_value(v)}" for k, v in arch.items()]
    if student.cfg.head_hidden:
        lines += ["", "[head]", f"hidden = {toml_value(student.cfg.head_hidden)}",
                  f"act = {toml_value(student.cfg.head_act)}"]
    pre = {"mean": spec.mean, "std": spec.std, "crop_pct": spec.crop_pct, "interpolation": spec.interpolation}
    lines += ["", "[preprocessing]"] + [f"{k} = {toml_value(v)}" for k, v in pre.items()]
    return "\n".join(lines) + "\n"


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
