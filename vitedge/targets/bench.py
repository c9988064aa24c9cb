"""`vitedge bench`: latency per target — measured here, estimated (labelled, with its basis), or measured on the
device from ingested logs — each against the SAM3-on-T4 baseline."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vitedge.artifact import Artifact
from vitedge.console import log
from vitedge.targets.host import cpu_info, measure
from vitedge.targets.ranking import rank_interleaved

MEASURED_HERE, ON_DEVICE, ESTIMATED = "measured here", "measured on device", "estimated"


@dataclass
class BenchRow:
    target: str
    format: str
    precision: str
    scheme: str
    path: str
    bytes: int
    top1: float | None
    drop_pp: float | None
    latency_ms_p50: float | None
    latency_ms_p90: float | None
    throughput_per_s: float | None
    obtained: str  # measured here | measured on device | estimated
    basis: str  # how: runtime, threads, iterations; or the estimate's peaks and sources; or the device log
    speedup_vs_baseline: float | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


RUNTIME_TYPES = {"f32": "fp32", "f16": "fp16", "bf16": "bf16"}  # OpenVINO element types -> precision names


def computes_in(details: dict | None) -> str | None:
    """What the runtime computed in when the row was measured here (OpenVINO: f32 / bf16), else None."""
    return ((details or {}).get("host") or {}).get("executed_precision")


def precision_label(precision: str, computed_in: str | None) -> str:
    """The precision, and what the runtime computed in when that differs (OpenVINO INT8: its float ops in bf16)."""
    computed = RUNTIME_TYPES.get(computed_in or "")
    if computed is None or computed == precision:
        return precision
    return f"{precision} ({computed} float ops)" if precision == "int8" else f"{precision} (runs {computed})"


def scheme_of(artifact: Artifact) -> str:
    q = artifact.quantization
    return "fp32" if not q else (q["scheme"]["mode"] if q["scheme"]["precision"] == "int8" else q["scheme"]["precision"])


def base_row(target: str, artifact: Artifact, obtained: str, basis: str) -> BenchRow:
    acc = artifact.accuracy or {}
    return BenchRow(target, artifact.format, artifact.precision, scheme_of(artifact), artifact.path, artifact.bytes,
                    acc.get("top1"), acc.get("drop_pp"), None, None, None, obtained, basis)


def host_rows(target: str, artifacts: list[Artifact], root: Path, image: np.ndarray, threads: int,
              formats: tuple[str, ...]) -> list[BenchRow]:
    """Measure every artifact this host runs, batch 1, in its own runtime."""
    rows = []
    for artifact in artifacts:
        if artifact.format not in formats:
            continue
        log(f"{target}: timing {artifact.path} ({artifact.format} {artifact.precision}) with {threads} threads")
        m = measure(root / artifact.path, artifact.format, image, threads, precision=artifact.precision)
        basis = (f"{m.runtime} computing in {m.executed_precision}, {m.threads} threads, batch 1, {m.warmup} "
                 f"warm-up + {m.iterations} timed runs, "
                 f"CV {m.cv:.1%}" + (" (NOISY: do not trust)" if m.noisy else ""))
        row = base_row(target, artifact, MEASURED_HERE, basis)
        row.latency_ms_p50, row.latency_ms_p90 = m.latency_ms_p50, m.latency_ms_p90
        row.throughput_per_s = round(1000 / m.latency_ms_p50, 2)
        row.details = {"host": m.to_dict(), "cpu": cpu_info()}
        rows.append(row)
    rank_interleaved(rows, root, image, threads)
    return rows


def default_threads(requested: int | None) -> int:
    return requested or os.cpu_count() or 1


def _onnx_twin(artifact: Artifact, artifacts: list[Artifact]) -> Artifact | None:
    """The ONNX artifact of the same precision and scheme: the graph whose MACs and bytes the estimate counts."""
    return next((a for a in artifacts if a.format == "onnx" and a.precision == artifact.precision
                 and scheme_of(a) == scheme_of(artifact)), None)


def estimated_rows(profile, artifacts: list[Artifact], root: Path, corrections: dict[str, float]) -> list[BenchRow]:
    """Roofline estimates for a target not measured here, scaled by this host's measured / estimated ratio."""
    from vitedge.targets.estimate import count_graph, estimate_latency_ms

    rows = []
    for artifact in artifacts:
        twin = _onnx_twin(artifact, artifacts)
        if artifact.format not in profile.formats or artifact.precision not in profile.precisions or twin is None:
            continue
        correction = corrections.get("fp32", 1.0)
        estimate = estimate_latency_ms(count_graph(root / twin.path), profile, artifact.precision, correction)
        row = base_row(profile.name, artifact, ESTIMATED, estimate.basis)
        row.latency_ms_p50 = round(estimate.latency_ms, 4)
        row.throughput_per_s = round(1000 / estimate.latency_ms, 2)
        row.details = {"estimate": {"compute_ms": estimate.compute_ms, "memory_ms": estimate.memory_ms,
                                    "bound": estimate.bound, "host_correction": correction}}
        rows.append(row)
    return rows


