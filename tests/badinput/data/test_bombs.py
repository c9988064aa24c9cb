"""Decompression bombs and oversized data, through the verbs that read data (export --data, quantize --calib): a
header is checked before anything is decompressed, only the images a slice / --samples needs are read, and a
declared size far beyond what the file could hold is refused at once, naming the file."""
from __future__ import annotations

import gzip
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.badinput.conftest import assert_refused
from vitedge.data import load_dataset
from vitedge.errors import DataError
from vitedge.models.spec import IOSpec

MNIST = IOSpec(input_size=(1, 28, 28), mean=(0.1307,), std=(0.3081,))
ZEROS_MIB = gzip.compress(bytes(1 << 20), compresslevel=9)  # ~1 KiB: one gzip member of 1 MiB of zeros


def idx_bomb(path: Path, count: int, zeros_mib: int) -> Path:
    """An IDX images .gz whose header declares `count` 28x28 images, followed by `zeros_mib` MiB of zeros (as
    concatenated gzip members: a valid stream, built in microseconds)."""
    header = gzip.compress(struct.pack(">4i", 0x803, count, 28, 28))
    path.write_bytes(header + ZEROS_MIB * zeros_mib)
    return path


def npy_header(shape: tuple[int, ...], dtype: str = "|u1") -> bytes:
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (63 - (10 + len(text)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def npz_bomb(path: Path, shape: tuple[int, ...], zeros_mib: int) -> Path:
    """An .npz whose deflated `images.npy` declares `shape` uint8 and holds `zeros_mib` MiB of zeros."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("images.npy", "w", force_zip64=True) as member:
            member.write(npy_header(shape))
            for _ in range(zeros_mib):
                member.write(bytes(1 << 20))
    return path


def png(path: Path, width: int, height: int) -> Path:
    """A real grayscale PNG of zeros, written row by row (never held whole in memory)."""
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    compressor, row = zlib.compressobj(9), bytes(width + 1)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def refused(cli, guard, tmp_path, bomb: Path, *mentions: str):
    """Both verbs refuse the data before any work, naming it; nothing is written outside --out."""
    g = guard()
    out = tmp_path / "out"
    outcomes = [cli("export", "vit4mnist", "--format", "onnx", "--data", bomb, "--samples", 32, "--out", out),
                cli("quantize", "vit4mnist", "--format", "onnx", "--precision", "fp16", "--calib", bomb,
                    "--out", out)]
    for outcome in outcomes:
        assert_refused(outcome, bomb.name, *mentions)
    g.check(out)


def peak_bytes(call) -> int:
    tracemalloc.start()
    try:
        call()
    except Exception:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_idx_gzip_bomb_is_refused_before_decompressing(cli, guard, tmp_path):
    """100,000 images (78 MB) declared and present, in a 0.1 MB .gz: ~1000x, no image data gzips like that."""
    bomb = idx_bomb(tmp_path / "bomb-images-idx3-ubyte.gz", 100_000, 75)
    assert bomb.stat().st_size < 200_000
    refused(cli, guard, tmp_path, bomb, "declares", "decompression bomb")
    assert peak_bytes(lambda: load_dataset(bomb, MNIST, limit=32)) < 8 << 20


def test_idx_header_beyond_any_dataset(cli, guard, tmp_path):
    """A billion 28x28 images declared (784 GB): refused from the header alone, without allocating."""
    bomb = idx_bomb(tmp_path / "huge-images-idx3-ubyte.gz", 1_000_000_000, 1)
    refused(cli, guard, tmp_path, bomb, "declares 784000000000 bytes")
    plain = tmp_path / "huge-images-idx3-ubyte"
    plain.write_bytes(struct.pack(">4i", 0x803, 1_000_000_000, 28, 28) + bytes(784))
    refused(cli, guard, tmp_path, plain, "truncated")


def test_npz_bomb_is_refused_before_decompressing(cli, guard, tmp_path):
    bomb = npz_bomb(tmp_path / "bomb.npz", (100_000, 28, 28), 75)
    assert bomb.stat().st_size < 1 << 20
    refused(cli, guard, tmp_path, bomb, "array `images`", "decompression bomb")
    assert peak_bytes(lambda: load_dataset(bomb, MNIST, limit=32)) < 8 << 20


def test_npz_header_beyond_any_dataset(cli, guard, tmp_path):
    bomb = npz_bomb(tmp_path / "huge.npz", (10**9, 28, 28), 1)
    refused(cli, guard, tmp_path, bomb, "declares 784000000000 bytes")


def test_npz_labels_bomb(cli, guard, tmp_path):
    """Honest images, a `labels` array declaring a billion int64: refused by its header."""
    path = tmp_path / "labels.npz"
    np.savez_compressed(path, images=np.zeros((40, 28, 28), np.uint8))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("labels.npy", npy_header((10**9,), "<i8") + bytes(1 << 20))
    refused(cli, guard, tmp_path, path, "array `labels`", "declares")


def test_huge_image_in_a_folder(cli, guard, tmp_path):
    """A 12000 x 12000 PNG (144 M pixels, 0.2 MB on disk) among normal digits: a clean refusal naming the file."""
    folder = tmp_path / "digits"
    (folder / "3").mkdir(parents=True)
    png(folder / "3" / "a.png", 28, 28)
    png(folder / "3" / "huge.png", 12_000, 12_000)
    refused(cli, guard, tmp_path, folder, "huge.png", "12000 x 12000 pixels")


def test_only_the_needed_rows_are_read(tmp_path):
    """--samples / a slice read only their rows: a gzipped IDX whose tail is damaged loads its head, and a plain
    IDX its tail, byte-identical to a full read of an intact copy."""
    images = np.random.default_rng(0).integers(0, 256, (3000, 28, 28), dtype=np.uint8)
    data = struct.pack(">4i", 0x803, *images.shape) + images.tobytes()
    intact = tmp_path / "intact-images-idx3-ubyte"
    intact.write_bytes(data)
    damaged = tmp_path / "damaged-images-idx3-ubyte.gz"
    compressed = gzip.compress(data)
    damaged.write_bytes(compressed[: len(compressed) // 2])
    head = load_dataset(damaged, MNIST, limit=32)
    np.testing.assert_array_equal(head.images[:, 0], images[:32])
    with pytest.raises(DataError, match="damaged-images-idx3-ubyte.gz"):
        load_dataset(damaged, MNIST)
    tail = load_dataset(f"{intact}[-5:]", MNIST)
    np.testing.assert_array_equal(tail.images[:, 0], images[-5:])
    np.savez_compressed(tmp_path / "set.npz", images=images, labels=np.arange(3000) % 10)
    part = load_dataset(f"{tmp_path / 'set.npz'}[100:110]", MNIST, limit=3)
    np.testing.assert_array_equal(part.images[:, 0], images[100:103])
    assert part.labels.tolist() == [0, 1, 2] and part.labels.dtype == np.int64
