"""validate --data with labels outside the model's classes used to pass: it is refused, naming the data."""
import pytest

from ..conftest import assert_refused
from .._exported import exported_once
from .._helpers import assert_flag_refused, mnist_with_labels, parse


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_once(tmp_path_factory)


@pytest.mark.parametrize("labels", [[10], [0, 1, 12], [-3, 4]])
def test_labels_outside_the_model_classes(cli, guard, tmp_path, exported, labels):
    data = mnist_with_labels(tmp_path / "eval.npz", labels, count=32)
    g = guard()
    outcome = cli("validate", exported, "--data", data, "--report", tmp_path / "report", "--threads", 1)
    assert_refused(outcome, str(data), "outside the 10 classes of vit4mnist", "allowed 0 to 9")
    g.check(tmp_path / "report")


def test_labels_inside_the_classes_pass(cli, tmp_path, exported):
    data = mnist_with_labels(tmp_path / "eval.npz", list(range(10)), count=32)
    outcome = cli("validate", exported, "--data", data, "--report", tmp_path / "report", "--threads", 1,
                  "--allow-overlap")
    assert outcome.code in (0, 1), outcome.text  # wrong labels may fail a gate: the point is that they are read


@pytest.mark.parametrize("flag, value", [("--samples", "0"), ("--samples", "-1"), ("--threads", "0")])
def test_out_of_range_flags(cli, capsys, tmp_path, exported, flag, value):
    outcome = parse(cli, capsys, "validate", exported, "--report", tmp_path / "report", flag, value)
    assert_flag_refused(outcome, flag, repr(value))
