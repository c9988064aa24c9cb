import numpy as np
import pytest

from vitedge.validate.metrics import all_metrics, drop_interval, psnr


def test_classification_figures_on_a_known_case():
    reference = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0], [3.0, 0, 0]])
    output = np.array([[3.0, 0, 0], [0, 3.0, 0], [3.0, 0, 0.5], [3.0, 0, 0]])  # image 2 now wrong
    labels = np.array([0, 1, 2, 1])  # the reference gets 3 of 4 right
    m = all_metrics(reference, output, labels, "image-classification")
    assert m["reference_top1"] == 0.75 and m["top1"] == 0.5 and m["top1_drop_pp"] == 25.0
    assert m["top1_agreement"] == 0.75 and m["top5"] == 1.0
    assert m["per_class"]["1"] == {"count": 2, "top1": 0.5, "reference_top1": 0.5}
    assert "worst_class_drop_pp" not in m and "no class has 50 evaluation images" in m["worst_class_note"]
    assert m["kl_divergence"] > 0 and m["min_cosine"] < 0.2


def test_worst_class_only_among_classes_with_enough_images():
    labels = np.array([0] * 60 + [1] * 60 + [2] * 3)
    reference = np.eye(3)[labels] * 3.0  # the reference is right everywhere
    output = reference.copy()
    output[:6] = np.eye(3)[1] * 3.0  # class 0 loses 6 of 60: 10 pp
    output[-3:] = np.eye(3)[0] * 3.0  # class 2 loses all 3 images, but 3 images measure nothing
    m = all_metrics(reference, output, labels, "image-classification")
    assert m["worst_class"] == "0" and m["worst_class_drop_pp"] == pytest.approx(10.0)
    assert m["worst_class_of"] == 2 and m["per_class"]["2"]["top1"] == 0.0


def test_identical_outputs():
    x = np.random.default_rng(0).normal(size=(50, 10))
    m = all_metrics(x, x.copy(), None, "image-classification")
    assert m["mean_cosine"] == 1.0 and m["top1_agreement"] == 1.0 and m["psnr_db"] is None
    assert "top1" not in m  # no labels, no accuracy


def test_embedding_metrics_have_no_classification_figures():
    x = np.random.default_rng(1).normal(size=(20, 64))
    m = all_metrics(x, x + 0.01, None, "feature-extraction")
    assert "top1_agreement" not in m and m["psnr_db"] == pytest.approx(psnr(x, x + 0.01), rel=1e-6)


def test_drop_interval_is_paired():
    ref = np.array([1, 1, 1, 1, 0, 0, 1, 1] * 25, bool)
    art = ref.copy()
    art[:10] = ~art[:10]  # 10 flips among 200 images: 8 lost, 2 gained
    low, high = drop_interval(ref, art)
    assert low == pytest.approx(3.0 - 3.07, abs=0.01) and high == pytest.approx(3.0 + 3.07, abs=0.01)
