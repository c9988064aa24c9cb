"""Typed checks for the documents vitedge reads back or a user writes: one way to say what is wrong and where.

Every reader (artifacts.json, bench.json, validate's report.json, gates, specs) checks a value with these helpers,
so every refusal names the file, the place in it (`artifacts[2]`), the key, what was expected and what was found.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from vitedge.errors import VitedgeError

TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
              dict: "a table / object"}


class SchemaError(VitedgeError):
    """A document or value that does not have the shape vitedge expects."""


def type_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(TYPE_NAMES.get(k, k.__name__) for k in kinds if k is not type(None))


def is_kind(value, kind) -> bool:
    """isinstance, except that a boolean is never a number and an integer is a number (float)."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool):
        return bool in kinds
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


def require(doc: dict, key: str, kind, where: str, hint: str | None = None, optional: bool = False):
    """`doc[key]`, checked to be of `kind` (a type or a tuple of types); absent or None only when `optional`."""
    if not isinstance(doc, dict):
        raise SchemaError(f"{where} must be {type_name(dict)}, got {_shown(doc)}", hint)
    value = doc.get(key)
    if value is None:
        if optional:
            return None
        raise SchemaError(f"{where}: key {key!r} is missing" if key not in doc else f"{where}: {key} is null",
                          hint)
    if not is_kind(value, kind):
        raise SchemaError(f"{where}: {key} must be {type_name(kind)}, got {_shown(value)}", hint)
    return value


def number(value, where: str, low: float | None = None, high: float | None = None, integer: bool = False,
           low_open: bool = False, hint: str | None = None):
    """A finite number (an integer when `integer`) in [low, high] (low excluded when `low_open`)."""
    kind = int if integer else float
    if not is_kind(value, kind) or (not integer and not math.isfinite(value)):
        infinite = is_kind(value, float) and not math.isfinite(value)
        raise SchemaError(f"{where} must be {'an integer' if integer else 'a number'}{_range_text(low, high, low_open)}"
                          f", got {_shown(value)}{' (nan and inf are not allowed)' if infinite else ''}", hint)
    if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
        raise SchemaError(f"{where} = {value!r} is out of range: it must be{_range_text(low, high, low_open)}", hint)
    return value


def _range_text(low, high, low_open: bool) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f" {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f" <= {high:g}"
    return f" {'above' if low_open else 'from'} {low:g} {'and at most' if low_open else 'to'} {high:g}"


def choice(value, allowed, where: str, hint: str | None = None) -> str:
    """One of `allowed` (strings); the message lists them."""
    if not isinstance(value, str) or value not in allowed:
        raise SchemaError(f"{where} = {_shown(value)} is not allowed; allowed values: {', '.join(allowed)}", hint)
    return value


