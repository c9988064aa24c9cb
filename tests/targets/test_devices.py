"""On-device commands and parsers of trtexec / benchmark_model output.

Fixture formats follow the tools' own printing code and real logs quoted in public issues:
  * trtexec: NVIDIA/TensorRT samples/common/sampleReporting.cpp (printProlog, printEpilog: "Timing trace has N
    queries", "=== Performance summary ===", "Latency: min = .. ms, max, mean, median, percentile(P%)"),
    trtexec.cpp ("TensorRT version: X.Y.Z"); TensorRT 10.3 Jetson Orin logs in
    https://github.com/NVIDIA/TensorRT/issues/4494 (header, "Precision: FP32+INT8") and
    https://github.com/NVlabs/FoundationStereo/issues/90 (Inference Options); summary lines as in
    https://github.com/NVIDIA/TensorRT/issues/4177. The older summary without percentile(90%) as in
    https://github.com/WongKinYiu/yolov7/pull/329 (TensorRT 8.4).
  * benchmark_model: tensorflow/tensorflow tensorflow/lite/tools/benchmark/benchmark_model.cc
    ("Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): .."),
    stats_calculator.h Stat / StatWithPercentiles ("count= first= curr= min= max= avg= std=" + " p5= median=
    p95="); logs in https://github.com/google/XNNPACK/issues/999 (XNNPACK) and
    https://github.com/tensorflow/tensorflow/issues/43541 (GPU), "INFO: " prefix as in
    https://github.com/google-ai-edge/LiteRT/issues/75.
Flags: tensorflow/lite/tools/benchmark/README.md; TensorRT samples/common/sampleOptions.cpp help text.
The numbers in the fixtures are our own, in those formats.
"""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from vitedge.errors import VitedgeError
from vitedge.targets.devices import (
    DeviceMeasurement,
    android_commands,
    jetson_commands,
    parse_benchmark_model,
    parse_device_log,
    parse_trtexec,
    write_device_scripts,
)

FIXTURES = Path(__file__).parent / "fixtures"


def _read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# -- trtexec (format: NVIDIA/TensorRT samples/common/sampleReporting.cpp printEpilog; issues #4494, #4177)

def test_parse_trtexec_tensorrt10_summary():
    m = parse_trtexec(_read("trtexec_orin_fp16.log"))
    assert isinstance(m, DeviceMeasurement) and m.tool == "trtexec"
    assert m.tool_version == "10.3.0"
    assert m.latency_ms_p50 == pytest.approx(2.40674)
    assert m.latency_ms_p90 == pytest.approx(2.45312)
    assert m.latency_ms_min == pytest.approx(2.36011)
    assert m.latency_ms_mean == pytest.approx(2.41953)
    assert m.throughput_per_s == pytest.approx(412.572)
    assert m.runs == 4127
    assert m.details["gpu_compute_ms"]["median"] == pytest.approx(2.28418)  # GPU compute kept apart
    assert m.details["latency_ms_p99"] == pytest.approx(2.71875)
    assert m.details["precision"] == "FP32+FP16"
    assert m.details["data_transfers"] == "Enabled" and m.details["spin_wait"] == "Enabled"
    assert "median" in m.note and "percentile(90%)" in m.note
    assert any(s.startswith("Latency: min = 2.36011") for s in m.raw_summary)
    assert not any(s.startswith(("H2D Latency", "D2H Latency")) for s in m.raw_summary)


# -- trtexec 8.4 summary (format: WongKinYiu/yolov7 PR #329): only percentile(99%), version only in the header

def test_parse_trtexec_without_p90_and_packed_version():
    m = parse_trtexec(_read("trtexec_v8_no_p90.log"))
    assert m.tool_version == "8.4.1"  # from "[TensorRT v8401]"
    assert m.latency_ms_p50 == pytest.approx(1.38501)
    assert m.latency_ms_p90 is None and "p90 is None" in m.note
    assert m.details["precision"] == "FP32+INT8"
    assert m.runs == 2150


# -- benchmark_model (format: benchmark_model.cc OnBenchmarkEnd, stats_calculator.h; google/XNNPACK#999)

