"""Theoretical peaks of this host from its `HostCpu` facts: compute cores x clock x operations per cycle per core,
each with the reasoning as text. These are peaks for a roofline, not sustained rates, and not vendor figures.

Per core and cycle (2 operations per multiply-add):
* FP32: two 512-bit FMA units (Intel server cores with AVX-512) 64; AMD family 25 (Zen 4) runs AVX-512 as
  2 x 256-bit, 32; AVX2 + FMA 32; otherwise 8, assumed.
* INT8: AMX-INT8 2048 (Intel's figure, theoretical); VNNI (avx512_vnni / avx_vnni) 4 x the FP32 rate;
  otherwise 2 x the FP32 rate, assumed.
* BF16: AMX-BF16 1024 (Intel's figure, theoretical); avx512_bf16 2 x the FP32 rate; otherwise the FP32 rate.
* FP16: AMX-FP16 1024; avx512_fp16 2 x the FP32 rate; otherwise the FP32 rate (computed in FP32).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from vitedge.targets.hostcpu import HostCpu

ASSUMED_CLOCK_GHZ = 2.0
AMX_SOURCE = ("Intel AMX on 4th Gen Xeon (Sapphire Rapids): 2048 INT8 or 1024 BF16 operations per cycle per core "
              "(Intel Architecture Day 2021; theoretical, not measured here)")
COMPUTED = "computed from this host's /proc/cpuinfo when the profile loads (a theoretical peak, not a vendor figure)"


@dataclass(frozen=True)
class Rate:
    """Operations per cycle per core, and why."""

    per_cycle: float
    basis: str


def fp32_rate(cpu: HostCpu) -> Rate:
    """FP32 FLOP per cycle per core from the vector ISA and the vendor's FMA datapath."""
    if not cpu.flags_known:
        return Rate(8, "assumed 8 (ISA unknown: no flags line in /proc/cpuinfo)")
    if cpu.has("avx512f") and cpu.vendor == "AuthenticAMD":
        if cpu.family is not None and cpu.family <= 25:
            return Rate(32, f"AMD family {cpu.family} with avx512f (Zen 4) executes AVX-512 as 2 x 256-bit: "
                            "two 256-bit FMA pipes x 8 lanes x 2")
        return Rate(64, f"AMD family {_shown(cpu.family)} with avx512f: assumed a 512-bit datapath (Zen 5 desktop "
                        "and server parts; mobile Zen 5 runs 2 x 256-bit, 32)")
    if cpu.has("avx512f"):
        return Rate(64, "avx512f: assumed two 512-bit FMA units x 16 lanes x 2 (Intel server cores; client cores "
                        "and some Xeon Silver / Bronze SKUs have one, 32)")
    if cpu.has("avx2") and cpu.has("fma"):
        return Rate(32, "avx2 + fma: assumed two 256-bit FMA units x 8 lanes x 2")
    return Rate(8, "assumed 8: no avx2 + fma in the flags (SSE-class: 4 lanes, separate multiply and add)")


def int8_rate(cpu: HostCpu, fp32: Rate) -> Rate:
    """INT8 operations per cycle per core (2 per multiply-add)."""
    if cpu.has("amx_int8") and cpu.has("amx_tile"):
        return Rate(2048, f"amx_int8: theoretical, {AMX_SOURCE}")
    for flag in ("avx512_vnni", "avx_vnni"):
        if cpu.has(flag):
            return Rate(4 * fp32.per_cycle, f"{flag}: VPDPBUSD does 4 u8 x s8 multiply-adds per 32-bit lane, "
                                            f"4 x the FP32 rate of {fp32.per_cycle:g}")
    reason = "ISA unknown" if not cpu.flags_known else "no VNNI: pmaddubsw + pmaddwd sequences"
    return Rate(2 * fp32.per_cycle, f"assumed 2 x the FP32 rate of {fp32.per_cycle:g} ({reason})")


def bf16_rate(cpu: HostCpu, fp32: Rate) -> Rate:
    """BF16 operations per cycle per core: what OpenVINO may run fp32 / fp16 models in on BF16-capable CPUs."""
    if cpu.has("amx_bf16") and cpu.has("amx_tile"):
        return Rate(1024, f"amx_bf16: theoretical, {AMX_SOURCE}")
    if cpu.has("avx512_bf16"):
        return Rate(2 * fp32.per_cycle, f"avx512_bf16: VDPBF16PS does 2 bf16 multiply-adds per 32-bit lane, "
                                        f"2 x the FP32 rate of {fp32.per_cycle:g}")
    return Rate(fp32.per_cycle, "no BF16 instructions (or ISA unknown): the FP32 rate")


def fp16_rate(cpu: HostCpu, fp32: Rate) -> Rate:
    """FP16 operations per cycle per core; without native FP16 math an fp16 model is computed in FP32."""
    if cpu.has("amx_fp16") and cpu.has("amx_tile"):
        return Rate(1024, "amx_fp16: assumed the AMX-BF16 rate of 1024 (theoretical, not measured here)")
    if cpu.has("avx512_fp16"):
        return Rate(2 * fp32.per_cycle, f"avx512_fp16: native fp16 FMA, 32 lanes per 512-bit vector, 2 x the FP32 "
                                        f"rate of {fp32.per_cycle:g}; whether a runtime uses it is up to the runtime")
    why = "ISA unknown" if not cpu.flags_known else "no avx512_fp16 flag"
    return Rate(fp32.per_cycle, f"{why}: fp16 models are computed in FP32 (or BF16 by OpenVINO), so the FP32 "
                                f"rate of {fp32.per_cycle:g} is used")


def _shown(value) -> str:
    return "unknown" if value is None else str(value)


def clock_ghz(cpu: HostCpu) -> tuple[float, str]:
    """The clock the peaks use, and where it comes from."""
    if cpu.clock_mhz is None:
        return ASSUMED_CLOCK_GHZ, f"assumed {ASSUMED_CLOCK_GHZ:g} GHz (no 'cpu MHz' line in /proc/cpuinfo)"
    ghz = cpu.clock_mhz / 1000
    return ghz, f"{ghz:.3g} GHz ('cpu MHz' in /proc/cpuinfo: the current reported clock, not a guaranteed one)"


def compute_cores(cpu: HostCpu) -> tuple[int, str]:
    """Physical cores behind the usable logical ones: SMT siblings share one core's vector units."""
    logical = cpu.logical_cores or 1
    where = f"{logical} logical cores usable by this process" if cpu.logical_cores else "1 core assumed (unknown)"
    per_core = cpu.threads_per_core or 1
    if per_core == 1:
        return logical, where
    cores = math.ceil(logical / per_core)
    return cores, f"{where} / {per_core} threads per core (cpuinfo siblings / cpu cores) = {cores} cores"


def peak_tera(cpu: HostCpu, rate: Rate) -> tuple[float, str]:
    """cores x clock x rate in tera-operations per second, and the product spelled out."""
    cores, cores_text = compute_cores(cpu)
    ghz, clock_text = clock_ghz(cpu)
    value = cores * ghz * rate.per_cycle / 1000
    return value, f"{cores_text} x {clock_text} x {rate.per_cycle:g} op/cycle/core ({rate.basis}) = {value:.4g}"


def host_rates(cpu: HostCpu) -> dict[str, Rate]:
    """Per-core rates by precision: fp32, fp16, int8 and bf16."""
    fp32 = fp32_rate(cpu)
    return {"fp32": fp32, "fp16": fp16_rate(cpu, fp32), "int8": int8_rate(cpu, fp32), "bf16": bf16_rate(cpu, fp32)}
