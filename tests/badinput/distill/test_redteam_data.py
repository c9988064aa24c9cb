"""distill: too few training images to train on (one image) are refused (exit 2) before the teacher runs; an --out
vitedge must not own is refused like every writing verb's."""
import pytest

from ..conftest import assert_refused
from .._helpers import REPO

EVAL = f"{REPO}/calib_data/mnist_eval.npz[0:32]"


def distill(cli, out, data):
    return cli("distill", "--teacher", "vit4mnist", "--student", "vit4mnist", "--data", data, "--eval", EVAL,
               "--epochs", "1", "--out", out)


@pytest.mark.parametrize("count", [1, 15])
def test_too_few_training_images_are_refused(cli, guard, tmp_path, count):
    g = guard()
    outcome = distill(cli, tmp_path / "out", f"{REPO}/calib_data/mnist_calib.npz[0:{count}]")
    assert_refused(outcome, "--data", f"has {count} image(s)", "too few")
    g.check(tmp_path / "out")


def test_distill_out_at_the_root_is_refused(cli, guard, tmp_path):
    g = guard()
    assert_refused(distill(cli, "/", f"{REPO}/calib_data/mnist_calib.npz[0:64]"), "--out", "does not write there")
    g.check()
