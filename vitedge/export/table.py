"""The table `vitedge export` prints."""
from __future__ import annotations

from vitedge.artifact import Artifact
from vitedge.console import human_bytes, table

HEADERS = ["format", "precision", "file", "size", "max abs diff", "cosine (min)", "top-1 agree", "top-1", "export s",
           "parity"]


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def export_table(artifacts: list[Artifact], reused: list[str]) -> str:
    rows = []
    for a in artifacts:
        p = a.parity or {}
        verdict = "-" if not p else ("pass" if p["passed"] else "FAIL")
        rows.append([a.format, a.precision, a.path, human_bytes(a.bytes),
                     f"{p['max_abs_diff']:.2e}" if "max_abs_diff" in p else "-",
                     f"{p['min_cosine']:.6f}" if "min_cosine" in p else "-",
                     _pct(p.get("top1_agreement")), _pct(p.get("top1")),
                     "kept" if a.format in reused else f"{a.export_seconds:.1f}", verdict])
    return table(HEADERS, rows)
