"""Artifact records' paths (artifacts.json `path` / `files[].path`, hand-edited) never make bundle create, validate
or bench read or write outside: a record that resolves outside its folder (`..`, an absolute path, a link) is refused
(exit 2) naming the document and the entry. Quantize's own references to its export folder (`../export/x.onnx`,
recorded by the artifacts.json there) keep working."""
import json
import shutil
from pathlib import Path

import pytest

from ...conftest import CALIB_DATA
from ..conftest import assert_refused

INT8 = "vit4mnist_int8.onnx"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """quantize (ONNX int8, from an export folder) -> validate -> bench x86-cpu, small."""
    from vitedge.api import bench, export, quantize, validate

    root = tmp_path_factory.mktemp("made")
    export("vit4mnist", "onnx", root / "export", samples=16, threads=1)
    quantize(str(root / "export"), "onnx", "int8", calib=str(CALIB_DATA / "mnist_calib.npz"), calib_samples=32,
             eval_data=str(CALIB_DATA / "mnist_eval.npz"), eval_samples=32, out=root / "quant", threads=1)
    validate(root / "quant", samples=32, report=root / "validate", threads=1)
    bench(root / "quant", "x86-cpu", threads=1, out=root / "bench")
    return root


def copied(made: Path, dest: Path) -> Path:
    for name in ("export", "quant", "validate", "bench"):
        shutil.copytree(made / name, dest / name)
    return dest


def repoint(root: Path, old: str, new: str) -> None:
    """Make every record of `old` (artifacts.json, validate's report.json, bench.json) say `new`, consistently."""
    for doc_path, key in ((root / "quant" / "artifacts.json", "artifacts"),
                          (root / "validate" / "report.json", "artifacts"), (root / "bench" / "bench.json", "rows")):
        doc = json.loads(doc_path.read_text())
        for entry in doc[key]:
            if entry["path"] == old:
                entry["path"] = new
                for f in entry.get("files", []):
                    f["path"] = new if f["path"] == old else f["path"]
        doc_path.write_text(json.dumps(doc))


def create(cli, root: Path, out: Path):
    return cli("bundle", "create", root / "quant", "--validation", root / "validate", "--bench", root / "bench",
               "--out", out)


def test_the_untampered_inputs_bundle(cli, made, tmp_path):
    root = copied(made, tmp_path)
    doc = json.loads((root / "quant" / "artifacts.json").read_text())
    assert doc["artifacts"][0]["path"] == "../export/vit4mnist.onnx"  # quantize's reference to its export
    outcome = create(cli, root, tmp_path / "bundles")
    assert outcome.code == 0, outcome.text


@pytest.mark.parametrize("where", ["dotdot", "absolute"])
def test_a_record_outside_its_folder_is_refused(cli, guard, made, tmp_path, where):
    root = copied(made, tmp_path)
    secret = tmp_path / "private" / INT8  # same bytes and hash as the artifact: only the place differs
    secret.parent.mkdir()
    shutil.move(root / "quant" / INT8, secret)
    new = "../private/" + INT8 if where == "dotdot" else str(secret)
    repoint(root, INT8, new)
    out = tmp_path / "bundles"
    g = guard()
    assert_refused(create(cli, root, out), "artifacts.json", "artifacts[1]", repr(new))
    g.check(out)
    assert not out.exists() or not list(out.rglob(INT8))


def test_a_link_to_a_file_outside_is_refused(cli, guard, made, tmp_path):
    root = copied(made, tmp_path)
    secret = tmp_path / "private" / INT8
    secret.parent.mkdir()
    shutil.move(root / "quant" / INT8, secret)
    (root / "quant" / INT8).symlink_to(secret)
    out = tmp_path / "bundles"
    g = guard()
    assert_refused(create(cli, root, out), "artifacts[1]", str(secret), "outside")
    g.check(out)


def test_validate_and_bench_refuse_a_record_outside(cli, made, tmp_path):
    root = copied(made, tmp_path)
    repoint(root, INT8, "../../../" + INT8)
    assert_refused(cli("validate", root / "quant", "--report", tmp_path / "v", "--samples", 8), "artifacts[1]")
    assert_refused(cli("bench", root / "quant", "--target", "x86-cpu", "--out", tmp_path / "b"), "artifacts[1]")