def string_list(value, where: str, allowed=None, empty: bool = False, hint: str | None = None) -> list[str]:
    """A list of strings (each one of `allowed` when given), not empty unless `empty`."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SchemaError(f"{where} must be a list of strings, got {_shown(value)}",
                          hint or (f"e.g. {json.dumps(list(allowed)[:2])}" if allowed else None))
    if not value and not empty:
        raise SchemaError(f"{where} is empty", hint or "list at least one value")
    for v in value:
        if allowed is not None:
            choice(v, allowed, where, hint)
    return value


def no_unknown_keys(doc: dict, allowed, where: str, hint: str | None = None) -> None:
    unknown = sorted(set(doc) - set(allowed))
    if unknown:
        raise SchemaError(f"{where}: unknown key(s) {unknown}", hint or f"allowed keys: {', '.join(sorted(allowed))}")


def read_json_object(path: Path, what: str, hint: str) -> dict:
    """A JSON file whose top level is an object; unreadable, non-UTF-8, malformed or other JSON is refused."""
    from vitedge.readfile import read_text

    text = read_text(path, what, hint)
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise SchemaError(f"{what} {path} is not valid JSON: {str(exc)[:200]}", hint) from None
    if not isinstance(doc, dict):
        raise SchemaError(f"{what} {path} must hold a JSON object at the top level, got {_shown(doc)}", hint)
    return doc


def _no_constant(name: str):
    """NaN / Infinity are not JSON (Python writes them; no vitedge document holds them)."""
    raise ValueError(f"{name} is not a JSON number")


def header(doc: dict, path: Path, schema: str, version: int, hint: str) -> None:
    """The `schema` / `version` pair every vitedge document starts with."""
    if doc.get("schema") != schema:
        raise SchemaError(f"{path} is not a {schema} document (schema {_shown(doc.get('schema'))})", hint)
    if doc.get("version") != version or isinstance(doc.get("version"), bool):
        raise SchemaError(f"{path}: version {_shown(doc.get('version'))} is not supported (this vitedge reads "
                          f"version {version})", hint)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --- artifacts.json --------------------------------------------------------------------------------------------

ARTIFACT_FORMATS = ("onnx", "openvino", "tflite")  # the formats an artifact record may hold
ARTIFACT_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
DEFAULT_SMOOTHQUANT = 0.8  # static INT8's SmoothQuant alpha: measured on the real DeiT-Tiny (quantize/smooth.py)
ARTIFACT_STAGES = ("export", "quantize")  # the stages that write artifacts
ARTIFACTS_HINT = ("re-run the stage that wrote it (vitedge export or quantize, with --force) instead of editing it "
                  "by hand")
ARTIFACT_KEYS = {"id": str, "format": str, "precision": str, "path": str, "sha256": str, "bytes": int, "files": list,
                 "stage": str, "parent": str, "config": dict}  # required
ARTIFACT_OPTIONAL = {"inputs": list, "outputs": list, "export_seconds": float, "parity": dict, "quantization": dict,
                     "accuracy": dict}
MODEL_KEYS = {"id": str, "name": str, "source": str, "io": dict}  # required; weights etc. are optional
MODEL_OPTIONAL = {"weights": str, "weights_sha256": str, "parameters": int, "architecture": dict}


def sha256_text(value, where: str, hint: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise SchemaError(f"{where} must be a sha256 (64 lowercase hex digits), got {_shown(value)}", hint)
    return value


def check_artifacts_doc(doc: dict, path: Path) -> None:
    """Every key of artifacts.json a stage reads, with its type (see vitedge.artifact for the schema)."""
    where = f"artifacts file {path}"
    check_model_doc(require(doc, "model", dict, where, ARTIFACTS_HINT), f"{where}, model")
    require(doc, "data", dict, where, ARTIFACTS_HINT, optional=True)
    require(doc, "tool_versions", dict, where, ARTIFACTS_HINT, optional=True)
    entries = require(doc, "artifacts", list, where, ARTIFACTS_HINT)
    for index, entry in enumerate(entries):
        check_artifact_entry(entry, f"{where}, artifacts[{index}]")
    for key in ("id", "path"):
        values = [entry[key] for entry in entries]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise SchemaError(f"{where}: artifacts {key} {repeated[0]!r} is recorded more than once", ARTIFACTS_HINT)


def check_model_doc(model: dict, where: str) -> None:
    """The keys stages read (other keys are descriptive and left alone)."""
    for key, kind in MODEL_KEYS.items():
        require(model, key, kind, where, ARTIFACTS_HINT)
    for key, kind in MODEL_OPTIONAL.items():
        require(model, key, kind, where, ARTIFACTS_HINT, optional=True)
    from vitedge.models.spec import IOSpec

    try:
        IOSpec.from_dict(model["io"])
    except ValueError as exc:
        raise SchemaError(f"{where}, io: {exc}", ARTIFACTS_HINT) from None


def check_artifact_entry(entry, where: str) -> None:
    if not isinstance(entry, dict):
        raise SchemaError(f"{where} must be {type_name(dict)}, got {_shown(entry)}", ARTIFACTS_HINT)
    no_unknown_keys(entry, set(ARTIFACT_KEYS) | set(ARTIFACT_OPTIONAL), where, ARTIFACTS_HINT)
    for key, kind in ARTIFACT_KEYS.items():
        require(entry, key, kind, where, ARTIFACTS_HINT)
    for key, kind in ARTIFACT_OPTIONAL.items():
        require(entry, key, kind, where, ARTIFACTS_HINT, optional=True)
    choice(entry["format"], ARTIFACT_FORMATS, f"{where}, format", ARTIFACTS_HINT)
    choice(entry["precision"], ARTIFACT_PRECISIONS, f"{where}, precision", ARTIFACTS_HINT)
    choice(entry["stage"], ARTIFACT_STAGES, f"{where}, stage", ARTIFACTS_HINT)
    sha256_text(entry["sha256"], f"{where}, sha256", ARTIFACTS_HINT)
    number(entry["bytes"], f"{where}, bytes", low=0, integer=True, hint=ARTIFACTS_HINT)
    if not entry["files"]:
        raise SchemaError(f"{where}, files is empty: an artifact has at least its main file", ARTIFACTS_HINT)
    for i, file in enumerate(entry["files"]):
        _check_file_entry(file, f"{where}, files[{i}]")
    main = entry["files"][0]
    if (main["path"], main["sha256"]) != (entry["path"], entry["sha256"]):
        raise SchemaError(f"{where}: path / sha256 are not those of files[0], the artifact's main file",
                          ARTIFACTS_HINT)
    for key in ("inputs", "outputs"):
        for i, io in enumerate(entry.get(key) or []):
            _check_io_entry(io, f"{where}, {key}[{i}]")
    _check_quantization(entry.get("quantization"), f"{where}, quantization")
    if entry.get("parity") is not None:  # stages act on parity.passed: "no" must not read as passed
        require(entry["parity"], "passed", bool, f"{where}, parity", ARTIFACTS_HINT, optional=True)


def _check_file_entry(file, where: str) -> None:
    if not isinstance(file, dict):
        raise SchemaError(f"{where} must be {type_name(dict)} with path, sha256 and bytes, got {_shown(file)}",
                          ARTIFACTS_HINT)
    no_unknown_keys(file, ("path", "sha256", "bytes"), where, ARTIFACTS_HINT)
    if not require(file, "path", str, where, ARTIFACTS_HINT):
        raise SchemaError(f"{where}: path is empty", ARTIFACTS_HINT)
    sha256_text(require(file, "sha256", str, where, ARTIFACTS_HINT), f"{where}, sha256", ARTIFACTS_HINT)
    number(require(file, "bytes", int, where, ARTIFACTS_HINT), f"{where}, bytes", low=0, integer=True,
           hint=ARTIFACTS_HINT)


def _check_io_entry(io, where: str) -> None:
    require(io, "name", str, where, ARTIFACTS_HINT)
    shape = require(io, "shape", list, where, ARTIFACTS_HINT)
    if not all(d is None or isinstance(d, str) or is_kind(d, int) for d in shape):
        raise SchemaError(f"{where}, shape must list integers (null or a name for a dynamic size), got "
                          f"{_shown(shape)}", ARTIFACTS_HINT)


def _check_quantization(q: dict | None, where: str) -> None:
    if q is None:
        return
    scheme = require(q, "scheme", dict, where, ARTIFACTS_HINT)
    choice(require(scheme, "precision", str, f"{where}, scheme", ARTIFACTS_HINT), ARTIFACT_PRECISIONS,
           f"{where}, scheme, precision", ARTIFACTS_HINT)
    require(scheme, "mode", str, f"{where}, scheme", ARTIFACTS_HINT)
    calibration = require(q, "calibration", dict, where, ARTIFACTS_HINT, optional=True)
    if calibration is not None:
        require(calibration, "image_hashes", list, f"{where}, calibration", ARTIFACTS_HINT, optional=True)
    require(q, "float_groups", list, where, ARTIFACTS_HINT, optional=True)


# --- bench.json and validate's report.json ----------------------------------------------------------------------

BENCH_HINT = "re-run `vitedge bench ARTIFACTS --target ... --out DIR --force` instead of editing bench.json by hand"
VALIDATION_HINT = "re-run `vitedge validate ARTIFACTS --report DIR --force` instead of editing report.json by hand"
OBTAINED = ("measured here", "measured on device", "estimated")
# bench.json row key -> type; every key is present (None allowed where the type is a tuple with NoneType)
NONE = type(None)
BENCH_ROW = {"target": str, "format": str, "precision": str, "scheme": str, "path": str, "bytes": int,
             "top1": (float, NONE), "drop_pp": (float, NONE), "latency_ms_p50": (float, NONE),
             "latency_ms_p90": (float, NONE), "throughput_per_s": (float, NONE), "obtained": str, "basis": str,
             "speedup_vs_baseline": (float, NONE), "details": dict}
VALIDATED_ENTRY = {"path": str, "sha256": str, "format": str, "precision": str, "verdict": str, "metrics": dict,
                   "gates": list}


def read_document(path: Path, kind: str) -> dict:
    """bench.json (`kind` "bench") or validate's report.json ("validate"), read and checked key by key."""
    hint = BENCH_HINT if kind == "bench" else VALIDATION_HINT
    doc = read_json_object(path, f"{kind} document", hint)
    header(doc, path, f"vitedge.{kind}", 1, hint)
    (check_bench_doc if kind == "bench" else check_validation_doc)(doc, Path(path))
    return doc


