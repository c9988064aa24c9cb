"""The pipeline config: every bad key, value and impossible combination is refused naming what is wrong."""
from pathlib import Path

import pytest

from vitedge.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    return path


MINIMAL = '[model]\nsource = "vit4mnist"\n'


def test_minimal_config_gets_defaults_and_paths_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + '[data]\neval = "eval.npz[0:10]"\n'))
    assert config["export"]["formats"] == ["onnx", "openvino", "tflite"]
    assert config["quantize"]["precisions"] == ["fp16", "bf16", "int8"]
    assert config["bench"]["targets"] == ["x86-cpu"]
    assert config["data"]["eval"] == str(tmp_path / "eval.npz[0:10]")
    assert config.out == str(tmp_path / "runs/pipeline")
    assert not config.enabled("nas") and not config.enabled("distill")


@pytest.mark.parametrize("text, named", [
    (MINIMAL + "[quantize]\nmax_dorp = 0.3\n", "max_dorp"),
    (MINIMAL + "[quantise]\nmax_drop = 0.3\n", "quantise"),
    (MINIMAL + '[export]\nformats = ["onnx", "coreml"]\n', "coreml"),
    (MINIMAL + '[quantize]\ncalibration_method = "kl"\n', "calibration_method"),
    (MINIMAL + '[quantize]\nmax_drop = "0.3"\n', "max_drop"),
    (MINIMAL + "[quantize]\nmax_drop = -1\n", "max_drop"),
    (MINIMAL + '[bench]\ntargets = ["jetson-nano-2"]\n', "jetson-nano-2"),
    ('[model]\nweights = "w.safetensors"\n', "source"),
    (MINIMAL + "[distill]\nepochs = 2\n", "[distill] needs [nas]"),
    (MINIMAL + "[nas]\nproxy_steps = 1\n", "proxy_steps"),
    (MINIMAL + "[nas]\nbudget_ms = 1\nbudget_fraction = 0.5\n", "at most one"),
    (MINIMAL + "[nas]\nbudget_fraction = 1.5\n", "budget_fraction"),
    (MINIMAL + '[quantize]\nprecisions = ["fp16"]\nmax_drop = 0.3\n', "max_drop"),
    (MINIMAL + "[export]\nformats = []\n", "formats"),
])
def test_bad_config_names_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert named in str(err.value) and "pipeline.toml" in str(err.value)


def test_nas_needs_no_budget(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "[nas]\nepochs = 2\n"))
    assert config.enabled("nas") and config["nas"]["max_drop"] == 1.0 and config["nas"]["min_agreement"] == 90.0


def test_int8_tflite_for_a_tensorrt_only_target_is_refused(tmp_path):
    text = MINIMAL + '[export]\nformats = ["tflite"]\n[bench]\ntargets = ["jetson-orin-nano"]\n'
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert "jetson-orin-nano runs onnx" in str(err.value) and "'onnx'" in err.value.hint


def test_unparseable_and_missing_files_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="could not be parsed"):
        load_config(write(tmp_path, "[model\nsource = 1"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
