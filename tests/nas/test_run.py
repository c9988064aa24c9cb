"""`vitedge nas` end to end on a tiny ViT and real MNIST images: nas.json, variants loadable by every command and
equal to the supernet's sub-network, lineage in the spec, a plot; resuming an interrupted training; torchrun."""
import json
import os
import subprocess
import sys

import pytest
import torch

from vitedge.cli import main
from vitedge.data import load_dataset
from vitedge.models import load_model
from vitedge.nas.elastic import elastic_forward
from vitedge.nas.output import save_weights_atomic, spec_text
from vitedge.nas.subnet import SubnetConfig

from ..conftest import REPO
from .conftest import CALIB, EVAL, tiny_model

SMALL = ["--epochs", "1", "--batch-size", "32", "--screen", "12", "--finalists", "3", "--rounds", "3",
         "--max-drop", "100", "--min-agreement", "0", "--zero-shot-floor", "0"]  # a random-init model: the mechanics, not the accuracy
DATA = [f"--data={CALIB}[0:192]", f"--eval={EVAL}[0:96]"]


def tiny_spec(folder):
    """The tiny ViT as a spec file + safetensors weights, the way users hand vitedge a custom model."""
    model = tiny_model(name="tiny", depth=4)
    weights = folder / "tiny.safetensors"
    save_weights_atomic(model, weights)
    from vitedge.fileio import sha256_file

    (folder / "tiny.toml").write_text(spec_text(model, weights.name, sha256_file(weights), "a tiny test ViT"))
    return folder / "tiny.toml"


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("nas")
    spec = tiny_spec(root)
    code = main(["nas", str(spec), *DATA, *SMALL, "--targets", "x86-cpu,android-arm64", "--out", str(root / "out")])
    assert code == 0
    return spec, root / "out"


def test_nas_json_records_the_search(searched):
    _, out = searched
    doc = json.loads((out / "nas.json").read_text())
    assert doc["schema"] == "vitedge.nas" and doc["version"] == 2
    assert doc["training"]["steps"] > 0 and doc["training"]["history"]
    assert len(doc["configurations"]) >= 12 and set(doc["targets"]) == {"x86-cpu", "android-arm64"}
    parent = doc["configurations"][0]  # screening starts with the largest configuration: the parent itself
    assert parent["config"]["resolution"] == 28 and len(parent["config"]["blocks"]) == 4
    assert {c["weights"] for c in doc["configurations"]} <= {"supernet", "pretrained"}
    assert parent["weights"] == "pretrained" and parent["full"]["agreement"] == 100.0  # the parent is itself (FP32)
    assert parent["screen"]["agreement"] >= 95.0  # screening runs bf16 where the CPU computes it natively
    phases = doc["phase_seconds"]
    assert set(phases) == {"importance", "knobs", "training", "search", "outputs"}
    assert all(s >= 0 for s in phases.values()) and sum(phases.values()) <= doc["seconds"] + 1
    x86 = doc["targets"]["x86-cpu"]
    assert x86["obtained"] == "measured here" and x86["parent_latency_ms"] > 0
    assert doc["targets"]["android-arm64"]["obtained"] == "estimated"
    for target in doc["targets"].values():
        assert target["summary"] and (target["pick"] is None) == (target["variant"] is None)
        assert (out / target["plot"]).is_file()
        if target["pick"]:
            pick = target["pick"]
            assert pick["speedup"] > 1 and pick["latency_ms"] < target["parent_latency_ms"]
            assert "faster than the parent" in target["summary"]


def test_variants_load_and_equal_the_supernet_subnetwork(searched):
    from safetensors.torch import load_file

    spec, out = searched
    doc = json.loads((out / "nas.json").read_text())
    picked = [t for t in doc["targets"].values() if t["variant"]]
    assert picked, [t["reason"] for t in doc["targets"].values()]
    supernet = load_model(str(spec))
    supernet.module.load_state_dict(load_file(out / "supernet.safetensors"))
    for target in picked:
        variant = load_model(str(out / target["variant"]))
        sub = SubnetConfig.from_dict(target["pick"]["config"])
        assert variant.derived_from["configuration"] == sub.key and variant.derived_from["parent"] == "tiny"
        assert variant.spec.input_size[-1] == sub.resolution
        assert variant.derived_from["weights"] == target["pick"]["weights"]
        if target["pick"]["weights"] == "pretrained":  # the zero-shot weights: test_output.py checks those
            continue
        x = torch.from_numpy(next(load_dataset(f"{EVAL}[0:16]", variant.spec).batches(variant.spec, 16))[0])
        with torch.no_grad():
            assert torch.allclose(variant.module(x), elastic_forward(supernet.module, x, sub), atol=1e-4)


