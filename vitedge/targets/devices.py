"""On-device benchmarks: the commands to run on a Jetson (trtexec) or an Android phone (LiteRT
`benchmark_model`), and parsers of the text those tools print, so their logs can be ingested.

Flag sources (checked, not guessed):
  * trtexec: NVIDIA/TensorRT `samples/common/sampleOptions.cpp` (InferenceOptions/BuildOptions help:
    --onnx, --shapes, --saveEngine, --fp16, --int8, --warmUp=N ms, --iterations=N, --duration=N s,
    --useSpinWait, --noDataTransfers; "if shapes are specified only for inference, they will be used
    also as min/opt/max in the build profile"). JetPack's binary lives at /usr/src/tensorrt/bin/trtexec
    (NVIDIA/TensorRT issue #4494, TensorRT 10.3 on Jetson Orin, `--int8` on a Q/DQ ONNX model).
  * trtexec output: `samples/common/sampleReporting.cpp` (printProlog/printEpilog) and trtexec.cpp
    ("TensorRT version: X.Y.Z").
  * benchmark_model: tensorflow/tensorflow `tensorflow/lite/tools/benchmark/README.md` (--graph,
    --num_threads, --warmup_runs, --num_runs, --use_xnnpack, --use_gpu, --gpu_precision_loss_allowed,
    adb push / chmod +x / adb shell under /data/local/tmp).
  * benchmark_model output: `benchmark_model.cc` (BenchmarkLoggingListener::OnBenchmarkEnd) and
    `stats_calculator.h` (Stat / StatWithPercentiles::OutputToStream: "count= first= curr= min= max=
    avg= std=" then " p5= median= p95=" in newer versions). Times are microseconds.
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from vitedge.errors import VitedgeError
from vitedge.fileio import write_text_atomic

PRECISIONS = ("fp32", "fp16", "int8")
DELEGATES = ("xnnpack", "gpu")
MAX_LOG_BYTES = 64 << 20  # a trtexec / benchmark_model log is a few KiB to a few MiB (verbose)
KIND_FORMATS = {"jetson": "onnx", "android": "tflite"}
TRTEXEC = "/usr/src/tensorrt/bin/trtexec"  # JetPack 6 location
DEVICE_DIR = "/data/local/tmp"  # writable and executable for adb shell
TRT_PRECISION_FLAGS = {"fp32": [], "fp16": ["--fp16"], "int8": ["--int8"]}

_VAR = re.compile(r'^"\$\{?\w+\}?"$')  # a quoted shell variable is left for the shell to expand
_PREFIX = re.compile(r"^(?:\s*\[[^\]]*\])+\s*|^.*?\bINFO:\s*|^.*?\btflite\s*:\s*")
_PAIR = re.compile(r"([A-Za-z][\w()%]*)\s*=\s*([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|inf|nan))")


@dataclass
class DeviceMeasurement:
    """One on-device benchmark, in milliseconds; `note` says which statistic fills each field."""

    tool: str  # "trtexec" | "benchmark_model"
    tool_version: str | None
    latency_ms_p50: float  # median, or the mean where the tool prints no median (see note)
    latency_ms_p90: float | None  # p90, or p95 where only that is printed, else None (see note)
    latency_ms_min: float
    latency_ms_mean: float
    throughput_per_s: float | None
    runs: int | None
    raw_summary: list[str] = field(default_factory=list)
    note: str = ""
    details: dict = field(default_factory=dict)  # tool-specific: GPU compute time, precision, delegate, ...

    def to_dict(self) -> dict:
        return asdict(self)


def _sh(arg: str) -> str:
    return arg if _VAR.match(arg) else shlex.quote(arg)


def _check(value: str, allowed: tuple, what: str) -> str:
    if value not in allowed:
        raise VitedgeError(f"unknown {what} {value!r}", f"use one of: {', '.join(allowed)}")
    return value


def _batch1(input_name: str, input_shape: list) -> str:
    """`name:1xCxHxW`: the ONNX batch axis is dynamic, so it is pinned to 1 (a single image)."""
    dims = list(input_shape)[1:]
    if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
        raise VitedgeError(f"input {input_name!r} has shape {input_shape}; trtexec needs fixed non-batch dims",
                           "export the model with a static image size")
    return f"{input_name}:" + "x".join(str(d) for d in [1, *dims])


def jetson_commands(artifact_path: str, input_name: str, input_shape: list[int], precision: str, *,
                    log_dir: str = ".", trtexec: str = TRTEXEC, warmup_ms: int = 1000,
                    iterations: int = 200, duration_s: int = 10) -> list[str]:
    """Shell commands to run on a Jetson (JetPack 6, TensorRT 10): build an engine from the ONNX
    artifact with trtexec and time it, output in `<log_dir>/<stem>_<precision>.trtexec.log`.

    `--noDataTransfers` is NOT passed: trtexec's "Latency" is H2D + GPU compute + D2H, the per-image cost
    an application pays; the GPU-only number is still in "GPU Compute Time", which the parser keeps too.
    `--useSpinWait` is passed: it reduces synchronisation jitter (trtexec itself suggests it when GPU time
    is unstable). INT8 uses `--int8` on the Q/DQ model (layers left in float run in FP32), never `--best`.
    """
    _check(precision, PRECISIONS, "precision")
    stem = f"{PurePosixPath(artifact_path).stem}_{precision}"
    engine, log = f"{log_dir}/{stem}.engine", f"{log_dir}/{stem}.trtexec.log"
    args = [trtexec, f"--onnx={artifact_path}", f"--shapes={_batch1(input_name, input_shape)}",
            f"--saveEngine={engine}", *TRT_PRECISION_FLAGS[precision], f"--warmUp={warmup_ms}",
            f"--iterations={iterations}", f"--duration={duration_s}", "--useSpinWait"]
    run = " ".join(_sh(a) for a in args) + f" > {_sh(log)} 2>&1"
    return [f"mkdir -p {_sh(log_dir)}", run]


def android_commands(tflite_path: str, threads: int, delegate: str, *, precision: str | None = None,
                     log_dir: str = ".", binary: str = "benchmark_model", warmup_runs: int = 20,
                     num_runs: int = 100) -> list[str]:
    """Host-side adb commands: push the model and benchmark_model to /data/local/tmp, make it executable,
    run it with the XNNPACK (CPU) or GPU delegate, and save its output on the host in `log_dir`.

    For an fp32 model on the GPU delegate `--gpu_precision_loss_allowed=false` is added: the delegate
    otherwise computes in fp16 by default, which would not be an fp32 measurement.
    """
    _check(delegate, DELEGATES, "delegate")
    if precision is not None:
        _check(precision, PRECISIONS, "precision")
    if not isinstance(threads, int) or threads < 1:
        raise VitedgeError(f"threads must be a positive integer, got {threads!r}")
    name = re.sub(r"[^\w.-]", "_", PurePosixPath(tflite_path).name)  # adb shell re-parses: keep it shell-safe
    on_device, tool = f"{DEVICE_DIR}/{name}", f"{DEVICE_DIR}/benchmark_model"
    tag = "_".join(p for p in (PurePosixPath(tflite_path).stem, precision, delegate, f"t{threads}") if p)
    log = f"{log_dir}/{tag}.benchmark_model.log"
    flags = [f"--graph={on_device}", f"--num_threads={threads}", f"--use_{delegate}=true"]
    if delegate == "gpu" and precision == "fp32":
        flags.append("--gpu_precision_loss_allowed=false")
    flags += [f"--warmup_runs={warmup_runs}", f"--num_runs={num_runs}"]
    return [f"adb push {_sh(tflite_path)} {on_device}", f"adb push {_sh(binary)} {tool}",
            f"adb shell chmod +x {tool}", f"mkdir -p {_sh(log_dir)}",
            f"adb shell {tool} " + " ".join(_sh(f) for f in flags) + f" > {_sh(log)} 2>&1"]


def _log_of(command: str) -> str | None:
    match = re.search(r" > (\S+) 2>&1$", command)
    return shlex.split(match.group(1))[0] if match else None


_HEADERS = {
    "jetson": """# Run ON the Jetson (JetPack 6 / TensorRT 10). Copy to the device, keeping the layout:
