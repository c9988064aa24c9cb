"""`vitedge bench` on real quantized vit4mnist artifacts: measured here, estimated for devices, ingested logs."""
import json
import shutil
from pathlib import Path

import pytest

from vitedge.api import quantize
from vitedge.cli import main
from vitedge.targets.bench import computes_in, precision_label
from vitedge.targets.devices import parse_device_log

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    quantize("vit4mnist", "onnx,tflite", "int8", out=root / "quant", threads=2)
    code = main(["bench", str(root / "quant"), "--target", "x86-cpu,jetson-orin-nano,android-arm64",
                 "--threads", "2", "--out", str(root / "bench")])
    assert code == 0
    return root / "bench"


def rows(bench_dir):
    return json.loads((bench_dir / "bench.json").read_text())["rows"]


def test_host_rows_are_measured_and_devices_estimated(bench_dir):
    by_target = {}
    for row in rows(bench_dir):
        by_target.setdefault(row["target"], []).append(row)
    assert {r["obtained"] for r in by_target["x86-cpu"]} == {"measured here"}
    assert len(by_target["x86-cpu"]) == 4  # onnx + tflite, fp32 + int8
    for row in by_target["x86-cpu"]:
        host = row["details"]["host"]
        assert host["iterations"] >= 100 and host["threads"] == 2 and row["latency_ms_p90"] >= row["latency_ms_p50"]
        assert row["speedup_vs_baseline"] == pytest.approx(300 / row["latency_ms_p50"], rel=0.01)
    assert {r["format"] for r in by_target["jetson-orin-nano"]} == {"onnx"}
    assert {r["format"] for r in by_target["android-arm64"]} == {"tflite"}
    for row in by_target["jetson-orin-nano"] + by_target["android-arm64"]:
        assert row["obtained"] == "estimated" and "roofline" in row["basis"] and row["latency_ms_p50"] > 0


def test_device_scripts_written(bench_dir):
    jetson = (bench_dir / "jetson-orin-nano" / "run_on_device.sh").read_text()
    android = (bench_dir / "android-arm64" / "run_on_device.sh").read_text()
    assert "--int8" in jetson and "vit4mnist_int8.onnx" in jetson and "--shapes=pixel_values:1x1x28x28" in jetson
    assert "adb push" in android and "vit4mnist_int8.tflite" in android and "--use_xnnpack=true" in android


def test_ingest_turns_device_logs_into_measured_rows(bench_dir, tmp_path, capsys):
    work = tmp_path / "bench"
    shutil.copytree(bench_dir, work)
    trt_log = work / "jetson-orin-nano" / "logs" / "vit4mnist_int8_int8.trtexec.log"
    tfl_log = work / "android-arm64" / "logs" / "vit4mnist_int8_int8_xnnpack_t4.benchmark_model.log"
    for src, dst in ((FIXTURES / "trtexec_orin_fp16.log", trt_log), (FIXTURES / "benchmark_model_xnnpack.log",
                                                                      tfl_log)):
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    assert main(["bench", "ingest", str(work / "jetson-orin-nano"), str(trt_log)]) == 0
    assert main(["bench", "ingest", str(work / "android-arm64"), str(tfl_log)]) == 0
    capsys.readouterr()
    updated = {(r["target"], r["path"].split("/")[-1]): r for r in rows(work)}
    jetson = updated[("jetson-orin-nano", "vit4mnist_int8.onnx")]
    assert jetson["obtained"] == "measured on device"
    assert jetson["latency_ms_p50"] == parse_device_log(trt_log).latency_ms_p50
    android = updated[("android-arm64", "vit4mnist_int8.tflite")]
    assert android["obtained"] == "measured on device" and "benchmark_model" in android["basis"]
    assert updated[("jetson-orin-nano", "vit4mnist.onnx")]["obtained"] == "estimated"


def test_ingest_of_an_unknown_log_is_refused(bench_dir, tmp_path, capsys):
    work = tmp_path / "bench"
    shutil.copytree(bench_dir, work)
    log = tmp_path / "something_else.log"
    shutil.copy(FIXTURES / "trtexec_orin_fp16.log", log)
    assert main(["bench", "ingest", str(work / "jetson-orin-nano"), str(log)]) == 2
    assert "names no artifact benchmarked for jetson-orin-nano" in capsys.readouterr().err


def test_existing_bench_refused_without_force(bench_dir, capsys):
    assert main(["bench", str(bench_dir.parent / "quant"), "--out", str(bench_dir)]) == 2
    assert "already holds bench.json" in capsys.readouterr().err


@pytest.mark.parametrize("precision, computed, label", [
    ("fp32", "f32", "fp32"), ("bf16", "bf16", "bf16"), ("int8", "bf16", "int8 (bf16 float ops)"),
    ("fp16", "bf16", "fp16 (runs bf16)"), ("int8", "int8 (as stored)", "int8"), ("fp32", None, "fp32")])
def test_precision_label_says_what_the_runtime_computed_in(precision, computed, label):
    details = {"host": {"executed_precision": computed}} if computed else {}
    assert precision_label(precision, computes_in(details)) == label


def _row(top1):
    from vitedge.targets.bench import BenchRow

    return BenchRow("x86-cpu", "onnx", "fp32", "fp32", "m.onnx", 1024, top1, None, 1.0, 1.2, 1000.0,
                    "measured here", "onnxruntime")


def test_the_table_has_a_top1_column_only_when_some_artifact_has_a_top1():
    from vitedge.targets.table import bench_table

    assert "top-1" in bench_table([_row(0.78), _row(None)]) and "78.00%" in bench_table([_row(0.78)])
    embeddings = bench_table([_row(None), _row(None)])
    assert "top-1" not in embeddings and "p50 ms" in embeddings and "1.000" in embeddings
