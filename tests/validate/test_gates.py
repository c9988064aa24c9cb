import pytest

from vitedge.validate.gates import DEFAULT_GATES, Gate, GateError, read_gates


def test_gates_file_with_scopes(tmp_path):
    path = tmp_path / "gates.toml"
    path.write_text('[[gate]]\nmetric = "top1"\ntype = "max-drop"\nvalue = 0.3\nprecisions = ["int8"]\n'
                    '[[gate]]\nmetric = "logits"\ntype = "min-cosine"\nvalue = 0.995\nformats = ["tflite"]\n')
    gates = read_gates(path)
    assert gates == (Gate("top1", "max-drop", 0.3, (), ("int8",)), Gate("logits", "min-cosine", 0.995, ("tflite",)))
    assert gates[0].applies_to("onnx", "int8") and not gates[0].applies_to("onnx", "fp16")
    assert gates[0].check({"top1_drop_pp": 0.31}) == (0.31, False)
    assert gates[1].check({"mean_cosine": 0.999}) == (0.999, True)


def test_defaults_without_file():
    assert read_gates(None) == DEFAULT_GATES


@pytest.mark.parametrize("body, message", [
    ('metric = "top3"\ntype = "max-drop"\nvalue = 1', "metric 'top3' does not go with type 'max-drop'"),
    ('metric = "top1"\ntype = "max-fall"\nvalue = 1', "unknown gate type 'max-fall'"),
    ('metric = "top1"\ntype = "max-drop"\nvalue = "high"', "value must be a number"),
    ('metric = "top1"\ntype = "max-drop"\nvalue = 1\nthreshold = 2', r"unknown key\(s\) \['threshold'\]"),
])
def test_bad_gates_named(tmp_path, body, message):
    path = tmp_path / "gates.toml"
    path.write_text("[[gate]]\n" + body + "\n")
    with pytest.raises(GateError, match=message) as err:
        read_gates(path)
    assert "gates.toml" in str(err.value)


def test_missing_label_figure_fails_the_gate():
    assert Gate("top1", "max-drop", 1.0).check({"mean_cosine": 1.0}) == (None, False)


def test_unmeasurable_figure_fails_a_required_gate_and_skips_an_optional_one():
    few_per_class = {"top1_drop_pp": 0.2, "worst_class_note": "no class has 50 evaluation images"}
    assert Gate("top1", "max-class-drop", 3.0).check(few_per_class) == (None, False)
    assert Gate("top1", "max-class-drop", 3.0, optional=True).check(few_per_class) == (None, None)


def test_default_floors_are_per_precision():
    agreement = {g.precisions: g.value for g in DEFAULT_GATES if g.type == "min-agreement"}
    assert agreement == {("fp32", "fp16", "bf16"): 0.98, ("int8",): 0.95}
    assert all(g.optional for g in DEFAULT_GATES if g.precisions)  # an FP32-only run selects no INT8 gate
