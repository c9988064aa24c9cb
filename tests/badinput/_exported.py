"""One real vit4mnist ONNX export per test session, copied for each test that edits it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

_CACHE: dict[str, Path] = {}


def exported_once(tmp_path_factory) -> Path:
    """OUT of `vitedge export vit4mnist --format onnx` (32 parity images), made once; never edit it in place."""
    if "onnx" not in _CACHE:
        from vitedge.api import export

        out = tmp_path_factory.mktemp("exported") / "export"
        export("vit4mnist", "onnx", out, samples=32, threads=1)
        _CACHE["onnx"] = out
    return _CACHE["onnx"]


def documents_once(tmp_path_factory) -> dict[str, Path]:
    """The export, validate's report folder and bench's folder (x86-cpu) made from it, once per session."""
    if "documents" not in _CACHE:
        from vitedge.api import bench, validate

        export = exported_once(tmp_path_factory)
        root = tmp_path_factory.mktemp("documents")
        validate(export, report=root / "validate", samples=32, threads=1)
        bench(export, "x86-cpu", threads=1, out=root / "bench")
        _CACHE["documents"] = {"export": export, "validate": root / "validate", "bench": root / "bench"}
    return _CACHE["documents"]


def copy_documents(documents: dict[str, Path], dest: Path) -> dict[str, Path]:
    return {name: copy_export(folder, dest / name) for name, folder in documents.items()}


def edit_json(path: Path, change) -> Path:
    """Apply `change` (a function of the document, or raw text / bytes) to the JSON file at `path`."""
    if isinstance(change, str):
        path.write_text(change)
    elif isinstance(change, bytes):
        path.write_bytes(change)
    else:
        doc = json.loads(path.read_text())
        changed = change(doc)
        path.write_text(json.dumps(doc if changed is None else changed))
    return path


def copy_export(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def edit_artifacts(folder: Path, change) -> Path:
    """Apply `change(doc)` to folder/artifacts.json (the document as a dict) and write it back."""
    path = folder / "artifacts.json"
    doc = json.loads(path.read_text())
    changed = change(doc)
    path.write_text(json.dumps(doc if changed is None else changed))
    return path


def _entry(doc):
    return doc["artifacts"][0]


def _set(getter, key, value):
    def change(doc):
        getter(doc)[key] = value
    return change


def _drop(getter, key):
    def change(doc):
        getter(doc).pop(key)
    return change


# (id, change to the document, what the message must name besides the file); the document is bytes when a str
BAD_ARTIFACTS = [
    ("not-json", "{ not json", ["not valid JSON"]),
    ("not-utf8", b"\xff\xfe{}", ["not UTF-8"]),
    ("top-level-list", lambda doc: [doc], ["JSON object"]),
    ("version-2", _set(lambda d: d, "version", 2), ["version 2", "version 1"]),
    ("other-schema", _set(lambda d: d, "schema", "vitedge.bench"), ["vitedge.artifacts"]),
    ("artifacts-not-list", _set(lambda d: d, "artifacts", {"a": 1}), ["artifacts must be a list"]),
    ("artifacts-missing", _drop(lambda d: d, "artifacts"), ["'artifacts' is missing"]),
    ("model-missing", _drop(lambda d: d, "model"), ["'model' is missing"]),
    ("model-source-int", _set(lambda d: d["model"], "source", 5), ["model", "source must be a string"]),
    ("model-io-std-zero", lambda d: d["model"]["io"].update(std=[0.0]), ["model, io", "std must be positive"]),
    ("model-io-unknown", lambda d: d["model"]["io"].update(colour="rgb"), ["model, io", "colour"]),
    ("entry-not-table", lambda d: d["artifacts"].insert(0, "x.onnx"), ["artifacts[0] must be"]),
    ("entry-missing-path", _drop(_entry, "path"), ["artifacts[0]", "'path' is missing"]),
    ("entry-missing-files", _drop(_entry, "files"), ["artifacts[0]", "'files' is missing"]),
    ("entry-missing-sha256", _drop(_entry, "sha256"), ["artifacts[0]", "'sha256' is missing"]),
    ("entry-extra-key", _set(_entry, "signature", "x"), ["artifacts[0]", "'signature'"]),
    ("entry-bytes-string", _set(_entry, "bytes", "900803"), ["artifacts[0]", "bytes must be an integer"]),
    ("entry-bytes-negative", _set(_entry, "bytes", -1), ["artifacts[0], bytes"]),
    ("entry-format-unknown", _set(_entry, "format", "onnxx"), ["artifacts[0], format", "'onnxx'"]),
    ("entry-precision-upper", _set(_entry, "precision", "FP32"), ["artifacts[0], precision", "'FP32'"]),
    ("entry-sha256-short", _set(_entry, "sha256", "abc"), ["artifacts[0], sha256"]),
    ("files-empty", _set(_entry, "files", []), ["artifacts[0], files is empty"]),
    ("files-entry-int", _set(_entry, "files", [5]), ["artifacts[0], files[0]"]),
    ("files-missing-sha", _drop(lambda d: _entry(d)["files"][0], "sha256"), ["artifacts[0], files[0]", "'sha256'"]),
    ("path-not-main-file", _set(_entry, "path", "other.onnx"), ["artifacts[0]", "files[0]"]),
    ("inputs-not-tables", _set(_entry, "inputs", [1]), ["artifacts[0], inputs[0]"]),
    ("inputs-shape-text", lambda d: _entry(d)["inputs"][0].update(shape="1x28"), ["inputs[0]", "shape"]),
    ("parity-list", _set(_entry, "parity", [1]), ["artifacts[0]", "parity"]),
    ("quantization-no-scheme", _set(_entry, "quantization", {"mode": "static"}), ["quantization", "'scheme'"]),
]


def write_bad_artifacts(folder: Path, change) -> Path:
    """folder/artifacts.json broken by `change` (a function of the document, or raw text / bytes)."""
    return edit_json(folder / "artifacts.json", change)


def _row(doc):
    return doc["rows"][0]


BAD_BENCH = [
    ("not-json", "[1, 2", ["not valid JSON"]),
    ("top-level-list", lambda doc: [doc], ["JSON object"]),
    ("version-2", _set(lambda d: d, "version", 2), ["version 2"]),
    ("rows-not-list", _set(lambda d: d, "rows", {"x86-cpu": []}), ["rows must be a list"]),
    ("baseline-missing", _drop(lambda d: d, "baseline"), ["'baseline' is missing"]),
    ("baseline-zero", lambda d: d["baseline"].update(latency_ms=0), ["baseline latency_ms"]),
    ("row-not-table", _set(lambda d: d, "rows", ["x"]), ["rows[0] must be"]),
    ("row-missing-p50", _drop(_row, "latency_ms_p50"), ["rows[0]", "latency_ms_p50"]),
    ("row-extra-key", _set(_row, "latency_ms_p99", 1.0), ["rows[0]", "latency_ms_p99"]),
    ("row-bytes-string", _set(_row, "bytes", "12"), ["rows[0]", "bytes must be an integer"]),
    ("row-p50-negative", _set(_row, "latency_ms_p50", -1.0), ["rows[0], latency_ms_p50"]),
    ("row-p50-text", _set(_row, "latency_ms_p50", "fast"), ["rows[0]", "latency_ms_p50"]),
    ("row-obtained-unknown", _set(_row, "obtained", "guessed"), ["rows[0], obtained", "'guessed'"]),
    ("row-format-unknown", _set(_row, "format", "coreml"), ["rows[0], format", "'coreml'"]),
    ("row-details-list", _set(_row, "details", []), ["rows[0]", "details"]),
]


def _validated(doc):
    return doc["artifacts"][0]


BAD_VALIDATION = [
    ("not-json", "{", ["not valid JSON"]),
    ("version-2", _set(lambda d: d, "version", 2), ["version 2"]),
    ("other-schema", _set(lambda d: d, "schema", "vitedge.bench"), ["vitedge.validate"]),
    ("verdict-upper", _set(lambda d: d, "verdict", "PASS"), ["verdict", "'PASS'"]),
    ("reference-missing", _drop(lambda d: d, "reference"), ["'reference' is missing"]),
    ("artifacts-not-list", _set(lambda d: d, "artifacts", 3), ["artifacts must be a list"]),
    ("entry-missing-sha256", _drop(_validated, "sha256"), ["artifacts[0]", "'sha256' is missing"]),
    ("entry-gates-not-list", _set(_validated, "gates", {}), ["artifacts[0]", "gates must be a list"]),
    ("entry-gate-passed-text", lambda d: _validated(d)["gates"][0].update(passed="yes"), ["artifacts[0], gates[0]"]),
    ("entry-verdict-unknown", _set(_validated, "verdict", "ok"), ["artifacts[0], verdict"]),
    ("gates-not-tables", _set(lambda d: d, "gates", [1]), ["gates[0]"]),
]
