""".npz sources read member by member from the zip: each array's .npy header (shape, dtype) and the member's declared
sizes are checked before any data is read, and only the rows a slice / limit needs are decompressed."""
from __future__ import annotations

import math
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vitedge.data.rows import Rows, check_declared, check_image_pixels, read_array, skip
from vitedge.errors import DataError

ARRAY_CHANNELS = (1, 3, 4)
NPZ_HINT = "write it with np.savez_compressed(path, images=..., labels=...); object arrays are not accepted"
SMALL_MEMBER_BYTES = 16 << 20  # class_names
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
                SyntaxError, tokenize.TokenError)  # numpy parses a .npy header with tokenize


@dataclass(frozen=True)
class Member:
    """One array of the archive: where its data starts in the (decompressed) member, its shape and dtype."""

    path: Path
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int

    @property
    def name(self) -> str:
        return self.info.filename.removesuffix(".npy")


@contextmanager
def _reading(path: Path):
    try:
        yield
    except DataError:
        raise
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {str(exc)[:200]})",
                        NPZ_HINT) from exc


class _Counting:
    """A stream that counts what numpy's header parser reads from it."""

    def __init__(self, stream):
        self.stream, self.count = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        return data


def npz_rows(path: Path, spec_channels: int) -> tuple[Rows, Rows | None, list[str] | None]:
    """Images (N x H x W x C, lazily), labels (int64, lazily) and class names of an .npz."""
    with _reading(path):
        with path.open("rb") as stream:
            if stream.read(6) == b"\x93NUMPY":
                raise DataError(f"{path}: holds a single .npy array, not an .npz archive", NPZ_HINT)
        with zipfile.ZipFile(path) as archive:
            members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
            if "images" not in members:
                raise DataError(
                    f"{path}: no `images` array (found: {', '.join(sorted(members)) or 'nothing'})",
                    "save it with np.savez_compressed(path, images=uint8_images, labels=int_labels)",
                )
            images = _member(archive, path, members["images"])
            labels = _member(archive, path, members["labels"]) if "labels" in members else None
            names = _small_array(archive, path, members["class_names"]) if "class_names" in members else None
    to_nhwc = _layout(images, spec_channels)
    image_rows = Rows(lambda start, stop: to_nhwc(_read_rows(images, start, stop)), 0, images.shape[0])
    label_rows = _label_rows(labels, images.shape[0]) if labels is not None else None
    class_names = [str(n) for n in names.reshape(-1)] if names is not None else None
    return image_rows, label_rows, class_names


def _member(archive: zipfile.ZipFile, path: Path, info: zipfile.ZipInfo) -> Member:
    """Parse one member's .npy header; check its declared sizes against the member's and the caps."""
    what = f"array `{info.filename.removesuffix('.npy')}`"
    with archive.open(info) as raw:
        stream = _Counting(raw)
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise DataError(f"{path}: {what} has .npy format version {version}, which vitedge does not read", NPZ_HINT)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(stream)
    member = Member(path, info, tuple(shape), dtype, fortran, stream.count)
    declared = math.prod(member.shape) * dtype.itemsize
    if dtype.hasobject:
        return member  # refused by the dtype checks of its reader, with the array's name
    compressed = info.compress_size if info.compress_type != zipfile.ZIP_STORED else None
    check_declared(path, f"{what} (shape {member.shape}, {dtype})", declared, compressed)
    if info.file_size != member.offset + declared:
        problem = "truncated" if info.file_size < member.offset + declared else "has trailing bytes"
        raise DataError(f"{path}: {what} is {problem}: shape {member.shape} of {dtype} needs {declared} bytes, the "
                        f"archive holds {info.file_size - member.offset}", NPZ_HINT)
    return member


def _small_array(archive: zipfile.ZipFile, path: Path, info: zipfile.ZipInfo) -> np.ndarray:
    """A small member (class names), its declared size checked before it is read whole."""
    if info.file_size > SMALL_MEMBER_BYTES:
        raise DataError(f"{path}: array `{info.filename}` declares {info.file_size} bytes (at most "
                        f"{SMALL_MEMBER_BYTES} for class names)", NPZ_HINT)
    with archive.open(info) as stream:
        return np.lib.format.read_array(stream, allow_pickle=False)


def _layout(images: Member, spec_channels: int):
    """Check dtype and shape from the header; return the function that turns read rows into N x H x W x C."""
    path, shape = images.path, images.shape
    if images.dtype != np.uint8:
        raise DataError(
            f"{path}: `images` must be uint8 in [0, 255], got {images.dtype}",
            "convert it, e.g. np.clip(np.round(x * 255), 0, 255).astype(np.uint8) for floats in [0, 1]",
        )
    first_ok = len(shape) == 4 and shape[1] in ARRAY_CHANNELS
    last_ok = len(shape) == 4 and shape[3] in ARRAY_CHANNELS
    if len(shape) == 3:
        check_image_pixels(path, shape[1], shape[2])
        return lambda rows: rows[..., None]
    if not (first_ok or last_ok):
        raise DataError(
            f"{path}: `images` has shape {shape}; expected N x C x H x W, N x H x W x C (C = 1, 3 or 4) "
            "or N x H x W for grayscale",
            "reshape the array to one of those layouts",
        )
    if first_ok and last_ok:  # ambiguous: the axis matching the model wins, then N x C x H x W
        channels_last = shape[3] == spec_channels and shape[1] != spec_channels
    else:
        channels_last = last_ok
    check_image_pixels(path, *(shape[1:3] if channels_last else shape[2:4]))
    return (lambda rows: rows) if channels_last else (lambda rows: rows.transpose(0, 2, 3, 1))


def _label_rows(labels: Member, count: int) -> Rows:
    if len(labels.shape) != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{labels.path}: `labels` must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}",
            "store one integer class index per image",
        )
    if labels.shape[0] != count:
        raise DataError(
            f"{labels.path}: {labels.shape[0]} labels for {count} images",
            "store exactly one label per image (or no `labels` array at all)",
        )
    return Rows(lambda start, stop: _read_rows(labels, start, stop).astype(np.int64), 0, count)


def _read_rows(member: Member, start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of a C-order array, decompressing the member only up to them (a Fortran-order array,
    rare, is read whole: its size was checked against the caps)."""
    row = math.prod(member.shape[1:]) * member.dtype.itemsize
    what = f"array `{member.name}`"
    with _reading(member.path), zipfile.ZipFile(member.path) as archive, archive.open(member.info) as stream:
        if member.fortran:
            skip(stream, member.offset, member.path, what)
            whole = read_array(stream, row * member.shape[0], member.path, what)
            return whole.view(member.dtype).reshape(member.shape, order="F")[start:stop]
        skip(stream, member.offset + start * row, member.path, what)
        data = read_array(stream, (stop - start) * row, member.path, what)
    return data.view(member.dtype).reshape(stop - start, *member.shape[1:])

