"""Release gates as data (gates.toml), and their verdicts.

    [[gate]]
    metric = "top1"          # top1 | top5 | logits | output
    type = "max-drop"        # see GATE_TYPES
    value = 0.3
    formats = ["tflite"]     # optional: only these formats
    precisions = ["int8"]    # optional: only these precisions
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vitedge.errors import VitedgeError

# type -> (metrics it applies to, the figure it reads for each metric, comparison, unit)
GATE_TYPES = {
    "max-drop": ({"top1": "top1_drop_pp", "top5": "top5_drop_pp"}, "<=", "pp"),
    "min-agreement": ({"top1": "top1_agreement"}, ">=", ""),
    "min-cosine": ({"logits": "mean_cosine", "output": "mean_cosine"}, ">=", ""),
    "min-worst-cosine": ({"logits": "min_cosine", "output": "min_cosine"}, ">=", ""),
    "max-class-drop": ({"top1": "worst_class_drop_pp"}, "<=", "pp"),
    "max-kl": ({"logits": "kl_divergence"}, "<=", ""),
    "min-psnr": ({"logits": "psnr_db", "output": "psnr_db"}, ">=", "dB"),
}
GATE_KEYS = {"metric", "type", "value", "formats", "precisions"}


class GateError(VitedgeError):
    """A gates file that cannot be used."""


@dataclass(frozen=True)
class Gate:
    metric: str
    type: str
    value: float
    formats: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        scope = "".join(f" [{','.join(v)}]" for v in (self.formats, self.precisions) if v)
        return f"{self.metric} {self.type} {self.value:g}{scope}"

    @property
    def figure(self) -> str:
        return GATE_TYPES[self.type][0][self.metric]

    def applies_to(self, fmt: str, precision: str) -> bool:
        return (not self.formats or fmt in self.formats) and (not self.precisions or precision in self.precisions)

    def check(self, figures: dict) -> tuple[float | None, bool]:
        """The measured value and whether it passes (a figure absent for this data, e.g. no labels, fails)."""
        measured = figures.get(self.figure, "absent")
        if measured == "absent":
            return None, False
        if measured is None:  # PSNR of identical outputs
            return None, True
        op = GATE_TYPES[self.type][1]
        return measured, (measured <= self.value if op == "<=" else measured >= self.value)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "type": self.type, "value": self.value, "formats": list(self.formats),
                "precisions": list(self.precisions), "figure": self.figure, "comparison": GATE_TYPES[self.type][1]}


DEFAULT_GATES = (
    Gate("top1", "max-drop", 1.0),
    Gate("top1", "min-agreement", 0.98),
    Gate("logits", "min-cosine", 0.99),
    Gate("top1", "max-class-drop", 3.0),
)


def make_gate(raw: dict, where: str) -> Gate:
    unknown = sorted(set(raw) - GATE_KEYS)
    if unknown:
        raise GateError(f"{where}: unknown key(s) {unknown}", f"allowed keys: {sorted(GATE_KEYS)}")
    kind, metric = raw.get("type"), raw.get("metric")
    if kind not in GATE_TYPES:
        raise GateError(f"{where}: unknown gate type {kind!r}", f"choose from: {', '.join(GATE_TYPES)}")
    if metric not in GATE_TYPES[kind][0]:
        raise GateError(f"{where}: metric {metric!r} does not go with type {kind!r}",
                        f"{kind} applies to: {', '.join(GATE_TYPES[kind][0])}")
    if not isinstance(raw.get("value"), (int, float)) or isinstance(raw.get("value"), bool):
        raise GateError(f"{where}: value must be a number, got {raw.get('value')!r}")
    return Gate(metric, kind, float(raw["value"]), tuple(raw.get("formats", ())), tuple(raw.get("precisions", ())))


def read_gates(path: str | Path | None) -> tuple[Gate, ...]:
    """Gates from a TOML file (`[[gate]]` tables), or the defaults when no file is given."""
    if path is None:
        return DEFAULT_GATES
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GateError(f"gates file {path} could not be read: {exc}") from None
    unknown = sorted(set(doc) - {"gate"})
    if unknown or not isinstance(doc.get("gate"), list) or not doc["gate"]:
        raise GateError(f"gates file {path} must hold one or more [[gate]] tables" +
                        (f" (unknown top-level keys {unknown})" if unknown else ""),
                        'e.g. [[gate]] metric = "top1" type = "max-drop" value = 0.3')
    return tuple(make_gate(raw, f"gates file {path}, gate {i + 1}") for i, raw in enumerate(doc["gate"]))
