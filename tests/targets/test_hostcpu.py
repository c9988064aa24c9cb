"""Host CPU facts from /proc/cpuinfo text: recorded excerpts of an AMD Zen 4 VM, an Intel Sapphire Rapids VM and an
ARM board, plus this machine's own file."""
from __future__ import annotations

import pytest

from vitedge.targets.hostcpu import CPUINFO, UNKNOWN, detect_host_cpu, parse_cpuinfo

# first processor block of each host (flags trimmed of entries that decide nothing here)
AMD_ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14 96-Core Processor
stepping\t: 1
cpu MHz\t\t: 2600.000
cache size\t: 1024 KB
siblings\t: 2
cpu cores\t: 2
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht \
syscall nx mmxext lm constant_tsc rep_good nopl pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes \
xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy abm sse4a bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq \
rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves \
avx512_bf16 clzero avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid
bogomips\t: 5200.00

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
"""

INTEL_SPR = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8488C
stepping\t: 8
microcode\t: 0x2b000571
cpu MHz\t\t: 2400.000
cache size\t: 107520 KB
siblings\t: 8
cpu cores\t: 4
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht \
syscall nx pdpe1gb rdtscp lm constant_tsc arch_perfmon rep_good nopl xtopology nonstop_tsc cpuid tsc_known_freq pni \
pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand \
hypervisor lahf_lm abm 3dnowprefetch fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed \
adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni \
avx512_bf16 wbnoinvd ida arat avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni \
avx512_bitalg tme avx512_vpopcntdq rdpid cldemote movdiri movdir64b md_clear serialize tsxldtrk amx_bf16 avx512_fp16 \
amx_tile amx_int8 flush_l1d arch_capabilities
bogomips\t: 4800.00
"""

ARM_BOARD = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x4
CPU part\t: 0xd0b
CPU revision\t: 1

processor\t: 1
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid asimdrdm lrcpc dcpop asimddp
"""


def test_amd_zen4_facts():
    cpu = parse_cpuinfo(AMD_ZEN4, logical_cores=2)
    assert (cpu.vendor, cpu.model_name, cpu.family, cpu.model) == (
        "AuthenticAMD", "AMD EPYC 9R14 96-Core Processor", 25, 17)
    assert cpu.logical_cores == 2 and cpu.threads_per_core == 1 and cpu.clock_mhz == 2600.0 and cpu.hypervisor
    assert {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"} <= cpu.features
    assert not cpu.features & {"avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "avx_vnni"}


def test_intel_sapphire_rapids_facts():
    cpu = parse_cpuinfo(INTEL_SPR, logical_cores=8)
    assert (cpu.vendor, cpu.model_name, cpu.family, cpu.model) == (
        "GenuineIntel", "Intel(R) Xeon(R) Platinum 8488C", 6, 143)
    assert cpu.threads_per_core == 2 and cpu.clock_mhz == 2400.0 and cpu.hypervisor
    assert {"avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16"} <= cpu.features


def test_arm_board_and_empty_text_are_unknown_not_errors():
    for text in (ARM_BOARD, ""):
        cpu = parse_cpuinfo(text)
        facts = cpu.to_dict()
        assert cpu.vendor == UNKNOWN and cpu.model_name == UNKNOWN and not cpu.flags_known and not cpu.features
        for key in ("family", "model", "clock_mhz_current", "hypervisor", "features", "threads_per_core"):
            assert facts[key] == UNKNOWN, key
    assert parse_cpuinfo(ARM_BOARD).logical_cores == 2  # processor blocks counted when the caller gives none
    assert parse_cpuinfo("").logical_cores is None


def test_other_vendor_and_bad_numbers():
    cpu = parse_cpuinfo("vendor_id\t: HygonGenuine\ncpu family\t: x\ncpu MHz\t\t: 0\nflags\t\t: sse sse2\n")
    assert cpu.vendor == "other" and cpu.family is None and cpu.clock_mhz is None
    assert cpu.flags_known and cpu.hypervisor is False and not cpu.features


def test_missing_cpuinfo_file_gives_unknown(tmp_path):
    cpu = detect_host_cpu(tmp_path / "no-such-cpuinfo")
    assert cpu.model_name == UNKNOWN and cpu.logical_cores  # usable cores still come from the OS


@pytest.mark.skipif(not CPUINFO.is_file(), reason="no /proc/cpuinfo on this system")
def test_this_machine_is_read():
    text = CPUINFO.read_text()
    cpu = detect_host_cpu()
    names = [line.partition(":")[2].strip() for line in text.splitlines() if line.startswith("model name")]
    assert cpu.model_name == (names[0] if names else UNKNOWN)
    assert cpu.logical_cores and cpu.logical_cores <= len([ln for ln in text.splitlines()
                                                           if ln.startswith("processor")])
