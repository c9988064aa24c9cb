"""Name lists on the command line are exact: an empty entry, an empty list, a repeated or an upper-case name is
refused (exit 2, naming the flag and the allowed names) instead of being read as "nothing" or guessed."""
import pytest

from vitedge.names import NameListError, name_list

from ..conftest import assert_refused
from .._helpers import MNIST_EVAL


@pytest.mark.parametrize("text, mentions", [
    (",", ["--format", "stray comma"]),
    ("", ["--format", "empty"]),
    ("onnx,", ["--format", "stray comma"]),
    ("onnx,onnx", ["--format", "more than once"]),
    ("ONNX", ["--format", "'ONNX'", "lowercase"]),
    ("all,onnxx", ["--format", "'all'"]),
])
def test_export_format_lists_are_exact(cli, guard, tmp_path, text, mentions):
    g = guard()
    outcome = cli("export", "vit4mnist", "--format", text, "--data", f"{MNIST_EVAL}[0:8]", "--out", tmp_path / "out")
    assert_refused(outcome, *mentions)
    g.check(tmp_path / "out")


def test_name_list_accepts_exact_names_and_the_all_word():
    assert name_list("onnx, tflite", "--format", ["onnx", "openvino", "tflite"]) == ["onnx", "tflite"]
    assert name_list("all", "--format", ["onnx", "tflite"], all_word="all") == ["onnx", "tflite"]
    with pytest.raises(NameListError, match="did you mean onnx"):
        name_list("onx", "--format", ["onnx", "tflite"])
