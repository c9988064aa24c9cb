"""A spec's labels_file must lie in the spec's folder and hold one class name per class; export --data labels
must be classes of the model."""
import os

import pytest

from ..conftest import assert_refused
from .._helpers import mnist_with_labels
from .._helpers import spec_text
from .conftest import export


def with_labels_file(spec, name: str) -> None:
    spec.write_text(spec_text(labels=False, top=f'labels_file = "{name}"'))


@pytest.mark.parametrize("name", ["../secret.txt", "/etc/hostname", "sub/../../secret.txt"])
def test_labels_file_outside_the_spec_folder_is_refused(cli, guard, tiny, tmp_path, name):
    (tmp_path / "secret.txt").write_text("\n".join(str(i) for i in range(10)))
    with_labels_file(tiny, name)
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), str(tiny), "labels_file", "outside the spec's folder")
    g.check(tmp_path / "out")


def test_labels_file_symlink_leading_outside_is_refused(cli, guard, tiny, tmp_path):
    (tmp_path / "secret.txt").write_text("\n".join(str(i) for i in range(10)))
    os.symlink(tmp_path / "secret.txt", tiny.parent / "labels.txt")
    with_labels_file(tiny, "labels.txt")
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), str(tiny), "outside the spec's folder")
    g.check(tmp_path / "out")


def test_labels_file_inside_is_read(cli, tiny, tmp_path):
    (tiny.parent / "labels.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n")
    with_labels_file(tiny, "labels.txt")
    outcome = export(cli, tiny, tmp_path)
    assert outcome.code == 0, outcome.text
    assert "class9" in (tmp_path / "out" / "artifacts.json").read_text()


@pytest.mark.parametrize("content, mentions", [
    ("", ["holds no class names"]),
    ("\n  \n", ["holds no class names"]),
    ("a\nb\nc\n", ["3 labels for a head of 10 classes"]),
    (b"\xff\xfe\x00a", ["not UTF-8"]),
])
def test_bad_labels_file(cli, guard, tiny, tmp_path, content, mentions):
    path = tiny.parent / "labels.txt"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    with_labels_file(tiny, "labels.txt")
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), "tiny", *mentions)
    g.check(tmp_path / "out")


def test_labels_and_labels_file_together(cli, guard, tiny, tmp_path):
    (tiny.parent / "labels.txt").write_text("\n".join(str(i) for i in range(10)))
    tiny.write_text(spec_text(top='labels_file = "labels.txt"'))
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), str(tiny), "both labels and labels_file")
    g.check(tmp_path / "out")


def test_export_data_labels_outside_the_model_classes(cli, guard, tmp_path):
    data = mnist_with_labels(tmp_path / "data.npz", [0, 11], count=16)
    g = guard()
    outcome = cli("export", "vit4mnist", "--format", "onnx", "--data", data, "--out", tmp_path / "out")
    assert_refused(outcome, str(data), "outside the 10 classes of vit4mnist")
    g.check(tmp_path / "out")
