"""Typed errors. Every error a user can cause says what is wrong and what to do."""
from __future__ import annotations


class VitedgeError(Exception):
    """An error the user can fix: the CLI prints it without a traceback and exits with `exit_code`."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ModelSourceError(VitedgeError):
    """Unknown model name, unreadable spec, missing weights."""


class WeightsMismatchError(ModelSourceError):
    """A state dict that does not match the architecture."""


class DataError(VitedgeError):
    """Unreadable or malformed data."""


class OutputExistsError(VitedgeError):
    """An output folder already holds artifacts."""


class BackendMissingError(VitedgeError):
    """An optional backend (openvino, litert) is not installed."""


class ExportError(VitedgeError):
    """A converter failed on the model."""

    exit_code = 1


class ParityError(ExportError):
    """An artifact's outputs differ from PyTorch beyond tolerance."""
