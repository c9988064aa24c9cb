"""The quantization gate: a top-1 drop bound, an agreement floor, both, or neither."""
import pytest

from vitedge.quantize.gate import QuantGate

FIGURES = {"drop_pp": 0.4, "top1_agreement": 0.968}


@pytest.mark.parametrize("gate, holds", [
    (QuantGate(0.5), True), (QuantGate(0.3), False),
    (QuantGate(min_agreement=96.0), True), (QuantGate(min_agreement=97.0), False),
    (QuantGate(0.5, 97.0), False), (QuantGate(0.5, 96.5), True),
])
def test_gate_checks_drop_and_agreement(gate, holds):
    assert gate.active and gate.holds(FIGURES) is holds


def test_unlabelled_data_checks_agreement_only_and_no_gate_is_inactive():
    assert QuantGate(0.1).holds({"drop_pp": None, "top1_agreement": 0.99})
    assert not QuantGate(0.1, 99.5).holds({"drop_pp": None, "top1_agreement": 0.99})
    assert not QuantGate().active and QuantGate().describe() == "none"
    assert QuantGate(0.5, 97.0).describe() == "drop <= 0.5 pp and agreement >= 97.0%"


def test_cli_min_agreement_runs_the_fallback_and_reports_an_unreachable_floor(tmp_path, capsys):
    from vitedge.cli import main

    code = main(["quantize", "vit4mnist", "--format", "onnx", "--precision", "int8", "--calibration-method",
                 "entropy", "--calib-samples", "100", "--eval-samples", "400", "--min-agreement", "100",
                 "--out", str(tmp_path / "q")])
    err = capsys.readouterr().err
    assert code == 1 and "fail the gate (agreement >= 100.0%)" in err and "in float: KL" in err
