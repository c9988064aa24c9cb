"""Build calib_data/mnist_calib.npz and mnist_eval.npz from the official MNIST test-set IDX files.

Usage: python calib_data/make_mnist_split.py PATH/TO/shared/data/mnist [OUT_DIR]

Images 0-7999 -> mnist_calib.npz, images 8000-9999 -> mnist_eval.npz; `images` uint8 N x 1 x 28 x 28 and
`labels` int64. The npz files are written deterministically (fixed zip timestamps), so re-running the script
reproduces them byte for byte (given the same zlib), and their sha256 can be checked against README.md.
"""
from __future__ import annotations

import gzip
import hashlib
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np

IMAGES_FILE, LABELS_FILE = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
OFFICIAL_MD5 = {IMAGES_FILE: "9fb629c4189551a2d022fa330f9573f3", LABELS_FILE: "ec29112dd5afa0611ce80d1b7f02629c"}
SPLITS = {"mnist_calib.npz": (0, 8000), "mnist_eval.npz": (8000, 10000)}


def read_idx(path: Path, magic: int, dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes, after checking its MD5, magic and length."""
    raw = path.read_bytes()
    md5 = hashlib.md5(raw).hexdigest()
    if md5 != OFFICIAL_MD5[path.name]:
        sys.exit(f"{path}: MD5 {md5} differs from the official {OFFICIAL_MD5[path.name]}")
    data = gzip.decompress(raw)
    header = 4 * (1 + dims)
    found_magic, *shape = struct.unpack(f">{1 + dims}i", data[:header])
    assert found_magic == magic and len(data) == header + int(np.prod(shape)), path
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def save_npz_deterministic(path: Path, **arrays: np.ndarray) -> None:
    """Like np.savez_compressed, but with fixed zip metadata so the bytes do not depend on the clock."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = 0o644 << 16
            with archive.open(info, "w") as stream:
                np.lib.format.write_array(stream, np.ascontiguousarray(array), allow_pickle=False)


def main(mnist_dir: Path, out_dir: Path) -> None:
    images = read_idx(mnist_dir / IMAGES_FILE, 0x00000803, dims=3)
    labels = read_idx(mnist_dir / LABELS_FILE, 0x00000801, dims=1).astype(np.int64)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    for name, (start, end) in SPLITS.items():
        path = out_dir / name
        save_npz_deterministic(path, images=images[start:end, None], labels=labels[start:end])
        print(f"{path}: images {start}-{end - 1}, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else Path(__file__).resolve().parent)
