"""quantize: numeric flags out of range are refused by the parser naming the flag (0 no longer means "the
default"), and evaluation labels outside the model's classes are refused where the data meets the model."""
import pytest

from vitedge.errors import VitedgeError

from ..conftest import assert_refused
from .._helpers import assert_flag_refused, mnist_with_labels, parse


@pytest.mark.parametrize("flag, value, mention", [
    ("--calib-samples", "0", "integer >= 1"),
    ("--calib-samples", "-5", "integer >= 1"),
    ("--calib-samples", "lots", "integer >= 1"),
    ("--eval-samples", "0", "integer >= 1"),
    ("--max-drop", "-1", "from 0 to 100"),
    ("--max-drop", "nan", "from 0 to 100"),
    ("--max-drop", "inf", "from 0 to 100"),
    ("--threads", "0", "from 1 to 1024"),
    ("--threads", "-2", "from 1 to 1024"),
    ("--threads", "1.5", "from 1 to 1024"),
])
def test_out_of_range_flags(cli, capsys, guard, tmp_path, flag, value, mention):
    g = guard()
    outcome = parse(cli, capsys, "quantize", "vit4mnist", "--out", tmp_path / "out", flag, value)
    assert_flag_refused(outcome, flag, mention, repr(value))
    g.check()


def test_api_calib_samples_zero_is_not_the_default(tmp_path):
    """api.quantize(calib_samples=0) used to calibrate on 300 images; zero images is an error."""
    from vitedge.api import quantize

    with pytest.raises(VitedgeError, match="positive number of images, got 0"):
        quantize("vit4mnist", "onnx", "int8", calib_samples=0, out=tmp_path / "out", threads=1)
    assert not (tmp_path / "out" / "artifacts.json").exists()


@pytest.mark.parametrize("labels, shown", [([3, 10], "allowed 0 to 9"), ([-1, 2], "from -1 to 2")])
def test_eval_labels_outside_the_model_classes(cli, guard, tmp_path, labels, shown):
    data = mnist_with_labels(tmp_path / "eval.npz", labels)
    g = guard()
    outcome = cli("quantize", "vit4mnist", "--format", "onnx", "--precision", "fp16", "--eval", data,
                  "--out", tmp_path / "out", "--threads", 1)
    assert_refused(outcome, str(data), "outside the 10 classes of vit4mnist", shown)
    g.check(tmp_path / "out")
