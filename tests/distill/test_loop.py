"""Distillation runs on real MNIST images: learning, exact resume, refusals, and the output folder."""
import json

import pytest
import torch

from vitedge.distill import CheckpointMismatchError, DistillConfig, distill
from vitedge.distill import loop
from vitedge.distill.checkpoint import CHECKPOINT
from vitedge.distill.evaluate import agreement
from vitedge.errors import OutputExistsError
from vitedge.models import load_model

from .conftest import tiny_student

CFG = DistillConfig(epochs=2, batch_size=64, lr=2e-3, checkpoint_every=4)  # 6 steps an epoch on 384 images


@pytest.fixture(scope="module")
def finished(vit4mnist, train_data, eval_data, tmp_path_factory):
    """One uninterrupted run that the tests below compare against."""
    out = tmp_path_factory.mktemp("distill") / "run"
    result = distill(vit4mnist.module, tiny_student(), train_data, vit4mnist.spec, CFG, out=out, eval_data=eval_data,
                     progress=False)
    return result, out


def test_short_run_moves_the_student_towards_the_teacher(finished, vit4mnist, eval_data):
    result, _ = finished
    before = agreement(tiny_student(), vit4mnist.module, eval_data, vit4mnist.spec)
    after = agreement(result.student, vit4mnist.module, eval_data, vit4mnist.spec)
    assert after > before + 5, (before, after)
    assert result.steps == 12 and [h["epoch"] for h in result.history] == [1, 2]
    assert result.agreement == pytest.approx(after) and result.teacher_top1 > 95
    assert result.history[1]["loss"] < result.history[0]["loss"] and not result.student.training


def test_interrupted_run_resumes_to_the_same_weights(finished, vit4mnist, train_data, eval_data, tmp_path,
                                                     monkeypatch):
    out = tmp_path / "run"
    real_step, calls = loop._Run._train_step, []

    def dies_at_step_7(self, *args):
        calls.append(1)
        if len(calls) == 7:
            raise KeyboardInterrupt
        return real_step(self, *args)

    monkeypatch.setattr(loop._Run, "_train_step", dies_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        distill(vit4mnist.module, tiny_student(), train_data, vit4mnist.spec, CFG, out=out, eval_data=eval_data,
                progress=False)
    monkeypatch.undo()
    assert (out / CHECKPOINT).is_file() and not (out / "student.safetensors").exists()
    resumed = distill(vit4mnist.module, tiny_student(seed=5), train_data, vit4mnist.spec, CFG, out=out,
                      eval_data=eval_data, progress=False)
    reference = finished[0]
    assert resumed.resumed_from == 6 and resumed.steps == 12  # the end of epoch 1 was the last checkpoint
    for key, value in reference.student.state_dict().items():
        assert torch.equal(resumed.student.state_dict()[key], value), key
    strip = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    assert strip(resumed.history) == strip(reference.history)


def test_changed_config_on_resume_is_refused(finished, vit4mnist, train_data, eval_data):
    _, out = finished
    changed = DistillConfig(epochs=3, batch_size=64, lr=2e-3, checkpoint_every=4)
    with pytest.raises(CheckpointMismatchError, match="epochs 2 -> 3") as info:
        distill(vit4mnist.module, tiny_student(), train_data, vit4mnist.spec, changed, out=out, eval_data=eval_data,
                progress=False)
    assert "--force" in str(info.value) and "another --out" in str(info.value)
    with pytest.raises(CheckpointMismatchError, match="training data differ"):
        distill(vit4mnist.module, tiny_student(), eval_data, vit4mnist.spec, CFG, out=out, eval_data=eval_data,
                progress=False)


def test_finished_run_resumes_as_done_and_outputs_are_not_overwritten(finished, vit4mnist, train_data, eval_data,
                                                                      tmp_path):
    result, out = finished
    again = distill(vit4mnist.module, tiny_student(), train_data, vit4mnist.spec, CFG, out=out, eval_data=eval_data,
                    progress=False)
    assert again.resumed_from == 12 and again.steps == 12 and again.history == result.history
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "distill.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="no checkpoint"):
        distill(vit4mnist.module, tiny_student(), train_data, vit4mnist.spec, CFG, out=lone, progress=False)


def test_output_spec_loads_and_gives_the_same_logits(finished, eval_data, vit4mnist):
    result, out = finished
    loaded = load_model(out / "student.toml")
    x = torch.from_numpy(next(eval_data.batches(vit4mnist.spec, 32))[0])
    with torch.no_grad():
        assert torch.equal(loaded.module(x), result.student(x))
    assert loaded.spec == vit4mnist.spec and loaded.config == result.student.cfg
    report = json.loads((out / "distill.json").read_text())
    assert report["eval_top1"] == result.eval_top1 and report["teacher_top1"] == result.teacher_top1
    assert report["data"]["train"]["sha256"] and report["config"]["epochs"] == 2 and len(report["history"]) == 2
    assert report["student"]["weights_sha256"] == loaded.weights_sha256


def test_feature_distillation_and_max_steps(vit4mnist, train_data, tmp_path):
    cfg = DistillConfig(epochs=3, batch_size=64, feature_weight=1.0, hard_distill=True, max_steps=3)
    result = distill(vit4mnist.module, tiny_student(), train_data, vit4mnist.spec, cfg, out=tmp_path, progress=False)
    assert result.steps == 3 and len(result.history) == 1 and result.eval_top1 is None
    saved = load_model(tmp_path / "student.toml").module.state_dict()
    assert set(saved) == set(result.student.state_dict())  # the 32 -> 64 projector stays in the checkpoint
    fresh = distill(vit4mnist.module, tiny_student(), train_data, vit4mnist.spec, cfg, out=tmp_path, resume=False,
                    progress=False)
    assert fresh.resumed_from is None and fresh.steps == 3