#   this folder ({target}/) and the ONNX files it names, e.g. from {out}:
#   rsync -R {files} {target}/run_on_device.sh jetson:vitedge/
# then on the Jetson: bash vitedge/{target}/run_on_device.sh   (engines and logs go to {target}/logs/).
# For stable numbers first: sudo nvpmodel -m 0 && sudo jetson_clocks. TRTEXEC overrides the trtexec path.
# Bring the logs back: rsync jetson:vitedge/{target}/logs/ {out}/{target}/logs/""",
    "android": """# Run on the HOST, with one phone attached (adb devices). Needs the Android arm64 benchmark_model
# binary (LiteRT/TFLite prebuilt, or bazel build --config=android_arm64): set BENCHMARK_MODEL to its
# absolute path (default: benchmark_model in {out}).
# Models and the binary are pushed to /data/local/tmp; logs are written on the host in {target}/logs/.
# Run it from {out}: bash {target}/run_on_device.sh""",
}


def write_device_scripts(target: str, kind: str, artifacts: list[tuple], out_dir: Path, *, threads: int = 4,
                         delegates: tuple[str, ...] = ("xnnpack",)) -> Path:
    """Write `out_dir/<target>/run_on_device.sh` for the artifacts whose format `kind` runs; return its path.

    `artifacts` holds (artifact_path, input_name, input_shape, precision, format) with artifact_path relative
    to `out_dir` (the artifacts.json folder); the script runs from `out_dir` (or its copy on the device).
    """
    fmt = KIND_FORMATS.get(_check(kind, tuple(KIND_FORMATS), "device kind"))
    chosen = [a for a in artifacts if a[4] == fmt]
    if not chosen:
        raise VitedgeError(f"no {fmt} artifact to run on {kind} target {target!r}",
                           f"export a {fmt} artifact first (vitedge export --format {fmt})")
    log_dir = f"{target}/logs"
    commands: list[str] = []
    for path, name, shape, precision, _ in chosen:
        if kind == "jetson":
            commands += jetson_commands(path, name, shape, precision, log_dir=log_dir, trtexec='"${TRTEXEC}"')
        else:
            for delegate in delegates:
                commands += android_commands(path, threads, delegate, precision=precision, log_dir=log_dir,
                                             binary='"${BENCHMARK_MODEL}"')
    commands = list(dict.fromkeys(commands))  # push the binary / mkdir once
    logs = [log for log in map(_log_of, commands) if log]
    out = Path(out_dir)
    header = _HEADERS[kind].format(target=target, out=out, files=" ".join(shlex.quote(a[0]) for a in chosen))
    ingest = "\n".join(f"#   vitedge bench ingest {shlex.quote(str(out / target))} {shlex.quote(str(out / log))}"
                       for log in logs)
    env = (f'TRTEXEC="${{TRTEXEC:-{TRTEXEC}}}"' if kind == "jetson"
           else 'BENCHMARK_MODEL="${BENCHMARK_MODEL:-./benchmark_model}"')
    text = (f"#!/usr/bin/env bash\n{header}\n# Then ingest each log on the host:\n{ingest}\n"
            f"set -euo pipefail\n{env}\ncd \"$(dirname \"$0\")/..\"\n\n" + "\n".join(commands) + "\n")
    script = out / target / "run_on_device.sh"
    write_text_atomic(script, text)
    script.chmod(0o755)
    return script


