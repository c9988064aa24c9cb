"""The three documents a bundle and the report are made from, read and joined per artifact.

* `artifacts.json` (quantize or export): what each artifact is, its files and hashes, its lineage.
* validate's `report.json`: drift figures and gate verdicts per artifact.
* bench's `bench.json`: latency per target and artifact, how it was obtained, speed-up against the baseline.

Entries are joined by the artifact path (relative to the artifacts.json folder), and checked to describe the same
files: validate records each artifact's sha256, bench its size in bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from vitedge.artifact import Artifact, read_artifacts_file
from vitedge.bundle.errors import BundleError
from vitedge.fileio import sha256_file
from vitedge.schema import read_document
from vitedge.targets.profile import TargetProfile, get_target

MEASURED = ("measured here", "measured on device")


def resolve(path: str | Path, filename: str) -> Path:
    """A document, or the folder that holds it under its usual name."""
    path = Path(path)
    path = path / filename if path.is_dir() else path
    if not path.is_file():
        raise BundleError(f"{path} not found", f"pass the {filename} (or its folder) written by the earlier stage")
    return path


def _read_doc(path: Path, schema: str, stage: str) -> dict:
    """validate's report.json or bench.json, every key the bundle and the report read checked (vitedge.schema)."""
    return read_document(path, stage)


@dataclass
class Inputs:
    """artifacts.json, report.json and bench.json, joined by artifact path."""

    root: Path  # the artifacts.json folder: artifact paths are relative to it
    quant: dict  # artifacts.json; doc["artifacts"] are Artifact objects
    validation: dict  # validate's report.json
    bench: dict  # bench.json
    sources: dict  # {"artifacts" | "validation" | "bench": {"path", "sha256"}}

    @property
    def artifacts(self) -> list[Artifact]:
        return self.quant["artifacts"]

    def by_id(self) -> dict[str, Artifact]:
        return {a.id: a for a in self.artifacts}

    def validated(self, artifact: Artifact) -> dict | None:
        """validate's entry for the artifact (metrics, gates, verdict), or None when it was not validated."""
        return next((e for e in self.validation["artifacts"] if e["path"] == artifact.path), None)

    def bench_row(self, target: str, artifact: Artifact) -> dict | None:
        return next((r for r in self.bench["rows"] if r["target"] == target and r["path"] == artifact.path), None)

    def targets(self) -> list[str]:
        """Targets bench.json has rows for, in its order."""
        return list(dict.fromkeys(r["target"] for r in self.bench["rows"]))

    def target(self, name: str) -> TargetProfile:
        """The target's profile; the host profile titled as the host bench.json measured on, where it says (the
        bundle or report may be made on another machine than the one that measured)."""
        profile = get_target(name)
        host = self.bench.get("host") or {}
        if profile.kind == "host" and host.get("target") == name:
            return replace(profile, title=host["title"], notes=host["notes"])
        return profile


def load_inputs(artifacts: str | Path, validation: str | Path, bench: str | Path) -> Inputs:
    """Read the three documents and check that they describe the same artifacts."""
    paths = {"artifacts": resolve(artifacts, "artifacts.json"), "validation": resolve(validation, "report.json"),
             "bench": resolve(bench, "bench.json")}
    quant = read_artifacts_file(paths["artifacts"])
    inputs = Inputs(root=paths["artifacts"].parent, quant=quant,
                    validation=_read_doc(paths["validation"], "vitedge.validate", "validate"),
                    bench=_read_doc(paths["bench"], "vitedge.bench", "bench"),
                    sources={k: {"path": str(p.resolve()), "sha256": sha256_file(p)} for k, p in paths.items()})
    _check_consistent(inputs, paths)
    return inputs


def _check_consistent(inputs: Inputs, paths: dict[str, Path]) -> None:
    recorded = {a.path: a for a in inputs.artifacts}
    reference = inputs.validation.get("reference", {}).get("id")
    if reference and reference != inputs.quant["model"]["id"]:
        raise BundleError(f"{paths['validation']} validated model {reference}, but {paths['artifacts']} holds "
                          f"artifacts of model {inputs.quant['model']['id']}",
                          "pass the validate report of these artifacts, or re-run vitedge validate on them")
    for entry in inputs.validation["artifacts"]:
        artifact = recorded.get(entry["path"])
        if artifact is None or artifact.sha256 != entry["sha256"]:
            what = "is not in" if artifact is None else "has another sha256 than in"
            raise BundleError(f"{paths['validation']}: artifact {entry['path']} {what} {paths['artifacts']}",
                              "validate these artifacts again: vitedge validate ARTIFACTS --report DIR --force")
    for row in inputs.bench["rows"]:
        artifact = recorded.get(row["path"])
        if artifact is None or artifact.bytes != row["bytes"]:
            what = "is not in" if artifact is None else "has another size than in"
            raise BundleError(f"{paths['bench']}: {row['target']} row for {row['path']} {what} {paths['artifacts']}",
                              "benchmark these artifacts again: vitedge bench ARTIFACTS --target ... --force")


def is_measured(row: dict) -> bool:
    return row.get("obtained") in MEASURED
