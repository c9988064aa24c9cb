"""vitedge.data: folders, .npz and IDX sources, slicing, preprocessing, normalization, hashing, errors."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitedge.data import Dataset, load_dataset
from vitedge.errors import DataError
from vitedge.models.spec import IOSpec

REPO = Path(__file__).resolve().parents[2]
CALIB, EVAL = REPO / "calib_data" / "mnist_calib.npz", REPO / "calib_data" / "mnist_eval.npz"
SHARED = REPO.parent / "shared"
MNIST_IDX = SHARED / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
REFERENCE = REPO / "tests" / "fixtures" / "reference_logits_first16_mnist_test.npz"
MNIST_SPEC = IOSpec(input_size=(1, 28, 28), mean=(0.1307,), std=(0.3081,))
RGB32_SPEC = IOSpec(input_size=(3, 32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
FIRST_TEST_LABELS = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first MNIST test labels
FIRST_EVAL_LABELS = [4, 9, 9, 7, 1, 1, 9, 0, 7, 8]  # test labels 8000-8009
needs_shared = pytest.mark.skipif(not MNIST_IDX.is_file(), reason="shared MNIST IDX files not present")


def save_npz(path: Path, **arrays) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def write_idx(path: Path, images: np.ndarray | None = None, labels: np.ndarray | None = None,
              magic: int | None = None, cut: int = 0) -> Path:
    """An IDX file (gzipped if the name ends in .gz); `cut` drops bytes from the end."""
    if images is not None:
        data = struct.pack(">4i", magic or 0x803, *images.shape) + images.astype(np.uint8).tobytes()
    else:
        data = struct.pack(">2i", magic or 0x801, len(labels)) + labels.astype(np.uint8).tobytes()
    data = data[: len(data) - cut]
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def random_images(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def assert_data_error(arg, names: str, spec: IOSpec = MNIST_SPEC, **kwargs) -> DataError:
    """load_dataset(arg) raises DataError whose message names `names` and which has a hint."""
    with pytest.raises(DataError) as info:
        load_dataset(arg, spec, **kwargs)
    assert names in info.value.message, info.value.message
    assert info.value.hint
    return info.value


# ------------------------------------------------------------------------------------- real MNIST


def test_shipped_npz_is_the_real_mnist_split():
    calib, held_out = load_dataset(CALIB, MNIST_SPEC), load_dataset(EVAL, MNIST_SPEC)
    assert (len(calib), len(held_out)) == (8000, 2000)
    assert calib.images.shape == (8000, 1, 28, 28) and calib.images.dtype == np.uint8
    assert calib.labels.dtype == np.int64 and held_out.labels.dtype == np.int64
    assert calib.labels[:10].tolist() == FIRST_TEST_LABELS
    assert held_out.labels[:10].tolist() == FIRST_EVAL_LABELS
    assert set(held_out.labels.tolist()) == set(range(10))
    assert held_out.source == str(EVAL) and held_out.class_names is None


def test_first_calibration_images_equal_the_reference_images():
    reference = np.load(REFERENCE)["images_uint8"]
    np.testing.assert_array_equal(load_dataset(CALIB, MNIST_SPEC, limit=16).images, reference)


@needs_shared
def test_shared_idx_equals_shipped_split():
    full = load_dataset(MNIST_IDX, MNIST_SPEC)
    assert len(full) == 10000 and full.labels[:10].tolist() == FIRST_TEST_LABELS
    calib, held_out = load_dataset(CALIB, MNIST_SPEC), load_dataset(EVAL, MNIST_SPEC)
    np.testing.assert_array_equal(full.images, np.concatenate([calib.images, held_out.images]))
    np.testing.assert_array_equal(full.labels, np.concatenate([calib.labels, held_out.labels]))
    tail = load_dataset(f"{MNIST_IDX}[8000:]", MNIST_SPEC)
    assert tail.sha256() == held_out.sha256()


# ---------------------------------------------------------------------------------------- slicing


@pytest.mark.parametrize("suffix, limit, expected", [
    ("[0:500]", None, range(0, 500)),
    ("[:3]", None, range(0, 3)),
    ("[1995:]", None, range(1995, 2000)),
    ("[-2:]", None, range(1998, 2000)),
    ("[ 10 : 20 ]", None, range(10, 20)),
    ("[100:200]", 7, range(100, 107)),
    ("", 4, range(0, 4)),
])
def test_slice_and_limit_select_images(suffix, limit, expected):
    full = load_dataset(EVAL, MNIST_SPEC)
    part = load_dataset(f"{EVAL}{suffix}", MNIST_SPEC, limit=limit)
    np.testing.assert_array_equal(part.images, full.images[expected.start:expected.stop])
    np.testing.assert_array_equal(part.labels, full.labels[expected.start:expected.stop])
    assert part.source == f"{EVAL}{suffix}"


def test_existing_path_with_brackets_is_not_a_slice(tmp_path):
    save_npz(tmp_path / "set.npz", images=random_images((5, 28, 28)))
    literal = tmp_path / "set.npz[0:2]"
    save_npz(tmp_path / "other.npz", images=random_images((3, 28, 28))).rename(literal)
    assert len(load_dataset(literal, MNIST_SPEC)) == 3  # the file itself, recognised as npz by content
    assert len(load_dataset(f"{tmp_path / 'set.npz'}[0:4]", MNIST_SPEC)) == 4


# ---------------------------------------------------------------------------------------- folders


def make_image_tree(root: Path) -> dict[str, np.ndarray]:
    """cat/ (two RGB images of other sizes) and dog/ (one L image), constant colours."""
    colours = {"cat/a.png": (200, 100, 50), "cat/b.jpg": (10, 250, 120), "dog/c.png": 77}
    sizes = {"cat/a.png": (40, 30), "cat/b.jpg": (28, 28), "dog/c.png": (20, 50)}
    for name, colour in colours.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        mode = "L" if isinstance(colour, int) else "RGB"
        Image.new(mode, sizes[name], colour).save(root / name, quality=100)
    (root / "dog" / "notes.txt").write_text("not an image")
    return colours


def test_folder_labels_by_sorted_name_resized_and_grayscale(tmp_path):
    colours = make_image_tree(tmp_path)
    data = load_dataset(tmp_path, MNIST_SPEC)
    assert data.images.shape == (3, 1, 28, 28) and data.images.dtype == np.uint8
    assert data.labels.tolist() == [0, 0, 1] and data.class_names == ["cat", "dog"]
    luma = Image.new("RGB", (1, 1), colours["cat/a.png"]).convert("L").getpixel((0, 0))
    assert np.all(data.images[0] == luma) and luma == 124
    assert np.all(data.images[2] == 77)


def test_folder_labels_follow_spec_labels_then_integer_names(tmp_path):
    make_image_tree(tmp_path / "named")
    spec = IOSpec(input_size=(1, 28, 28), mean=(0.5,), std=(0.5,), labels=("bird", "dog", "cat"))
    data = load_dataset(tmp_path / "named", spec)
    assert data.labels.tolist() == [1, 2, 2] and data.class_names == ["bird", "dog", "cat"]
    for name in ("3/x.png", "10/y.png", "7/z.png"):
        (tmp_path / "numbered" / name).parent.mkdir(parents=True)
        Image.new("L", (28, 28), int(name.split("/")[0])).save(tmp_path / "numbered" / name)
    numbered = load_dataset(tmp_path / "numbered", spec)
    assert numbered.labels.tolist() == [3, 7, 10] and numbered.class_names is None
    assert [int(image[0, 0, 0]) for image in numbered.images] == [3, 7, 10]


def test_folder_gray_to_rgb_and_slice(tmp_path):
    make_image_tree(tmp_path)
    data = load_dataset(f"{tmp_path}[2:]", RGB32_SPEC)
    assert data.images.shape == (1, 3, 32, 32) and data.labels.tolist() == [1]
    assert np.all(data.images == 77)


def test_flat_folder_is_unlabelled(tmp_path):
    for index in range(3):
        Image.new("L", (28, 28), index).save(tmp_path / f"{index}.bmp")
    data = load_dataset(tmp_path, MNIST_SPEC)
    assert data.labels is None and [int(x[0, 0, 0]) for x in data.images] == [0, 1, 2]


# ------------------------------------------------------------------------------- layouts and geometry


def test_nhwc_nchw_and_nhw_npz_agree(tmp_path):
    nhwc = random_images((4, 28, 28, 3))
    nchw = np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))
    spec = IOSpec(input_size=(3, 28, 28), mean=(0.0,) * 3, std=(1.0,) * 3)
    from_nhwc = load_dataset(save_npz(tmp_path / "nhwc.npz", images=nhwc), spec)
    from_nchw = load_dataset(save_npz(tmp_path / "nchw.npz", images=nchw), spec)
    np.testing.assert_array_equal(from_nhwc.images, nchw)
    assert from_nhwc.sha256() == from_nchw.sha256() and from_nhwc.labels is None
    gray = load_dataset(save_npz(tmp_path / "nhw.npz", images=nhwc[..., 0]), spec)
    np.testing.assert_array_equal(gray.images, np.repeat(nhwc[:, None, :, :, 0], 3, axis=1))


def test_rgb_npz_to_grayscale_matches_pillow(tmp_path):
    rgba = random_images((2, 64, 64, 4), seed=1)
    spec = IOSpec(input_size=(1, 64, 64), mean=(0.5,), std=(0.5,))
    data = load_dataset(save_npz(tmp_path / "rgba.npz", images=rgba), spec)
    expected = [np.asarray(Image.fromarray(image[..., :3]).convert("L")) for image in rgba]
    np.testing.assert_array_equal(data.images[:, 0], np.stack(expected))


def gradient_image(width: int, height: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 7 + y * 3) % 256).astype(np.uint8)


@pytest.mark.parametrize("crop_pct, resized_wh, box", [
    (1.0, (42, 32), (5, 0, 37, 32)),       # shorter side 48 -> 32, width int(32 * 64 / 48) = 42
    (0.875, (48, 36), (8, 2, 40, 34)),     # shorter side -> int(32 / 0.875) = 36, width 48
])
def test_resize_then_centre_crop_to_3x32x32(tmp_path, crop_pct, resized_wh, box):
    gray = gradient_image(64, 48)
    spec = IOSpec(input_size=(3, 32, 32), mean=(0.5,) * 3, std=(0.5,) * 3, crop_pct=crop_pct)
    data = load_dataset(save_npz(tmp_path / "g.npz", images=gray[None]), spec)
    expected = np.asarray(Image.fromarray(gray).resize(resized_wh, Image.Resampling.BILINEAR).crop(box))
    assert data.images.shape == (1, 3, 32, 32)
    for channel in range(3):
        np.testing.assert_array_equal(data.images[0, channel], expected)


def test_non_square_input_covers_both_sides_and_bicubic(tmp_path):
    Image.fromarray(gradient_image(100, 100)).save(tmp_path / "square.png")
    spec = IOSpec(input_size=(1, 20, 40), mean=(0.5,), std=(0.5,), interpolation="bicubic")
    data = load_dataset(tmp_path, spec)
    resized = Image.fromarray(gradient_image(100, 100)).resize((40, 40), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(data.images[0, 0], np.asarray(resized.crop((0, 10, 40, 30))))


# ---------------------------------------------------------------------------- normalization, hashing


def test_batches_normalize_per_channel():
    images = np.zeros((5, 3, 2, 2), dtype=np.uint8)
    images[:, :, 0, 0], images[:, :, 0, 1], images[:, :, 1, 0] = 255, 51, 102
    data = Dataset(images, np.arange(5, dtype=np.int64), "memory", None)
    spec = IOSpec(input_size=(3, 2, 2), mean=(0.5, 0.0, 0.2), std=(0.5, 0.25, 0.4))
    batches = list(data.batches(spec, 2))
    assert [len(x) for x, _ in batches] == [2, 2, 1]
    assert [y.tolist() for _, y in batches] == [[0, 1], [2, 3], [4]]
    x = batches[0][0]
    assert x.dtype == np.float32 and x.shape == (2, 3, 2, 2)
    np.testing.assert_array_equal(x[0, :, 0, 0], [1.0, 4.0, 2.0])      # 255 -> 1.0
    np.testing.assert_array_equal(x[0, :, 1, 1], [-1.0, 0.0, -0.5])    # 0 -> -mean/std
    np.testing.assert_allclose(x[0, :, 0, 1], [-0.6, 0.8, 0.0], atol=1e-6)   # 51 -> 0.2
    np.testing.assert_allclose(x[0, :, 1, 0], [-0.2, 1.6, 0.5], atol=1e-6)   # 102 -> 0.4


def test_mnist_normalization_and_unlabelled_batches():
    data = Dataset(np.array([[[[0, 255]]]], dtype=np.uint8), None, "memory", None)
    spec = IOSpec(input_size=(1, 1, 2), mean=(0.1307,), std=(0.3081,))
    (x, y), = data.batches(spec, 64)
    assert y is None
    np.testing.assert_allclose(x[0, 0, 0], [-0.42421292, 2.82148653], rtol=1e-6)


def test_sha256_is_deterministic_and_content_sensitive(tmp_path):
    images, labels = random_images((6, 28, 28), seed=3), np.arange(6) % 3
    first = load_dataset(save_npz(tmp_path / "a.npz", images=images, labels=labels), MNIST_SPEC)
    again = load_dataset(save_npz(tmp_path / "b.npz", images=images, labels=labels), MNIST_SPEC)
    assert first.sha256() == again.sha256() and len(first.sha256()) == 64
    pixel = images.copy()
    pixel[5, 27, 27] ^= 1
    label = labels.copy()
    label[0] = 2
    variants = [
        load_dataset(save_npz(tmp_path / "c.npz", images=pixel, labels=labels), MNIST_SPEC),
        load_dataset(save_npz(tmp_path / "d.npz", images=images, labels=label), MNIST_SPEC),
        load_dataset(save_npz(tmp_path / "e.npz", images=images), MNIST_SPEC),
        load_dataset(save_npz(tmp_path / "f.npz", images=images.reshape(6, 1, 28, 28)), RGB32_SPEC),
    ]
    digests = {first.sha256()} | {variant.sha256() for variant in variants}
    assert len(digests) == 5


# ------------------------------------------------------------------------------------------- errors


def test_missing_path(tmp_path):
    assert_data_error(tmp_path / "nowhere.npz", "nowhere.npz")
    assert_data_error(f"{tmp_path / 'gone.npz'}[0:5]", "gone.npz")


def test_unsupported_file_type(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    error = assert_data_error(tmp_path / "notes.txt", "notes.txt")
    assert ".npz" in error.hint and "IDX" in error.hint and "folder" in error.hint


def test_npz_without_images(tmp_path):
    error = assert_data_error(save_npz(tmp_path / "x.npz", pixels=random_images((2, 28, 28))), "x.npz")
    assert "images" in error.message and "pixels" in error.message


def test_npz_with_float_images(tmp_path):
    error = assert_data_error(save_npz(tmp_path / "f.npz", images=np.zeros((2, 28, 28), np.float32)), "f.npz")
    assert "uint8" in error.message


@pytest.mark.parametrize("shape", [(28, 28), (2, 1, 28, 28, 1), (2, 5, 28, 28)])
def test_npz_with_bad_rank_or_channels(tmp_path, shape):
    assert_data_error(save_npz(tmp_path / "r.npz", images=np.zeros(shape, np.uint8)), "r.npz")


def test_corrupt_npz(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    assert_data_error(tmp_path / "broken.npz", "broken.npz")
    np.save(tmp_path / "single.npy", random_images((2, 28, 28)))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    assert_data_error(tmp_path / "single.npz", "single.npz")


def test_npz_label_count_mismatch(tmp_path):
    path = save_npz(tmp_path / "l.npz", images=random_images((3, 28, 28)), labels=np.arange(4))
    assert "4 labels for 3 images" in assert_data_error(path, "l.npz").message


def test_idx_bad_magic(tmp_path):
    path = write_idx(tmp_path / "bad-images-idx3-ubyte", images=random_images((2, 28, 28)), magic=0x802)
    assert "magic" in assert_data_error(path, "bad-images-idx3-ubyte").message


def test_idx_truncated(tmp_path):
    path = write_idx(tmp_path / "t-images-idx3-ubyte.gz", images=random_images((3, 28, 28)), cut=100)
    assert "truncated" in assert_data_error(path, "t-images-idx3-ubyte.gz").message
    corrupt_gzip = tmp_path / "c-images-idx3-ubyte.gz"
    corrupt_gzip.write_bytes(path.read_bytes()[:40])
    assert_data_error(corrupt_gzip, "c-images-idx3-ubyte.gz")


def test_idx_labels_found_beside_and_count_checked(tmp_path):
    images = random_images((3, 28, 28))
    path = write_idx(tmp_path / "s-images-idx3-ubyte", images=images)
    assert load_dataset(path, MNIST_SPEC).labels is None
    write_idx(tmp_path / "s-labels-idx1-ubyte.gz", labels=np.array([4, 2, 9]))
    data = load_dataset(path, MNIST_SPEC)
    assert data.labels.tolist() == [4, 2, 9]
    np.testing.assert_array_equal(data.images[:, 0], images)
    write_idx(tmp_path / "s-labels-idx1-ubyte.gz", labels=np.array([4, 2]))
    assert "2 labels for the 3 images" in assert_data_error(path, "s-labels-idx1-ubyte.gz").message


def test_empty_slice(tmp_path):
    error = assert_data_error(f"{EVAL}[5:5]", "mnist_eval.npz")
    assert "no images" in error.message and "2000" in error.hint
    assert_data_error(f"{EVAL}[3000:]", "mnist_eval.npz")


def test_empty_folder(tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "cat" / "readme.txt").write_text("no images here")
    assert "no images" in assert_data_error(tmp_path / "empty", "empty").message


@pytest.mark.parametrize("bounds", ["a:b", "5", "1:2:3", ":x"])
def test_malformed_slice(bounds):
    error = assert_data_error(f"{EVAL}[{bounds}]", "mnist_eval.npz")
    assert "START:END" in error.hint


def test_unreadable_image_in_folder(tmp_path):
    (tmp_path / "cat").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "cat" / "ok.png")
    (tmp_path / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    assert_data_error(tmp_path, "broken.png")


def test_mixed_loose_images_and_class_folders(tmp_path):
    make_image_tree(tmp_path)
    Image.new("L", (28, 28)).save(tmp_path / "loose.png")
    assert_data_error(tmp_path, "loose.png")


def test_bad_limit_batch_size_and_spec_mismatch():
    assert_data_error(EVAL, "mnist_eval.npz", limit=0)
    data = load_dataset(f"{EVAL}[:2]", MNIST_SPEC)
    with pytest.raises(DataError, match="mnist_eval.npz"):
        next(data.batches(MNIST_SPEC, 0))
    with pytest.raises(DataError, match="mnist_eval.npz"):
        next(data.batches(RGB32_SPEC, 2))