# ---- parsers -------------------------------------------------------------------------------------------

def _message(line: str) -> str:
    """A log line without its `[date] [I] [TRT]` / `INFO:` / logcat prefix."""
    return _PREFIX.sub("", line.strip(), count=1).strip()


def _pairs(text: str) -> dict[str, float]:
    """`key = 1.5 ms, key2=3` -> {key: 1.5, key2: 3.0} (both tools print statistics this way)."""
    return {k: float(v) for k, v in _PAIR.findall(text)}


def _find(messages: list[str], prefix: str) -> str | None:
    """The last message starting with `prefix`, without the prefix."""
    hits = [m[len(prefix):].strip() for m in messages if m.startswith(prefix)]
    return hits[-1] if hits else None


def _missing(tool: str, expected: str) -> VitedgeError:
    return VitedgeError(f"this is not {tool} output: no {expected} line found",
                        f"pass the complete log the device script wrote for {tool}")


def _trt_version(text: str, messages: list[str]) -> str | None:
    match = re.search(r"TensorRT version:?\s*v?(\d+(?:\.\d+)+)", text)
    if match:
        return match.group(1)
    packed = re.search(r"\[TensorRT v(\d{4,6})\]", text)  # "&&&& RUNNING TensorRT.trtexec [TensorRT v100300]"
    if not packed:
        return None
    n = int(packed.group(1))
    major, minor = (n // 10000, n // 100 % 100) if n >= 100000 else (n // 1000, n // 100 % 10)
    return f"{major}.{minor}.{n % 100}"


def parse_trtexec(text: str) -> DeviceMeasurement:
    """Read trtexec's "=== Performance summary ===": end-to-end Latency (H2D + compute + D2H) as the
    latency, GPU Compute Time kept in `details`, plus the TensorRT version and build precision."""
    messages = [_message(line) for line in text.splitlines()]
    starts = [i for i, m in enumerate(messages) if m == "=== Performance summary ==="]
    if not starts:
        raise _missing("trtexec", '"=== Performance summary ==="')
    summary = messages[starts[-1]:]
    latency, qps = _find(summary, "Latency:"), _find(summary, "Throughput:")
    lat = _pairs(latency or "")
    if not {"min", "mean", "median"} <= lat.keys():
        raise _missing("trtexec", '"Latency: min = ..., mean = ..., median = ..."')
    p90 = lat.get("percentile(90%)")
    runs = re.search(r"Timing trace has (\d+) queries", text)
    precision, transfers = _find(messages, "Precision:"), _find(messages, "Data transfers:")
    note = "p50 = trtexec median of end-to-end Latency (H2D + GPU compute + D2H); " + (
        "p90 = percentile(90%)" if p90 is not None else "no percentile(90%) printed (older trtexec): p90 is None")
    keys = ("Throughput:", "Latency:", "GPU Compute Time:", "Total Host Walltime:", "Total GPU Compute Time:")
    details = {"latency_ms_max": lat.get("max"), "latency_ms_p99": lat.get("percentile(99%)"),
               "gpu_compute_ms": _pairs(_find(summary, "GPU Compute Time:") or "") or None,
               "precision": precision, "data_transfers": transfers, "spin_wait": _find(messages, "Spin-wait:")}
    return DeviceMeasurement(
        tool="trtexec", tool_version=_trt_version(text, messages), latency_ms_p50=lat["median"],
        latency_ms_p90=p90, latency_ms_min=lat["min"], latency_ms_mean=lat["mean"],
        throughput_per_s=float(qps.split()[0]) if qps else None, runs=int(runs.group(1)) if runs else None,
        raw_summary=[m for m in summary if m.startswith(keys)], note=note, details=details)


def _benchmark_stat(messages: list[str]) -> str | None:
    """The `count=...` line of the measured runs: the first one after the last "Running benchmark" line."""
    starts = [i for i, m in enumerate(messages) if m.startswith("Running benchmark for at least")]
    tail = messages[starts[-1]:] if starts else messages
    counts = [m for m in tail if m.startswith("count=")]
    return (counts[0] if starts else counts[-1]) if counts else None


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1000.0


def parse_benchmark_model(text: str) -> DeviceMeasurement:
    """Read LiteRT/TFLite benchmark_model output (microseconds) into milliseconds."""
    messages = [_message(line) for line in text.splitlines()]
    stat_line, timings = _benchmark_stat(messages), _find(messages, "Inference timings in us:")
    if stat_line is None and timings is None:
        raise _missing("benchmark_model", '"count=... avg=..." or "Inference timings in us: ..."')
    stat = _pairs(stat_line or "")
    times = dict(re.findall(r"([A-Za-z][\w ()]*?):\s*([-+\d.eE]+)", timings or ""))
    mean_us = stat.get("avg", stat.get("curr") if "(all same)" in (stat_line or "") else None)
    if mean_us is None and "Inference (avg)" in times:
        mean_us = float(times["Inference (avg)"])
    if mean_us is None:
        raise _missing("benchmark_model", '"Inference (avg)" or "avg="')
    median_us, p95_us = stat.get("median"), stat.get("p95")
    note = ("p50 = benchmark_model median" if median_us is not None else
            "p50 = benchmark_model mean (this version prints no median)") + "; " + (
        "p90 field holds p95 (benchmark_model prints p5/median/p95, no p90)" if p95_us is not None
        else "no percentiles printed: p90 is None") + "; throughput = 1000 / mean ms (one run at a time)"
    delegate = next((d for d in DELEGATES if _find(messages, f"Use {d}:") in ("[1]", "[true]")), None)
    details = {k: _ms(float(times[v])) for k, v in (("init_ms", "Init"), ("first_inference_ms", "First inference"),
                                                    ("warmup_avg_ms", "Warmup (avg)")) if v in times}
    details.update(latency_ms_max=_ms(stat.get("max")), latency_ms_std=_ms(stat.get("std")),
                   latency_ms_p5=_ms(stat.get("p5")), num_threads=_find(messages, "Num threads:"), delegate=delegate)
    return DeviceMeasurement(
        tool="benchmark_model", tool_version=None, latency_ms_p50=_ms(median_us if median_us is not None else mean_us),
        latency_ms_p90=_ms(p95_us), latency_ms_min=_ms(stat.get("min", mean_us)), latency_ms_mean=_ms(mean_us),
        throughput_per_s=1e6 / mean_us if mean_us > 0 else None,
        runs=int(stat["count"]) if "count" in stat else None,
        raw_summary=[m for m in (stat_line, timings and f"Inference timings in us: {timings}") if m],
        note=note, details=details)


def parse_device_log(path: Path) -> DeviceMeasurement:
    """Parse a device log, telling trtexec from benchmark_model by its text."""
    from vitedge.readfile import read_bytes

    text = read_bytes(path, "device log", "pass the log the device script wrote (trtexec or benchmark_model output)",
                      MAX_LOG_BYTES).decode("utf-8", errors="replace")
    if "=== Performance summary ===" in text or "TensorRT.trtexec" in text:
        return _checked(parse_trtexec(text), path)
    if "Inference timings in us" in text or "Running benchmark for at least" in text:
        return _checked(parse_benchmark_model(text), path)
    raise VitedgeError(f"{path} is neither trtexec nor benchmark_model output",
                       'expected "=== Performance summary ===" (trtexec) or "Inference timings in us" '
                       "(benchmark_model)")


MAX_LATENCY_MS = 3_600_000.0  # one inference taking an hour is a broken log, not a measurement


def _checked(m: DeviceMeasurement, path: Path) -> DeviceMeasurement:
    """Every figure a positive, finite, plausible number: a NaN, negative or 1e300 ms latency never reaches
    bench.json (it would rank the artifact and fill the speed-up)."""
    figures = {"latency p50": m.latency_ms_p50, "latency p90": m.latency_ms_p90, "latency min": m.latency_ms_min,
               "latency mean": m.latency_ms_mean}
    for name, value in figures.items():
        if value is not None and not (math.isfinite(value) and 0 < value <= MAX_LATENCY_MS):
            raise VitedgeError(f"device log {path}: {m.tool} {name} = {value!r} ms is not a plausible latency "
                               f"(a finite number above 0 and at most {MAX_LATENCY_MS:g} ms)",
                               "the log is damaged or was edited; re-run the device script and ingest its log")
    if m.throughput_per_s is not None and not (math.isfinite(m.throughput_per_s) and m.throughput_per_s > 0):
        raise VitedgeError(f"device log {path}: {m.tool} throughput = {m.throughput_per_s!r} per second is not "
                           "plausible", "the log is damaged or was edited; re-run the device script")
    return m
