"""`vitedge export` from the command line: the table, exit codes, and one clear message per bad input."""
import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from vitedge.cli import main
from vitedge.export import EXPORTERS


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_prints_table_and_writes_artifacts_json(tmp_path, capsys):
    code, out, err = run(capsys, "export", "vit4mnist", "--format", "onnx", "--out", str(tmp_path / "x"),
                         "--samples", "200")
    assert code == 0, err
    header = out.splitlines()[0].split()
    for column in ("format", "precision", "file", "size", "cosine", "export"):
        assert column in header
    assert "vit4mnist.onnx" in out and "pass" in out
    doc = json.loads((tmp_path / "x" / "artifacts.json").read_text())
    assert doc["artifacts"][0]["parity"]["samples"] == 200


def test_existing_output_refused_without_force(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert run(capsys, "export", "vit4mnist", "--format", "onnx", "--out", out, "--samples", "50")[0] == 0
    code, _, err = run(capsys, "export", "vit4mnist", "--format", "onnx", "--out", out, "--samples", "50")
    assert code == 2 and "already holds artifacts" in err and "--force" in err and "Traceback" not in err
    code, _, err = run(capsys, "export", "vit4mnist", "--format", "onnx", "--out", out, "--samples", "50", "--resume")
    assert code == 0 and "unchanged since the last run" in err
    code, _, err = run(capsys, "export", "vit4mnist", "--format", "onnx", "--out", out, "--samples", "50", "--force")
    assert code == 0 and "wrote vit4mnist.onnx" in err


def test_missing_weights_file(tmp_path, capsys):
    code, _, err = run(capsys, "export", "deit_tiny_patch16_224", "--weights", str(tmp_path / "gone.safetensors"),
                       "--out", str(tmp_path / "x"))
    assert code == 2 and "weights file not found" in err and "gone.safetensors" in err and "Traceback" not in err


def test_state_dict_not_matching_architecture_lists_keys(tmp_path, capsys):
    state = {"cls_token": torch.zeros(1, 1, 192), "blocks.0.attn.qkv.weight": torch.zeros(576, 192)}
    save_file(state, tmp_path / "partial.safetensors")
    code, _, err = run(capsys, "export", "deit_tiny_patch16_224", "--weights", str(tmp_path / "partial.safetensors"),
                       "--out", str(tmp_path / "x"))
    assert code == 2 and "do not match the architecture" in err
    assert "missing keys (148)" in err and "blocks.0.attn.qkv.bias" in err and "(+140 more)" in err


def test_unknown_model_suggests_names(tmp_path, capsys):
    code, _, err = run(capsys, "export", "vit_tiny_patch16_22", "--out", str(tmp_path / "x"))
    assert code == 2 and "unknown model 'vit_tiny_patch16_22'" in err and "vit_tiny_patch16_224" in err


def test_unknown_format_suggests_names(tmp_path, capsys):
    code, _, err = run(capsys, "export", "vit4mnist", "--format", "onxx", "--out", str(tmp_path / "x"))
    assert code == 2 and "unknown format 'onxx'" in err and "onnx" in err


def test_unreadable_data_path(tmp_path, capsys):
    code, _, err = run(capsys, "export", "vit4mnist", "--data", str(tmp_path / "missing.npz"), "--out",
                       str(tmp_path / "x"))
    assert code == 2 and "missing.npz" in err and "Traceback" not in err
    assert not (tmp_path / "x" / "artifacts.json").exists()


def test_converter_failure_keeps_other_artifacts_and_leaves_no_partial_files(tmp_path, capsys, monkeypatch):
    def broken(model, folder):
        (folder / "half-written.tflite").write_bytes(b"\0" * 10)
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(EXPORTERS.get("tflite"), "export", broken)
    out = tmp_path / "x"
    code, _, err = run(capsys, "export", "vit4mnist", "--format", "onnx,tflite", "--out", str(out), "--samples", "50")
    assert code == 1 and "tflite: the converter failed: RuntimeError: converter crashed" in err
    assert sorted(p.name for p in out.iterdir()) == ["artifacts.json", "vit4mnist.onnx"]
    assert [a["format"] for a in json.loads((out / "artifacts.json").read_text())["artifacts"]] == ["onnx"]


def test_console_script_exit_code_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "vitedge", "export", "nonexistent_model", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown model") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [["--help"], ["export", "--help"]])
def test_help_does_not_load_backends(argv):
    code = "import sys, vitedge.cli as c\ntry: c.main(%r)\nexcept SystemExit: pass\n" \
           "print(sorted(m for m in ('torch', 'openvino', 'onnxruntime') if m in sys.modules))" % argv
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_parity_failure_names_artifact_output_and_numbers(tmp_path, capsys, monkeypatch):
    """A converter that silently changes the model (here: one perturbed weight) is caught by the parity check."""
    import copy

    onnx_exporter = EXPORTERS.get("onnx")
    real_export = type(onnx_exporter).export

    def perturbed_export(model, folder):
        broken = copy.deepcopy(model)
        with torch.no_grad():
            broken.module.blocks[2].mlp.fc1.weight.mul_(1.5)
        return real_export(onnx_exporter, broken, folder)

    monkeypatch.setattr(onnx_exporter, "export", perturbed_export)
    out = tmp_path / "x"
    code, stdout, err = run(capsys, "export", "vit4mnist", "--format", "onnx", "--out", str(out), "--samples", "300")
    assert code == 1
    assert "vit4mnist.onnx output 'logits' differs from PyTorch" in err and "max abs diff" in err and "must be <=" in err
    assert "FAIL" in stdout
    parity = json.loads((out / "artifacts.json").read_text())["artifacts"][0]["parity"]
    assert parity["passed"] is False and parity["max_abs_diff"] > 1e-2


def test_interrupted_run_resumes_without_redoing_finished_artifacts(tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "x")
    tflite = EXPORTERS.get("tflite")

    def interrupted(model, folder):
        raise KeyboardInterrupt

    monkeypatch.setattr(tflite, "export", interrupted)
    code, _, err = run(capsys, "export", "vit4mnist", "--format", "onnx,tflite", "--out", out, "--samples", "50")
    assert code == 130 and "--resume" in err
    monkeypatch.undo()
    code, _, err = run(capsys, "export", "vit4mnist", "--format", "onnx,tflite", "--out", out, "--samples", "50",
                       "--resume")
    assert code == 0 and "onnx: unchanged since the last run" in err and "tflite: wrote vit4mnist.tflite" in err
    assert not list((tmp_path / "x").glob(".staging-*"))


def test_targets_lists_every_profile(capsys):
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    for name in ("x86-cpu", "jetson-orin-nano", "jetson-agx-orin", "android-arm64", "raspberry-pi-5"):
        assert name in out
