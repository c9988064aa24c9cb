"""Array sources read lazily and within bounds: a header is checked before any pixel is read, and only the rows a
slice / limit selects are ever decompressed into memory.

A compressed file cannot declare much more than it could hold: beyond MAX_RATIO x its compressed size (and above
RATIO_FLOOR) it is a decompression bomb, refused; nothing above MAX_DECLARED_BYTES is read, compressed or not.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from vitedge.errors import DataError

MAX_DECLARED_BYTES = 4 << 30  # one images array (or labels array), as declared by its header
MAX_RATIO = 64  # declared bytes per compressed byte: MNIST gzips ~5x, a stream of zeros ~1000x
RATIO_FLOOR = 64 << 20  # small files may compress as well as they like
MAX_IMAGE_PIXELS = 89_478_485  # one image (Pillow's decompression-bomb threshold); models take a few hundred a side
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Rows:
    """Rows [start, stop) of an array source, read by `reader(start, stop)` only when `load()` is called."""

    reader: Callable[[int, int], np.ndarray]
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: slice) -> Rows:
        selected = range(self.start, self.stop)[index]
        if not isinstance(index, slice) or selected.step != 1:
            raise TypeError("Rows take contiguous slices only")
        return Rows(self.reader, selected.start, selected.start + len(selected))

    def load(self) -> np.ndarray:
        return self.reader(self.start, self.stop)


def loaded(values):
    """`values` as an array when it is Rows; anything else unchanged."""
    return values.load() if isinstance(values, Rows) else values


def _gib(count: int) -> str:
    return f"{count / (1 << 30):.1f} GiB" if count >= 1 << 28 else f"{count / (1 << 20):.1f} MiB"


def check_declared(path: Path, what: str, declared: int, compressed: int | None) -> None:
    """Refuse a declared size no image set needs, or one a compressed file of `compressed` bytes cannot hold."""
    hint = ("split the data into smaller files, or use a folder of images; vitedge reads only the images a slice "
            "or --samples asks for, but never trusts a header that declares more than the file could hold")
    if declared > MAX_DECLARED_BYTES:
        raise DataError(f"{path}: {what} declares {declared} bytes ({_gib(declared)}), more than the "
                        f"{_gib(MAX_DECLARED_BYTES)} vitedge reads from one array", hint)
    if compressed is not None and declared > max(RATIO_FLOOR, MAX_RATIO * compressed):
        raise DataError(f"{path}: {what} declares {declared} bytes ({_gib(declared)}) from {compressed} compressed "
                        f"bytes ({declared / max(compressed, 1):.0f}x): not plausible image data (a decompression "
                        "bomb?)", hint)


def check_image_pixels(path: Path, height: int, width: int) -> None:
    """Refuse empty images and images too large to decode (before any pixel is read)."""
    if height < 1 or width < 1:
        raise DataError(f"{path}: images of {width} x {height} pixels hold no pixel", "store non-empty images")
    if height * width > MAX_IMAGE_PIXELS:
        raise DataError(f"{path}: images of {width} x {height} pixels are larger than the {MAX_IMAGE_PIXELS} "
                        "pixels vitedge decodes (a decompression bomb?)",
                        "resize the images first: a model takes at most a few hundred pixels a side")


def skip(stream, count: int, path: Path, what: str) -> None:
    """Read and drop `count` bytes (a compressed stream cannot seek)."""
    while count > 0:
        chunk = stream.read(min(_CHUNK, count))
        if not chunk:
            raise truncated(path, what)
        count -= len(chunk)


def read_array(stream, count: int, path: Path, what: str) -> np.ndarray:
    """Exactly `count` bytes into a new uint8 array, in chunks (a short stream is a truncated file)."""
    out = np.empty(count, dtype=np.uint8)
    view, done = memoryview(out), 0
    while done < count:
        got = stream.readinto(view[done:done + min(_CHUNK, count - done)])
        if not got:
            raise truncated(path, what)
        done += got
    return out


def truncated(path: Path, what: str) -> DataError:
    return DataError(f"{path}: {what} is truncated: the file ends before the data its header declares",
                     "re-download or re-write the file; it is incomplete")
