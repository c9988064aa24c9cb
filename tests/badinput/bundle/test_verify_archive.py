"""`vitedge bundle verify` on hostile bundles: a zip is checked entry by entry before anything is read, hashed by
streaming, never extracted; a damaged zip is a "corrupt archive"; links in a folder are reported, never followed."""
from __future__ import annotations

import json
import os
import stat
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.badinput.conftest import assert_refused
from vitedge.bundle.manifest import SCHEMA, VERSION, seal
from vitedge.fileio import sha256_file

MODEL = "models/m.onnx"


def make_bundle(root: Path, name: str = "x86-cpu", model: bytes = b"onnx" * 256) -> Path:
    """A small bundle folder with a sealed manifest (what verify reads: files, artifacts, primary, its hash)."""
    folder = root / name
    (folder / "models").mkdir(parents=True)
    (folder / MODEL).write_bytes(model)
    (folder / "README.md").write_text("how to run it\n")
    (folder / "run.py").write_text("print('top-5')\n")
    files = [{"path": p.relative_to(folder).as_posix(), "sha256": sha256_file(p), "bytes": p.stat().st_size}
             for p in sorted(folder.rglob("*")) if p.is_file()]
    model_entry = next(f for f in files if f["path"] == MODEL)
    manifest = seal({"schema": SCHEMA, "version": VERSION, "primary": "a1",
                     "artifacts": [{"id": "a1", "path": MODEL, "files": [model_entry]}]}, files)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


