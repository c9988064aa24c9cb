"""The documented Python API: any torch module with an IOSpec exports like a built-in model."""
import torch

import vitedge

from .conftest import REPO


class TinyConvNet(torch.nn.Module):
    """Not a ViT: the API takes any module mapping NCHW float32 to logits."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, stride=2)
        self.fc = torch.nn.Linear(8 * 13 * 13, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def test_from_module_exports_with_parity(tmp_path):
    torch.manual_seed(0)
    spec = vitedge.IOSpec(input_size=(1, 28, 28), mean=(0.1307,), std=(0.3081,))
    model = vitedge.from_module(TinyConvNet(), spec, name="tiny")
    data = vitedge.load_dataset(f"{REPO}/calib_data/mnist_eval.npz[0:64]", model.spec)
    result = vitedge.export_model(model, ["onnx", "openvino"], tmp_path / "out", data)
    assert result.failures == []
    assert [a.path for a in result.artifacts] == ["tiny.onnx", "tiny.xml"]
    assert all(a.parity["passed"] and a.parity["samples"] == 64 for a in result.artifacts)


def test_pipeline_api_is_public():
    assert vitedge.load_config.__module__ == "vitedge.config"
    assert vitedge.run_pipeline.__module__ == "vitedge.pipeline.run"
    assert {"load_config", "run_pipeline"} <= set(vitedge.__all__)
