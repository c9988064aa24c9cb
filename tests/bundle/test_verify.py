"""`vitedge bundle verify`: each kind of damage is named, and the command exits non-zero."""
import json
import shutil
import zipfile

import pytest

from vitedge.bundle import verify_bundle
from vitedge.cli import main


@pytest.fixture
def bundle(bundles, tmp_path):
    out, _ = bundles
    return shutil.copytree(out / "x86-cpu", tmp_path / "x86-cpu")


def test_intact_bundle_passes(bundle, capsys):
    assert verify_bundle(bundle) == []
    assert main(["bundle", "verify", str(bundle)]) == 0 and "OK" in capsys.readouterr().out


def test_tampered_file(bundle, capsys):
    model = bundle / "models" / "vit4mnist_int8.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"\x00")
    [problem] = verify_bundle(bundle)
    assert problem.startswith("tampered file: models/vit4mnist_int8.onnx (sha256 ")
    assert main(["bundle", "verify", str(bundle)]) == 1
    assert "tampered file: models/vit4mnist_int8.onnx" in capsys.readouterr().err


def test_missing_file(bundle, capsys):
    (bundle / "models" / "vit4mnist.onnx").unlink()
    assert verify_bundle(bundle) == ["missing file: models/vit4mnist.onnx (listed in manifest.json)"]
    assert main(["bundle", "verify", str(bundle)]) == 1
    assert "missing file: models/vit4mnist.onnx" in capsys.readouterr().err


def test_extra_file(bundle, capsys):
    (bundle / "models" / "other.onnx").write_bytes(b"onnx")
    assert verify_bundle(bundle) == ["extra file: models/other.onnx (not listed in manifest.json)"]
    assert main(["bundle", "verify", str(bundle)]) == 1
    assert "extra file: models/other.onnx" in capsys.readouterr().err


def test_manifest_edited(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["artifacts"][0]["latency"]["latency_ms_p50"] /= 10
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert verify_bundle(bundle) == ["manifest edited: manifest.json does not match its recorded manifest_sha256"]


def test_tampered_file_hidden_by_an_edited_manifest(bundle):
    """Re-recording a tampered file's hash in the manifest is itself caught."""
    (bundle / "run.py").write_text("print('hello')\n")
    manifest = json.loads((bundle / "manifest.json").read_text())
    from vitedge.fileio import sha256_file

    entry = next(f for f in manifest["files"] if f["path"] == "run.py")
    entry["sha256"], entry["bytes"] = sha256_file(bundle / "run.py"), (bundle / "run.py").stat().st_size
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert verify_bundle(bundle) == ["manifest edited: manifest.json does not match its recorded manifest_sha256"]


def test_broken_manifest_and_missing_manifest(bundle):
    (bundle / "manifest.json").write_text("{not json")
    assert verify_bundle(bundle)[0].startswith("manifest edited: manifest.json is no longer valid JSON")
    (bundle / "manifest.json").unlink()
    assert verify_bundle(bundle)[0].startswith("missing file: manifest.json")


def test_zip_with_a_tampered_member(bundles, tmp_path):
    out, _ = bundles
    source = out / "jetson-orin-nano.zip"
    damaged = tmp_path / "jetson-orin-nano.zip"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b"#" if item.filename.endswith("README.md") else data)
    assert verify_bundle(source) == []
    assert [p.split(" (")[0] for p in verify_bundle(damaged)] == ["tampered file: README.md"]
