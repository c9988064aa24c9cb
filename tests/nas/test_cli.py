"""`vitedge nas` end to end on a tiny ViT: nas.json, plots, variants, candidates; a variant exports and quantizes."""
import json

import pytest

from vitedge.cli import main
from vitedge.models import load_model
from vitedge.nas import write_variant

from .conftest import CALIB, EVAL, tiny_model

TARGETS = ("x86-cpu", "jetson-orin-nano")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def parent_spec(tmp_path_factory):
    return write_variant(tiny_model(name="tiny"), tmp_path_factory.mktemp("parent"), "tiny", "test parent")


def nas_args(spec, out, *extra):
    return ("nas", spec, "--data", f"{CALIB}[0:400]", "--eval", f"{EVAL}[0:200]", "--targets", ",".join(TARGETS),
            "--held-out", "100", "--out", out, *extra)


RUN = ("--candidates", "4", "--steps", "5", "--budget-ms", "x86-cpu=50,jetson-orin-nano=10")


@pytest.fixture(scope="module")
def nas_run(parent_spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("nas")
    assert main([str(a) for a in nas_args(parent_spec, out, *RUN)]) == 0
    return out, json.loads((out / "nas.json").read_text())


def test_writes_nas_json_plots_variants_and_candidates(nas_run):
    out, doc = nas_run
    assert doc["schema"] == "vitedge.nas" and len(doc["candidates"]) == 4
    assert doc["proxy"]["kind"] == "distill" and "held-out" in doc["proxy"]["detail"]
    assert doc["data"]["nas"]["held_out"] == 100 and doc["data"]["eval"]["count"] == 200
    ids = {c["id"] for c in doc["candidates"]}
    for c in doc["candidates"]:
        assert (out / c["spec"]).is_file() and c["macs"] == c["graph_macs"]
        assert c["latency"]["x86-cpu"]["obtained"] == "measured here"
        assert c["latency"]["jetson-orin-nano"]["obtained"] == "estimated"
    for target in TARGETS:
        t = doc["targets"][target]
        assert set(t["front"]) <= ids and t["chosen"] in t["front"]
        assert (out / f"{target}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        chosen = next(c for c in doc["candidates"] if c["id"] == t["chosen"])
        assert chosen["latency"][target]["ms"] <= t["budget_ms"]
        variant = load_model(out / t["variant"])
        assert variant.name == f"tiny-nas-{target}" and 0 <= t["eval_top1"] <= 100
        assert variant.config.depth == sum(1 for h in chosen["choice"]["heads"] if h)


def test_same_seed_same_candidates_and_scores(parent_spec, nas_run, tmp_path):
    _, first = nas_run
    assert main([str(a) for a in nas_args(parent_spec, tmp_path, *RUN)]) == 0
    again = json.loads((tmp_path / "nas.json").read_text())
    keep = ("id", "macs", "params", "zero_shot_top1", "proxy_top1")
    assert [{k: c[k] for k in keep} for c in again["candidates"]] == [{k: c[k] for k in keep}
                                                                      for c in first["candidates"]]


def test_a_variant_exports_and_quantizes(nas_run, tmp_path, capsys):
    out, _ = nas_run
    code, stdout, err = run(capsys, "quantize", out / "variants" / "x86-cpu.toml", "--format", "onnx", "--precision",
                            "int8", "--calib", f"{CALIB}[0:64]", "--eval", f"{EVAL}[0:100]", "--out", tmp_path / "q")
    assert code == 0, err
    doc = json.loads((tmp_path / "q" / "artifacts.json").read_text())
    assert {(a["format"], a["precision"]) for a in doc["artifacts"]} == {("onnx", "fp32"), ("onnx", "int8")}
    assert all(a["parity"] is None or a["parity"]["passed"] for a in doc["artifacts"])


def test_refuses_a_used_out_then_force_with_zero_shot_proxy(parent_spec, nas_run, capsys):
    out, _ = nas_run
    code, _, err = run(capsys, *nas_args(parent_spec, out, "--candidates", "2"))
    assert code == 2 and "already holds nas.json" in err and "--force" in err
    code, stdout, err = run(capsys, *nas_args(parent_spec, out, "--candidates", "2", "--steps", "0", "--force"))
    assert code == 0, err
    doc = json.loads((out / "nas.json").read_text())
    assert doc["proxy"]["kind"] == "zero-shot" and len(list((out / "candidates").glob("*.toml"))) == 2
    assert all(c["proxy_top1"] == c["zero_shot_top1"] for c in doc["candidates"])
    assert "x86-cpu" in stdout and "chosen" in stdout


@pytest.mark.parametrize("bad, message", [(("--budget-ms", "android-arm64=1"), "not in --targets"),
                                          (("--budget-ms", "fast"), "not a number"),
                                          (("--targets", "x86-cpu,jetson-nano"), "unknown target")])
def test_bad_settings_are_clear_errors(parent_spec, tmp_path, capsys, bad, message):
    code, _, err = run(capsys, *nas_args(parent_spec, tmp_path, *bad))
    assert code == 2 and message in err and "hint" in err and not (tmp_path / "nas.json").exists()


def test_out_of_range_numbers_are_refused_by_the_parser(parent_spec, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        run(capsys, *nas_args(parent_spec, tmp_path, "--candidates", "0"))
    assert exit_.value.code == 2 and "--candidates: must be an integer >= 1" in capsys.readouterr().err


def test_a_relative_budget_is_a_share_of_the_parents_latency_on_each_target(parent_spec, tmp_path):
    from vitedge import api
    from vitedge.nas import NASConfig, ProxySettings

    config = NASConfig(targets=TARGETS, budget_fraction=0.8, evaluations=4, proxy=ProxySettings(steps=0), held_out=100)
    result = api.nas(str(parent_spec), data=f"{CALIB}[0:400]", eval_data=f"{EVAL}[0:200]", out=tmp_path, config=config)
    parent = result.candidates[0]
    assert parent.choice == result.space.full()
    for t in result.targets:
        assert t.budget_ms == pytest.approx(0.8 * parent.latency[t.target].ms, rel=1e-5)
        chosen = next((c for c in result.candidates if c.id == t.chosen), None)
        assert chosen is None or chosen.latency[t.target].ms <= t.budget_ms
