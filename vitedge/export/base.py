"""The exporter contract and the registry every format file registers into."""
from __future__ import annotations

import importlib
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from vitedge.errors import BackendMissingError, VitedgeError
from vitedge.models.loaded import LoadedModel
from vitedge.registry import Registry

Runner = Callable[[np.ndarray], np.ndarray]  # float32 NCHW batch -> logits


class Exporter(Protocol):
    format: str
    suffix: str
    runtime: str  # the package whose runtime checks the artifact
    extra: str  # the pip extra that installs its backend

    def export(self, model: LoadedModel, folder: Path) -> list[Path]:
        """Write the artifact's files into `folder`; the main file first."""

    def open_runner(self, path: Path, threads: int, precision: str = "fp32", full_precision: bool = False) -> Runner:
        """Load the artifact in its own runtime, computing in what `precision` promises."""

    def inference_precision(self, path: Path, precision: str = "fp32", full_precision: bool = False) -> str:
        """The precision the runtime computes the artifact in on this host."""

    def io_description(self, path: Path) -> tuple[list[dict], list[dict]]:
        """Inputs and outputs as recorded in the artifact: name, shape (None for dynamic), dtype."""


EXPORTERS: Registry[Exporter] = Registry("format")


class ArtifactLoadError(VitedgeError):
    """A recorded artifact its own runtime cannot load (a damaged or substituted file)."""


def open_artifact(fmt: str, path: Path, threads: int, precision: str = "fp32", full_precision: bool = False) -> Runner:
    """`open_runner` of the format's exporter, run in `precision`'s execution precision; a file the runtime refuses is
    an ArtifactLoadError naming it (a storage error stays an OSError)."""
    import os

    from vitedge.fileio import raise_if_storage

    exporter = EXPORTERS.get(fmt)
    try:
        return exporter.open_runner(path, threads, precision, full_precision)
    except VitedgeError:
        raise
    except Exception as exc:
        raise_if_storage(exc, path)
        if os.environ.get("VITEDGE_DEBUG"):
            raise
        first = (str(exc).splitlines() or [""])[0][:300]
        raise ArtifactLoadError(f"artifact {path} cannot be loaded by {exporter.runtime}: {type(exc).__name__}: "
                                f"{first}", f"the file is not a valid {fmt} model (damaged or replaced); re-create "
                                "it with the stage that made it") from exc


def per_image(run: Runner) -> Runner:
    """A runner for a model whose batch size is fixed at 1 (ONNX sources exported so): one image at a time."""
    return lambda batch: np.concatenate([run(batch[i:i + 1]) for i in range(len(batch))])


def require(module: str, extra: str):
    """Import an optional backend or explain how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendMissingError(f"the {extra} backend is not installed ({exc})",
                                  f'pip install "vitedge[{extra}]"') from None


NOISY_LOGGERS = ("", "torchao", "torch.utils._pytree", "torch.onnx", "litert_torch")  # "": root (ORT logs there)


@contextmanager
def quiet_converters() -> Iterator[None]:
    """Converters warn about things users cannot act on (deprecations inside torch.onnx, torchao's CUDA kernels)."""
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def run_in_batches(run_one: Runner, batch: np.ndarray, size: int) -> np.ndarray:
    """Feed a static-batch runtime `size` images at a time."""
    return np.concatenate([run_one(batch[i:i + size]) for i in range(0, len(batch), size)])
