"""The baseline speed-ups are quoted against, as data (`baseline.toml`), with the source of every figure."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vitedge.errors import VitedgeError
from vitedge.targets.profile import Source, parse_source, read_toml

BASELINE_FILE = Path(__file__).resolve().parent / "baseline.toml"
FIELDS = ("model", "model_title", "device", "parameters", "latency_ms", "note", "sources")


@dataclass(frozen=True)
class Baseline:
    """A reference latency: a different model on a different device, measured elsewhere (see `note`)."""

    model: str
    model_title: str
    device: str
    parameters: int
    latency_ms: float
    note: str
    sources: dict[str, Source]

    def speedup(self, latency_ms: float) -> float:
        """How many times faster than the baseline: baseline latency / `latency_ms`."""
        if not latency_ms or latency_ms <= 0:
            raise VitedgeError(f"cannot compare a latency of {latency_ms!r} ms with the baseline",
                               "pass a positive latency in milliseconds")
        return self.latency_ms / latency_ms


def parse_baseline(path: Path, raw: dict) -> Baseline:
    """Validate the baseline document; problems name the file and key."""
    for key in sorted(set(raw) ^ set(FIELDS)):
        problem = "unknown key" if key in raw else "missing"
        raise VitedgeError(f"{path}: key {key!r}: {problem}", f"keys: {', '.join(FIELDS)}")
    for key in ("parameters", "latency_ms"):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise VitedgeError(f"{path}: key {key!r}: {value!r} is not a positive number")
    sources = raw["sources"]
    if not isinstance(sources, dict) or not {"parameters", "latency_ms"} <= set(sources):
        raise VitedgeError(f"{path}: key 'sources': needs [sources.parameters] and [sources.latency_ms]")
    return Baseline(model=str(raw["model"]), model_title=str(raw["model_title"]), device=str(raw["device"]),
                    parameters=int(raw["parameters"]), latency_ms=float(raw["latency_ms"]), note=str(raw["note"]),
                    sources={k: parse_source(path, k, v) for k, v in sources.items()})


def load_baseline(path: Path = BASELINE_FILE) -> Baseline:
    path = Path(path)
    return parse_baseline(path, read_toml(path))


def speedup(latency_ms: float) -> float:
    """Baseline latency / `latency_ms`, against the shipped `baseline.toml`."""
    return load_baseline().speedup(latency_ms)
