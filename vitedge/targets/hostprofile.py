"""A `kind = "host"` profile (x86-cpu) describes whatever machine it loads on: its title, `[peak]` and `[sources]`
are computed from this host's `/proc/cpuinfo` (`hostcpu`, `hostpeaks`) and bandwidth (`hostmemory`), never written
in the TOML file, which keeps only what holds on every host."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from vitedge.errors import VitedgeError
from vitedge.targets.hostcpu import UNKNOWN, HostCpu, detect_host_cpu
from vitedge.targets.hostmemory import Bandwidth, assumed_bandwidth, measured_bandwidth
from vitedge.targets.hostpeaks import COMPUTED, host_rates, peak_tera
from vitedge.targets.profile import BANDWIDTH_KEY, PEAK_KEYS, TargetProfile

DETECTED = ("title", "peak", "sources")  # keys a host profile must not write: they depend on the machine


def isa_summary(cpu: HostCpu) -> str:
    """The vector / matrix extensions that decide speed, e.g. "AVX-512, VNNI, AVX512-BF16, no AMX"."""
    if not cpu.flags_known:
        return "ISA unknown: no flags in /proc/cpuinfo"
    if cpu.has("avx512f"):
        parts = ["AVX-512"]
    else:
        parts = ["AVX2" + (" + FMA" if cpu.has("fma") else "")] if cpu.has("avx2") else ["no AVX2"]
    if cpu.has("avx512_vnni") or cpu.has("avx_vnni"):
        parts.append("VNNI")
    parts += [name for flag, name in (("avx512_bf16", "AVX512-BF16"), ("avx512_fp16", "AVX512-FP16"))
              if cpu.has(flag)]
    amx = [kind.upper() for kind in ("int8", "bf16", "fp16") if cpu.has(f"amx_{kind}")]
    parts.append(f"AMX-{'/'.join(amx)}" if amx else "no AMX")
    if cpu.hypervisor:
        parts.append("under a hypervisor")
    return ", ".join(parts)


def host_title(cpu: HostCpu) -> str:
    """`This host: <model name>, <N> logical cores (<ISA summary>)`, all of it detected."""
    model = cpu.model_name if cpu.model_name != UNKNOWN else "unknown CPU model"
    cores = f"{cpu.logical_cores} logical cores" if cpu.logical_cores else "unknown number of cores"
    return f"This host: {model}, {cores} ({isa_summary(cpu)})"


def host_peaks(cpu: HostCpu, bandwidth: Bandwidth) -> tuple[dict[str, float], dict[str, dict]]:
    """`[peak]` and `[sources]` tables for `cpu`, in the TOML's shape (so they pass the same validation)."""
    rates = host_rates(cpu)
    peak, sources = {}, {}
    for precision, key in PEAK_KEYS.items():
        value, detail = peak_tera(cpu, rates[precision])
        peak[key] = float(f"{value:.4g}")
        sources[key] = {"title": COMPUTED, "detail": detail}
    peak[BANDWIDTH_KEY] = bandwidth.gbs
    sources[BANDWIDTH_KEY] = bandwidth.source()
    return peak, sources


def host_notes(cpu: HostCpu) -> str:
    """What the title leaves out: vendor, family / model and clock."""
    family = UNKNOWN if cpu.family is None else cpu.family
    model = UNKNOWN if cpu.model is None else cpu.model
    return (f"Detected: vendor {cpu.vendor}, family {family} model {model}, clock "
            f"{'unknown' if cpu.clock_mhz is None else f'{cpu.clock_mhz:g} MHz (current, reported)'}.")


def with_host_facts(path: Path, raw: dict, cpu: HostCpu | None = None, bandwidth: Bandwidth | None = None) -> dict:
    """`raw` (a host profile's TOML) with title, peaks, sources and notes computed for `cpu` (default: this host)
    and `bandwidth` (default: the labelled assumption)."""
    for key in DETECTED:
        if key in raw:
            raise VitedgeError(f"{path}: key {key!r}: a host profile's {key} is computed from the machine it loads "
                               "on, not written", f"remove {key!r} from {Path(path).name}")
    cpu = cpu or detect_host_cpu()
    peak, sources = host_peaks(cpu, bandwidth or assumed_bandwidth())
    notes = " ".join(part for part in (raw.get("notes", ""), host_notes(cpu)) if part)
    return {**raw, "title": host_title(cpu), "peak": peak, "sources": sources, "notes": notes}


def measured_host_profile(profile: TargetProfile, threads: int | None = None) -> TargetProfile:
    """`profile` (a host profile) reloaded with this host's bandwidth measured (once per process)."""
    from vitedge.targets.profile import load_profile

    cpu = detect_host_cpu()
    bandwidth = measured_bandwidth(threads or cpu.logical_cores or 1)
    return load_profile(Path(profile.path), cpu=cpu, bandwidth=bandwidth)


def host_record(profile: TargetProfile) -> dict:
    """What bench.json keeps of the host it measured on: title, peaks and their sources."""
    return {"target": profile.name, "title": profile.title, "peak": dict(profile.peak),
            "sources": {key: asdict(source) for key, source in profile.sources.items()}, "notes": profile.notes}
