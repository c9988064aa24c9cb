"""vitedge run: every bad value of a pipeline config is refused (exit 2) naming the file, the section and the key,
with the allowed range; nothing runs."""
import pytest

from ..conftest import assert_refused

MINIMAL = '[model]\nsource = "vit4mnist"\n'
NAS = '[nas]\nbudget_fraction = 0.5\n'


@pytest.mark.parametrize("text, mentions", [
    ("out = 5\n" + MINIMAL, ["out = 5", "non-empty string"]),
    ('out = ""\n' + MINIMAL, ["out = ''"]),
    ("out = [1]\n" + MINIMAL, ["out = [1]"]),
    ("[model]\nsource = 5\n", ["[model] source", "got 5"]),
    ('[model]\nsource = ""\n', ["[model] source"]),
    ("model = 5\n", ["[model] must be a table"]),
    (MINIMAL + "[data]\ncalib_samples = 0\n", ["[data] calib_samples = 0", ">= 1"]),
    (MINIMAL + "[data]\ncalib_samples = -3\n", ["[data] calib_samples"]),
    (MINIMAL + "[data]\ncalib_samples = 1.5\n", ["[data] calib_samples", "an integer"]),
    (MINIMAL + "[data]\ncalib_samples = true\n", ["[data] calib_samples", "an integer"]),
    (MINIMAL + "[data]\neval_samples = 0\n", ["[data] eval_samples = 0"]),
    (MINIMAL + "[data]\ncalib = 5\n", ["[data] calib"]),
    (MINIMAL + "[bench]\nthreads = 0\n", ["[bench] threads = 0", "from 1 to"]),
    (MINIMAL + "[bench]\nthreads = -2\n", ["[bench] threads"]),
    (MINIMAL + "[bench]\ntargets = [1]\n", ["[bench] targets", "list of strings"]),
    (MINIMAL + "[quantize]\nmax_drop = nan\n", ["[quantize] max_drop", "nan"]),
    (MINIMAL + "[quantize]\nmax_drop = inf\n", ["[quantize] max_drop"]),
    (MINIMAL + "[quantize]\nmax_drop = 150\n", ["[quantize] max_drop = 150", "from 0 to 100"]),
    (MINIMAL + "[quantize]\nper_channel = 1\n", ["[quantize] per_channel"]),
    (MINIMAL + "[quantize]\ncalibration_method = 1\n", ["[quantize] calibration_method"]),
    (MINIMAL + '[export]\nformats = ["ONNX"]\n', ["[export] formats", "ONNX"]),
    (MINIMAL + NAS + "screen = 0\n", ["[nas] screen = 0"]),
    (MINIMAL + NAS + "epochs = -1\n", ["[nas] epochs = -1"]),
    (MINIMAL + NAS + "finalists = 1\n", ["[nas] finalists = 1"]),
    (MINIMAL + NAS + "min_speedup = 2\n", ["budget_fraction and min_speedup", "at most one"]),
    (MINIMAL + NAS + "seed = -1\n", ["[nas] seed = -1"]),
    (MINIMAL + "[nas]\nbudget_ms = 0\n", ["[nas] budget_ms = 0", "> 0"]),
    (MINIMAL + "[nas]\nbudget_ms = inf\n", ["[nas] budget_ms"]),
    (MINIMAL + "[nas]\nbudget_fraction = nan\n", ["[nas] budget_fraction"]),
    (MINIMAL + NAS + "max_drop = -1\n", ["[nas] max_drop = -1"]),
    (MINIMAL + NAS + "[distill]\nepochs = 0\n", ["[distill] epochs = 0"]),
    (MINIMAL + NAS + "[distill]\nbatch_size = 0\n", ["[distill] batch_size = 0"]),
    (MINIMAL + NAS + "[distill]\nlr = 0\n", ["[distill] lr = 0", "above 0"]),
    (MINIMAL + NAS + "[distill]\nlr = -0.001\n", ["[distill] lr"]),
    (MINIMAL + NAS + "[distill]\ntemperature = 0\n", ["[distill] temperature = 0"]),
    (MINIMAL + NAS + "[distill]\nalpha = 1.5\n", ["[distill] alpha = 1.5", "from 0 to 1"]),
    (MINIMAL + NAS + "[distill]\nalpha = -0.1\n", ["[distill] alpha"]),
    (MINIMAL + NAS + "[distill]\nhard = 1\n", ["[distill] hard"]),
])
def test_bad_pipeline_value(cli, guard, tmp_path, text, mentions):
    path = tmp_path / "pipeline.toml"
    path.write_text(text)
    g = guard()
    assert_refused(cli("run", path, "--dry-run"), str(path), *mentions)
    g.check()
