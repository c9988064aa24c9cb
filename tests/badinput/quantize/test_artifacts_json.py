"""quantize from an export folder: a hand-edited artifacts.json is refused naming the file, the entry and the key."""
import pytest

from ..conftest import assert_refused
from .._exported import BAD_ARTIFACTS, copy_export, exported_once, write_bad_artifacts


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return exported_once(tmp_path_factory)


@pytest.mark.parametrize("change, mentions", [c[1:] for c in BAD_ARTIFACTS], ids=[c[0] for c in BAD_ARTIFACTS])
def test_bad_artifacts_json(cli, guard, tmp_path, exported, change, mentions):
    folder = copy_export(exported, tmp_path / "export")
    path = write_bad_artifacts(folder, change)
    g = guard()
    outcome = cli("quantize", path, "--format", "onnx", "--precision", "fp16", "--out", tmp_path / "out",
                  "--threads", 1)
    assert_refused(outcome, str(path), *mentions)
    assert "re-run" in outcome.err
    g.check(tmp_path / "out")
