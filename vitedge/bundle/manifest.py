"""`manifest.json` of a bundle: schema `vitedge.bundle`, version 1.

    {
      "schema": "vitedge.bundle", "version": 1, "created": ISO-8601 UTC,
      "target": {name, title, kind, runtime, formats, precisions, latency, latency_fallback, threads, notes},
      "model": artifacts.json "model" without "io": {id, name, source, weights, weights_sha256, parameters, ...},
      "data": {"parity": artifacts.json "data", "evaluation": validate's "data"}    # each with sha256 and count
      "input": {name, shape, dtype, layout}, "output": {name, shape, dtype, meaning}  # of the primary artifact
      "preprocessing": {color, input_size, resize, crop_pct, interpolation, scale, mean, std, steps: [text]},
      "labels": [class names] | null,
      "primary": artifact id, "primary_reason": text,
      "artifacts": [{                                   # primary first, then alternatives
          "id", "role": "primary" | "alternative", "format", "precision", "scheme",
          "path", "source_path" (as in artifacts.json), "sha256", "bytes",
          "files": [{path, sha256, bytes}],                             # paths: in the bundle folder
          "inputs", "outputs",                                         # as recorded in artifacts.json
          "runtime_options": {} | {"INFERENCE_PRECISION_HINT": "f32" | "bf16"},  # OpenVINO compile options
          "lineage": [{"stage": "source", ...}, {"stage": "export", ...}, {"stage": "quantize", ...}],
          "validation": {verdict, runtime, executed_precision, metrics, gates},    # copied from report.json
          "latency": {target, latency_ms_p50, latency_ms_p90, throughput_per_s, obtained, estimated, basis,
                      details, speedup_vs_baseline}                             # copied from bench.json
      }],
      "excluded": [{id, path, format, precision, reason}],   # runnable on the target but not shipped
      "baseline": bench.json "baseline" (SAM3 on T4: latency_ms, note),
      "gates": validate's gates, "tool_versions": {"artifacts", "validation", "bundle"},
      "inputs": {"artifacts" | "validation" | "bench": {path, sha256}},     # the documents this was made from
      "files": [{path, sha256, bytes}],     # every file of the bundle except manifest.json
      "manifest_sha256": sha256 of this document without this key (canonical JSON: sorted keys, no spaces)
    }

Figures are copied from the documents, never recomputed: a manifest's metrics, gate verdicts, latencies and
speed-ups equal those of validate's report.json and bench.json for the same artifact.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import PurePosixPath

from vitedge.artifact import Artifact
from vitedge.bundle.inputs import Inputs
from vitedge.bundle.select import Candidate, Plan
from vitedge.fileio import sha256_json
from vitedge.versions import tool_versions

SCHEMA, VERSION = "vitedge.bundle", 1
MODELS_DIR = "models"
BENCH_KEYS = ("target", "latency_ms_p50", "latency_ms_p90", "throughput_per_s", "obtained", "basis", "details",
              "speedup_vs_baseline")
VALIDATION_KEYS = ("verdict", "runtime", "executed_precision", "metrics", "gates")


def bundle_path(artifact_path: str) -> str:
    """Where an artifact file lies inside a bundle: models/<file name> (artifact file names are unique per model:
    `<model>.onnx`, `<model>_int8.onnx`, ...; their folders, e.g. `../export-<key>/`, mean nothing on a device)."""
    return f"{MODELS_DIR}/{PurePosixPath(artifact_path).name}"


def preprocessing(io: dict) -> dict:
    """The IOSpec's eval transform, as data and as steps an app developer can follow."""
    channels, height, width = io["input_size"]
    resize = [math.floor(height / io["crop_pct"]), math.floor(width / io["crop_pct"])]
    color = "L" if channels == 1 else "RGB"
    steps = [f"decode the image and convert it to {'grayscale (L, ITU-R 601-2 luma)' if color == 'L' else 'RGB'}",
             f"resize the shorter side to {resize[0]} ({io['interpolation']}), keeping the aspect ratio"
             if resize[0] == resize[1] else f"resize to cover {resize[0]} x {resize[1]} ({io['interpolation']})",
             f"centre-crop {height} x {width}",
             "scale to [0, 1]: x / 255 (float32)",
             f"normalize per channel: (x - mean) / std with mean {io['mean']} and std {io['std']}",
             f"lay out as NCHW: 1 x {channels} x {height} x {width}"]
    return {"color": color, "input_size": list(io["input_size"]), "resize": resize, "crop_pct": io["crop_pct"],
            "interpolation": io["interpolation"], "scale": 1 / 255, "mean": list(io["mean"]), "std": list(io["std"]),
            "layout": "NCHW", "steps": steps}


