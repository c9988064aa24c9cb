"""export of a Hugging Face folder: a broken config.json or preprocessor_config.json is refused (exit 2) naming the
file and the key, never a traceback."""
import json

import pytest

from ..conftest import assert_refused
from .conftest import export

CONFIG = {"model_type": "vit", "hidden_size": 32, "num_attention_heads": 2, "num_hidden_layers": 1,
          "intermediate_size": 64, "image_size": 28, "patch_size": 7, "num_channels": 1,
          "id2label": {str(i): str(i) for i in range(10)}}


def hf_folder(tmp_path, config=None, text: str | None = None, preprocessor=None):
    folder = tmp_path / "hf"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(text if text is not None else json.dumps(config))
    if preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(
            preprocessor if isinstance(preprocessor, str) else json.dumps(preprocessor))
    return folder


def changed(**changes):
    config = {**CONFIG, **changes}
    return {k: v for k, v in config.items() if v != "DROP"}


@pytest.mark.parametrize("config, text, mentions", [
    (None, "{not json", ["not valid JSON"]),
    (None, "[1, 2, 3]", ["JSON object"]),
    (None, "\"vit\"", ["JSON object"]),
    (changed(hidden_size="DROP"), None, ["'hidden_size' is missing"]),
    (changed(num_attention_heads="DROP"), None, ["'num_attention_heads' is missing"]),
    (changed(num_hidden_layers="DROP"), None, ["'num_hidden_layers' is missing"]),
    (changed(hidden_size="32"), None, ["hidden_size must be an integer", "'32'"]),
    (changed(hidden_size=None), None, ["hidden_size is null"]),
    (changed(hidden_size=True), None, ["hidden_size must be an integer"]),
    (changed(num_attention_heads=0), None, ["num_attention_heads = 0", "from 1 to"]),
    (changed(num_hidden_layers=-1), None, ["num_hidden_layers = -1"]),
    (changed(num_hidden_layers=2.5), None, ["num_hidden_layers must be an integer"]),
    (changed(hidden_size=30, num_attention_heads=4), None, ["hidden_size 30 is not a multiple of "
                                                            "num_attention_heads 4"]),
    (changed(image_size=30), None, ["image_size 30 is not a multiple of patch_size 7"]),
    (changed(image_size=[28, 30]), None, ["image_size [28, 30] is not a multiple of patch_size 7"]),
    (changed(patch_size=[7, 14]), None, ["patch_size", "square"]),
    (changed(model_type="dinov2", use_swiglu_ffn=True), None, ["use_swiglu_ffn = True"]),
    (changed(model_type="dinov2", architectures=["Dinov2ForImageClassification"]), None,
     ["Dinov2ForImageClassification", "mean patch token"]),
    (changed(num_channels=0), None, ["num_channels = 0"]),
    (changed(intermediate_size=-64), None, ["intermediate_size = -64"]),
    (changed(layer_norm_eps="small"), None, ["layer_norm_eps"]),
    (changed(hidden_act="swish"), None, ["hidden_act = 'swish'", "gelu"]),
    (changed(qkv_bias="yes"), None, ["qkv_bias must be true or false"]),
    (changed(id2label=["a", "b"]), None, ["id2label must be a table"]),
    (changed(id2label={"0": "a", "2": "b"}), None, ["id2label must map every index", "missing [1]"]),
    (changed(id2label={"zero": "a"}), None, ["id2label", "'zero'"]),
    (changed(id2label={"0": 1, "1": 2}), None, ["id2label values must be class names"]),
    (changed(model_type="bert"), None, ["model_type 'bert'"]),
])
def test_broken_config_json(cli, guard, tmp_path, config, text, mentions):
    folder = hf_folder(tmp_path, config, text)
    g = guard()
    assert_refused(export(cli, folder, tmp_path), str(folder / "config.json"), *mentions)
    g.check(tmp_path / "out")


@pytest.mark.parametrize("preprocessor, mentions", [
    ("{", ["not valid JSON"]),
    ("[0.5]", ["JSON object"]),
    ({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5]}, ["image_mean", "one number per input channel (1)"]),
    ({"image_mean": ["a"], "image_std": [0.5]}, ["image_mean must be a number"]),
    ({"image_mean": [0.5], "image_std": [0]}, ["image_std = 0", "> 0"]),
    ({"image_mean": 0.5, "image_std": [0.5]}, ["image_mean must list one number"]),
])
def test_broken_preprocessor_config(cli, guard, tmp_path, preprocessor, mentions):
    folder = hf_folder(tmp_path, CONFIG, preprocessor=preprocessor)
    g = guard()
    assert_refused(export(cli, folder, tmp_path), str(folder / "preprocessor_config.json"), *mentions)
    g.check(tmp_path / "out")
