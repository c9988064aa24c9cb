"""vitedge run: an `out` the run must not own (/, a kernel folder, the config's own folder or one above it, the
config file itself, a name with a newline), a list written as a string, a missing gates file, and a config path
that is a FIFO or nested too deeply are refused (exit 2) before any work, --dry-run included."""
import os

import pytest

from ..conftest import assert_refused

MINIMAL = '[model]\nsource = "vit4mnist"\n'


@pytest.mark.parametrize("out, mention", [
    ("/", "does not write there"),
    ("/proc/vitedge-run", "does not write there"),
    (".", "is the folder of the input pipeline config"),
    ("..", "holds the config's own folder"),
    ("pipeline.toml", "is a file, not a folder"),
    ("a\\nb", "control character"),
])
def test_an_out_the_run_must_not_own_is_refused(cli, guard, tmp_path, out, mention):
    project = tmp_path / "project"
    project.mkdir()
    path = project / "pipeline.toml"
    path.write_text(f'out = "{out}"\n' + MINIMAL)
    g = guard()
    for argv in (("run", path, "--dry-run"), ("run", path)):
        assert_refused(cli(*argv), str(path), "out", mention)
    g.check()


@pytest.mark.parametrize("extra, mentions", [
    ('[export]\nformats = "onnx"\n', ["[export] formats", "a list"]),
    ('[bench]\ntargets = "x86-cpu"\n', ["[bench] targets", "a list"]),
    ('[validate]\ngates = "missing.toml"\n', ["gates file", "missing.toml", "not found"]),
])
def test_values_checked_when_the_config_is_read(cli, guard, tmp_path, extra, mentions):
    path = tmp_path / "pipeline.toml"
    path.write_text(MINIMAL + extra)
    g = guard()
    assert_refused(cli("run", path, "--dry-run"), *mentions)
    g.check()


def test_malformed_gates_stop_the_run_before_any_work(cli, guard, tmp_path):
    (tmp_path / "gates.toml").write_text('[[gate]]\nmetric = "top1"\ntype = "max-drop"\nvalue = 1\n'
                                         'precisions = ["INT8"]\n')
    path = tmp_path / "pipeline.toml"
    path.write_text(MINIMAL + '[validate]\ngates = "gates.toml"\n')
    g = guard()
    assert_refused(cli("run", path), "gates.toml", "'INT8'")
    g.check()


@pytest.mark.parametrize("make, mention", [(lambda p: os.mkfifo(p), "FIFO"),
                                           (lambda p: p.write_text("a = " + "[" * 100000), "could not be parsed")])
def test_a_config_that_cannot_be_read_is_refused(cli, guard, tmp_path, make, mention):
    path = tmp_path / "pipeline.toml"
    make(path)
    g = guard()
    assert_refused(cli("run", path, "--dry-run"), "pipeline.toml", mention)
    g.check()


def test_an_out_inside_the_data_folder_is_refused(cli, guard, tmp_path):
    from PIL import Image

    (tmp_path / "images" / "3").mkdir(parents=True)
    Image.new("L", (28, 28)).save(tmp_path / "images" / "3" / "a.png")
    path = tmp_path / "pipeline.toml"
    path.write_text('out = "images/runs"\n' + MINIMAL + '[data]\ncalib = "images"\n')
    g = guard()
    assert_refused(cli("run", path, "--dry-run"), "out", "inside the input [data] calib")
    g.check()
