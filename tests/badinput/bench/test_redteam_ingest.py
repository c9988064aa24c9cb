"""bench ingest: a device log with an absurd figure (negative, zero, NaN, infinite, 1e300 ms), a log of the other
device's tool, a log for the target measured here, and a log path that is a FIFO or a folder are refused (exit 2)
and bench.json is left as it was; bench --target lists are exact."""
import os
import shutil
from pathlib import Path

import pytest

from ..conftest import assert_refused
from .._exported import exported_once

FIXTURES = Path(__file__).resolve().parents[2] / "targets" / "fixtures"
TRT = (FIXTURES / "trtexec_orin_fp16.log").read_text()
BENCHMARK_MODEL = (FIXTURES / "benchmark_model_xnnpack.log").read_text()


@pytest.fixture(scope="module")
def benched(tmp_path_factory):
    """bench of the vit4mnist export on x86-cpu and jetson-orin-nano (the Jetson row estimated)."""
    from vitedge.api import bench

    export = exported_once(tmp_path_factory)
    out = tmp_path_factory.mktemp("benched") / "bench"
    bench(export, "x86-cpu,jetson-orin-nano", threads=1, out=out)
    return export, out


@pytest.fixture
def bench_copy(tmp_path, benched):
    export, out = benched
    shutil.copytree(export, tmp_path / export.name)
    shutil.copytree(out, tmp_path / "bench")
    return tmp_path / "bench"


def trt_log(folder: Path, text: str) -> Path:
    log = folder / "jetson-orin-nano" / "logs" / "vit4mnist_fp32.trtexec.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)
    return log


@pytest.mark.parametrize("value", ["-2.4", "0", "nan", "inf", "1e300"])
def test_an_absurd_latency_is_refused(cli, guard, bench_copy, value):
    text = TRT.replace("median = 2.40674", f"median = {value}")
    log = trt_log(bench_copy, text)
    g = guard(bench_copy.parent)
    outcome = cli("bench", "ingest", bench_copy / "jetson-orin-nano", log)
    assert_refused(outcome, str(log), "not a plausible latency")
    g.check()


def test_a_log_of_the_other_devices_tool_is_refused(cli, guard, bench_copy):
    log = trt_log(bench_copy, BENCHMARK_MODEL)
    g = guard(bench_copy.parent)
    assert_refused(cli("bench", "ingest", bench_copy / "jetson-orin-nano", log), "benchmark_model output",
                   "jetson-orin-nano runs trtexec")
    g.check()


def test_a_log_for_the_target_measured_here_is_refused(cli, guard, bench_copy):
    log = bench_copy / "x86-cpu" / "vit4mnist_fp32.log"
    log.parent.mkdir()
    log.write_text(TRT)
    g = guard(bench_copy.parent)
    assert_refused(cli("bench", "ingest", bench_copy / "x86-cpu", log), "x86-cpu is measured on this host")
    g.check()


@pytest.mark.parametrize("make, mention", [(os.mkfifo, "FIFO"), (os.mkdir, "is a folder")])
def test_a_log_that_is_not_a_file_is_refused(cli, guard, bench_copy, make, mention):
    log = bench_copy / "jetson-orin-nano" / "logs" / "vit4mnist_fp32.trtexec.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    make(log)
    g = guard(bench_copy.parent)
    assert_refused(cli("bench", "ingest", bench_copy / "jetson-orin-nano", log), "device log", mention)
    g.check()


@pytest.mark.parametrize("targets, mention", [(",", "stray comma"), ("x86-cpu,x86-cpu", "more than once"),
                                              ("X86-CPU", "lowercase")])
def test_bench_target_lists_are_exact(cli, guard, tmp_path, benched, targets, mention):
    export, _ = benched
    g = guard()
    assert_refused(cli("bench", export, "--target", targets, "--out", tmp_path / "out"), "--target", mention)
    g.check(tmp_path / "out")


def test_a_target_with_no_artifact_it_runs_is_refused(cli, guard, tmp_path, benched):
    export, _ = benched  # ONNX only; android-arm64 runs TFLite
    g = guard()
    assert_refused(cli("bench", export, "--target", "android-arm64", "--out", tmp_path / "out"),
                   "target android-arm64 runs tflite", "drop it from --target")
    g.check(tmp_path / "out")
