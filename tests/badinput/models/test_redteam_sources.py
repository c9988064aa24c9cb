"""Model sources a careless or hostile user hands export: every one is refused with the path, what it is and a hint
(never a hang on a FIFO, never "unexpected"), weights that are not real numbers are refused by tensor name, and
empty names / class names in a spec are refused by key."""
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from ..conftest import assert_refused
from .conftest import export


@pytest.mark.parametrize("make, mentions", [
    (lambda p: p.mkdir(), ["model.toml", "is a folder"]),
    (lambda p: os.mkfifo(p), ["model.toml", "FIFO"]),
    (lambda p: os.symlink(p.name, p), ["model.toml", "link loop"]),
    (lambda p: None, ["model.toml", "file not found"]),
])
def test_a_spec_path_that_is_not_a_file_is_refused_with_a_hint(cli, guard, tmp_path, make, mentions):
    spec = tmp_path / "model.toml"
    make(spec)
    g = guard()
    assert_refused(export(cli, spec, tmp_path), *mentions)
    g.check(tmp_path / "out")


def test_an_exported_artifact_is_not_a_model_source(cli, guard, tmp_path):
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"an exported model")
    g = guard()
    assert_refused(export(cli, tflite, tmp_path), "model.tflite", "exported artifact", "built-in name")
    g.check(tmp_path / "out")


def test_an_onnx_file_that_is_not_onnx_is_named_before_its_missing_spec(cli, guard, tmp_path):
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"an exported model")
    g = guard()
    assert_refused(export(cli, onnx, tmp_path), "model.onnx", "not a readable ONNX model")
    g.check(tmp_path / "out")


def test_a_labels_file_that_is_a_fifo_is_refused_not_waited_on(cli, guard, tiny, tmp_path):
    os.mkfifo(tiny.parent / "labels.txt")
    text = tiny.read_text().replace("labels = ", 'labels_file = "labels.txt"\n# labels = ')
    tiny.write_text(text)
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), "labels_file", "FIFO")
    g.check(tmp_path / "out")


@pytest.mark.parametrize("line, mentions", [
    ('weights = ""', ["weights", "empty string"]),
    ('name = "   "', ["name", "empty string"]),
    ('labels = ["", "1", "2", "3", "4", "5", "6", "7", "8", "9"]', ["class name", "empty"]),
])
def test_empty_names_in_a_spec_are_refused(cli, guard, tiny, tmp_path, line, mentions):
    key = line.split(" ")[0]
    lines = [l for l in tiny.read_text().splitlines() if not l.startswith(f"{key} =")]
    tiny.write_text(line + "\n" + "\n".join(lines) + "\n")
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), *mentions)
    g.check(tmp_path / "out")


def _nan(state):
    state["blocks.0.mlp.fc1.weight"][0, 0] = float("nan")
    return state


def _inf(state):
    state["head.weight"][1, 1] = float("-inf")
    return state


@pytest.mark.parametrize("change, mentions", [
    (lambda s: {k: (v * 100).to(torch.int32) for k, v in s.items()}, ["is int32", "floating-point"]),
    (lambda s: {k: v > 0 for k, v in s.items()}, ["is bool"]),
    (lambda s: {**s, "head.bias": s["head.bias"].to(torch.complex64)}, ["'head.bias'", "complex64"]),
    (_nan, ["'blocks.0.mlp.fc1.weight'", "NaN or infinite"]),
    (_inf, ["'head.weight'", "NaN or infinite"]),
])
def test_weights_that_are_not_real_numbers_are_refused(cli, guard, tiny, tmp_path, change, mentions):
    weights = tiny.parent / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in change(load_file(weights)).items()}, weights)
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), "tiny.safetensors", *mentions)
    g.check(tmp_path / "out")


def test_half_precision_weights_are_converted_not_refused(cli, tiny, tmp_path):
    weights = tiny.parent / "tiny.safetensors"
    save_file({k: v.half().contiguous() for k, v in load_file(weights).items()}, weights)
    assert export(cli, tiny, tmp_path).code == 0


@pytest.mark.parametrize("content", [b"", b"\x00" * 64, b"\xff" * 8 + b"{}"])
def test_a_broken_safetensors_file_is_refused_with_a_hint(cli, guard, tiny, tmp_path, content):
    (tiny.parent / "tiny.safetensors").write_bytes(content)
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), "tiny.safetensors", "not a readable safetensors file")
    g.check(tmp_path / "out")


def test_weights_that_are_a_fifo_are_refused(cli, guard, tmp_path):
    os.mkfifo(tmp_path / "w.safetensors")
    g = guard()
    outcome = cli("export", "vit4mnist", "--weights", tmp_path / "w.safetensors", "--format", "onnx",
                  "--out", tmp_path / "out", "--samples", 8)
    assert_refused(outcome, "w.safetensors", "FIFO")
    g.check(tmp_path / "out")
