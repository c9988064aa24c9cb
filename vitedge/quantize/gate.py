"""The accuracy gate an INT8 artifact must pass for the fallback to stop: a top-1 drop and / or an agreement floor."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QuantGate:
    """`max_drop`: pp of top-1 an artifact may lose against FP32; `min_agreement`: % of evaluation images whose top-1
    must match FP32's. Either may be None (not checked); a figure the data cannot give (no labels) is not checked."""

    max_drop: float | None = None
    min_agreement: float | None = None

    @property
    def active(self) -> bool:
        return self.max_drop is not None or self.min_agreement is not None

    def holds(self, evaluation: dict) -> bool:
        drop, agreement = evaluation.get("drop_pp"), evaluation.get("top1_agreement")
        drop_ok = self.max_drop is None or drop is None or drop <= self.max_drop
        agree_ok = self.min_agreement is None or agreement is None or 100 * agreement >= self.min_agreement
        return drop_ok and agree_ok

    def describe(self) -> str:
        parts = ([f"drop <= {self.max_drop} pp"] if self.max_drop is not None else []) + \
                ([f"agreement >= {self.min_agreement}%"] if self.min_agreement is not None else [])
        return " and ".join(parts) or "none"

    def to_dict(self) -> dict:
        return {"max_drop_pp": self.max_drop, "min_agreement": self.min_agreement}