def _present(doc: dict, keys, where: str, hint: str) -> None:
    missing = [k for k in keys if k not in doc]
    if missing:
        raise SchemaError(f"{where}: key(s) {missing} missing", hint)


def check_bench_doc(doc: dict, path: Path) -> None:
    where = f"bench file {path}"
    baseline = require(doc, "baseline", dict, where, BENCH_HINT)
    number(require(baseline, "latency_ms", float, f"{where}, baseline", BENCH_HINT), f"{where}, baseline latency_ms",
           0, low_open=True, hint=BENCH_HINT)
    require(doc, "device_scripts", list, where, BENCH_HINT, optional=True)
    host = require(doc, "host", dict, where, BENCH_HINT, optional=True)  # the host profile as bench detected it
    if host:
        for key in ("target", "title", "notes"):
            require(host, key, str, f"{where}, host", BENCH_HINT)
    for index, row in enumerate(require(doc, "rows", list, where, BENCH_HINT)):
        check_bench_row(row, f"{where}, rows[{index}]")


def check_bench_row(row, where: str) -> None:
    if not isinstance(row, dict):
        raise SchemaError(f"{where} must be {type_name(dict)}, got {_shown(row)}", BENCH_HINT)
    no_unknown_keys(row, BENCH_ROW, where, BENCH_HINT)
    _present(row, BENCH_ROW, where, BENCH_HINT)
    for key, kind in BENCH_ROW.items():
        value = require(row, key, kind, where, BENCH_HINT, optional=isinstance(kind, tuple))
        if isinstance(value, (int, float)) and key != "bytes":
            number(value, f"{where}, {key}", 0 if key in ("top1", "latency_ms_p50", "latency_ms_p90") else None,
                   hint=BENCH_HINT)
    number(row["bytes"], f"{where}, bytes", 0, integer=True, hint=BENCH_HINT)
    choice(row["format"], ARTIFACT_FORMATS, f"{where}, format", BENCH_HINT)
    choice(row["precision"], ARTIFACT_PRECISIONS, f"{where}, precision", BENCH_HINT)
    choice(row["obtained"], OBTAINED, f"{where}, obtained", BENCH_HINT)


