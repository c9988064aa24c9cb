"""Errors of `vitedge bundle` and `vitedge report`."""
from __future__ import annotations

from vitedge.errors import VitedgeError


class BundleError(VitedgeError):
    """Inputs that cannot make a bundle or a report: unreadable or mismatched documents, unknown target."""


class BundleIntegrityError(VitedgeError):
    """`vitedge bundle verify` found a missing, extra or tampered file, or an edited manifest."""

    exit_code = 1

    def __init__(self, path, problems: list[str]):
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"bundle {path} failed verification ({len(problems)} problem(s)):\n{listed}",
                         "re-create the bundle with `vitedge bundle create ... --force`; do not ship this one")
        self.problems = problems