def test_parse_benchmark_model_xnnpack_without_percentiles():
    m = parse_benchmark_model(_read("benchmark_model_xnnpack.log"))
    assert m.tool == "benchmark_model" and m.tool_version is None
    assert m.runs == 100  # the measured runs, not the 20 warmup runs
    assert m.latency_ms_mean == pytest.approx(24.5126)
    assert m.latency_ms_p50 == pytest.approx(24.5126) and "mean" in m.note  # no median printed
    assert m.latency_ms_p90 is None
    assert m.latency_ms_min == pytest.approx(23.987)
    assert m.throughput_per_s == pytest.approx(1e6 / 24512.6)
    assert m.details["init_ms"] == pytest.approx(38.117)
    assert m.details["first_inference_ms"] == pytest.approx(31.877)
    assert m.details["delegate"] == "xnnpack" and m.details["num_threads"] == "[4]"


# -- newer LiteRT output with "INFO: " prefixes and p5/median/p95 (StatWithPercentiles; LiteRT issue #75)

def test_parse_benchmark_model_gpu_with_percentiles():
    m = parse_benchmark_model(_read("benchmark_model_gpu_percentiles.log"))
    assert m.runs == 100
    assert m.latency_ms_p50 == pytest.approx(11.802) and "median" in m.note
    assert m.latency_ms_p90 == pytest.approx(12.466) and "p95" in m.note
    assert m.latency_ms_mean == pytest.approx(11.8739)
    assert m.latency_ms_min == pytest.approx(11.511)
    assert m.details["delegate"] == "gpu"
    assert m.details["init_ms"] == pytest.approx(1421.58)
    assert m.raw_summary[0].startswith("count=100")


@pytest.mark.parametrize("parse", [parse_trtexec, parse_benchmark_model])
@pytest.mark.parametrize("text", ["", "hello world\nnothing to see\n", "Throughput: 12 qps\n"])
def test_parsers_reject_garbage(parse, text):
    with pytest.raises(VitedgeError, match="not .* output"):
        parse(text)


def test_trtexec_summary_without_latency_raises():
    with pytest.raises(VitedgeError, match="Latency"):
        parse_trtexec("[I] === Performance summary ===\n[I] Throughput: 10 qps\n")


def test_parse_device_log_detects_tool(tmp_path):
    assert parse_device_log(FIXTURES / "trtexec_orin_fp16.log").tool == "trtexec"
    assert parse_device_log(FIXTURES / "benchmark_model_gpu_percentiles.log").tool == "benchmark_model"
    junk = tmp_path / "junk.log"
    junk.write_text("random text\n")
    with pytest.raises(VitedgeError, match="neither trtexec nor benchmark_model"):
        parse_device_log(junk)
    with pytest.raises(VitedgeError, match="device log .*missing.log not found"):
        parse_device_log(tmp_path / "missing.log")


# -- commands (flags: TensorRT sampleOptions.cpp help; tensorflow/lite/tools/benchmark/README.md)

@pytest.mark.parametrize("precision, flag, absent", [("fp16", "--fp16", "--int8"), ("int8", "--int8", "--fp16"),
                                                     ("fp32", None, "--fp16")])
def test_jetson_commands_precision_flags(precision, flag, absent):
    cmds = jetson_commands("onnx/vit.onnx", "pixel_values", ["batch", 3, 224, 224], precision, log_dir="logs")
    run = shlex.split(cmds[-1])
    assert run[0] == "/usr/src/tensorrt/bin/trtexec"
    assert "--onnx=onnx/vit.onnx" in run and "--shapes=pixel_values:1x3x224x224" in run
    assert f"--saveEngine=logs/vit_{precision}.engine" in run
    assert (flag is None or flag in run) and absent not in run and "--best" not in run
    assert "--useSpinWait" in run and "--noDataTransfers" not in run
    assert any(a.startswith("--warmUp=") for a in run) and any(a.startswith("--iterations=") for a in run)
    assert any(a.startswith("--duration=") for a in run)
    assert run[-3:] == [">", f"logs/vit_{precision}.trtexec.log", "2>&1"]


