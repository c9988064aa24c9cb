"""Device profiles as data: one TOML file per device in `vitedge/targets/profiles/`; adding a device = adding a file.

A profile names the runtime, the formats and precisions it runs, how latency is obtained (measured here, or by
commands run on the device whose results are ingested, with a roofline estimate as fallback) and dense peak
compute per precision plus memory bandwidth, each with the document it comes from (`[sources.<key>]`).
The host profile (`kind = "host"`) is the exception: its title, peaks and sources are computed from the machine it
loads on (`vitedge.targets.hostprofile`), so its file holds only what is true on every host.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vitedge.console import table
from vitedge.errors import VitedgeError
from vitedge.registry import Registry

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
KINDS = ("host", "jetson", "android", "board")
FORMATS = ("onnx", "openvino", "tflite")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
LATENCY = ("measured-here", "on-device", "estimated")
PEAK_KEYS = {"fp32": "fp32_tflops", "fp16": "fp16_tflops", "bf16": "bf16_tflops",
             "int8": "int8_tops"}  # precision -> [peak] key
BANDWIDTH_KEY = "bandwidth_gbs"
REQUIRED = ("name", "title", "kind", "runtime", "formats", "precisions", "latency", "threads", "peak", "sources")
OPTIONAL = ("latency_fallback", "notes")


@dataclass(frozen=True)
class Source:
    """Where a number comes from: a document title, its address when it has one, and how the number follows."""

    title: str
    detail: str
    url: str | None = None

    def cite(self) -> str:
        return f"{self.title} ({self.url})" if self.url else self.title


@dataclass(frozen=True)
class TargetProfile:
    """One device: what it runs and its dense peaks (TFLOPS / TOPS, GB/s), each peak with a `Source`."""

    name: str
    title: str
    kind: str
    runtime: str
    formats: tuple[str, ...]
    precisions: tuple[str, ...]
    latency: str  # "measured-here" | "on-device" | "estimated"
    latency_fallback: str | None
    threads: int  # 0: every logical core
    peak: dict[str, float]
    sources: dict[str, Source]
    notes: str = ""
    path: str = ""

    def peak_ops(self, precision: str) -> float:
        """Dense peak operations per second (2 per MAC) at `precision`."""
        if precision not in self.precisions:
            raise VitedgeError(f"target {self.name!r} does not run {precision}",
                               f"choose from: {', '.join(self.precisions)}")
        return self.peak[PEAK_KEYS[precision]] * 1e12

    @property
    def bandwidth_bytes(self) -> float:
        """Memory bandwidth in bytes per second."""
        return self.peak[BANDWIDTH_KEY] * 1e9

    def latency_label(self) -> str:
        label = self.latency.replace("-", " ")
        return f"{label} (else {self.latency_fallback})" if self.latency_fallback else label


def _fail(path: Path, key: str, problem: str, hint: str | None = None) -> VitedgeError:
    return VitedgeError(f"{path}: key {key!r}: {problem}", hint)


def read_toml(path: Path) -> dict:
    """Parse a TOML file; unreadable or malformed files raise a VitedgeError naming the file."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise VitedgeError(f"{path} is not a readable TOML file: {exc}") from None


