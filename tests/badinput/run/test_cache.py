"""`vitedge run`: a cached stage whose files were changed, removed or replaced, or whose stage.json was edited, is
redone (saying which file), the bundle comes out intact, and an unchanged run after that does no work."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vitedge.bundle import verify_bundle
from vitedge.config import load_config
from vitedge.pipeline import run_pipeline

EVAL = Path(__file__).resolve().parents[3] / "calib_data" / "mnist_eval.npz"
TARGET = "jetson-orin-nano"  # estimated latency: nothing is measured


def write_config(folder: Path, out: Path) -> Path:
    path = folder / f"{out.name}.toml"
    path.write_text(f'out = "{out}"\n[model]\nsource = "vit4mnist"\n[data]\ncalib_samples = 16\n'
                    f'eval = "{EVAL}[0:64]"\n[export]\nformats = ["onnx"]\n[quantize]\nprecisions = ["fp16"]\n'
                    f'[bench]\ntargets = ["{TARGET}"]\nthreads = 1\n')
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished pipeline's OUT folder (copy it before changing anything)."""
    root = tmp_path_factory.mktemp("cache")
    result = run_pipeline(load_config(write_config(root, root / "out")))
    assert all(b.written for b in result.bundles)
    return root / "out"


def copy(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "out"
    shutil.copytree(finished, out)
    return out, write_config(tmp_path, out)


def stage_folder(out: Path, stage: str) -> Path:
    (folder,) = (out / "stages").glob(f"{stage}-*")
    return folder


def ran(config: Path) -> set[str]:
    return {run.stage for run in run_pipeline(load_config(config)).stage_runs if not run.cached}


def test_a_corrupted_artifact_in_a_cached_stage_is_redone(cli, finished, tmp_path):
    out, config = copy(finished, tmp_path)
    assert ran(config) == set()
    artifact = stage_folder(out, "quantize") / "vit4mnist_fp16.onnx"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash tells
    artifact.write_bytes(bytes(data))
    outcome = cli("run", config)
    assert outcome.code == 0, outcome.text
    assert f"cached output changed ({artifact}): redoing the stage" in outcome.err
    assert "[quantize (source)] running" in outcome.err and "[export (source)] cached" in outcome.err
    assert verify_bundle(out / "bundles" / TARGET) == [] and verify_bundle(out / "bundles" / f"{TARGET}.zip") == []
    record = json.loads((stage_folder(out, "quantize") / "stage.json").read_text())
    recorded = {f["path"]: f["sha256"] for f in record["files"]}
    from vitedge.fileio import sha256_file

    assert recorded["vit4mnist_fp16.onnx"] == sha256_file(artifact)
    assert ran(config) == set()  # and the next run does no work


def test_a_removed_file_and_an_edited_stage_json(cli, finished, tmp_path):
    out, config = copy(finished, tmp_path)
    validate = stage_folder(out, "validate")
    (validate / "report.json").unlink()
    (stage_folder(out, "bench") / "stage.json").write_text("{not json")
    outcome = cli("run", config)
    assert outcome.code == 0 and "Traceback" not in outcome.text, outcome.text
    assert f"cached output changed ({validate / 'report.json'} is missing): redoing the stage" in outcome.err
    assert "[bench (source)] cached output changed" in outcome.err and "stage.json is unreadable" in outcome.err
    assert (validate / "report.json").is_file() and verify_bundle(out / "bundles" / TARGET) == []
    assert ran(config) == set()


def test_a_file_replaced_by_a_link_is_redone_not_followed(cli, finished, tmp_path):
    out, config = copy(finished, tmp_path)
    artifact = stage_folder(out, "export") / "vit4mnist.onnx"
    outside = tmp_path / "elsewhere.onnx"
    shutil.copyfile(artifact, outside)  # the same bytes: a followed link would look intact
    artifact.unlink()
    artifact.symlink_to(outside)
    outcome = cli("run", config)
    assert outcome.code == 0, outcome.text
    assert f"cached output changed ({artifact} is no longer a plain file): redoing the stage" in outcome.err
    assert not artifact.is_symlink() and outside.read_bytes() == artifact.read_bytes()
    assert verify_bundle(out / "bundles" / TARGET) == []
