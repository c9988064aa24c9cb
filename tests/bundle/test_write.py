"""`vitedge bundle create` on real validated and benchmarked vit4mnist artifacts."""
import json
import os
import signal
import subprocess
import sys
import zipfile

import pytest

from vitedge.bundle import verify_bundle, write_bundles
from vitedge.bundle.errors import BundleError
from vitedge.cli import main
from vitedge.errors import OutputExistsError, VitedgeError

from ..conftest import REPO


def manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_one_bundle_per_target_with_its_files(bundles):
    out, outcomes = bundles
    assert set(outcomes) == {"x86-cpu", "jetson-orin-nano"} and all(o.written for o in outcomes.values())
    host, jetson = out / "x86-cpu", out / "jetson-orin-nano"
    for folder in (host, jetson):
        names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        assert {"manifest.json", "README.md", "run.py", "models/vit4mnist.onnx",
                "models/vit4mnist_int8.onnx"} <= names
        assert verify_bundle(folder) == [] and verify_bundle(folder.with_suffix(".zip")) == []
        with zipfile.ZipFile(folder.with_suffix(".zip")) as archive:
            assert {f"{folder.name}/{n}" for n in names} == set(archive.namelist())
    assert not (host / "run_on_device.sh").exists()
    script = (jetson / "run_on_device.sh").read_text()
    assert "--onnx=models/vit4mnist_int8.onnx" in script and "--int8" in script and os.access(
        jetson / "run_on_device.sh", os.X_OK)
    readme = (host / "README.md").read_text()
    assert f"**Ship `{outcomes['x86-cpu'].primary}`**" in readme and "python run.py" in readme
    assert "(ESTIMATED)" not in readme and "~0." in (jetson / "README.md").read_text()
    assert "(ESTIMATED)" in (jetson / "README.md").read_text()


def test_primary_is_the_fastest_measured(bundles, pipeline):
    out, outcomes = bundles
    doc = manifest(out / "x86-cpu")
    rows = [r for r in json.loads((pipeline.bench / "bench.json").read_text())["rows"] if r["target"] == "x86-cpu"]
    fastest = min(rows, key=lambda r: r["latency_ms_p50"])
    primary = doc["artifacts"][0]
    assert primary["role"] == "primary" and doc["primary"] == primary["id"]
    assert primary["source_path"] == fastest["path"] and "measured p50 latency" in doc["primary_reason"]
    assert [a["role"] for a in doc["artifacts"][1:]] == ["alternative"]


def test_a_primary_within_noise_says_so(pipeline, tmp_path):
    """A fake timing where the two fastest overlap: the bundle still ships one, and says the ranking is not reliable."""
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(pipeline.bench, bench)
    doc = json.loads((bench / "bench.json").read_text())
    rows = [r for r in doc["rows"] if r["target"] == "x86-cpu"]
    first, second = sorted(rows, key=lambda r: r["latency_ms_p50"])[:2]
    first["details"]["within_noise_of"], second["details"]["within_noise_of"] = second["path"], first["path"]
    (bench / "bench.json").write_text(json.dumps(doc))
    quant, validation, _ = pipeline.inputs()
    outcome = write_bundles(quant, validation, bench, targets=["x86-cpu"], out=tmp_path / "out")[0]
    reason = manifest(outcome.folder)["primary_reason"]
    assert "NOT a reliable ranking" in reason and f"within noise of {second['path']}" in reason
    assert "NOT a reliable ranking" in (outcome.folder / "README.md").read_text()


def test_measured_on_device_beats_estimated(pipeline, tmp_path):
    outcomes = write_bundles(*pipeline.inputs(device=True), targets=["jetson-orin-nano"], out=tmp_path)
    doc = manifest(outcomes[0].folder)
    assert doc["artifacts"][0]["precision"] == "int8" and doc["artifacts"][0]["latency"]["obtained"] == \
        "measured on device"
    assert doc["artifacts"][1]["latency"]["estimated"] is True and "measured on device" in doc["primary_reason"]


def test_artifact_failing_a_gate_is_not_shipped(pipeline, tmp_path):
    outcome = write_bundles(*pipeline.inputs("int8_fails"), targets=["x86-cpu"], out=tmp_path)[0]
    doc = manifest(outcome.folder)
    assert [a["precision"] for a in doc["artifacts"]] == ["fp32"]
    assert not (outcome.folder / "models" / "vit4mnist_int8.onnx").exists()
    [excluded] = doc["excluded"]
    assert excluded["precision"] == "int8" and "logits min-cosine 0.999999 [int8] (measured 0.9" in excluded["reason"]


def test_no_bundle_when_nothing_passed(pipeline, tmp_path, capsys):
    quant, validation, bench = pipeline.inputs("all_fail")
    code = main(["bundle", "create", str(quant), "--validation", str(validation), "--bench", str(bench),
                 "--out", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert code == 1 and out.count("NO BUNDLE: no artifact passed") == 2 and "top1 max-drop -1" in out
    assert not (tmp_path / "b" / "x86-cpu").exists() and not (tmp_path / "b" / "x86-cpu.zip").exists()


def test_refuses_to_overwrite_without_force(pipeline, tmp_path):
    write_bundles(*pipeline.inputs(), targets=["x86-cpu"], out=tmp_path)
    (tmp_path / "x86-cpu" / "note.txt").write_text("stale")
    with pytest.raises(OutputExistsError, match="--force"):
        write_bundles(*pipeline.inputs(), targets=["x86-cpu"], out=tmp_path)
    write_bundles(*pipeline.inputs(), targets=["x86-cpu"], out=tmp_path, force=True)
    assert verify_bundle(tmp_path / "x86-cpu") == [] and not (tmp_path / "x86-cpu" / "note.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


KILL_MID_COPY = """
import os, signal, sys
import vitedge.bundle.write as w
copies = []
real = w.copy_file
def copy_then_die(src, dst):
    real(src, dst)
    copies.append(dst)
    if len(copies) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
w.copy_file = copy_then_die
w.write_bundles(*sys.argv[1:4], targets=["x86-cpu"], out=sys.argv[4], force=True)
"""


def test_killed_write_leaves_no_half_bundle(pipeline, bundles, tmp_path):
    out = tmp_path / "b"
    proc = subprocess.run([sys.executable, "-c", KILL_MID_COPY, *map(str, pipeline.inputs()), str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert [p.name for p in out.iterdir() if not p.name.startswith(".staging-")] == []
    write_bundles(*pipeline.inputs(), targets=["x86-cpu"], out=out)  # no --force needed: nothing was written
    assert verify_bundle(out / "x86-cpu") == [] and not list(out.glob(".staging-*"))


def test_inputs_of_other_artifacts_are_refused(pipeline, tmp_path):
    quant, validation, bench = pipeline.inputs()
    report = json.loads((validation / "report.json").read_text())
    report["artifacts"][0]["sha256"] = "0" * 64
    (tmp_path / "report.json").write_text(json.dumps(report))
    with pytest.raises(BundleError, match="has another sha256") as info:
        write_bundles(quant, tmp_path / "report.json", bench, out=tmp_path / "b")
    assert "vitedge validate" in info.value.hint


def test_unknown_or_unbenched_target(pipeline, tmp_path):
    with pytest.raises(VitedgeError, match="unknown target"):
        write_bundles(*pipeline.inputs(), targets=["jetson-orin-nan"], out=tmp_path)
    with pytest.raises(BundleError, match="no rows for target 'android-arm64'"):
        write_bundles(*pipeline.inputs(), targets=["android-arm64"], out=tmp_path)