def _step(artifact: Artifact) -> dict:
    step = {"stage": artifact.stage, "id": artifact.id, "parent": artifact.parent, "format": artifact.format,
            "precision": artifact.precision, "sha256": artifact.sha256, "config": artifact.config}
    if artifact.parity:
        step["parity"] = artifact.parity
    if artifact.quantization:
        q = dict(artifact.quantization)
        q["calibration"] = {k: v for k, v in (q.get("calibration") or {}).items() if k != "image_hashes"}
        step["quantization"] = q
    if artifact.accuracy:
        step["accuracy"] = artifact.accuracy
    return step


def lineage(inputs: Inputs, artifact: Artifact) -> list[dict]:
    """From the source model through every stage that made the artifact, oldest first."""
    by_id, steps, node, seen = inputs.by_id(), [], artifact, set()
    while node is not None and node.id not in seen:
        seen.add(node.id)
        steps.append(_step(node))
        node = by_id.get(node.parent)
    model = inputs.quant["model"]
    source = {"stage": "source", "id": model["id"], "name": model["name"], "source": model["source"],
              "weights_sha256": model.get("weights_sha256"), "parameters": model.get("parameters")}
    return [source, *reversed(steps)]


def artifact_entry(inputs: Inputs, candidate: Candidate, role: str) -> dict:
    a, row = candidate.artifact, candidate.row
    files = [{**f, "path": bundle_path(f["path"])} for f in a.files]
    latency = {k: row.get(k) for k in BENCH_KEYS}
    latency["estimated"] = row.get("obtained") == "estimated"
    return {"id": a.id, "role": role, "format": a.format, "precision": a.precision, "scheme": row.get("scheme"),
            "path": bundle_path(a.path), "source_path": a.path, "sha256": a.sha256, "bytes": a.bytes, "files": files,
            "inputs": a.inputs, "outputs": a.outputs, "lineage": lineage(inputs, a),
            "validation": {k: candidate.validation.get(k) for k in VALIDATION_KEYS}, "latency": latency,
            "runtime_options": runtime_options(a.format, a.precision)}


def runtime_options(fmt: str, precision: str) -> dict:
    """What run.py passes to the runtime so it computes as validated (OpenVINO: INFERENCE_PRECISION_HINT)."""
    if fmt != "openvino":
        return {}
    from vitedge.export.openvino import execution_hint

    hint = execution_hint(precision)
    return {"INFERENCE_PRECISION_HINT": hint} if hint else {}


OUTPUT_MEANINGS = {"image-classification": "logits, one per label (softmax gives probabilities)",
                   "feature-extraction": "an embedding vector per image",
                   "dense-prediction": "a map per image (batch, channels, height, width): run.py saves it as .npy "
                                       "and a PNG (channel argmax, or the one channel scaled to 0-255)"}


def _io_entry(values: list[dict], **extra) -> dict:
    return {**(values[0] if values else {}), **extra}


def build_manifest(inputs: Inputs, plan: Plan) -> dict:
    """The manifest without `files` and `manifest_sha256` (see `seal`)."""
    t, model, primary = plan.target, inputs.quant["model"], plan.primary.artifact
    io = model["io"]
    return {
        "schema": SCHEMA, "version": VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "target": {"name": t.name, "title": t.title, "kind": t.kind, "runtime": t.runtime,
                   "formats": list(t.formats), "precisions": list(t.precisions), "latency": t.latency,
                   "latency_fallback": t.latency_fallback, "threads": t.threads, "notes": t.notes},
        "model": {k: v for k, v in model.items() if k != "io"},
        "data": {"parity": inputs.quant.get("data"), "evaluation": inputs.validation.get("data")},
        "input": _io_entry(primary.inputs, layout="NCHW"),
        "output": _io_entry(primary.outputs, meaning=OUTPUT_MEANINGS[io.get("task", "image-classification")]),
        "task": io.get("task", "image-classification"),
        "preprocessing": preprocessing(io), "labels": io.get("labels"),
        "primary": primary.id, "primary_reason": plan.primary_reason,
        "artifacts": [artifact_entry(inputs, c, "primary" if i == 0 else "alternative")
                      for i, c in enumerate(plan.shipped)],
        "excluded": plan.excluded, "baseline": inputs.bench.get("baseline"), "gates": inputs.validation.get("gates"),
        "tool_versions": {"artifacts": inputs.quant.get("tool_versions"),
                          "validation": inputs.validation.get("tool_versions"), "bundle": tool_versions()},
        "inputs": inputs.sources,
    }


def manifest_hash(manifest: dict) -> str:
    return sha256_json({k: v for k, v in manifest.items() if k != "manifest_sha256"})


def seal(manifest: dict, files: list[dict]) -> dict:
    """Add the file list and the manifest's own hash (which `verify_bundle` recomputes)."""
    sealed = {**manifest, "files": sorted(files, key=lambda f: f["path"])}
    sealed["manifest_sha256"] = manifest_hash(sealed)
    return sealed