def host_corrections(host_rows_: list[BenchRow], artifacts: list[Artifact], root: Path,
                     host=None) -> dict[str, float]:
    """measured / estimated on this host (`host`: its profile, default x86-cpu as loaded) for the FP32 ONNX
    artifact: how far the roofline is from a real runtime. One factor for every precision: this CPU's fp16 / int8
    paths say nothing about a GPU's tensor cores."""
    from vitedge.targets.estimate import count_graph, estimate_latency_ms
    from vitedge.targets.profile import get_target

    host = host or get_target("x86-cpu")
    by_path = {a.path: a for a in artifacts}
    corrections = {}
    for row in host_rows_:
        artifact = by_path[row.path]
        if artifact.format == "onnx" and artifact.precision == "fp32":
            estimate = estimate_latency_ms(count_graph(root / artifact.path), host, "fp32")
            corrections["fp32"] = row.latency_ms_p50 / estimate.latency_ms
    return corrections


def with_speedup(rows: list[BenchRow]) -> list[BenchRow]:
    from vitedge.targets.baseline import load_baseline

    baseline = load_baseline()
    for row in rows:
        if row.latency_ms_p50:
            row.speedup_vs_baseline = round(baseline.speedup(row.latency_ms_p50), 1)
    return rows


@dataclass
class BenchResult:
    out: Path
    rows: list[BenchRow]
    scripts: list[Path]
    host: dict = field(default_factory=dict)  # the host profile as detected: title, peaks, sources

    def to_dict(self) -> dict:
        from vitedge.targets.baseline import load_baseline

        baseline = load_baseline()
        return {"schema": "vitedge.bench", "version": 1, "cpu": cpu_info(), "host": self.host,
                "baseline": {"model": baseline.model, "device": baseline.device, "latency_ms": baseline.latency_ms,
                             "parameters": baseline.parameters, "note": baseline.note},
                "rows": [r.to_dict() for r in self.rows], "device_scripts": [str(s) for s in self.scripts]}


def run_bench(artifacts: list[Artifact], root: Path, targets: list[str], image: np.ndarray, threads: int | None,
              out: Path) -> BenchResult:
    """Measure on this host, estimate the rest, and write the on-device scripts for Jetson / Android targets."""
    from vitedge.targets.devices import write_device_scripts
    from vitedge.targets.hostprofile import host_record, measured_host_profile
    from vitedge.targets.profile import get_target

    profiles = [get_target(name) for name in targets]
    _check_runnable(profiles, artifacts)
    host = get_target("x86-cpu")
    measured = [r for p in profiles if p.latency == "measured-here"
                for r in host_rows(p.name, artifacts, root, image, default_threads(threads or p.threads), p.formats)]
    if any(p.latency != "measured-here" for p in profiles):
        onnx_here = [r for r in measured if r.format == "onnx" and r.precision == "fp32"] or host_rows(
            "x86-cpu", [a for a in artifacts if a.format == "onnx" and a.precision == "fp32"], root, image,
            default_threads(threads), ("onnx",))
        host = measured_host_profile(host, default_threads(threads))  # the roofline needs this host's bandwidth
        corrections = host_corrections(onnx_here, artifacts, root, host)
    rows, scripts = list(measured), []
    corrections = corrections if any(p.latency != "measured-here" for p in profiles) else {}
    for profile in (p for p in profiles if p.latency != "measured-here"):
        rows += estimated_rows(profile, artifacts, root, corrections)
        if profile.kind in ("jetson", "android"):
            entries = [(os.path.relpath(root / a.path, out), a.inputs[0]["name"], a.inputs[0]["shape"], a.precision,
                        a.format) for a in artifacts if a.format in profile.formats]
            if entries:
                scripts.append(write_device_scripts(profile.name, profile.kind, entries, out))
    _check_runnable(profiles, artifacts, rows)
    return BenchResult(out, with_speedup(rows), scripts, host_record(host))


