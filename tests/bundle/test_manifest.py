"""Every figure in a manifest is copied from validate's report.json and bench.json; lineage, inputs, schema."""
import json

from vitedge.artifact import read_artifacts_file
from vitedge.bundle.manifest import BENCH_KEYS, SCHEMA, manifest_hash
from vitedge.models.spec import IOSpec


def load(path):
    return json.loads(path.read_text())


def test_figures_equal_the_validate_and_bench_reports(bundles, pipeline):
    out, _ = bundles
    quant, validation, bench = pipeline.inputs()
    recorded = {a.path: a for a in read_artifacts_file(quant / "artifacts.json")["artifacts"]}
    validated = {a["path"]: a for a in load(validation / "report.json")["artifacts"]}
    rows = {(r["target"], r["path"]): r for r in load(bench / "bench.json")["rows"]}
    checked = 0
    for target in ("x86-cpu", "jetson-orin-nano"):
        manifest = load(out / target / "manifest.json")
        for entry in manifest["artifacts"]:
            path = entry["source_path"]  # as in artifacts.json; inside the bundle: models/<file name>
            assert entry["path"] == "models/" + path.rsplit("/", 1)[-1]
            assert entry["validation"]["metrics"] == validated[path]["metrics"]
            assert entry["validation"]["gates"] == validated[path]["gates"]
            assert entry["validation"]["verdict"] == validated[path]["verdict"] == "pass"
            assert {k: entry["latency"][k] for k in BENCH_KEYS} == {k: rows[(target, path)][k] for k in BENCH_KEYS}
            assert entry["sha256"] == recorded[path].sha256 == validated[path]["sha256"]
            assert entry["bytes"] == recorded[path].bytes == rows[(target, path)]["bytes"]
            checked += 1
        assert manifest["baseline"] == load(bench / "bench.json")["baseline"]
        assert manifest["data"]["evaluation"] == load(validation / "report.json")["data"]
        assert manifest["gates"] == load(validation / "report.json")["gates"]
    assert checked == 4


def test_model_hashes_and_lineage(bundles, pipeline):
    out, _ = bundles
    doc = read_artifacts_file(pipeline.quant / "artifacts.json")
    manifest = load(out / "x86-cpu" / "manifest.json")
    assert manifest["model"]["weights_sha256"] == doc["model"]["weights_sha256"]
    assert manifest["model"]["id"] == doc["model"]["id"] and "io" not in manifest["model"]
    int8 = next(a for a in manifest["artifacts"] if a["precision"] == "int8")
    source, export, quantize = int8["lineage"]
    assert (source["stage"], export["stage"], quantize["stage"]) == ("source", "export", "quantize")
    assert export["parent"] == source["id"] and quantize["parent"] == export["id"] and quantize["id"] == int8["id"]
    assert export["parity"]["passed"] and quantize["quantization"]["calibration"]["count"] == 100
    assert "image_hashes" not in quantize["quantization"]["calibration"]
    assert quantize["accuracy"]["samples"] == 200


def test_preprocessing_labels_and_io(bundles, pipeline):
    out, _ = bundles
    spec = IOSpec.from_dict(read_artifacts_file(pipeline.quant / "artifacts.json")["model"]["io"])
    manifest = load(out / "x86-cpu" / "manifest.json")
    pre = manifest["preprocessing"]
    assert (pre["mean"], pre["std"], pre["input_size"]) == (list(spec.mean), list(spec.std), list(spec.input_size))
    assert pre["color"] == "L" and pre["resize"] == [28, 28] and len(pre["steps"]) == 6
    assert manifest["labels"] == list(spec.labels)
    assert manifest["input"]["name"] == spec.input_name and manifest["output"]["name"] == spec.output_name


def test_schema_and_self_hash(bundles):
    out, _ = bundles
    manifest = load(out / "jetson-orin-nano" / "manifest.json")
    assert (manifest["schema"], manifest["version"]) == (SCHEMA, 1)
    assert manifest["manifest_sha256"] == manifest_hash(manifest)
    assert manifest["target"]["name"] == "jetson-orin-nano" and manifest["target"]["kind"] == "jetson"
    assert {f["path"] for f in manifest["files"]} >= {"README.md", "run.py", "run_on_device.sh"}
    assert "manifest.json" not in {f["path"] for f in manifest["files"]}
    assert set(manifest["inputs"]) == {"artifacts", "validation", "bench"}
    assert {"artifacts", "validation", "bundle"} == set(manifest["tool_versions"])
    assert all(a["latency"]["estimated"] for a in manifest["artifacts"])


def test_host_target_is_the_host_that_measured(bundles, pipeline, tmp_path):
    """The x86-cpu title is the one bench.json recorded (detected where bench ran), not fixed in a file."""
    import shutil

    from vitedge.bundle import write_bundles
    from vitedge.targets.profile import get_target

    out, _ = bundles
    bench = load(pipeline.bench / "bench.json")
    assert bench["host"]["title"] == get_target("x86-cpu").title  # benched on this machine
    assert bench["host"]["sources"]["bandwidth_gbs"]["title"].startswith("measured here")
    assert load(out / "x86-cpu" / "manifest.json")["target"]["title"] == bench["host"]["title"]
    elsewhere = shutil.copytree(pipeline.bench, tmp_path / "bench")
    bench["host"].update(title="This host: Other CPU 9000, 64 logical cores (AVX-512, no AMX)", notes="elsewhere")
    (elsewhere / "bench.json").write_text(json.dumps(bench))
    quant, validation, _ = pipeline.inputs()
    outcome = write_bundles(quant, validation, elsewhere, targets=["x86-cpu"], out=tmp_path / "bundles")[0]
    target = load(outcome.folder / "manifest.json")["target"]
    assert (target["title"], target["notes"]) == (bench["host"]["title"], "elsewhere")


def test_entries_carry_the_runtime_options_they_were_validated_with(bundles):
    from vitedge.bundle.manifest import runtime_options

    out, _ = bundles
    manifest = load(out / "x86-cpu" / "manifest.json")
    assert all(a["runtime_options"] == runtime_options(a["format"], a["precision"]) for a in manifest["artifacts"])
    hints = {p: runtime_options("openvino", p).get("INFERENCE_PRECISION_HINT")
             for p in ("fp32", "fp16", "bf16", "int8")}
    assert hints == {"fp32": "f32", "fp16": "f32", "bf16": "bf16", "int8": None}  # int8: the plugin's default
    assert runtime_options("onnx", "fp32") == runtime_options("tflite", "int8") == {}
    readme = (out / "x86-cpu" / "README.md").read_text()
    assert ("INFERENCE_PRECISION_HINT" in readme) == any(a["runtime_options"] for a in manifest["artifacts"])
