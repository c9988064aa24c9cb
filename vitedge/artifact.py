"""Artifacts and `artifacts.json`, the file every stage reads and extends.

`OUT/artifacts.json` (schema documented in README, "artifacts.json"):

    {
      "schema": "vitedge.artifacts", "version": 1,
      "model": {name, source, id, weights_sha256, parameters, architecture, io},
      "data": {source, sha256, count, labelled},          # the images parity was measured on
      "tool_versions": {...},
      "artifacts": [                                       # one entry per artifact
        {"id", "format", "precision", "path", "sha256", "bytes", "files": [{path, sha256, bytes}],
         "stage", "parent", "config", "inputs", "outputs", "export_seconds",
         "parity": {samples, max_abs_diff, mean_cosine, min_cosine, top1_agreement, top1, reference_top1,
                    runtime, passed, tolerance},
         "quantization": {scheme: {precision, mode, per_channel, calibration, keep_float},   # quantize stage
                          calibration: {source, sha256, count, image_hashes}, layers_quantized, float_groups,
                          fallback: {max_drop_pp, met, steps: [...], sensitivity: {...}}, seconds},
         "accuracy": {samples, top1, reference_top1, drop_pp, top1_agreement, mean_cosine, min_cosine,
                      max_abs_diff, data, data_sha256}}                                # held-out data
      ]
    }

`path` and every `files[].path` are relative to OUT; `sha256`/`bytes` describe the main file / all files together.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from vitedge.errors import VitedgeError
from vitedge.fileio import sha256_file, sha256_json, write_json_atomic
from vitedge.paths import check_recorded_paths, recorded_file
from vitedge.schema import ARTIFACTS_HINT, check_artifacts_doc, header, read_json_object

SCHEMA, VERSION = "vitedge.artifacts", 1


@dataclass
class Artifact:
    id: str
    format: str
    precision: str
    path: str
    sha256: str
    bytes: int
    files: list[dict]
    stage: str
    parent: str
    config: dict
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    export_seconds: float | None = None
    parity: dict | None = None
    quantization: dict | None = None  # quantize stage: scheme, calibration, layers kept in float, fallback steps
    accuracy: dict | None = None  # on held-out data vs the FP32 PyTorch reference: top1, drop_pp, cosine, ...

    @classmethod
    def from_files(cls, root: Path, files: list[Path], **fields_) -> "Artifact":
        """Describe files already in their final place under `root`; the first file is the main one."""
        base = Path(root).resolve()  # `files` may be resolved (vitedge.paths.write_target) and `root` relative
        described = [{"path": (Path(f).parent.resolve() / Path(f).name).relative_to(base).as_posix(),
                      "sha256": sha256_file(f), "bytes": Path(f).stat().st_size} for f in files]
        return cls(path=described[0]["path"], sha256=described[0]["sha256"],
                   bytes=sum(d["bytes"] for d in described), files=described, **fields_)

    def verify(self, root: Path) -> str | None:
        """None when every file is present with its recorded hash, else what is wrong."""
        for f in self.files:
            try:
                p = recorded_file(root, f["path"], f"artifact {self.id} file")
            except VitedgeError as exc:
                return exc.message
            if not p.is_file():
                return f"{p} is missing"
            if sha256_file(p) != f["sha256"]:
                return f"{p} does not match its recorded sha256"
        return None

    def to_dict(self) -> dict:
        return asdict(self)


def artifact_id(stage: str, parent: str, config: dict) -> str:
    """Content address of an artifact: the hash of what made it."""
    return sha256_json({"stage": stage, "parent": parent, "config": config})[:16]


def write_artifacts_file(out: Path, model: dict, data: dict | None, tools: dict, artifacts: list[Artifact]) -> Path:
    path = out / "artifacts.json"
    write_json_atomic(path, {"schema": SCHEMA, "version": VERSION, "model": model, "data": data,
                             "tool_versions": tools, "artifacts": [a.to_dict() for a in artifacts]})
    return path


def read_artifacts_file(path: Path) -> dict:
    """Read artifacts.json, check every key a stage relies on, and make the entries Artifact objects."""
    path = Path(path)
    doc = read_json_object(path, "artifacts file", ARTIFACTS_HINT)
    header(doc, path, SCHEMA, VERSION, ARTIFACTS_HINT)
    check_artifacts_doc(doc, path)
    check_recorded_paths(doc["artifacts"], path.parent, path)  # no record may point outside (vitedge.paths)
    doc["artifacts"] = [Artifact(**a) for a in doc["artifacts"]]
    return doc
