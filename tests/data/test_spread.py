"""A subset (`limit` with spread) covers the classes of a class-sorted tree, is seeded, and reads the same images
as the whole set holds at those indices."""
from __future__ import annotations

import numpy as np
from PIL import Image

from vitedge.data import load_dataset
from vitedge.data.dataset import spread_indices
from vitedge.models.spec import IOSpec

from tests.data.test_sources import EVAL, MNIST_SPEC, random_images, save_npz

RGB_SPEC = IOSpec(input_size=(3, 8, 8), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def class_tree(root, classes: int, per_class: int):
    for c in range(classes):
        folder = root / f"class_{c:02d}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((8, 8, 3), 10 * c + i, np.uint8)).save(folder / f"{i}.png")
    return root


def test_a_subset_of_a_class_sorted_tree_covers_every_class(tmp_path):
    tree = class_tree(tmp_path / "tree", classes=5, per_class=6)
    first = load_dataset(tree, RGB_SPEC, limit=10)
    assert set(first.labels.tolist()) == {0, 1}  # the first images of a sorted tree: two classes of five
    spread = load_dataset(tree, RGB_SPEC, limit=10, spread=True)
    assert np.bincount(spread.labels, minlength=5).tolist() == [2, 2, 2, 2, 2]
    again = load_dataset(tree, RGB_SPEC, limit=10, spread=True)
    assert again.sha256() == spread.sha256()  # seeded
    whole = load_dataset(tree, RGB_SPEC)
    pixels = {img.tobytes(): label for img, label in zip(whole.images, whole.labels)}
    assert all(pixels[img.tobytes()] == label for img, label in zip(spread.images, spread.labels))


def test_a_spread_subset_of_a_file_equals_the_whole_at_its_indices():
    whole = load_dataset(f"{EVAL}[100:600]", MNIST_SPEC)
    part = load_dataset(f"{EVAL}[100:600]", MNIST_SPEC, limit=50, spread=True)
    indices = spread_indices(whole.labels, len(whole), 50)
    np.testing.assert_array_equal(part.images, whole.images[indices])
    np.testing.assert_array_equal(part.labels, whole.labels[indices])
    assert np.bincount(part.labels, minlength=10).tolist() == [5] * 10


def test_unlabelled_data_gets_a_seeded_sample_in_file_order(tmp_path):
    path = save_npz(tmp_path / "plain.npz", images=random_images((40, 28, 28)))
    part = load_dataset(path, MNIST_SPEC, limit=8, spread=True)
    indices = spread_indices(None, 40, 8)
    assert len(set(indices.tolist())) == 8 and (np.diff(indices) > 0).all() and indices[-1] > 8
    np.testing.assert_array_equal(part.images, load_dataset(path, MNIST_SPEC).images[indices])


def test_small_classes_give_all_they_have_and_the_rest_fill_the_subset():
    labels = np.array([0] * 2 + [1] * 20 + [2] * 20)
    chosen = spread_indices(labels, len(labels), 12)
    assert np.bincount(labels[chosen]).tolist() == [2, 5, 5]


def test_the_dataset_says_which_images_it_holds(tmp_path):
    assert load_dataset(EVAL, MNIST_SPEC).describe()["selection"] == "all"
    assert load_dataset(EVAL, MNIST_SPEC, limit=7).describe()["selection"] == "the first 7 of 2000"
    spread = load_dataset(f"{EVAL}[0:100]", MNIST_SPEC, limit=20, spread=True).describe()["selection"]
    assert spread == "20 of 100 spread over them (seed 0, stratified by label)"
