"""nas: a budget that is empty, infinite, repeated, for a target not searched, a speed-up of 1 or less; a target
list with an empty entry; too few images; and --eval images shared with --data are refused (exit 2) before
the search starts."""
import pytest

from ..conftest import assert_refused
from .._helpers import REPO

DATA = f"{REPO}/calib_data/mnist_calib.npz[0:64]"
EVAL = f"{REPO}/calib_data/mnist_eval.npz[0:32]"


def nas(cli, tmp_path, *extra, data=DATA, eval_data=EVAL):
    args = {"--targets": "x86-cpu", "--budget-ms": "0.1", "--data": data, "--eval": eval_data}
    for flag, value in zip(extra[::2], extra[1::2]):
        args[flag] = value
    argv = [x for kv in args.items() if kv[1] is not None for x in kv]
    return cli("nas", "vit4mnist", *argv, "--screen", 2, "--epochs", 0, "--out", tmp_path / "out")


@pytest.mark.parametrize("extra, mentions", [
    (("--budget-ms", ""), ["--budget-ms", "empty"]),
    (("--budget-ms", "inf"), ["latency budget", "finite"]),
    (("--budget-ms", "x86-cpu=0.1,x86-cpu=0.2"), ["x86-cpu", "more than one budget"]),
    (("--budget-ms", "jetson-orin-nano=0.1"), ["jetson-orin-nano", "not in --targets"]),
    (("--min-speedup", "1"), ["--min-speedup", "above 1"]),
    (("--targets", ","), ["--targets", "stray comma"]),
    (("--targets", "X86-CPU"), ["--targets", "lowercase"]),
])
def test_budgets_and_targets_are_checked(cli, guard, tmp_path, extra, mentions):
    g = guard()
    assert_refused(nas(cli, tmp_path, *extra), *mentions)
    g.check(tmp_path / "out")


def test_too_few_images_are_refused(cli, guard, tmp_path):
    g = guard()
    assert_refused(nas(cli, tmp_path, data=f"{REPO}/calib_data/mnist_calib.npz[0:1]"), "--data", "at least 10")
    g.check(tmp_path / "out")


def test_eval_images_shared_with_data_are_refused(cli, guard, tmp_path):
    g = guard()
    assert_refused(nas(cli, tmp_path, data=f"{REPO}/calib_data/mnist_eval.npz[0:64]"), "shares images", "--eval")
    g.check(tmp_path / "out")
