"""Small builders shared by the bad-input tests of several verbs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .conftest import Outcome

REPO = Path(__file__).resolve().parents[2]
MNIST_EVAL = REPO / "calib_data" / "mnist_eval.npz"
# A tiny vitedge ViT spec (1 block, 28x28 grey, 10 classes): models/conftest.py's `tiny` fixture adds weights
ARCH = {"img_size": 28, "patch_size": 7, "in_chans": 1, "num_classes": 10, "embed_dim": 32, "depth": 1,
        "num_heads": 2, "mlp_ratio": 2.0}
LABELS = [str(i) for i in range(10)]


def spec_text(arch: dict | None = None, top: str = "", preprocessing: str = "mean = [0.5]\nstd = [0.5]\n",
              head: str = "", labels: bool = True) -> str:
    arch = {**ARCH, **(arch or {})}
    lines = ['name = "tiny"', 'weights = "tiny.safetensors"'] + ([f"labels = {LABELS!r}".replace("'", '"')]
                                                                   if labels else [])
    lines += [top, "[architecture]"] + [f"{k} = {_toml(v)}" for k, v in arch.items()]
    lines += ["[preprocessing]", preprocessing] + (["[head]", head] if head else [])
    return "\n".join(lines) + "\n"


def _toml(value) -> str:
    return str(value).lower() if isinstance(value, bool) else (f'"{value}"' if isinstance(value, str) else str(value))


def parse(cli, capsys, *argv) -> Outcome:
    """Run the CLI; a refusal by the argument parser (SystemExit) becomes an Outcome like any other."""
    try:
        return cli(*argv)
    except SystemExit as exc:
        out, err = capsys.readouterr()
        return Outcome(int(exc.code or 0), out, err)


def assert_flag_refused(outcome: Outcome, flag: str, *mentions: str) -> None:
    """The parser's refusal: exit 2, the flag named with the accepted range, no traceback."""
    assert "Traceback" not in outcome.text, outcome.text
    assert outcome.code == 2, f"exit {outcome.code}:\n{outcome.text}"
    assert f"argument {flag}" in outcome.err, outcome.err
    for mention in mentions:
        assert mention in outcome.err, f"{mention!r} not in:\n{outcome.err}"


def mnist_with_labels(path: Path, labels, count: int = 64) -> Path:
    """`count` real MNIST evaluation images saved with the given labels (a list, cycled, or one value)."""
    with np.load(MNIST_EVAL) as data:
        images = data["images"][:count]
    values = np.resize(np.asarray(labels, dtype=np.int64), count)
    np.savez(path, images=images, labels=values)
    return path