def _check_runnable(profiles, artifacts: list[Artifact], rows: list[BenchRow] | None = None) -> None:
    """A target with no artifact it runs (or, once benched, no row: an estimate needs the ONNX twin) would leave
    bench.json without it: a bench that selects nothing is an error, not an empty success."""
    from vitedge.errors import VitedgeError

    present = ", ".join(sorted({f"{a.format} {a.precision}" for a in artifacts}))
    for profile in profiles:
        runs = [a for a in artifacts if a.format in profile.formats and a.precision in profile.precisions]
        if runs and (rows is None or any(r.target == profile.name for r in rows)):
            continue
        why = "none of them" if not runs else "no ONNX artifact of the same precision to estimate from"
        raise VitedgeError(f"target {profile.name} runs {', '.join(profile.formats)} ({profile.runtime}); the "
                           f"artifacts are {present}: {why}", f"export a format {profile.name} runs, or drop it "
                           "from --target")


def ingest(target_dir: Path, logs: list[Path]) -> list[BenchRow]:
    """Replace a target's estimated rows by what its device logs measured; returns the rows updated."""
    from vitedge.errors import VitedgeError
    from vitedge.fileio import write_json_atomic
    from vitedge.schema import read_document
    from vitedge.targets.devices import parse_device_log

    bench_file = Path(target_dir).parent / "bench.json"
    if not bench_file.is_file():
        raise VitedgeError(f"{bench_file} not found", "run `vitedge bench ... --target <device> --out <folder>` first")
    doc = read_document(bench_file, "bench")  # every row checked: a hand-edited file is refused, named
    target = Path(target_dir).name
    tools = _device_tools(target)
    updated = []
    for log_path in logs:
        row = _row_for_log(doc["rows"], target, Path(log_path).name)
        m = parse_device_log(Path(log_path))
        if m.tool not in tools:
            raise VitedgeError(f"{log_path} is {m.tool} output, but {target} runs {' / '.join(tools)}",
                               f"ingest the log its run_on_device.sh wrote for {target}")
        row.update(latency_ms_p50=m.latency_ms_p50, latency_ms_p90=m.latency_ms_p90, obtained=ON_DEVICE,
                   throughput_per_s=m.throughput_per_s,
                   basis=f"{m.tool} {m.tool_version or ''} on the device, log {Path(log_path).name}; {m.note}".strip(),
                   details={"device": m.to_dict()})
        updated.append(row)
    for row in doc["rows"]:
        row.update(speedup_vs_baseline=round(doc["baseline"]["latency_ms"] / row["latency_ms_p50"], 1)
                   if row.get("latency_ms_p50") else None)
    write_json_atomic(bench_file, doc)
    return [BenchRow(**r) for r in updated]


DEVICE_TOOLS = {"jetson": ("trtexec",), "android": ("benchmark_model",), "board": ("benchmark_model",)}


def _device_tools(target: str) -> tuple[str, ...]:
    """The benchmark tools whose logs a target's rows take; a target measured here takes none."""
    from vitedge.errors import VitedgeError
    from vitedge.targets.profile import get_target

    profile = get_target(target)
    if profile.latency == "measured-here" or profile.kind not in DEVICE_TOOLS:
        raise VitedgeError(f"{target} is measured on this host by `vitedge bench`: there is no device log to ingest",
                           "ingest takes the logs of a device target's run_on_device.sh (e.g. jetson-orin-nano, "
                           "android-arm64)")
    return DEVICE_TOOLS[profile.kind]


def _row_for_log(rows: list[dict], target: str, log_name: str) -> dict:
    """The target's row whose artifact file stem (longest match) and precision the log's name carries."""
    from vitedge.errors import VitedgeError

    candidates = [r for r in rows if r["target"] == target and Path(r["path"]).stem in log_name
                  and f"_{r['precision']}" in log_name]
    if not candidates:
        names = sorted(f"{Path(r['path']).stem}_{r['precision']}" for r in rows if r["target"] == target)
        raise VitedgeError(f"log {log_name} names no artifact benchmarked for {target}",
                           f"log names start with one of: {', '.join(names) or '(none: wrong target folder?)'}")
    return max(candidates, key=lambda r: len(Path(r["path"]).stem))
