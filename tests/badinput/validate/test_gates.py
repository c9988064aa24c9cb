"""validate: gates that match nothing, unknown names, wrong types and malformed gate lists are refused (exit 2),
naming the gates file, the gate number and the key; a run with gates never writes a junit.xml without a test case."""
import pytest

from ..conftest import assert_refused
from .._exported import exported_once

GOOD = 'metric = "top1"\ntype = "max-drop"\nvalue = 1.0\n'


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_once(tmp_path_factory)


def gates_file(tmp_path, text):
    path = tmp_path / "gates.toml"
    path.write_text(text)
    return path


def validate(cli, exported, gates, report, *extra):
    return cli("validate", exported, "--gates", gates, "--report", report, "--samples", 32, "--threads", 1, *extra)


@pytest.mark.parametrize("body, mentions", [
    (GOOD + 'formats = "onnx"\n', ["gate 1", "formats", "list of strings"]),
    (GOOD + 'formats = ["onnxx"]\n', ["gate 1", "'onnxx'", "onnx, openvino, tflite"]),
    (GOOD + 'precisions = ["INT8"]\n', ["gate 1", "'INT8'", "fp32, fp16, bf16, int8"]),
    (GOOD + "formats = []\n", ["gate 1", "formats", "empty"]),
    (GOOD + "formats = [1]\n", ["gate 1", "formats"]),
    (GOOD + 'optional = "yes"\n', ["gate 1", "optional", "true or false"]),
    (GOOD + 'scope = "all"\n', ["gate 1", "'scope'", "allowed keys"]),
    ('metric = "top1"\ntype = "max-drop"\nvalue = "0.3"\n', ["gate 1", "value", "'0.3'"]),
    ('metric = "top1"\ntype = "max-drop"\nvalue = nan\n', ["gate 1", "value", "nan"]),
    ('metric = "top1"\ntype = "max-drop"\nvalue = inf\n', ["gate 1", "value", "inf"]),
    ('metric = "top1"\ntype = "max-drop"\nvalue = 150\n', ["gate 1", "value", "from -100 to 100"]),
    ('metric = "top1"\ntype = "min-agreement"\nvalue = -0.1\n', ["gate 1", "value", "from 0 to 1"]),
    ('metric = "logits"\ntype = "min-psnr"\nvalue = -3\n', ["gate 1", "value", "from 0 to 1000"]),
    ('metric = "top1"\ntype = "min-agreement"\nvalue = 98\n', ["gate 1", "value", "from 0 to 1"]),
    ('metric = "logits"\ntype = "max-kl"\nvalue = -1\n', ["gate 1", "value"]),
    ('metric = "top1"\ntype = "max-drop"\nvalue = true\n', ["gate 1", "value", "True"]),
    ('metric = "top1"\ntype = "max-drop"\n', ["gate 1", "'value' is missing"]),
    ('type = "max-drop"\nvalue = 1\n', ["gate 1", "metric None"]),
    ('metric = "top1"\ntype = ["max-drop"]\nvalue = 1\n', ["gate 1", "unknown gate type"]),
])
def test_bad_gate_is_refused_before_any_work(cli, guard, tmp_path, exported, body, mentions):
    gates = gates_file(tmp_path, "[[gate]]\n" + GOOD + "\n[[gate]]\n" + body)
    g = guard()
    outcome = validate(cli, exported, gates, tmp_path / "report")
    assert_refused(outcome, str(gates), *[m.replace("gate 1", "gate 2") for m in mentions])
    assert not (tmp_path / "report").exists()
    g.check(tmp_path / "report")


@pytest.mark.parametrize("text, mention", [
    ("gate = 5\n", "gate = 5"),
    ("gate = [1, 2]\n", "gate 1 must be a table"),
    ('gate = ["top1"]\n', "gate 1 must be a table"),
    ("[gate]\n" + GOOD, "[[gate]] tables"),
    ("gate = []\n", "[[gate]] tables"),
    ("", "[[gate]] tables"),
    ("[[gate]]\n" + GOOD + "[[gates]]\n" + GOOD, "unknown top-level keys ['gates']"),
    ("[[gate]\n", "could not be read"),
])
def test_malformed_gate_list(cli, guard, tmp_path, exported, text, mention):
    gates = gates_file(tmp_path, text)
    g = guard()
    assert_refused(validate(cli, exported, gates, tmp_path / "report"), str(gates), mention)
    g.check(tmp_path / "report")


def test_gate_selecting_no_artifact_is_an_error(cli, guard, tmp_path, exported):
    """The export holds fp32 ONNX only: a gate on int8 checks nothing, so CI must not go green on it."""
    gates = gates_file(tmp_path, "[[gate]]\n" + GOOD + 'precisions = ["int8"]\n')
    g = guard()
    outcome = validate(cli, exported, gates, tmp_path / "report")
    assert_refused(outcome, str(gates), "gate 1", "selects none", "onnx fp32", "optional = true")
    assert not (tmp_path / "report" / "junit.xml").exists()
    g.check(tmp_path / "report")


def test_optional_gate_selecting_nothing_is_a_skipped_testcase(cli, tmp_path, exported):
    from junitparser import JUnitXml

    gates = gates_file(tmp_path, "[[gate]]\n" + GOOD + 'formats = ["tflite"]\noptional = true\n')
    outcome = validate(cli, exported, gates, tmp_path / "report")
    assert outcome.code == 0, outcome.text
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "report" / "junit.xml"))))
    assert suite.tests == 1 and suite.skipped == 1
    assert "selected no artifact" in (tmp_path / "report" / "report.md").read_text()


def test_scoped_gate_that_matches_runs(cli, tmp_path, exported):
    from junitparser import JUnitXml

    gates = gates_file(tmp_path, "[[gate]]\n" + GOOD + 'formats = ["onnx"]\nprecisions = ["fp32"]\n')
    outcome = validate(cli, exported, gates, tmp_path / "report")
    assert outcome.code == 0, outcome.text
    suite = next(iter(JUnitXml.fromfile(str(tmp_path / "report" / "junit.xml"))))
    assert suite.tests == 1 and suite.skipped == 0


@pytest.mark.parametrize("flag, value, mention", [
    ("--formats", "onnxx", "'onnxx'"), ("--precisions", "INT8", "'INT8'"), ("--formats", "onnx,ov", "'ov'"),
])
def test_unknown_names_in_filter_flags(cli, guard, tmp_path, exported, flag, value, mention):
    g = guard()
    outcome = cli("validate", exported, "--report", tmp_path / "report", "--samples", 32, flag, value)
    assert_refused(outcome, flag, mention, "allowed")
    g.check(tmp_path / "report")


def test_filter_flags_that_select_nothing(cli, tmp_path, exported):
    outcome = cli("validate", exported, "--report", tmp_path / "report", "--samples", 32, "--precisions", "int8")
    assert_refused(outcome, "no artifact matches", "onnx fp32")
