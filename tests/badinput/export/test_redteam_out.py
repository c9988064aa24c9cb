"""export (and every writing verb, through the output lock): the output folder is checked before anything is
created. The root, kernel folders, an existing file, a name too long for a file system, a link loop or a dangling
link, and an input's own folder are refused (exit 2, naming the option); a relative --out works."""
import os
import shutil

import pytest

from vitedge.models.source import BUILTIN_DIR

from ..conftest import assert_refused
from .._helpers import MNIST_EVAL

SPEC = BUILTIN_DIR / "vit4mnist" / "model.toml"
DATA = f"{MNIST_EVAL}[0:8]"


def export(cli, out, *extra, data=DATA, source="vit4mnist"):
    return cli("export", source, "--format", "onnx", "--data", data, "--out", out, "--threads", 1, *extra)


def test_a_relative_out_works(cli, guard, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g = guard()
    outcome = export(cli, "runs/rel")
    assert outcome.code == 0, outcome.text
    assert (tmp_path / "runs/rel/vit4mnist.onnx").is_file()
    g.check(tmp_path / "runs")


@pytest.mark.parametrize("out, mentions", [
    ("", ["--out", "empty"]),
    ("/", ["--out", "does not write there"]),
    ("/proc/vitedge-test", ["/proc/vitedge-test", "does not write there"]),
    ("/dev/null", ["/dev/null", "does not write there"]),
    ("FILE", ["is a file, not a folder"]),
    ("FILE/sub", ["is a file, not a folder"]),
    ("x" * 300, ["300 bytes", "255"]),
    ("LOOP", ["--out", "link loop"]),
    ("DANGLING", ["--out", "does not exist"]),
])
def test_an_output_folder_vitedge_cannot_own_is_refused(cli, guard, tmp_path, monkeypatch, out, mentions):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("the user's file")
    os.symlink("LOOP", tmp_path / "LOOP")
    os.symlink(tmp_path / "nowhere" / "x", tmp_path / "DANGLING")
    g = guard()
    assert_refused(export(cli, out), *mentions)
    g.check()
    assert not (tmp_path / "nowhere").exists()


def class_folders(root):
    from PIL import Image

    for label in ("3", "4"):
        (root / label).mkdir(parents=True)
        Image.new("L", (28, 28), 128).save(root / label / "a.png")
    return root


@pytest.mark.parametrize("where", ["data", "data/out"])
def test_out_in_a_class_folder_tree_is_refused(cli, guard, tmp_path, where):
    data = class_folders(tmp_path / "data")
    g = guard()
    assert_refused(export(cli, tmp_path / where, data=data), "--out", "input --data", "outputs would be mixed")
    g.check()


def test_out_equal_to_the_spec_folder_is_refused(cli, guard, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for f in SPEC.parent.iterdir():
        shutil.copy(f, folder / f.name)
    g = guard()
    assert_refused(export(cli, folder, "--force", source=folder / "model.toml"), "--out", "input MODEL")
    g.check()


def test_out_equal_to_the_data_files_folder_is_refused(cli, guard, tmp_path):
    data = tmp_path / "eval.npz"
    shutil.copy(MNIST_EVAL, data)
    g = guard()
    assert_refused(export(cli, tmp_path, data=f"{data}[0:8]"), "--out", "is the folder of the input --data")
    g.check()


@pytest.mark.parametrize("flag", ["MODEL", "--data", "--weights"])
def test_an_input_name_longer_than_a_file_system_allows_is_bad_input(cli, guard, tmp_path, flag):
    long = str(tmp_path / ("x" * 300))
    args = {"MODEL": "vit4mnist", "--data": DATA}
    args[flag] = long
    extra = ["--weights", long] if flag == "--weights" else []
    g = guard()
    outcome = cli("export", args["MODEL"], "--format", "onnx", "--data", args["--data"], "--out", tmp_path / "out",
                  *extra)
    assert_refused(outcome, "xxxxxxxx", "longer than the 255 bytes")
    g.check(tmp_path / "out")


@pytest.mark.parametrize("mode", ["--force", "--resume"])
def test_force_and_resume_never_replace_a_foreign_artifacts_json(cli, guard, tmp_path, mode):
    out = tmp_path / "out"
    out.mkdir()
    (out / "artifacts.json").write_text('{"the user": "their own file"}')
    g = guard()
    assert_refused(export(cli, out, mode), "artifacts.json", "is not an artifacts.json vitedge wrote")
    g.check()


def test_an_unreadable_spec_is_refused_naming_it(cli, guard, tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    for f in SPEC.parent.iterdir():
        shutil.copy(f, folder / f.name)
    real_open = os.open

    def no_permission(path, *args, **kwargs):  # tests run as root, where chmod 000 does not bite
        if str(path).endswith("model.toml"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_permission)
    g = guard()
    assert_refused(export(cli, tmp_path / "out", source=folder / "model.toml"), "model.toml", "permission denied")
    g.check(tmp_path / "out")
