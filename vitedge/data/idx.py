"""IDX (MNIST format) images and labels, optionally gzipped: the header is checked first (magic, shape, declared
size against the file's size and the caps of vitedge.data.rows), then only the rows a slice / limit needs are read."""
from __future__ import annotations

import gzip
import math
import struct
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitedge.data.rows import Rows, check_declared, check_image_pixels, read_array, skip
from vitedge.errors import DataError

IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 0x00000803, 0x00000801
GZIP_MAGIC = b"\x1f\x8b"
_LABELS_NAME_SWAPS = (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1"))


@dataclass(frozen=True)
class IdxHeader:
    path: Path
    shape: tuple[int, ...]
    offset: int  # bytes before the data
    gzipped: bool
    what: str


def idx_rows(path: Path) -> tuple[Rows, Rows | None]:
    """Images (N x H x W x 1) and, when a labels file lies beside it, labels (int64), both read lazily."""
    images = _header(path, IDX_IMAGES_MAGIC, dims=3)
    count, height, width = images.shape
    check_image_pixels(path, height, width)
    image_rows = Rows(lambda start, stop: _read_rows(images, start, stop)[..., None], 0, count)
    labels_path = idx_labels_path(path)
    if labels_path is None:
        return image_rows, None
    labels = _header(labels_path, IDX_LABELS_MAGIC, dims=1)
    if labels.shape[0] != count:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels for the {count} images of {path}",
            "pair the images file with the labels file of the same set, or remove the labels file",
        )
    return image_rows, Rows(lambda start, stop: _read_rows(labels, start, stop).astype(np.int64), 0, count)


def idx_labels_path(images_path: Path) -> Path | None:
    """The labels file beside an IDX images file (`images-idx3` -> `labels-idx1`), if it exists."""
    name = images_path.name
    for old, new in _LABELS_NAME_SWAPS:
        if old in name:
            candidate = images_path.with_name(name.replace(old, new))
            twin_name = candidate.name[:-3] if candidate.name.endswith(".gz") else candidate.name + ".gz"
            gz_twin = candidate.with_name(twin_name)
            for labels_path in (candidate, gz_twin):
                if labels_path.is_file():
                    return labels_path
    return None


@contextmanager
def _reading(path: Path):
    """OSError / gzip / zlib failures of `path` as DataError."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})",
                        "check the file is complete; gzip files must decompress cleanly") from exc


def _open(path: Path, gzipped: bool):
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _header(path: Path, magic: int, dims: int) -> IdxHeader:
    """Magic and shape from the first bytes; the declared size checked before any data is read."""
    header_size = 4 * (1 + dims)
    what = "images (magic 0x00000803)" if magic == IDX_IMAGES_MAGIC else "labels (magic 0x00000801)"
    with _reading(path):
        with path.open("rb") as raw:
            gzipped = raw.read(2) == GZIP_MAGIC
        with _open(path, gzipped) as stream:
            data = stream.read(header_size)
        size = path.stat().st_size
    if len(data) < header_size:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes, header needs {header_size})",
                        f"re-download the file; expected IDX {what}")
    found_magic, *shape = struct.unpack(f">{1 + dims}i", data)
    if found_magic != magic:
        raise DataError(f"{path}: bad IDX magic 0x{found_magic:08x}, expected IDX {what}",
                        "pass an MNIST-format images file (t10k-images-idx3-ubyte.gz); labels are found beside it")
    expected = math.prod(shape)
    if min(shape) < 0:
        raise DataError(f"{path}: IDX header declares a negative size, shape {tuple(shape)}",
                        "re-download the file; it is damaged or not an IDX file")
    if not gzipped and size - header_size != expected:
        problem = "truncated" if size - header_size < expected else "has trailing bytes"
        raise DataError(f"{path}: IDX file {problem}: shape {tuple(shape)} needs {expected} bytes, "
                        f"found {size - header_size}", "re-download the file; it is incomplete or not an IDX file")
    check_declared(path, f"the IDX header (shape {tuple(shape)})", expected, size if gzipped else None)
    return IdxHeader(path, tuple(shape), header_size, gzipped, f"IDX {what.split(' (')[0]}")


def _read_rows(header: IdxHeader, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop): a plain file seeks to them; a gzipped one decompresses up to them, never further."""
    row = math.prod(header.shape[1:])
    with _reading(header.path), _open(header.path, header.gzipped) as stream:
        if header.gzipped:
            skip(stream, header.offset + start * row, header.path, header.what)
        else:
            stream.seek(header.offset + start * row)
        data = read_array(stream, (stop - start) * row, header.path, header.what)
        if header.gzipped and stop == header.shape[0] and stream.read(1):
            raise DataError(f"{header.path}: IDX file has trailing bytes after the shape {header.shape} its header "
                            "declares", "re-download the file; it is damaged or not an IDX file")
    return data.reshape(stop - start, *header.shape[1:])
