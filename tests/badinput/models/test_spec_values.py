"""export: every bad value of a model spec is refused (exit 2) naming the spec file and the key, with the allowed
range, before anything is allocated or written."""
import pytest

from ..conftest import assert_refused
from .._helpers import spec_text
from .conftest import export


def test_the_tiny_spec_exports(cli, tiny, tmp_path):
    outcome = export(cli, tiny, tmp_path)
    assert outcome.code == 0, outcome.text


@pytest.mark.parametrize("arch, mentions", [
    ({"num_heads": 0}, ["num_heads = 0", "from 1 to"]),
    ({"patch_size": 0}, ["patch_size = 0", "from 1 to"]),
    ({"depth": 1.5}, ["depth = 1.5", "an integer"]),
    ({"depth": True}, ["depth = True", "an integer"]),
    ({"embed_dim": -32}, ["embed_dim = -32"]),
    ({"img_size": -28}, ["img_size = -28"]),
    ({"in_chans": 0}, ["in_chans = 0"]),
    ({"num_classes": -1}, ["num_classes = -1"]),
    ({"img_size": 30}, ["img_size 30 is not a multiple of patch_size 7"]),
    ({"embed_dim": 33}, ["embed_dim 33 is not divisible by num_heads 2"]),
    ({"qkv_bias": 1}, ["qkv_bias = 1", "true or false"]),
    ({"mlp_ratio": "nan"}, ["mlp_ratio"]),
    ({"mlp_ratio": 0}, ["mlp_ratio = 0"]),
    ({"norm_eps": -1.0}, ["norm_eps = -1.0"]),
    ({"act": 5}, ["act = 5", "gelu"]),
    ({"act": "swish"}, ["act = 'swish'", "gelu, gelu_tanh, relu"]),
    ({"global_pool": "map"}, ["global_pool = 'map'", "token, avg, avgmax, max"]),
    ({"img_size": [28, 30]}, ["img_size [28, 30] is not a multiple of patch_size 7"]),
    ({"head_dist": True}, ["head_dist needs dist_token"]),
    ({"block_heads": [1, 1]}, ["block_heads", "depth 1"]),
    ({"colour": 1}, ["unknown architecture keys ['colour']"]),
])
def test_bad_architecture_value(cli, guard, tiny, tmp_path, arch, mentions):
    if arch.get("mlp_ratio") == "nan":
        tiny.write_text(spec_text().replace("mlp_ratio = 2.0", "mlp_ratio = nan"))
    else:
        tiny.write_text(spec_text(arch))
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), str(tiny), *mentions)
    g.check(tmp_path / "out")


@pytest.mark.parametrize("text, mentions", [
    (spec_text(head="hidden = [0]"), ["[head] hidden", "from 1"]),
    (spec_text(head="hidden = 16"), ["hidden in [head] must be a list"]),
    (spec_text(head="act = 5"), ["act in [head] must be a string"]),
    (spec_text(head='act = "foo"'), ["[head] act = 'foo'"]),
    (spec_text(preprocessing="mean = [0.5]\nstd = [0.0]"), ["std must be positive"]),
    (spec_text(preprocessing="mean = [0.5]\nstd = [-1.0]"), ["std must be positive"]),
    (spec_text(preprocessing="mean = [0.5, 0.5]\nstd = [0.5]"), ["one value per input channel", "mean"]),
    (spec_text(preprocessing='mean = ["a"]\nstd = [0.5]'), ["mean must be a list of finite numbers"]),
    (spec_text(preprocessing="mean = 0.5\nstd = [0.5]"), ["mean in [preprocessing] must be a list"]),
    (spec_text(preprocessing="mean = [nan]\nstd = [0.5]"), ["mean must be a list of finite numbers"]),
    (spec_text(preprocessing="mean = [0.5]\nstd = [0.5]\ncrop_pct = 0"), ["crop_pct = 0", "from 0.1 to 1.0"]),
    (spec_text(preprocessing="mean = [0.5]\nstd = [0.5]\ncrop_pct = 5"), ["crop_pct = 5"]),
    (spec_text(preprocessing='mean = [0.5]\nstd = [0.5]\ninterpolation = "foo"'), ["interpolation = 'foo'",
                                                                                    "bilinear"]),
    (spec_text(preprocessing="mean = [0.5]\nstd = [0.5]\ninterpolation = 3"), ["interpolation in [preprocessing]"]),
    (spec_text(top='task = "detection"'), ["task = 'detection'", "image-classification"]),
    (spec_text(top="base = 5"), ["base in top level must be a string"]),
    (spec_text(top="weights_sha256 = 5"), ["weights_sha256"]),
    (spec_text(labels=False, top='labels = "0123456789"'), ["labels in top level must be a list"]),
    (spec_text(labels=False, top="labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"), ["labels must be a list of strings"]),
    (spec_text(labels=False, top='labels = ["a", "b"]'), ["2 labels for a head of 10 classes"]),
    ('name = 5\n' + spec_text().split("\n", 1)[1], ["name in top level must be a string"]),
    ("architecture = 5\n" + 'weights = "tiny.safetensors"\n', ["architecture in top level must be a table"]),
    ('name = "tiny"\nhead = [1]\n', ["head in top level must be a table"]),
    ('name = "tiny"\n[architecture\n', ["could not be parsed"]),
])
def test_bad_spec_value(cli, guard, tiny, tmp_path, text, mentions):
    tiny.write_text(text)
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), str(tiny), *mentions)
    g.check(tmp_path / "out")


def test_json_spec_not_an_object(cli, guard, tiny, tmp_path):
    spec = tiny.with_suffix(".json")
    spec.write_text("[1, 2]")
    g = guard()
    assert_refused(export(cli, spec, tmp_path), str(spec), "top level")
    g.check(tmp_path / "out")


def test_huge_embed_dim_is_refused_before_allocation(cli, guard, tiny, tmp_path):
    """embed_dim = 32768 used to allocate 12.9 GB before any shape check: now the count is compared first."""
    tiny.write_text(spec_text({"embed_dim": 32768, "depth": 12, "num_heads": 8}))
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), "tiny", "parameters", "tiny.safetensors")
    g.check(tmp_path / "out")


def test_huge_model_without_weights_is_refused(tmp_path):
    from vitedge.errors import ModelSourceError
    from vitedge.models import load_model

    spec = tmp_path / "huge.toml"
    spec.write_text(spec_text({"embed_dim": 32768, "depth": 12, "num_heads": 8}).replace(
        'weights = "tiny.safetensors"\n', ""))
    with pytest.raises(ModelSourceError, match="more than vitedge builds without weights"):
        load_model(spec, random_init=True)


def test_checkpoint_shape_mismatch_is_named_before_building(cli, guard, tiny, tmp_path):
    tiny.write_text(spec_text({"embed_dim": 64}))
    g = guard()
    assert_refused(export(cli, tiny, tmp_path), "tiny.safetensors", "shape mismatches", "blocks.0.attn")
    g.check(tmp_path / "out")
