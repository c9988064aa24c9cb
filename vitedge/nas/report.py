"""nas.json and the table `vitedge nas` prints."""
from __future__ import annotations

from pathlib import Path

from vitedge.console import table
from vitedge.fileio import write_json_atomic
from vitedge.nas.latency import PRECISION
from vitedge.nas.run import NASConfig, NASResult

SCHEMA, VERSION = "vitedge.nas", 1


def nas_document(result: NASResult, config: NASConfig, eval_source: dict | None) -> dict:
    parent, first = result.parent, result.candidates[0]
    return {
        "schema": SCHEMA, "version": VERSION, "seconds": round(result.seconds, 1),
        "parent": {**parent.describe(), "macs": first.macs, "proxy_top1": first.top1,
                   "eval_top1": result.parent_eval_top1, "candidate": first.id},
        "config": config.to_dict(),
        "data": {"nas": result.data, "eval": eval_source},
        "proxy": {"kind": result.proxy_kind, "detail": result.proxy_note},
        "latency": {"precision": PRECISION, "detail": "x86-cpu measured here (ONNX Runtime, median); other targets: "
                    "roofline estimate from the candidate's ONNX graph x its measured / estimated ratio on this host"},
        "cost": {"macs": "analytic from the ViTConfig", "graph_macs": "counted in the exported ONNX graph "
                 "(targets/estimate.py count_graph)"},
        "importance": result.importance.to_dict(),
        "space": result.space.to_dict(),
        "targets": {t.target: t.to_dict() for t in result.targets},
        "candidates": [c.to_dict() for c in result.candidates],
    }


def write_nas_json(result: NASResult, config: NASConfig, eval_source: dict | None) -> Path:
    path = Path(result.out) / "nas.json"
    write_json_atomic(path, nas_document(result, config, eval_source))
    return path


def nas_table(result: NASResult) -> str:
    """Per target, its front: id, depth, MACs, params, proxy top-1, latency; the chosen one marked."""
    by_id = {c.id: c for c in result.candidates}
    parent_macs = result.candidates[0].macs
    blocks = []
    for t in result.targets:
        rows = []
        for cid in t.front:
            c = by_id[cid]
            mark = "*" if cid == t.chosen else ("parent" if cid == result.candidates[0].id else "")
            rows.append([mark, cid, str(c.choice.depth), f"{c.macs / 1e6:.2f} M ({c.macs / parent_macs:.0%})",
                         f"{c.params / 1e3:.1f} k", f"{c.top1:.2f}", f"{c.latency[t.target].ms:.4g}"])
        budget = f", budget {t.budget_ms:g} ms" if t.budget_ms is not None else ""
        head = f"{t.target} ({t.obtained}{budget}): front of {len(t.front)}"
        chosen = (f"chosen: {t.chosen} -> {t.variant}" + (f", eval top-1 {t.eval_top1:.2f}%" if t.eval_top1 is not
                  None else "")) if t.chosen else "chosen: none within the budget"
        blocks.append("\n".join([head, table(["", "id", "depth", "MACs", "params", "top-1 %", "ms"], rows), chosen]))
    return "\n\n".join(blocks)
