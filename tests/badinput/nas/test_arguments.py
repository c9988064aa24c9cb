"""nas: out-of-range numbers are refused by the parser naming the flag; --min-depth above the model's depth and
labels outside its classes are clean errors naming the model, before any search."""
import pytest

from ..conftest import assert_refused
from .._helpers import assert_flag_refused, mnist_with_labels, parse


@pytest.mark.parametrize("flag, value, mention", [
    ("--min-depth", "0", ">= 1"), ("--screen", "0", ">= 1"), ("--epochs", "-1", ">= 0"),
    ("--finalists", "0", ">= 1"), ("--batch-size", "0", ">= 1"), ("--lr", "0", "> 0"), ("--max-drop", "-1", "from 0 to 100"), ("--budget-fraction", "0", "above 0"),
    ("--budget-fraction", "1", "below 1"), ("--budget-fraction", "nan", "above 0"), ("--seed", "-1", "from 0"),
    ("--threads", "0", "from 1"),
])
def test_out_of_range_flags(cli, capsys, guard, tmp_path, flag, value, mention):
    g = guard()
    outcome = parse(cli, capsys, "nas", "vit4mnist", "--out", tmp_path / "out", flag, value)
    assert_flag_refused(outcome, flag, mention)
    g.check()


def test_min_depth_above_the_model_depth(cli, guard, tmp_path):
    g = guard()
    outcome = cli("nas", "vit4mnist", "--budget-fraction", "0.5", "--min-depth", 99, "--out", tmp_path / "out")
    assert_refused(outcome, "--min-depth 99", "6 blocks of vit4mnist", "from 1 to 6")
    assert not (tmp_path / "out" / "nas.json").exists()
    g.check(tmp_path / "out")


def test_labels_outside_the_model_classes(cli, guard, tmp_path):
    data = mnist_with_labels(tmp_path / "data.npz", [2, 10, 11], count=96)
    g = guard()
    outcome = cli("nas", "vit4mnist", "--data", data, "--out", tmp_path / "out")
    assert_refused(outcome, str(data), "outside the 10 classes of vit4mnist")
    g.check(tmp_path / "out")
