"""Release gates as data (gates.toml), and their verdicts.

    [[gate]]
    metric = "top1"          # top1 | top5 | logits | output
    type = "max-drop"        # see GATE_TYPES
    value = 0.3              # a finite number in the type's range (VALUE_RANGES)
    formats = ["tflite"]     # optional: only these formats (a list of onnx, openvino, tflite)
    precisions = ["int8"]    # optional: only these precisions (a list of fp32, fp16, int8)
    optional = true          # optional: the gate may select no artifact, or find its figure not measurable on
                             # the data (e.g. a per-class drop with few images per class); else that is an error

A gate is a promise that something was checked: one whose formats / precisions select none of the artifacts being
validated is refused (exit 2) unless it says `optional = true`; it then shows as a skipped test case in junit.xml.
Unknown keys, names and types are refused, naming the gates file, the gate number and the key.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from vitedge.errors import VitedgeError
from vitedge.readfile import read_text
from vitedge.schema import ARTIFACT_FORMATS, ARTIFACT_PRECISIONS, SchemaError, number, require, string_list

# type -> (metrics it applies to, the figure it reads for each metric, comparison, unit)
GATE_TYPES = {
    "max-drop": ({"top1": "top1_drop_pp", "top5": "top5_drop_pp"}, "<=", "pp"),
    "min-agreement": ({"top1": "top1_agreement"}, ">=", ""),
    "min-cosine": ({"logits": "mean_cosine", "output": "mean_cosine"}, ">=", ""),
    "min-worst-cosine": ({"logits": "min_cosine", "output": "min_cosine"}, ">=", ""),
    "max-class-drop": ({"top1": "worst_class_drop_pp"}, "<=", "pp"),
    "max-kl": ({"logits": "kl_divergence"}, "<=", ""),
    "min-psnr": ({"logits": "psnr_db", "output": "psnr_db"}, ">=", "dB"),
    "min-worst-psnr": ({"output": "min_psnr_db"}, ">=", "dB"),
    "min-pixel-agreement": ({"output": "pixel_agreement"}, ">=", ""),
}
GATE_KEYS = {"metric", "type", "value", "formats", "precisions", "optional"}
# type -> (lowest, highest) allowed value: drops in percentage points (a negative drop demands a gain), agreement
# as a fraction, cosine in [-1, 1]; KL and PSNR below 0 could never fail or never pass, so they are refused
VALUE_RANGES = {"max-drop": (-100.0, 100.0), "min-agreement": (0.0, 1.0), "min-cosine": (-1.0, 1.0),
                "min-worst-cosine": (-1.0, 1.0), "max-class-drop": (-100.0, 100.0), "max-kl": (0.0, 1e6),
                "min-psnr": (0.0, 1000.0), "min-worst-psnr": (0.0, 1000.0), "min-pixel-agreement": (0.0, 1.0)}
MAX_GATES_BYTES = 1 << 20  # a gates file is a few hundred bytes
GATE_EXAMPLE = 'e.g. [[gate]] metric = "top1" type = "max-drop" value = 0.3 (one [[gate]] table per gate)'


class GateError(VitedgeError):
    """A gates file that cannot be used."""


@dataclass(frozen=True)
class Gate:
    metric: str
    type: str
    value: float
    formats: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    optional: bool = False  # may select no artifact

    @property
    def name(self) -> str:
        scope = "".join(f" [{','.join(v)}]" for v in (self.formats, self.precisions) if v)
        return f"{self.metric} {self.type} {self.value:g}{scope}"

    @property
    def figure(self) -> str:
        return GATE_TYPES[self.type][0][self.metric]

    def applies_to(self, fmt: str, precision: str) -> bool:
        return (not self.formats or fmt in self.formats) and (not self.precisions or precision in self.precisions)

    def check(self, figures: dict) -> tuple[float | None, bool | None]:
        """The measured value and whether it passes. A figure absent for this data (no labels, no class with enough
        images) fails, or for an optional gate gives None: not measurable, so not checked."""
        measured = figures.get(self.figure, "absent")
        if measured == "absent":
            return None, None if self.optional else False
        if measured is None:  # PSNR of identical outputs
            return None, True
        op = GATE_TYPES[self.type][1]
        return measured, (measured <= self.value if op == "<=" else measured >= self.value)

    def to_dict(self) -> dict:
        return {"metric": self.metric, "type": self.type, "value": self.value, "formats": list(self.formats),
                "precisions": list(self.precisions), "optional": self.optional, "figure": self.figure,
                "comparison": GATE_TYPES[self.type][1]}


FLOAT_PRECISIONS = ("fp32", "fp16", "bf16")
# Float artifacts must agree almost everywhere; INT8 on a 1000-class ViT flips 2-5% of the reference's
# predictions (mostly images the FP32 model is unsure of) even at < 0.5 pp top-1 drop, so its floors are lower.
# The per-class gate is optional: it is only measurable with MIN_CLASS_IMAGES images in a class.
DEFAULT_GATES = (
    Gate("top1", "max-drop", 1.0),
    Gate("top1", "min-agreement", 0.98, precisions=FLOAT_PRECISIONS, optional=True),
    Gate("top1", "min-agreement", 0.95, precisions=("int8",), optional=True),
    Gate("logits", "min-cosine", 0.99, precisions=FLOAT_PRECISIONS, optional=True),
    Gate("logits", "min-cosine", 0.98, precisions=("int8",), optional=True),
    Gate("top1", "max-class-drop", 3.0, optional=True),
)


# A backbone's embedding or a dense model's map has no top-1: cosine (and, for maps, pixels that agree) instead.
OUTPUT_GATES = (
    Gate("output", "min-cosine", 0.99, precisions=FLOAT_PRECISIONS, optional=True),
    Gate("output", "min-cosine", 0.98, precisions=("int8",), optional=True),
)
MAP_GATES = OUTPUT_GATES + (Gate("output", "min-pixel-agreement", 0.95, optional=True),)


def default_gates(task: str) -> tuple[Gate, ...]:
    return {"image-classification": DEFAULT_GATES, "dense-prediction": MAP_GATES}.get(task, OUTPUT_GATES)


def make_gate(raw, where: str) -> Gate:
    """One [[gate]] table, every key checked; `where` names the file and the gate number."""
    if not isinstance(raw, dict):
        raise GateError(f"{where} must be a table, got {raw!r}"[:300], GATE_EXAMPLE)
    unknown = sorted(set(raw) - GATE_KEYS)
    if unknown:
        raise GateError(f"{where}: unknown key(s) {unknown}", f"allowed keys: {sorted(GATE_KEYS)}")
    kind, metric = raw.get("type"), raw.get("metric")
    if not isinstance(kind, str) or kind not in GATE_TYPES:
        raise GateError(f"{where}: unknown gate type {kind!r}", f"choose from: {', '.join(GATE_TYPES)}")
    if not isinstance(metric, str) or metric not in GATE_TYPES[kind][0]:
        raise GateError(f"{where}: metric {metric!r} does not go with type {kind!r}",
                        f"{kind} applies to: {', '.join(GATE_TYPES[kind][0])}")
    if "value" not in raw:
        raise GateError(f"{where}: key 'value' is missing", f"the threshold of {kind}, e.g. value = 0.3")
    low, high = VALUE_RANGES[kind]
    try:
        value = number(raw["value"], f"{where}: value", low, high)
        formats = tuple(_scope(raw, "formats", ARTIFACT_FORMATS, where))
        precisions = tuple(_scope(raw, "precisions", ARTIFACT_PRECISIONS, where))
        optional = require(raw, "optional", bool, where, optional=True) or False
    except SchemaError as exc:
        raise GateError(exc.message, exc.hint or GATE_EXAMPLE) from None
    return Gate(metric, kind, float(value), formats, precisions, optional)


def _scope(raw: dict, key: str, allowed: tuple[str, ...], where: str) -> list[str]:
    if key not in raw:
        return []
    return string_list(raw[key], f"{where}: {key}", allowed,
                       hint=f'a list of {", ".join(allowed)}, e.g. {key} = ["{allowed[0]}"]')


def read_gates(path: str | Path | None) -> tuple[Gate, ...]:
    """Gates from a TOML file (`[[gate]]` tables), or the defaults when no file is given."""
    if path is None:
        return DEFAULT_GATES
    path = Path(path)
    text = read_text(path, "gates file", GATE_EXAMPLE, MAX_GATES_BYTES)
    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise GateError(f"gates file {path} could not be read: {exc}", GATE_EXAMPLE) from None
    unknown = sorted(set(doc) - {"gate"})
    if unknown or not isinstance(doc.get("gate"), list) or not doc["gate"]:
        raise GateError(f"gates file {path} must hold one or more [[gate]] tables" +
                        (f" (unknown top-level keys {unknown})" if unknown else
                         f" (gate = {doc.get('gate')!r})"[:200] if "gate" in doc else ""), GATE_EXAMPLE)
    return tuple(make_gate(raw, f"gates file {path}, gate {i + 1}") for i, raw in enumerate(doc["gate"]))


def check_coverage(gates: tuple[Gate, ...], artifacts, source: str | Path | None) -> None:
    """Refuse a gate that selects none of `artifacts` (objects with .format / .precision) unless it is optional:
    a gate that checks nothing would let CI pass on a promise never tested."""
    present = sorted({(a.format, a.precision) for a in artifacts})
    for index, gate in enumerate(gates, 1):
        if gate.optional or any(gate.applies_to(a.format, a.precision) for a in artifacts):
            continue
        where = f"gates file {source}, gate {index}" if source else f"gate {index}"
        raise GateError(f"{where} ({gate.name}) selects none of the {len(artifacts)} artifact(s) validated "
                        f"(formats / precisions present: {', '.join(f'{f} {p}' for f, p in present)})",
                        "fix its formats / precisions, or add optional = true to the gate if it may match nothing")


LABELLED_FIGURES = ("top1_drop_pp", "top5_drop_pp", "worst_class_drop_pp")  # need the true class of each image


def check_labelled(gates: tuple[Gate, ...], labelled: bool, data: str, source: str | Path | None) -> None:
    """Refuse gates on accuracy (drops against the true labels) for data without labels: they could only fail."""
    needing = [g.name for g in gates if g.figure in LABELLED_FIGURES and not g.optional]
    if needing and not labelled:
        where = f"gates file {source}" if source else "the default gates"
        raise GateError(f"the evaluation data {data} has no labels, but {where} check accuracy against them "
                        f"({'; '.join(needing)})", "pass labelled held-out images with --data, or gates that need "
                        "no labels (top1 min-agreement, logits min-cosine / max-kl / min-psnr)")
