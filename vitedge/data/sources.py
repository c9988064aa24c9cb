"""Read raw images and labels from a folder, an .npz or an IDX (MNIST) file, with an optional slice."""
from __future__ import annotations

import gzip
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from vitedge.data.preprocess import image_to_chw, pil_mode
from vitedge.errors import DataError

if TYPE_CHECKING:
    from vitedge.models.spec import IOSpec

ACCEPTED_KINDS = (
    "a folder of class subfolders of images, an .npz with a uint8 `images` array (and optional `labels`), "
    "or an IDX images file (MNIST format, optionally .gz); any of them may end in [START:END]"
)
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm"}
)
ARRAY_CHANNELS = (1, 3, 4)
IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 0x00000803, 0x00000801
_SLICE_SUFFIX = re.compile(r"^(?P<path>.+)\[(?P<bounds>[^\[\]]*)\]$", re.DOTALL)
_SLICE_BOUNDS = re.compile(r"^\s*(?P<start>[+-]?\d+)?\s*:\s*(?P<end>[+-]?\d+)?\s*$")
_LABELS_NAME_SWAPS = (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1"))


@dataclass
class RawData:
    """Images before preprocessing: N x H x W x C uint8, or image files still to decode."""

    images: np.ndarray | list[Path]
    labels: np.ndarray | None
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def select(self, index: slice) -> RawData:
        labels = None if self.labels is None else self.labels[index]
        return RawData(self.images[index], labels, self.class_names)


def parse_source(arg: str | Path) -> tuple[Path, slice | None]:
    """Split `PATH[START:END]` into a path and a slice; a literal path that exists wins."""
    text = str(arg)
    literal = Path(text).expanduser()
    match = _SLICE_SUFFIX.match(text)
    if literal.exists() or match is None:
        if not literal.exists():
            raise DataError(f"{literal}: no such file or folder", f"pass {ACCEPTED_KINDS}")
        return literal, None
    path = Path(match["path"]).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (from {text!r})", f"pass {ACCEPTED_KINDS}")
    bounds = _SLICE_BOUNDS.match(match["bounds"])
    if bounds is None:
        raise DataError(
            f"{path}: malformed slice [{match['bounds']}] in {text!r}",
            "write the slice as PATH[START:END] with integer START and END, either may be empty, e.g. data.npz[0:500]",
        )
    start, end = (int(value) if value else None for value in bounds.group("start", "end"))
    return path, slice(start, end)


def read_source(path: Path, spec: IOSpec) -> RawData:
    """Read a folder, .npz or IDX file (kind detected from the path and its first bytes)."""
    if path.is_dir():
        return read_folder(path, spec.labels)
    if path.suffix.lower() == ".npz" or _first_bytes(path).startswith(b"PK\x03\x04"):
        return read_npz(path, spec.channels)
    if _looks_like_idx(path):
        return read_idx(path)
    raise DataError(f"{path}: unsupported data file type", f"pass {ACCEPTED_KINDS}")


def decode_images(files: Sequence[Path], spec: IOSpec) -> np.ndarray:
    """Decode image files into N x C x H x W uint8 matching `spec`."""
    out = np.empty((len(files), *spec.input_size), dtype=np.uint8)
    for index, file in enumerate(files):
        out[index] = image_to_chw(_open_image(file, pil_mode(spec)), spec)
    return out


def _open_image(file: Path, mode: str) -> Image.Image:
    """Decode one image file (first frame) into a Pillow image of `mode`."""
    try:
        with Image.open(file) as image:
            return image.convert(mode)
    except Exception as exc:  # Pillow raises many types for broken files; all are the user's data
        raise DataError(
            f"{file}: cannot read this image ({type(exc).__name__}: {exc})",
            "replace or remove the file; images are read with Pillow",
        ) from exc


# ----------------------------------------------------------------------------------------- folders


def read_folder(folder: Path, spec_labels: Sequence[str] | None) -> RawData:
    """A folder of class subfolders (labelled), or of loose images (unlabelled)."""
    class_dirs = [d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    loose_files = _image_files(folder, recursive=False)
    files_by_class = {d.name: _image_files(d, recursive=True) for d in class_dirs}
    if not any(files_by_class.values()):
        if not loose_files:
            raise DataError(
                f"{folder}: no images found (extensions {', '.join(sorted(IMAGE_EXTENSIONS))})",
                "put images in one subfolder per class, e.g. data/cat/1.png, data/dog/2.jpg",
            )
        return RawData(loose_files, None)
    if loose_files:
        raise DataError(
            f"{folder}: mixes loose images (e.g. {loose_files[0].name}) with class subfolders",
            "move every image into the subfolder of its class",
        )
    index_of, class_names = class_indices(list(files_by_class), spec_labels)
    files, labels = [], []
    for name in sorted(files_by_class, key=lambda n: (index_of[n], n)):
        files += files_by_class[name]
        labels += [index_of[name]] * len(files_by_class[name])
    return RawData(files, np.asarray(labels, dtype=np.int64), class_names)


def class_indices(names: list[str], spec_labels: Sequence[str] | None) -> tuple[dict[str, int], list[str] | None]:
    """Class index per folder name: its position in the model's labels, else int(name), else sorted position.

    Also returns the class names indexed by label (None when folders are named by integers).
    """
    if spec_labels and all(name in spec_labels for name in names):
        labels = list(spec_labels)
        return {name: labels.index(name) for name in names}, labels
    if all(name.isascii() and name.isdigit() for name in names) and len({int(n) for n in names}) == len(names):
        return {name: int(name) for name in names}, None
    ordered = sorted(names)
    return {name: position for position, name in enumerate(ordered)}, ordered


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    """Image files in `folder` (by extension, hidden ones skipped), sorted by relative path."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = [
        path
        for path in candidates
        if path.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.is_file()
    ]
    return sorted(files, key=lambda path: path.relative_to(folder).as_posix())


# --------------------------------------------------------------------------------------------- npz


def read_npz(path: Path, spec_channels: int) -> RawData:
    """An .npz with uint8 `images` (NCHW, NHWC or NHW) and optional `labels` / `class_names`."""
    arrays = _load_npz_arrays(path)
    if "images" not in arrays:
        raise DataError(
            f"{path}: no `images` array (found: {', '.join(sorted(arrays)) or 'nothing'})",
            "save it with np.savez_compressed(path, images=uint8_images, labels=int_labels)",
        )
    images = _images_to_nhwc(arrays["images"], path, spec_channels)
    labels = _checked_labels(arrays.get("labels"), len(images), path)
    names = arrays.get("class_names")
    class_names = [str(n) for n in names.reshape(-1)] if names is not None else None
    return RawData(images, labels, class_names)


def _load_npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, wrapping numpy/zip failures into DataError."""
    hint = "write it with np.savez_compressed(path, images=..., labels=...); object arrays are not accepted"
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: holds a single .npy array, not an .npz archive", hint)
        with archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc})", hint) from exc


