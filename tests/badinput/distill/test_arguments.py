"""distill: out-of-range numbers are refused by the parser naming the flag; training labels outside the teacher's
classes are refused; a random-init student is reproducible under one seed."""
import pytest
from safetensors.torch import load_file

from ..conftest import assert_refused
from .._helpers import REPO, assert_flag_refused, mnist_with_labels, parse, spec_text

TRAIN = f"{REPO}/calib_data/mnist_calib.npz[0:64]"
EVAL = f"{REPO}/calib_data/mnist_eval.npz[0:32]"


@pytest.mark.parametrize("flag, value, mention", [
    ("--epochs", "0", ">= 1"), ("--epochs", "-1", ">= 1"), ("--batch-size", "0", ">= 1"),
    ("--lr", "0", "> 0"), ("--lr", "-0.001", "> 0"), ("--lr", "nan", "> 0"),
    ("--temperature", "0", "> 0"), ("--alpha", "1.5", "from 0 to 1"), ("--alpha", "-0.1", "from 0 to 1"),
    ("--weight-decay", "-0.1", ">= 0"), ("--warmup-steps", "-1", ">= 0"), ("--feature-weight", "inf", ">= 0"),
    ("--max-steps", "0", ">= 1"), ("--checkpoint-every", "0", ">= 1"), ("--seed", "-1", "from 0"),
])
def test_out_of_range_flags(cli, capsys, guard, tmp_path, flag, value, mention):
    g = guard()
    outcome = parse(cli, capsys, "distill", "--teacher", "vit4mnist", "--student", "vit4mnist", "--out",
                    tmp_path / "out", flag, value)
    assert_flag_refused(outcome, flag, mention)
    g.check()


def test_training_labels_outside_the_teacher_classes(cli, guard, tmp_path):
    data = mnist_with_labels(tmp_path / "train.npz", [1, 10])
    g = guard()
    outcome = cli("distill", "--teacher", "vit4mnist", "--student", "vit4mnist", "--data", data, "--eval", EVAL,
                  "--out", tmp_path / "out", "--max-steps", 1)
    assert_refused(outcome, str(data), "outside the 10 classes of vit4mnist")
    g.check(tmp_path / "out")


def test_random_init_is_reproducible_under_one_seed(cli, tmp_path):
    """The student's random initialisation used to run before the seed was set: two runs differed."""
    student = tmp_path / "student.toml"
    student.write_text(spec_text().replace('weights = "tiny.safetensors"\n', ""))
    weights = []
    for run in ("a", "b"):
        outcome = cli("distill", "--teacher", "vit4mnist", "--student", student, "--random-init", "--data", TRAIN,
                      "--eval", EVAL, "--epochs", 1, "--max-steps", 1, "--batch-size", 16, "--seed", 7,
                      "--out", tmp_path / run)
        assert outcome.code == 0, outcome.text
        weights.append(load_file(tmp_path / run / "student.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all(weights[0][k].equal(weights[1][k]) for k in weights[0])