def check_validation_doc(doc: dict, path: Path) -> None:
    where = f"validate report {path}"
    choice(require(doc, "verdict", str, where, VALIDATION_HINT), ("pass", "fail"), f"{where}, verdict",
           VALIDATION_HINT)
    reference = require(doc, "reference", dict, where, VALIDATION_HINT)
    require(reference, "id", str, f"{where}, reference", VALIDATION_HINT)
    require(doc, "data", dict, where, VALIDATION_HINT, optional=True)
    for index, gate in enumerate(require(doc, "gates", list, where, VALIDATION_HINT)):
        if not isinstance(gate, dict):
            raise SchemaError(f"{where}, gates[{index}] must be {type_name(dict)}, got {_shown(gate)}",
                              VALIDATION_HINT)
    for index, entry in enumerate(require(doc, "artifacts", list, where, VALIDATION_HINT)):
        at = f"{where}, artifacts[{index}]"
        for key, kind in VALIDATED_ENTRY.items():
            require(entry, key, kind, at, VALIDATION_HINT)
        sha256_text(entry["sha256"], f"{at}, sha256", VALIDATION_HINT)
        choice(entry["verdict"], ("pass", "fail"), f"{at}, verdict", VALIDATION_HINT)
        for i, check in enumerate(entry["gates"]):
            if not isinstance(check, dict) or not isinstance(check.get("passed"), bool):
                raise SchemaError(f"{at}, gates[{i}] must be a table with passed = true / false, got "
                                  f"{_shown(check)}", VALIDATION_HINT)