def _images_to_nhwc(images: np.ndarray, path: Path, spec_channels: int) -> np.ndarray:
    """Validate an `images` array and return it N x H x W x C (channel axis detected)."""
    if images.dtype != np.uint8:
        raise DataError(
            f"{path}: `images` must be uint8 in [0, 255], got {images.dtype}",
            "convert it, e.g. np.clip(np.round(x * 255), 0, 255).astype(np.uint8) for floats in [0, 1]",
        )
    if images.ndim == 3:
        return images[..., None]
    first_ok = images.ndim == 4 and images.shape[1] in ARRAY_CHANNELS
    last_ok = images.ndim == 4 and images.shape[3] in ARRAY_CHANNELS
    if not (first_ok or last_ok):
        raise DataError(
            f"{path}: `images` has shape {images.shape}; expected N x C x H x W, N x H x W x C (C = 1, 3 or 4) "
            "or N x H x W for grayscale",
            "reshape the array to one of those layouts",
        )
    if first_ok and last_ok:  # ambiguous: the axis matching the model wins, then N x C x H x W
        channels_last = images.shape[3] == spec_channels and images.shape[1] != spec_channels
    else:
        channels_last = last_ok
    return images if channels_last else images.transpose(0, 2, 3, 1)


def _checked_labels(labels: np.ndarray | None, count: int, path: Path) -> np.ndarray | None:
    """Labels as int64 of length `count`, or None."""
    if labels is None:
        return None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path}: `labels` must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}",
            "store one integer class index per image",
        )
    if len(labels) != count:
        raise DataError(
            f"{path}: {len(labels)} labels for {count} images",
            "store exactly one label per image (or no `labels` array at all)",
        )
    return labels.astype(np.int64)


# --------------------------------------------------------------------------------------------- IDX


def read_idx(path: Path) -> RawData:
    """An IDX images file (MNIST format, optionally gzipped) and its labels file beside it, if any."""
    images = _read_idx_array(path, IDX_IMAGES_MAGIC, dims=3)
    labels_path = idx_labels_path(path)
    if labels_path is None:
        return RawData(images[..., None], None)
    labels = _read_idx_array(labels_path, IDX_LABELS_MAGIC, dims=1).astype(np.int64)
    if len(labels) != len(images):
        raise DataError(
            f"{labels_path}: {len(labels)} labels for the {len(images)} images of {path}",
            "pair the images file with the labels file of the same set, or remove the labels file",
        )
    return RawData(images[..., None], labels)


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


def _read_idx_array(path: Path, magic: int, dims: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes with `dims` dimensions, checking magic and length."""
    data = _read_maybe_gzip(path)
    header_size = 4 * (1 + dims)
    what = "images (magic 0x00000803)" if magic == IDX_IMAGES_MAGIC else "labels (magic 0x00000801)"
    if len(data) < header_size:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes, header needs {header_size})",
                        f"re-download the file; expected IDX {what}")
    found_magic, *shape = struct.unpack(f">{1 + dims}i", data[:header_size])
    if found_magic != magic:
        raise DataError(f"{path}: bad IDX magic 0x{found_magic:08x}, expected IDX {what}",
                        "pass an MNIST-format images file (t10k-images-idx3-ubyte.gz); labels are found beside it")
    expected, found = int(np.prod(shape)), len(data) - header_size
    if found != expected or min(shape) < 0:
        problem = "truncated" if found < expected else "has trailing bytes"
        raise DataError(f"{path}: IDX file {problem}: shape {tuple(shape)} needs {expected} bytes, found {found}",
                        "re-download the file; it is incomplete or not an IDX file")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc})",
                        "check the file is complete; gzip files must decompress cleanly") from exc


def _first_bytes(path: Path, count: int = 4) -> bytes:
    try:
        with path.open("rb") as stream:
            return stream.read(count)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})", "check the file's permissions") from exc


def _looks_like_idx(path: Path) -> bool:
    """IDX by name (idx / ubyte) or by content (0x0000 08 xx magic, possibly gzipped)."""
    name = path.name.lower()
    if "idx" in name or "ubyte" in name:
        return True
    head = _first_bytes(path)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as stream:
                head = stream.read(4)
        except (OSError, EOFError, zlib.error):
            return False
    return head[:3] == b"\x00\x00\x08"
