"""nas.json (schema `vitedge.nas` v2, documented in README "nas.json") and the table `vitedge nas` prints."""
from __future__ import annotations

from pathlib import Path

from vitedge.console import table
from vitedge.fileio import write_json_atomic
from vitedge.nas.latency import PRECISION
from vitedge.nas.run import NASConfig, NASResult
from vitedge.nas.search import TargetPick, best_at
from vitedge.paths import safe_name

SCHEMA, VERSION = "vitedge.nas", 2
MILESTONES = (1.5, 2.0)  # the front is also summarised at these speed-ups


def _milestones(pick: TargetPick, result: NASResult) -> dict:
    out = {}
    for speedup in MILESTONES:
        entry = best_at(pick, result.entries, speedup)
        out[f"{speedup:g}x"] = None if entry is None else {
            "id": entry.sub.key, "label": entry.sub.label(), "speedup": entry.timings[pick.target].speedup,
            "latency_ms": entry.timings[pick.target].ms, "top1": entry.full.get("top1"),
            "drop_pp": entry.full.get("drop_pp"), "agreement": entry.full["agreement"]}
    return out


def _target(pick: TargetPick, result: NASResult) -> dict:
    t = pick.target
    return {**pick.to_dict(), "variant": result.variants.get(t), "plot": f"{safe_name(t, 'the target name')}.png",
            "space": result.spaces[t].to_dict(), "knob_effects": result.knob_effects[t],
            "latency_model": result.latency_models[t], "best_at": _milestones(pick, result),
            "summary": summary_line(pick)}


def summary_line(pick: TargetPick) -> str:
    """'2.10x faster than the parent at -0.40 pp' (or why the parent stays)."""
    if pick.pick is None:
        return f"{pick.target}: the parent stays ({pick.reason})"
    timing, f = pick.pick.timings[pick.target], pick.pick.full
    drop = f" at {-f['drop_pp']:+.2f} pp top-1" if f.get("drop_pp") is not None else ""
    weights = " (the parent's own weights, zero-shot)" if pick.pick.weights == "pretrained" else ""
    return (f"{pick.target}: {timing.speedup:.2f}x faster than the parent ({timing.obtained}){drop}, "
            f"{f['agreement']:.1f}% agreement: {pick.pick.sub.label()}{weights}")


def nas_document(result: NASResult, config: NASConfig) -> dict:
    parent_entry = result.picks[0].parent if result.picks else None
    return {
        "schema": SCHEMA, "version": VERSION, "seconds": round(result.seconds, 1),
        "phase_seconds": result.phase_seconds,
        "parent": {**result.parent.describe(), "search": None if parent_entry is None else parent_entry.full,
                   "latency": {} if parent_entry is None else {t: v.to_dict()
                                                               for t, v in parent_entry.timings.items()}},
        "config": config.to_dict(),
        "data": result.data,
        "knobs": {"space": result.space.to_dict(), "importance": result.importance.to_dict()},
        "training": result.training.to_dict(),
        "latency": {"precision": PRECISION, "x86-cpu": "measured here: ONNX Runtime FP32, interleaved rounds with the "
                    "parent in one process", "others": "roofline estimate from each configuration's exported ONNX "
                    "graph x the parent's measured / estimated ratio on this host"},
        "targets": {p.target: _target(p, result) for p in result.picks},
        "configurations": [e.to_dict() for e in result.entries],
    }


def write_nas_json(result: NASResult, config: NASConfig) -> Path:
    path = Path(result.out) / "nas.json"
    write_json_atomic(path, nas_document(result, config))
    return path


def nas_table(result: NASResult) -> str:
    """Per target: its front (latency, speed-up, top-1 / drop, agreement), the pick marked, and the summary line."""
    blocks = []
    for p in result.picks:
        t = p.target
        rows = []
        for e in p.front:
            f, timing = e.full, e.timings[t]
            mark = "*" if p.pick is not None and e.sub == p.pick.sub else ("parent" if e.sub == p.parent.sub else "")
            top1 = "-" if f.get("top1") is None else f"{f['top1']:.2f} ({-f['drop_pp']:+.2f})"
            rows.append([mark, e.sub.key, e.sub.label(), f"{timing.ms:.4g}", f"{timing.speedup:.2f}x", top1,
                         f"{f['agreement']:.1f}"])
        budget = f", budget {p.budget_ms:.4g} ms" if p.budget_ms is not None else ""
        head = f"{t} ({p.parent.timings[t].obtained}{budget}): front of {len(p.front)}"
        body = table(["", "id", "configuration", "ms", "speed-up", "top-1 % (pp)", "agree %"], rows)
        blocks.append("\n".join([head, body, summary_line(p)]))
    return "\n\n".join(blocks)