def test_a_second_run_refuses_the_folder_without_force(searched, capsys):
    spec, out = searched
    assert main(["nas", str(spec), *DATA, *SMALL, "--out", str(out)]) == 2
    assert "already holds nas.json" in capsys.readouterr().err


@pytest.mark.parametrize("changes, named", [(dict(dist_token=True), "distillation token"),
                                             (dict(reg_tokens=2), "2 register token(s)"),
                                             (dict(img_size=(28, 35)), "non-square input 28x35")])
def test_parents_the_supernet_cannot_take_are_refused_by_name(changes, named):
    from vitedge.errors import VitedgeError
    from vitedge.nas.run import NASConfig

    with pytest.raises(VitedgeError, match="NAS does not support") as refused:
        NASConfig().check_parent(tiny_model(**changes))
    assert named in str(refused.value) and "without `vitedge nas`" in refused.value.hint


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch, mnist):
    from vitedge.nas import supernet as sn
    from vitedge.nas.space import default_space

    settings = sn.SupernetSettings(epochs=1, batch_size=32, held_out=0, precision="fp32", checkpoint_every=1,
                                   seed=3)
    parent = tiny_model(seed=5)
    space = default_space(parent.config, (2, 1, 0))

    def train(out, student):
        return sn.train_supernet(parent.module, student, space, mnist, parent.spec, settings, out)

    straight = tiny_model(seed=5).module
    train(tmp_path / "straight", straight)
    real_step, calls = sn._Training._train_step, {"n": 0}

    def interrupted(self, model):
        if calls["n"] == 3:
            raise KeyboardInterrupt
        calls["n"] += 1
        real_step(self, model)

    monkeypatch.setattr(sn._Training, "_train_step", interrupted)
    resumed = tiny_model(seed=5).module
    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "resumed", resumed)
    monkeypatch.setattr(sn._Training, "_train_step", real_step)
    again = tiny_model(seed=5).module
    record = train(tmp_path / "resumed", again)
    assert record.resumed_from == 3
    for (name, a), b in zip(straight.state_dict().items(), again.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_torchrun_two_processes_train_the_same_supernet(searched, tmp_path):
    """Two gloo processes split each batch; rank 0 alone searches and writes. The supernet matches one process
    (the same global batches) up to float summation order and bf16 rounding where the CPU computes bf16."""
    from safetensors.torch import load_file

    spec, one = searched
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "vitedge",
           "nas", str(spec), *DATA, *SMALL, "--targets", "x86-cpu,android-arm64", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((tmp_path / "nas.json").read_text())
    assert doc["training"]["world"] == 2 and proc.stdout.count("wrote ") == 1
    two, single = load_file(tmp_path / "supernet.safetensors"), load_file(one / "supernet.safetensors")
    parent = load_model(str(spec))
    x = torch.from_numpy(next(load_dataset(f"{EVAL}[0:32]", parent.spec).batches(parent.spec, 32))[0])
    outputs = []
    for state in (two, single):
        parent.module.load_state_dict(state)
        with torch.no_grad():
            outputs.append(parent.module(x))
    assert (outputs[0].argmax(-1) == outputs[1].argmax(-1)).float().mean() >= 0.9
    assert torch.allclose(outputs[0], outputs[1], atol=0.05)


def test_training_that_lowers_held_out_agreement_is_not_kept(tmp_path, mnist, vit4mnist):
    """A learning rate that wrecks the network: the supernet keeps epoch 0, the weights it started from. The parent
    is the real vit4mnist: a random parent predicts one class for most images, which a wrecked network can match."""
    import copy

    from vitedge.nas import supernet as sn
    from vitedge.nas.space import default_space

    parent = vit4mnist
    start = copy.deepcopy(parent.module)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    settings = sn.SupernetSettings(epochs=2, batch_size=32, held_out=64, precision="fp32", lr=1e3, seed=1)
    record = sn.train_supernet(parent.module, start, default_space(parent.config, tuple(range(5, -1, -1))), mnist,
                               parent.spec, settings, tmp_path)
    assert record.kept_epoch == 0 and [h["epoch"] for h in record.history] == [0, 1, 2]
    assert all(torch.equal(before[k], v) for k, v in start.state_dict().items())
    assert (tmp_path / sn.BEST).is_file()
