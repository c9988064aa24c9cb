"""The built-in vit4mnist reproduces the known outputs of the real pretrained model."""
import numpy as np
import torch


from ..conftest import REPO


def test_reproduces_reference_logits(vit4mnist):
    ref = np.load(REPO / "tests/fixtures/reference_logits_first16_mnist_test.npz")
    x = (torch.from_numpy(ref["images_uint8"]).float() / 255 - 0.1307) / 0.3081
    with torch.no_grad():
        logits = vit4mnist.module(x).numpy()
    assert np.abs(logits - ref["logits"]).max() < 1e-4


def test_builtin_spec_matches_shared_description(vit4mnist):
    assert vit4mnist.parameters == 213_642
    assert vit4mnist.spec.input_size == (1, 28, 28)
    assert vit4mnist.spec.mean == (0.1307,) and vit4mnist.spec.std == (0.3081,)
    assert vit4mnist.spec.labels == tuple(str(i) for i in range(10))
    assert vit4mnist.weights_sha256 == "5019e14731e0351b70bacd1d2ebece5f49c88a1667bfa12f3e990f9848a53c91"