def _choice(path: Path, key: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(path, key, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _text(path: Path, key: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, "must be a non-empty string")
    return value


def _choices(path: Path, key: str, value, allowed: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, key, f"must be a non-empty list drawn from {', '.join(allowed)}")
    return tuple(_choice(path, key, v, allowed) for v in value)


def parse_source(path: Path, key: str, raw) -> Source:
    """A `[sources.<key>]` table: title and detail required, url optional."""
    if not isinstance(raw, dict):
        raise _fail(path, f"sources.{key}", "must be a table with title, detail and optionally url")
    unknown = sorted(set(raw) - {"title", "detail", "url"})
    if unknown:
        raise _fail(path, f"sources.{key}.{unknown[0]}", "unknown key", "known keys: title, detail, url")
    return Source(title=_text(path, f"sources.{key}.title", raw.get("title")),
                  detail=_text(path, f"sources.{key}.detail", raw.get("detail")),
                  url=_text(path, f"sources.{key}.url", raw["url"]) if "url" in raw else None)


def _peaks(path: Path, raw, precisions: tuple[str, ...]) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise _fail(path, "peak", "must be a table")
    known = set(PEAK_KEYS.values()) | {BANDWIDTH_KEY}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise _fail(path, f"peak.{unknown[0]}", "unknown key", f"known keys: {', '.join(sorted(known))}")
    for key in [PEAK_KEYS[p] for p in precisions] + [BANDWIDTH_KEY]:
        if key not in raw:
            raise _fail(path, f"peak.{key}", "missing", "every listed precision needs its peak, and bandwidth_gbs")
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise _fail(path, f"peak.{key}", f"{value!r} is not a positive number")
    return {k: float(v) for k, v in raw.items()}


def _sources(path: Path, raw, peak: dict[str, float]) -> dict[str, Source]:
    if not isinstance(raw, dict):
        raise _fail(path, "sources", "must be a table with one [sources.<key>] per peak")
    for key in raw:
        if key not in peak:
            raise _fail(path, f"sources.{key}", "names no [peak] entry")
    for key in peak:
        if key not in raw:
            raise _fail(path, f"sources.{key}", "missing: every peak needs its source",
                        "cite the document, or write detail = \"... unverified here\"")
    return {key: parse_source(path, key, value) for key, value in raw.items()}


def parse_profile(path: Path, raw: dict) -> TargetProfile:
    """Validate one profile document; every problem names the file and the key."""
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise _fail(path, unknown[0], "unknown key", f"known keys: {', '.join(REQUIRED + OPTIONAL)}")
    for key in REQUIRED:
        if key not in raw:
            raise _fail(path, key, "missing")
    name = _text(path, "name", raw["name"])
    if name != path.stem:
        raise _fail(path, "name", f"{name!r} differs from the file name {path.stem!r}")
    threads = raw["threads"]
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise _fail(path, "threads", f"{threads!r} is not a whole number >= 0 (0: all cores)")
    precisions = _choices(path, "precisions", raw["precisions"], PRECISIONS)
    peak = _peaks(path, raw["peak"], precisions)
    fallback = raw.get("latency_fallback")
    return TargetProfile(
        name=name, title=_text(path, "title", raw["title"]), kind=_choice(path, "kind", raw["kind"], KINDS),
        runtime=_text(path, "runtime", raw["runtime"]), formats=_choices(path, "formats", raw["formats"], FORMATS),
        precisions=precisions, latency=_choice(path, "latency", raw["latency"], LATENCY),
        latency_fallback=None if fallback is None else _choice(path, "latency_fallback", fallback, ("estimated",)),
        threads=threads, peak=peak, sources=_sources(path, raw["sources"], peak),
        notes=_text(path, "notes", raw["notes"]) if "notes" in raw else "", path=str(path))


def load_profile(path: Path, *, cpu=None, bandwidth=None) -> TargetProfile:
    """One profile file. A `kind = "host"` profile gets its title, peaks and sources from the host it loads on
    (`cpu`: a `HostCpu`, default this host's; `bandwidth`: a `Bandwidth`, default the labelled assumption)."""
    path = Path(path)
    raw = read_toml(path)
    if raw.get("kind") == "host":
        from vitedge.targets.hostprofile import with_host_facts

        raw = with_host_facts(path, raw, cpu, bandwidth)
    return parse_profile(path, raw)


def load_profiles(folder: Path = PROFILES_DIR) -> dict[str, TargetProfile]:
    """Every `*.toml` in `folder`, sorted by file name."""
    return {p.stem: load_profile(p) for p in sorted(Path(folder).glob("*.toml"))}


TARGETS: Registry[TargetProfile] = Registry("target")
for _name, _profile in load_profiles().items():
    TARGETS.register(_name)(_profile)


def get_target(name: str) -> TargetProfile:
    """The profile called `name`; unknown names raise a VitedgeError suggesting close ones."""
    return TARGETS.get(name)


def _num(value: float) -> str:
    return f"{value:g}"


def describe_targets() -> str:
    """The `vitedge targets` table: one row per device."""
    headers = ["name", "title", "runtime", "formats", "precisions", "latency", "int8 TOPS", "fp16 TFLOPS",
               "GB/s"]
    rows = []
    for name in TARGETS.names():
        t = TARGETS.get(name)
        rows.append([t.name, t.title, t.runtime, ",".join(t.formats), ",".join(t.precisions), t.latency_label(),
                     _num(t.peak["int8_tops"]) if "int8_tops" in t.peak else "-",
                     _num(t.peak["fp16_tflops"]) if "fp16_tflops" in t.peak else "-",
                     _num(t.peak[BANDWIDTH_KEY])])
    return table(headers, rows)