def test_jetson_commands_reject_bad_input():
    with pytest.raises(VitedgeError, match="precision"):
        jetson_commands("m.onnx", "x", [1, 3, 224, 224], "bf16")
    with pytest.raises(VitedgeError, match="fixed non-batch"):
        jetson_commands("m.onnx", "x", [1, 3, "h", "w"], "fp16")


@pytest.mark.parametrize("delegate", ["xnnpack", "gpu"])
def test_android_commands_use_pushed_path(delegate):
    cmds = android_commands("tflite/vit int8.tflite", 4, delegate, precision="int8")
    assert cmds[0] == "adb push 'tflite/vit int8.tflite' /data/local/tmp/vit_int8.tflite"  # device name made safe
    assert "adb push benchmark_model /data/local/tmp/benchmark_model" in cmds
    assert "adb shell chmod +x /data/local/tmp/benchmark_model" in cmds
    run = cmds[-1]
    assert run.startswith("adb shell /data/local/tmp/benchmark_model ")
    args = shlex.split(run)
    assert "--graph=/data/local/tmp/vit_int8.tflite" in args
    assert "--num_threads=4" in args and f"--use_{delegate}=true" in args
    assert any(a.startswith("--warmup_runs=") for a in args) and any(a.startswith("--num_runs=") for a in args)
    assert args[-3:] == [">", f"./vit int8_int8_{delegate}_t4.benchmark_model.log", "2>&1"]


def test_android_gpu_fp32_disallows_precision_loss():
    assert "--gpu_precision_loss_allowed=false" in android_commands("m.tflite", 2, "gpu", precision="fp32")[-1]
    assert "precision_loss" not in android_commands("m.tflite", 2, "gpu", precision="fp16")[-1]
    with pytest.raises(VitedgeError, match="delegate"):
        android_commands("m.tflite", 2, "nnapi")


ARTIFACTS = [("onnx/vit_fp32.onnx", "pixel_values", [1, 3, 224, 224], "fp32", "onnx"),
             ("onnx/vit_int8.onnx", "pixel_values", [1, 3, 224, 224], "int8", "onnx"),
             ("tflite/vit_fp16.tflite", "pixel_values", [1, 224, 224, 3], "fp16", "tflite")]


def test_write_jetson_script(tmp_path):
    script = write_device_scripts("jetson-orin", "jetson", ARTIFACTS, tmp_path)
    assert script == tmp_path / "jetson-orin" / "run_on_device.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert '"${TRTEXEC}" --onnx=onnx/vit_fp32.onnx' in text and '"${TRTEXEC}" --onnx=onnx/vit_int8.onnx' in text
    assert "tflite" not in text.split("set -euo pipefail")[1]  # only the format the Jetson runs
    assert f"vitedge bench ingest {tmp_path}/jetson-orin {tmp_path}/jetson-orin/logs/vit_int8_int8.trtexec.log" in text
    assert text.count("mkdir -p jetson-orin/logs") == 1
    assert script.stat().st_mode & 0o111
    assert not list(script.parent.glob(".*.tmp"))  # written atomically


def test_write_android_script(tmp_path):
    script = write_device_scripts("pixel8", "android", ARTIFACTS, tmp_path, threads=4, delegates=("xnnpack", "gpu"))
    body = script.read_text().split("set -euo pipefail")[1]
    assert "onnx" not in body
    assert body.count('adb push "${BENCHMARK_MODEL}" /data/local/tmp/benchmark_model') == 1
    assert "adb push tflite/vit_fp16.tflite /data/local/tmp/vit_fp16.tflite" in body
    assert "--use_xnnpack=true" in body and "--use_gpu=true" in body
    header = script.read_text().split("set -euo pipefail")[0]
    assert header.count("vitedge bench ingest") == 2


def test_write_script_without_matching_artifact(tmp_path):
    with pytest.raises(VitedgeError, match="no tflite artifact"):
        write_device_scripts("phone", "android", ARTIFACTS[:2], tmp_path)
    with pytest.raises(VitedgeError, match="device kind"):
        write_device_scripts("x", "ios", ARTIFACTS, tmp_path)
