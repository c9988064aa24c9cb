"""Data a careless or hostile user points at: a class folder that links to / (or to the data folder itself), class
folders differing only by case, folders named after none of a labelled model's classes, and a data path that is a
FIFO or a device are refused (exit 2) -- never walked, never waited on, never mapped to wrong labels."""
import os

import pytest
from PIL import Image

from ..conftest import assert_refused


def class_folders(root, names=("3", "4")):
    for name in names:
        (root / name).mkdir(parents=True)
        Image.new("L", (28, 28), 100).save(root / name / "a.png")
    return root


def export(cli, data, out):
    return cli("export", "vit4mnist", "--format", "onnx", "--data", data, "--out", out, "--threads", 1)


@pytest.mark.parametrize("target", ["/", ".."])
def test_a_class_folder_linking_above_the_data_is_refused(cli, guard, tmp_path, target):
    data = class_folders(tmp_path / "data")
    os.symlink(target, data / "5")
    g = guard()
    assert_refused(export(cli, data, tmp_path / "out"), "class folder is a link", "contains the data folder")
    g.check(tmp_path / "out")


def test_class_folders_differing_only_by_case_are_refused(cli, guard, tmp_path):
    data = class_folders(tmp_path / "data", ("Cat", "cat"))
    g = guard()
    assert_refused(export(cli, data, tmp_path / "out"), "['Cat', 'cat']", "differ only by case")
    g.check(tmp_path / "out")


def test_folders_matching_none_of_the_models_classes_are_refused(cli, guard, tmp_path):
    data = class_folders(tmp_path / "data", ("lion", "zebra"))
    g = guard()
    assert_refused(export(cli, data, tmp_path / "out"), "['lion', 'zebra']", "match none of the model's 10 class")
    g.check(tmp_path / "out")


def test_a_folder_named_after_a_repeated_class_name_is_refused():
    from vitedge.data.sources import class_indices
    from vitedge.errors import DataError

    with pytest.raises(DataError, match="more than one class"):
        class_indices(["crane"], ["tench", "crane", "crane"])
    assert class_indices(["tench"], ["tench", "crane", "crane"])[0] == {"tench": 0}


@pytest.mark.parametrize("make, mention", [(lambda p: os.mkfifo(p) or p, "FIFO"),
                                           (lambda p: "/dev/zero", "character device")])
def test_a_data_path_that_is_not_a_file_is_refused(cli, guard, tmp_path, make, mention):
    data = make(tmp_path / "data.npz")
    g = guard()
    assert_refused(export(cli, data, tmp_path / "out"), "data", mention)
    g.check(tmp_path / "out")


def test_a_16_bit_image_is_scaled_not_clipped_to_white(tmp_path):
    import numpy as np

    from vitedge.data import load_dataset
    from vitedge.models import load_model

    ramp = (np.arange(28 * 28).reshape(28, 28) * 80).astype(np.uint16)  # 0 .. 62640
    (tmp_path / "data" / "3").mkdir(parents=True)
    Image.fromarray(ramp).save(tmp_path / "data" / "3" / "deep.png")
    images = load_dataset(tmp_path / "data", load_model("vit4mnist").spec).images
    assert images.max() == 62640 >> 8 and (images == 255).sum() == 0
    assert np.array_equal(images[0, 0], (ramp >> 8).astype(np.uint8))


def test_a_floating_point_image_is_refused(cli, guard, tmp_path):
    import numpy as np

    (tmp_path / "data" / "3").mkdir(parents=True)
    Image.fromarray(np.full((28, 28), 0.5, np.float32)).save(tmp_path / "data" / "3" / "float.tiff")
    g = guard()
    assert_refused(export(cli, tmp_path / "data", tmp_path / "out"), "float.tiff", "floating-point image")
    g.check(tmp_path / "out")