def entries_of(folder: Path) -> list[tuple[str, bytes]]:
    return [(f"{folder.name}/{p.relative_to(folder).as_posix()}", p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()]


def write_zip(path: Path, entries) -> Path:
    """Entries are (name, bytes) or (ZipInfo, bytes); duplicates are written as given."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


@pytest.fixture
def bundle(tmp_path, monkeypatch):
    """(folder, zip) of an intact bundle; temp files of the process go to tmp_path/tmp, which must stay empty."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    folder = make_bundle(tmp_path / "b")
    return folder, write_zip(tmp_path / "x86-cpu.zip", entries_of(folder))


def verify(cli, guard, tmp_path, path: Path, *mentions: str, code: int = 1, guarded: bool = True):
    g = guard() if guarded else None  # (a guard would block reading a FIFO)
    outcome = cli("bundle", "verify", path)
    if code == 0:
        assert outcome.code == 0 and "OK" in outcome.out, outcome.text
    else:
        assert_refused(outcome, *mentions, code=code)
    if g:
        g.check()  # verify writes nothing anywhere (no extraction into the temp folder either)
    return outcome


def test_intact_folder_and_zip_pass(cli, guard, tmp_path, bundle):
    folder, archive = bundle
    verify(cli, guard, tmp_path, folder, code=0)
    verify(cli, guard, tmp_path, archive, code=0)


# ------------------------------------------------------------------------------------------- zip entries


def test_duplicate_entry_with_a_tampered_first_copy(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    entries = entries_of(folder)
    tampered = [(f"x86-cpu/{MODEL}", b"evil" * 256)] + entries
    path = write_zip(tmp_path / "dup.zip", tampered)
    verify(cli, guard, tmp_path, path, f"duplicate entry: x86-cpu/{MODEL} appears 2 times")


def test_entries_differing_only_by_case(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    path = write_zip(tmp_path / "case.zip", entries_of(folder) + [("x86-cpu/readme.md", b"other")])
    verify(cli, guard, tmp_path, path, "duplicate entry: x86-cpu/readme.md differs from another entry only by case")


@pytest.mark.parametrize("name, why", [
    ("../evil.txt", "'..' component"),
    ("x86-cpu/../../evil.txt", "'..' component"),
    ("/etc/evil.txt", "absolute path"),
    ("x86-cpu\\..\\evil.txt", "backslash"),
    ("C:/evil.txt", "absolute path"),
    ("x86-cpu//evil.txt", "empty or '.' component"),
])
def test_entries_outside_the_bundle(cli, guard, tmp_path, bundle, name, why):
    folder, _ = bundle
    path = write_zip(tmp_path / "escape.zip", entries_of(folder) + [(name, b"payload")])
    verify(cli, guard, tmp_path, path, "unsafe entry", why)
    assert not (tmp_path / "evil.txt").exists()


def _link(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def test_link_entries(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    entries = [e for e in entries_of(folder) if not e[0].endswith(MODEL)] + [_link(f"x86-cpu/{MODEL}", "/etc/passwd")]
    path = write_zip(tmp_path / "link.zip", entries)
    verify(cli, guard, tmp_path, path, f"link entry: x86-cpu/{MODEL}")


def test_special_file_entry(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    fifo = zipfile.ZipInfo("x86-cpu/pipe")
    fifo.create_system, fifo.external_attr = 3, (stat.S_IFIFO | 0o644) << 16
    path = write_zip(tmp_path / "fifo.zip", entries_of(folder) + [(fifo, b"")])
    verify(cli, guard, tmp_path, path, "special entry: x86-cpu/pipe")


def test_directory_file_confusion(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    as_file = write_zip(tmp_path / "a.zip", entries_of(folder) + [("x86-cpu/models/m.onnx/x", b"1")])
    verify(cli, guard, tmp_path, as_file, "directory/file confusion: x86-cpu/models/m.onnx is a file and also")
    sized_dir = zipfile.ZipInfo("x86-cpu/extra/")
    sized = write_zip(tmp_path / "b.zip", entries_of(folder) + [(sized_dir, b"data in a folder entry")])
    verify(cli, guard, tmp_path, sized, "directory/file confusion: x86-cpu/extra/")
    dir_mode = zipfile.ZipInfo("x86-cpu/notes")
    dir_mode.create_system, dir_mode.external_attr = 3, (stat.S_IFDIR | 0o755) << 16
    marked = write_zip(tmp_path / "c.zip", entries_of(folder) + [(dir_mode, b"")])
    verify(cli, guard, tmp_path, marked, "directory/file confusion: x86-cpu/notes is a file entry marked as a folder")


def test_more_than_one_top_level_folder_or_loose_files(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    two = write_zip(tmp_path / "two.zip", entries_of(folder) + [("other/README.md", b"x")])
    verify(cli, guard, tmp_path, two, "exactly one bundle folder", "other")
    loose = write_zip(tmp_path / "loose.zip", [(n.split("/", 1)[1], d) for n, d in entries_of(folder)])
    verify(cli, guard, tmp_path, loose, "exactly one bundle folder")


def test_too_many_entries(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    many = entries_of(folder) + [(f"x86-cpu/n/{i}", b"") for i in range(4100)]
    verify(cli, guard, tmp_path, write_zip(tmp_path / "many.zip", many), "too many entries", "4104 entries")


def _patch_central(path: Path, name: str, offset: int, fmt: str, value: int) -> None:
    """Overwrite a field of `name`'s central directory record (offsets as in the zip specification)."""
    data = bytearray(path.read_bytes())
    start = 0
    while True:
        start = data.index(b"PK\x01\x02", start)
        length = struct.unpack_from("<H", data, start + 28)[0]
        if data[start + 46:start + 46 + length].decode() == name:
            struct.pack_into(fmt, data, start + offset, value)
            path.write_bytes(bytes(data))
            return
        start += 4


def test_encrypted_entry(cli, guard, tmp_path, bundle):
    _, archive = bundle
    _patch_central(archive, f"x86-cpu/{MODEL}", 8, "<H", 0x1)
    verify(cli, guard, tmp_path, archive, f"encrypted entry: x86-cpu/{MODEL}")


# ----------------------------------------------------------------------------------------------- sizes


def test_bomb_entry_is_refused_by_its_declared_size_before_reading(cli, guard, tmp_path, bundle, monkeypatch):
    """64 MiB of zeros (64 KiB compressed) where the manifest records 1 KiB: refused from the header alone."""
    folder, _ = bundle
    entries = [(n, d) if not n.endswith(MODEL) else (n, bytes(64 << 20)) for n, d in entries_of(folder)]
    path = write_zip(tmp_path / "bomb.zip", entries)
    assert path.stat().st_size < 1 << 20
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open",
                        lambda self, name, *a, **k: opened.append(getattr(name, "filename", name))
                        or real_open(self, name, *a, **k))
    verify(cli, guard, tmp_path, path, f"tampered file: {MODEL} ({64 << 20} bytes, manifest records 1024)")
    assert f"x86-cpu/{MODEL}" not in opened


def test_entry_beyond_the_size_cap(cli, guard, tmp_path, bundle, monkeypatch):
    import vitedge.bundle.archive as archive_module

    monkeypatch.setattr(archive_module, "MAX_FILE_BYTES", 512)
    _, archive = bundle
    verify(cli, guard, tmp_path, archive, f"oversized entry: x86-cpu/{MODEL} declares 1024 bytes")


def test_lying_header_is_caught_while_streaming(cli, guard, tmp_path, bundle):
    """The central directory declares the manifest's size, the data inflates to far more: counted, refused."""
    folder, _ = bundle
    entries = [(n, d) if not n.endswith(MODEL) else (n, bytes(8 << 20)) for n, d in entries_of(folder)]
    path = write_zip(tmp_path / "liar.zip", entries)
    _patch_central(path, f"x86-cpu/{MODEL}", 24, "<I", 1024)
    verify(cli, guard, tmp_path, path, "corrupt archive: entry", f"x86-cpu/{MODEL}")


# -------------------------------------------------------------------------------------------- corrupt


def test_truncated_zip(cli, guard, tmp_path, bundle):
    _, archive = bundle
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    verify(cli, guard, tmp_path, archive, "corrupt archive:", "x86-cpu.zip")


def test_damaged_member_data(cli, guard, tmp_path, bundle):
    """One flipped byte inside a compressed member (a bad download): corrupt, not a BadZipFile traceback."""
    _, archive = bundle
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(f"x86-cpu/{MODEL}")
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + name_len + extra_len + 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    verify(cli, guard, tmp_path, archive, f"corrupt archive: entry x86-cpu/{MODEL}")


def test_html_saved_as_zip(cli, guard, tmp_path):
    page = tmp_path / "x86-cpu.zip"
    page.write_text("<!DOCTYPE html><html><body>Sign in to download</body></html>\n")
    verify(cli, guard, tmp_path, page, "corrupt archive:", "HTML")


def test_empty_zip_and_zip_without_manifest(cli, guard, tmp_path, bundle):
    empty = write_zip(tmp_path / "empty.zip", [])
    verify(cli, guard, tmp_path, empty, "missing file: manifest.json")
    folder, _ = bundle
    bare = write_zip(tmp_path / "bare.zip", [e for e in entries_of(folder) if not e[0].endswith("manifest.json")])
    verify(cli, guard, tmp_path, bare, "missing file: manifest.json")


def test_not_a_bundle_at_all(cli, guard, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    verify(cli, guard, tmp_path, tmp_path / "notes.txt", "notes.txt", "neither a bundle folder", code=2)
    verify(cli, guard, tmp_path, tmp_path / "nowhere", "nowhere", code=2)


# -------------------------------------------------------------------------------------------- folders


def test_link_to_a_file_outside_is_reported_not_followed(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    outside = tmp_path / "outside.onnx"
    outside.write_bytes((folder / MODEL).read_bytes())  # the same content: a followed link would pass
    (folder / MODEL).unlink()
    (folder / MODEL).symlink_to(outside)
    (folder / "secret").symlink_to("/etc/passwd")
    outcome = verify(cli, guard, tmp_path, folder, f"tampered file: {MODEL} is a link to {outside}",
                     "extra file: secret (a link to /etc/passwd")
    assert "root:" not in outcome.text


def test_link_to_a_folder_outside(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "big.bin").write_bytes(b"x")
    (folder / "more").symlink_to(tmp_path / "elsewhere")
    verify(cli, guard, tmp_path, folder, "extra file: more (a link to")


def test_fifo_in_a_folder_does_not_hang(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    os.mkfifo(folder / "README.md.fifo")
    (folder / "README.md").unlink()
    os.mkfifo(folder / "README.md")
    verify(cli, guard, tmp_path, folder, "tampered file: README.md is a FIFO", "extra file: README.md.fifo (a FIFO",
           guarded=False)


# ------------------------------------------------------------------------------------------- manifests


def _rewrite(folder: Path, edit) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("edit, mention", [
    (lambda m: m.update(files="all of them"), "`files` must be a list"),
    (lambda m: m["files"][0].update(bytes="12"), "files[0].bytes of README.md must be an integer"),
    (lambda m: m["files"][0].update(path="../../etc/passwd"), "is not a relative path inside the bundle"),
    (lambda m: m["files"][0].update(sha256=None), "files[0].sha256 of README.md is not a sha256"),
    (lambda m: m["artifacts"].append(7), "artifacts[1] must be an object"),
    (lambda m: m["files"].append(dict(m["files"][0])), "files lists README.md 2 times"),
])
def test_malformed_manifest(cli, guard, tmp_path, bundle, edit, mention):
    folder, _ = bundle
    _rewrite(folder, edit)
    verify(cli, guard, tmp_path, folder, "manifest edited", mention)


def test_deeply_nested_and_huge_manifests(cli, guard, tmp_path, bundle):
    folder, _ = bundle
    (folder / "manifest.json").write_text("[" * 200_000 + "]" * 200_000)
    verify(cli, guard, tmp_path, folder, "manifest edited: manifest.json is no longer valid JSON")
    (folder / "manifest.json").write_bytes(b" " * (16 << 20) + b"{}")
    verify(cli, guard, tmp_path, folder, "manifest edited: manifest.json is", "a manifest holds at most")
