"""export / quantize / nas: a model name from a spec never becomes a path. Separators, '..', absolute paths and NUL
are refused (exit 2, naming the spec file and the key) before anything is written; harmless characters are replaced
(with a note) so "My Model v2" exports as My_Model_v2.onnx."""
import json
import shutil
from pathlib import Path

import pytest

from vitedge.models.source import BUILTIN_DIR
from vitedge.paths import MAX_NAME, UnsafePathError, safe_name

from ...conftest import CALIB_DATA
from ..conftest import assert_refused

SPEC = BUILTIN_DIR / "vit4mnist" / "model.toml"
WEIGHTS = SPEC.parent / "vit4mnist_fp32_timm.safetensors"


def spec_named(folder: Path, name: str) -> Path:
    """A copy of the built-in vit4mnist spec (weights beside it) whose `name` is `name`."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(WEIGHTS, folder / WEIGHTS.name)
    text = SPEC.read_text().replace('name = "vit4mnist"', f"name = {json.dumps(name)}")
    (folder / "model.toml").write_text(text)
    return folder / "model.toml"


@pytest.mark.parametrize("text, safe", [("vit4mnist", "vit4mnist"), ("My Model v2", "My_Model_v2"),
                                        (".hidden", "hidden"), ("a:b*c?", "a_b_c_"), ("x" * 300, "x" * MAX_NAME),
                                        ("line\nbreak", "line_break"), ("...v1", "v1")])
def test_safe_name_replaces_harmless_characters(text, safe):
    assert safe_name(text, "the name") == safe


@pytest.mark.parametrize("text", ["../x", "/tmp/x", "a/b", "a\\b", "..", ".", "x\0y", "", "  ", "***", 5, None])
def test_safe_name_refuses_paths_and_names_without_a_usable_character(text):
    with pytest.raises(UnsafePathError, match="the name"):
        safe_name(text, "the name")


@pytest.fixture
def victims(tmp_path):
    """A user's models beside the output folder: what `name = "../../victim"` used to overwrite."""
    runs = tmp_path / "runs"
    runs.mkdir()
    for suffix in (".onnx", ".xml", ".bin"):
        (runs / f"victim{suffix}").write_bytes(b"the user's own model " + suffix.encode())
    return runs


@pytest.mark.parametrize("name", ["../../victim", "ABS", "sub/victim", "..", "x\\y", "nul\u0000byte"])
def test_export_refuses_a_name_that_is_a_path(cli, guard, tmp_path, victims, name):
    name = str(victims / "victim") if name == "ABS" else name
    spec = spec_named(tmp_path / "spec", name)
    out = victims / "out"
    g = guard()
    outcome = cli("export", spec, "--format", "onnx", "--out", out, "--samples", 8, "--threads", 1)
    assert_refused(outcome, str(spec), "`name`", "plain name")
    g.check(out)


def test_quantize_refuses_a_name_that_is_a_path(cli, guard, tmp_path, victims):
    spec = spec_named(tmp_path / "spec", "../../../victim")
    out = victims / "quant"
    g = guard()
    outcome = cli("quantize", spec, "--format", "onnx", "--precision", "int8", "--out", out, "--calib",
                  CALIB_DATA / "mnist_calib.npz", "--calib-samples", 16,
                  "--eval", CALIB_DATA / "mnist_eval.npz", "--eval-samples", 16)
    assert_refused(outcome, str(spec), "`name`")
    g.check(out)


def test_a_name_with_harmless_characters_is_written_as_a_safe_file_name(cli, guard, tmp_path):
    spec = spec_named(tmp_path / "spec", "My Model v2 (ünï)")
    out = tmp_path / "out"
    g = guard()
    outcome = cli("export", spec, "--format", "onnx", "--out", out, "--samples", 8, "--threads", 1)
    assert outcome.code == 0, outcome.text
    assert "written as the file name 'My_Model_v2_n_'" in outcome.err
    assert sorted(p.name for p in out.iterdir()) == ["My_Model_v2_n_.onnx", "artifacts.json"]
    g.check(out)


def test_nas_refuses_a_parent_name_that_is_a_path_before_searching(cli, guard, tmp_path, victims):
    """NAS names its variants after the parent (`<name>-nas-<target>`), which later export as files."""
    spec = spec_named(tmp_path / "spec", "../../victim")
    out = victims / "nas"
    g = guard()
    outcome = cli("nas", spec, "--data", f"{CALIB_DATA / 'mnist_calib.npz'}[0:64]", "--out", out)
    assert_refused(outcome, str(spec), "`name`")
    assert "importance" not in outcome.err  # refused before any search work
    g.check(out)
