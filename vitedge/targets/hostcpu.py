"""What this host's CPU is, read from `/proc/cpuinfo`: vendor, model, usable cores, clock and the ISA features that
decide fp32 / int8 / bf16 / fp16 speed. `parse_cpuinfo` is a pure function of the text; `detect_host_cpu` reads it.

Anything the text does not say is UNKNOWN (a string field) or None (a number or a yes/no), never guessed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
UNKNOWN = "unknown"
VENDORS = ("GenuineIntel", "AuthenticAMD")  # the `vendor_id` values of Intel and AMD; anything else is "other"
FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
            "amx_int8", "amx_bf16", "amx_fp16")


@dataclass(frozen=True)
class HostCpu:
    """The facts about one CPU; `features` holds the FEATURES present, `flags_known` says whether a flags line
    was there at all (without one, absence proves nothing)."""

    vendor: str  # GenuineIntel | AuthenticAMD | other | unknown
    model_name: str
    family: int | None
    model: int | None
    logical_cores: int | None  # usable by this process
    threads_per_core: int | None  # cpuinfo `siblings` / `cpu cores`
    clock_mhz: float | None  # `cpu MHz`: the current reported clock, not a guaranteed one
    hypervisor: bool | None
    features: frozenset[str]
    flags_known: bool

    def has(self, feature: str) -> bool:
        """True only when the flags line lists `feature`."""
        return feature in self.features

    def to_dict(self) -> dict:
        """Every fact, "unknown" where cpuinfo does not say."""
        def shown(value):
            return UNKNOWN if value is None else value

        return {"vendor": self.vendor, "model_name": self.model_name, "family": shown(self.family),
                "model": shown(self.model), "logical_cores": shown(self.logical_cores),
                "threads_per_core": shown(self.threads_per_core), "clock_mhz_current": shown(self.clock_mhz),
                "hypervisor": shown(self.hypervisor),
                "features": [f for f in FEATURES if f in self.features] if self.flags_known else UNKNOWN}


def _first_block(text: str) -> dict[str, str]:
    """`key: value` pairs of the first processor's block (keys stripped: cpuinfo pads them with tabs)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def _number(text: str | None, kind=int):
    try:
        return kind(text) if text is not None else None
    except ValueError:
        return None


def _vendor(vendor_id: str | None) -> str:
    if not vendor_id:
        return UNKNOWN
    return vendor_id if vendor_id in VENDORS else "other"


def _threads_per_core(fields: dict[str, str]) -> int | None:
    siblings, cores = _number(fields.get("siblings")), _number(fields.get("cpu cores"))
    if not siblings or not cores or siblings < cores:
        return None
    return max(1, siblings // cores)


def _processor_count(text: str) -> int | None:
    count = sum(1 for line in text.splitlines() if line.partition(":")[0].strip() == "processor")
    return count or None


def parse_cpuinfo(text: str, logical_cores: int | None = None) -> HostCpu:
    """The facts `text` (a /proc/cpuinfo) states. `logical_cores`: the cores this process may use (default: the
    number of processor blocks in `text`)."""
    fields = _first_block(text)
    flags = fields.get("flags")
    present = set(flags.split()) if flags is not None else set()
    mhz = _number(fields.get("cpu MHz"), float)
    return HostCpu(
        vendor=_vendor(fields.get("vendor_id")), model_name=fields.get("model name") or UNKNOWN,
        family=_number(fields.get("cpu family")), model=_number(fields.get("model")),
        logical_cores=logical_cores or _processor_count(text), threads_per_core=_threads_per_core(fields),
        clock_mhz=mhz if mhz and mhz > 0 else None,
        hypervisor=("hypervisor" in present) if flags is not None else None,
        features=frozenset(f for f in FEATURES if f in present), flags_known=flags is not None)


def usable_cores() -> int | None:
    """Logical cores this process may run on (its CPU affinity), else every logical core."""
    try:
        return len(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):
        return os.cpu_count()


def detect_host_cpu(cpuinfo: Path = CPUINFO) -> HostCpu:
    """This host's facts; a missing or unreadable cpuinfo gives UNKNOWN fields, not an error."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text, usable_cores())
