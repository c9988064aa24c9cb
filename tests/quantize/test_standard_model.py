"""DeiT-Tiny/16 at 224 (random weights from a timm-layout file) quantizes to static INT8 on every backend."""
import pytest
import torch
from safetensors.torch import save_file

from vitedge.api import quantize
from vitedge.models.source import load_model
from vitedge.quantize import QUANTIZERS

from ..conftest import REPO


@pytest.mark.slow
def test_deit_tiny_static_int8_on_every_backend(tmp_path):
    torch.manual_seed(0)
    state = load_model("deit_tiny_patch16_224", random_init=True).module.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "deit.safetensors")
    result = quantize("deit_tiny_patch16_224", weights=str(tmp_path / "deit.safetensors"), precisions="int8",
                      calib=f"{REPO}/calib_data/mnist_calib.npz[0:32]",
                      eval_data=f"{REPO}/calib_data/mnist_eval.npz[0:16]",
                      out=tmp_path / "q", threads=2)
    assert result.failures == []
    by_format = {}
    for artifact in result.artifacts:
        by_format.setdefault(artifact.format, {})[artifact.precision] = artifact
    assert sorted(by_format) == sorted(QUANTIZERS.names())
    for fmt, pair in by_format.items():
        int8, fp32 = pair["int8"], pair["fp32"]
        assert int8.inputs[0]["shape"][1:] == [3, 224, 224]
        # LiteRT keeps the 192 x 1000 head float (float logits): 3.2x
        assert fp32.bytes / int8.bytes >= (3.1 if fmt == "tflite" else 3.5), (fmt, fp32.bytes, int8.bytes)
        assert int8.accuracy["mean_cosine"] > 0.99, (fmt, int8.accuracy)
