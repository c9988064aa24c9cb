"""Write per-target bundles: `OUT/<target>/` and `OUT/<target>.zip`, each complete or absent.

A bundle is assembled in a staging folder beside OUT and renamed into place, so a killed write leaves no half
bundle (only a hidden `.staging-*` folder, removed by the next run). Existing bundles are replaced only with force.
"""
from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from vitedge.bundle.docs import DEVICE_SCRIPT, RUN_TEMPLATE, device_script, readme
from vitedge.bundle.errors import BundleError
from vitedge.bundle.inputs import Inputs, load_inputs
from vitedge.bundle.manifest import build_manifest, bundle_path, seal
from vitedge.bundle.select import Plan, plan_target
from vitedge.console import log
from vitedge.errors import OutputExistsError
from vitedge.fileio import remove_stale_staging, sha256_file, staging_dir, write_json_atomic, write_text_atomic
from vitedge.paths import recorded_file, write_target
from vitedge.targets.profile import get_target


@dataclass
class BundleOutcome:
    """What happened for one target: the bundle written, or why none was."""

    target: str
    folder: Path | None = None
    zip: Path | None = None
    primary: str | None = None  # path of the primary artifact inside the bundle
    artifacts: list[str] = field(default_factory=list)  # ids shipped, primary first
    reason: str = ""  # why no bundle was written

    @property
    def written(self) -> bool:
        return self.folder is not None


def plan_bundles(inputs: Inputs, targets: list[str] | None = None) -> list[Plan]:
    """One plan per target (default: every target bench.json has rows for)."""
    names = targets or inputs.targets()
    benched = set(inputs.targets())
    for name in names:
        get_target(name)  # unknown names raise with a suggestion
        if name not in benched:
            raise BundleError(f"bench.json has no rows for target {name!r} (it has: {', '.join(sorted(benched))})",
                              f"benchmark it first: vitedge bench ARTIFACTS --target {name}")
    return [plan_target(inputs, inputs.target(name)) for name in names]


def write_bundles(artifacts: str | Path, validation: str | Path, bench: str | Path, targets: list[str] | None = None,
                  out: str | Path = "runs/bundles", force: bool = False) -> list[BundleOutcome]:
    """Bundle each target's artifacts that passed validate's gates, primary = fastest by bench latency."""
    inputs, out = load_inputs(artifacts, validation, bench), Path(out)
    plans = plan_bundles(inputs, targets)
    existing = [p for plan in plans if plan.shipped for p in (out / plan.target.name, out / f"{plan.target.name}.zip")
                if p.exists()]
    if existing and not force:
        raise OutputExistsError(f"bundle(s) already written: {', '.join(map(str, existing))}",
                                "pass --force to replace them, or another --out")
    remove_stale_staging(out)
    outcomes = []
    for plan in plans:
        if not plan.shipped:
            log(f"{plan.target.name}: no bundle: {plan.why_none()}")
            outcomes.append(BundleOutcome(plan.target.name, reason=plan.why_none()))
            continue
        outcomes.append(write_bundle(inputs, plan, out))
    return outcomes


def _copy_artifacts(inputs: Inputs, plan: Plan, folder: Path) -> None:
    """Copy each shipped artifact's files; each copy must hash to what artifacts.json recorded."""
    for candidate in plan.shipped:
        for f in candidate.artifact.files:
            src = recorded_file(inputs.root, f["path"], f"artifact {candidate.artifact.id} file")
            dst = write_target(folder, folder / bundle_path(f["path"]))
            if dst.exists():
                raise BundleError(f"two shipped artifact files are both named {dst.name} ({f['path']})",
                                  "each artifact file needs its own name; re-run quantize into one output folder")
            dst.parent.mkdir(parents=True, exist_ok=True)
            copy_file(src, dst)
            if sha256_file(dst) != f["sha256"]:
                raise BundleError(f"{inputs.root / f['path']} no longer matches the sha256 recorded in artifacts.json",
                                  "the artifact changed after it was made; re-run quantize, validate and bench")


def copy_file(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise BundleError(f"artifact file {src} is missing", "re-run the stage that made it")
    shutil.copyfile(src, dst)


def _describe(folder: Path) -> list[dict]:
    return [{"path": p.relative_to(folder).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
            for p in sorted(folder.rglob("*")) if p.is_file()]


def assemble(inputs: Inputs, plan: Plan, folder: Path) -> dict:
    """Fill `folder` with the bundle: models, run.py, device script, README.md, manifest.json (last)."""
    _copy_artifacts(inputs, plan, folder)
    manifest = build_manifest(inputs, plan)
    shutil.copyfile(RUN_TEMPLATE, folder / "run.py")
    (folder / "run.py").chmod(0o755)
    script = device_script(manifest)
    if script:
        write_text_atomic(folder / DEVICE_SCRIPT, script)
        (folder / DEVICE_SCRIPT).chmod(0o755)
    write_text_atomic(folder / "README.md", readme(manifest, script is not None))
    manifest = seal(manifest, _describe(folder))
    write_json_atomic(folder / "manifest.json", manifest)
    return manifest


def _zip(folder: Path, zip_path: Path) -> None:
    """The bundle folder as `<target>/...` inside the zip."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, Path(folder.name) / path.relative_to(folder))


def _move_into_place(src: Path, dst: Path, trash: Path) -> None:
    if dst.exists():
        os.rename(dst, trash / f"old-{dst.name}")  # trash lives in the staging folder, removed with it
    os.rename(src, dst)


def write_bundle(inputs: Inputs, plan: Plan, out: Path) -> BundleOutcome:
    """Assemble one target's bundle and its zip in staging, then rename both into `out`."""
    name = plan.target.name
    with staging_dir(out) as stage:
        folder, archive, trash = stage / name, stage / f"{name}.zip", stage / "trash"
        folder.mkdir()
        trash.mkdir()
        manifest = assemble(inputs, plan, folder)
        _zip(folder, archive)
        _move_into_place(folder, write_target(out, out / name), trash)
        _move_into_place(archive, write_target(out, out / f"{name}.zip"), trash)
    log(f"{name}: wrote {out / name} (+ .zip), primary {manifest['artifacts'][0]['path']}")
    return BundleOutcome(name, out / name, out / f"{name}.zip", manifest["artifacts"][0]["path"],
                         [a["id"] for a in manifest["artifacts"]])
