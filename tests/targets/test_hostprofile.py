"""The x86-cpu profile describes the machine it loads on: title, peaks and sources computed, none written."""
from __future__ import annotations

import tomllib

import pytest

from tests.targets.test_hostcpu import AMD_ZEN4, ARM_BOARD, INTEL_SPR
from vitedge.errors import VitedgeError
from vitedge.targets.hostcpu import CPUINFO, detect_host_cpu, parse_cpuinfo
from vitedge.targets.hostmemory import Bandwidth
from vitedge.targets.hostprofile import host_record, isa_summary, measured_host_profile
from vitedge.targets.profile import PROFILES_DIR, get_target, load_profile

HOST_FILE = PROFILES_DIR / "x86-cpu.toml"
AMD = parse_cpuinfo(AMD_ZEN4, logical_cores=2)
INTEL = parse_cpuinfo(INTEL_SPR, logical_cores=8)
MACHINE_WORDS = ("EPYC", "Zen", "Xeon", "Intel", "AMD", "vCPU", "KVM", "GHz", "2600", "2400")


def test_the_file_names_no_machine():
    text = HOST_FILE.read_text()
    assert not [word for word in MACHINE_WORDS if word in text]
    assert not {"title", "peak", "sources"} & set(tomllib.loads(text))


def test_each_host_gets_its_own_title():
    amd, intel = load_profile(HOST_FILE, cpu=AMD), load_profile(HOST_FILE, cpu=INTEL)
    assert amd.title == ("This host: AMD EPYC 9R14 96-Core Processor, 2 logical cores "
                         "(AVX-512, VNNI, AVX512-BF16, no AMX, under a hypervisor)")
    assert intel.title.startswith("This host: Intel(R) Xeon(R) Platinum 8488C, 8 logical cores (")
    assert "AVX512-FP16" in intel.title and "AMX-INT8/BF16" in intel.title
    assert not any(word in intel.title for word in ("EPYC", "AMD", "Zen"))
    assert not any(word in amd.title + amd.notes for word in ("Xeon", "Intel", "Sapphire"))
    assert "vendor GenuineIntel, family 6 model 143" in intel.notes


def test_peaks_differ_as_the_isa_says():
    amd, intel = load_profile(HOST_FILE, cpu=AMD), load_profile(HOST_FILE, cpu=INTEL)
    assert amd.peak["int8_tops"] == pytest.approx(2 * 2.6 * 128 / 1000, rel=1e-3)
    assert intel.peak["int8_tops"] > 10 * amd.peak["int8_tops"]
    int8_per_fp32 = [p.peak["int8_tops"] / p.peak["fp32_tflops"] for p in (amd, intel)]
    assert int8_per_fp32 == pytest.approx([4, 32], rel=1e-3)  # VNNI: 4 x fp32; AMX-INT8: 2048 / 64
    assert amd.peak["fp16_tflops"] == amd.peak["fp32_tflops"]  # no native fp16
    assert intel.peak["fp16_tflops"] == pytest.approx(2 * intel.peak["fp32_tflops"], rel=1e-3)
    bf16_per_fp32 = [p.peak["bf16_tflops"] / p.peak["fp32_tflops"] for p in (amd, intel)]
    assert bf16_per_fp32 == pytest.approx([2, 16], rel=1e-3)  # AVX512-BF16: 2 x fp32; AMX-BF16: 1024 / 64
    for profile in (amd, intel):
        assert set(profile.sources) == set(profile.peak)
        for key, source in profile.sources.items():
            assert source.title and len(source.detail) > 40, key
    assert "avx512_fp16" in intel.sources["fp16_tflops"].detail
    assert "no avx512_fp16" in amd.sources["fp16_tflops"].detail


def test_bandwidth_is_an_assumption_unless_measured():
    amd = load_profile(HOST_FILE, cpu=AMD)
    assert "not measured" in amd.sources["bandwidth_gbs"].title
    measured = Bandwidth(42.0, True, "measured here: test", "42 GB/s by this test")
    assert load_profile(HOST_FILE, cpu=AMD, bandwidth=measured).peak["bandwidth_gbs"] == 42.0


def test_unknown_host_loads_and_says_so():
    arm = load_profile(HOST_FILE, cpu=parse_cpuinfo(ARM_BOARD))
    assert arm.title == "This host: unknown CPU model, 2 logical cores (ISA unknown: no flags in /proc/cpuinfo)"
    assert all(value > 0 for value in arm.peak.values())
    assert all("assumed" in arm.sources[key].detail for key in ("fp32_tflops", "int8_tops"))
    assert isa_summary(parse_cpuinfo("flags\t\t: sse2\n")) == "no AVX2, no AMX"


@pytest.mark.parametrize("key, line", [("title", 'title = "This host: AMD EPYC"'),
                                       ("peak", "[peak]\nfp32_tflops = 1")])
def test_a_written_host_fact_is_refused(tmp_path, key, line):
    path = tmp_path / HOST_FILE.name
    path.write_text(HOST_FILE.read_text().replace('kind = "host"', f'kind = "host"\n{line}', 1)
                    if key == "title" else HOST_FILE.read_text() + line + "\n")
    with pytest.raises(VitedgeError, match=f"key '{key}'") as info:
        load_profile(path)
    assert str(path) in str(info.value)


@pytest.mark.skipif(not CPUINFO.is_file(), reason="no /proc/cpuinfo on this system")
def test_the_registered_profile_is_this_machine():
    names = [line.partition(":")[2].strip() for line in CPUINFO.read_text().splitlines()
             if line.startswith("model name")]
    profile = get_target("x86-cpu")
    assert profile.title.startswith("This host: ") and names and names[0] in profile.title
    assert f"{detect_host_cpu().logical_cores} logical cores" in profile.title


def test_measured_profile_and_record():
    profile = measured_host_profile(get_target("x86-cpu"), threads=1)
    assert profile.sources["bandwidth_gbs"].title.startswith("measured here") and profile.peak["bandwidth_gbs"] > 0
    record = host_record(profile)
    assert record["title"] == profile.title and record["peak"] == profile.peak
    assert record["sources"]["bandwidth_gbs"]["detail"] == profile.sources["bandwidth_gbs"].detail
