"""The table `vitedge quantize` prints: every format x precision with accuracy, drop, size and float layers."""
from __future__ import annotations

from vitedge.artifact import Artifact
from vitedge.console import human_bytes, table

HEADERS = ["format", "precision", "scheme", "file", "size", "x smaller", "top-1", "drop pp", "agree", "cos (min)",
           "float groups", "seconds"]


def _scheme(a: Artifact) -> str:
    if not a.quantization:
        return "-"
    s = a.quantization["scheme"]
    if s["precision"] == "fp16":
        return "fp16 weights"
    if s["precision"] == "bf16":
        return "fp16 weights, bf16 compute"
    return f"{s['mode']}{'' if s['per_channel'] else ' per-tensor'}" + (
        f" {s['calibration']}" if a.quantization.get("calibration") else "")


def quantize_table(artifacts: list[Artifact]) -> str:
    fp32_bytes = {a.id: a.bytes for a in artifacts if a.stage == "export"}
    rows = []
    for a in artifacts:
        acc = a.accuracy or {}
        q = a.quantization or {}
        ratio = fp32_bytes.get(a.parent if a.stage == "quantize" else a.id, a.bytes) / a.bytes
        rows.append([a.format, a.precision, _scheme(a), a.path, human_bytes(a.bytes), f"{ratio:.2f}",
                     "-" if acc.get("top1") is None else f"{100 * acc['top1']:.2f}%",
                     "-" if acc.get("drop_pp") is None else f"{acc['drop_pp']:+.2f}",
                     f"{100 * acc['top1_agreement']:.2f}%" if acc else "-",
                     f"{acc['min_cosine']:.5f}" if acc else "-",
                     ",".join(q.get("float_groups", [])) or "-",
                     f"{a.export_seconds:.1f}" if a.export_seconds is not None else "-"])
    return table(HEADERS, rows)
