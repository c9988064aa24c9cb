"""Peaks from host facts: the ISA decides the rate per cycle, and every figure says why."""
from __future__ import annotations

import pytest

from tests.targets.test_hostcpu import AMD_ZEN4, ARM_BOARD, INTEL_SPR
from vitedge.targets.hostcpu import parse_cpuinfo
from vitedge.targets.hostpeaks import ASSUMED_CLOCK_GHZ, compute_cores, host_rates, peak_tera

AMD = parse_cpuinfo(AMD_ZEN4, logical_cores=2)
INTEL = parse_cpuinfo(INTEL_SPR, logical_cores=8)
ARM = parse_cpuinfo(ARM_BOARD)


def test_zen4_rates_follow_its_double_pumped_avx512():
    rates = host_rates(AMD)
    assert rates["fp32"].per_cycle == 32 and "2 x 256-bit" in rates["fp32"].basis
    assert rates["int8"].per_cycle == 128 and "avx512_vnni" in rates["int8"].basis
    assert rates["bf16"].per_cycle == 64 and "avx512_bf16" in rates["bf16"].basis
    assert rates["fp16"].per_cycle == 32 and "no avx512_fp16" in rates["fp16"].basis


def test_sapphire_rapids_rates_use_amx_and_native_fp16():
    rates = host_rates(INTEL)
    assert rates["fp32"].per_cycle == 64 and "two 512-bit FMA units" in rates["fp32"].basis
    assert rates["int8"].per_cycle == 2048 and "theoretical" in rates["int8"].basis
    assert rates["bf16"].per_cycle == 1024 and "amx_bf16" in rates["bf16"].basis
    assert rates["fp16"].per_cycle == 128 and "avx512_fp16" in rates["fp16"].basis


def test_peak_is_cores_times_clock_times_rate():
    assert compute_cores(AMD)[0] == 2
    cores, text = compute_cores(INTEL)  # 8 logical, 2 threads per core: 4 cores' vector units
    assert cores == 4 and "2 threads per core" in text
    fp32, detail = peak_tera(AMD, host_rates(AMD)["fp32"])
    assert fp32 == pytest.approx(2 * 2.6 * 32 / 1000)
    assert "cpu MHz" in detail and "current reported clock" in detail
    int8, _ = peak_tera(INTEL, host_rates(INTEL)["int8"])
    assert int8 == pytest.approx(4 * 2.4 * 2048 / 1000)


def test_unknown_isa_and_clock_are_assumptions_said_so():
    rates = host_rates(ARM)
    assert rates["fp32"].per_cycle == 8 and "assumed" in rates["fp32"].basis
    assert all("unknown" in rate.basis.lower() for rate in rates.values())
    value, detail = peak_tera(ARM, rates["fp32"])
    assert value == pytest.approx(2 * ASSUMED_CLOCK_GHZ * 8 / 1000) and f"assumed {ASSUMED_CLOCK_GHZ:g} GHz" in detail


def test_avx2_only_host():
    haswell = parse_cpuinfo("vendor_id\t: GenuineIntel\ncpu MHz\t\t: 3000.0\nflags\t\t: sse2 avx avx2 fma\n", 4)
    rates = host_rates(haswell)
    assert rates["fp32"].per_cycle == 32 and rates["int8"].per_cycle == 64 and "assumed" in rates["int8"].basis
