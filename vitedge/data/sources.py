"""Read raw images and labels from a folder, an .npz or an IDX (MNIST) file, with an optional slice."""
from __future__ import annotations

import gzip
import re
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from vitedge.data.idx import GZIP_MAGIC, idx_rows
from vitedge.data.npz import npz_rows
from vitedge.data.preprocess import image_to_chw, pil_mode
from vitedge.data.rows import MAX_IMAGE_PIXELS, Rows, loaded
from vitedge.errors import DataError
from vitedge.readfile import check_regular

if TYPE_CHECKING:
    from vitedge.models.spec import IOSpec

ACCEPTED_KINDS = (
    "a folder of class subfolders of images, an .npz with a uint8 `images` array (and optional `labels`), "
    "or an IDX images file (MNIST format, optionally .gz); any of them may end in [START:END]"
)
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm"}
)
_SLICE_SUFFIX = re.compile(r"^(?P<path>.+)\[(?P<bounds>[^\[\]]*)\]$", re.DOTALL)
_SLICE_BOUNDS = re.compile(r"^\s*(?P<start>[+-]?\d+)?\s*:\s*(?P<end>[+-]?\d+)?\s*$")


@dataclass
class RawData:
    """Images before preprocessing: N x H x W x C uint8 (an array, or Rows of a file read only when `loaded`), or
    image files still to decode."""

    images: np.ndarray | Rows | list[Path]
    labels: np.ndarray | Rows | None
    class_names: list[str] | None = None

    def __len__(self) -> int:
        return len(self.images)

    def select(self, index: slice) -> RawData:
        labels = None if self.labels is None else self.labels[index]
        return RawData(self.images[index], labels, self.class_names)

    def take(self, indices: np.ndarray) -> RawData:
        """The images (and labels) at sorted `indices`; Rows are read once over the span the indices cover."""
        return RawData(_take(self.images, indices), None if self.labels is None else _take(self.labels, indices),
                       self.class_names)

    def loaded(self) -> RawData:
        """Rows read from their file (only the selected ones); arrays and file lists unchanged."""
        return RawData(loaded(self.images), loaded(self.labels), self.class_names)


def _take(values, indices: np.ndarray):
    if isinstance(values, list):
        return [values[i] for i in indices]
    if isinstance(values, Rows):
        first = int(indices[0])
        return values[first:int(indices[-1]) + 1].load()[indices - first]
    return values[indices]


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
    check_regular(path, "data", f"pass {ACCEPTED_KINDS}")  # a FIFO or a device would be read forever
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
    """Decode one image file (first frame) into a Pillow image of `mode`; its size is checked before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                _check_pixels(file, image.size)
                return _eight_bit(file, image).convert(mode)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"{file}: image too large to decode ({exc})", _BIG_IMAGE_HINT) from exc
    except Exception as exc:  # Pillow raises many types for broken files; all are the user's data
        raise DataError(
            f"{file}: cannot read this image ({type(exc).__name__}: {exc})",
            "replace or remove the file; images are read with Pillow",
        ) from exc


HIGH_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # 16-bit PNG / TIFF greyscale (Pillow opens as these)


def _eight_bit(file: Path, image: Image.Image) -> Image.Image:
    """A 16-bit greyscale image scaled to 8 bits (value >> 8): Pillow's convert("L") would clip every value above
    255 to white. A floating-point image, or an integer one beyond 16 bits, has no known range and is refused."""
    if image.mode == "F":
        raise DataError(f"{file}: a floating-point image (mode F) has no known value range",
                        "save it as an 8- or 16-bit PNG / JPEG / TIFF")
    if image.mode not in HIGH_DEPTH_MODES:
        return image
    values = np.asarray(image).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() > 65535):
        raise DataError(f"{file}: a 32-bit integer image with values from {values.min()} to {values.max()}, beyond "
                        "16 bits", "save it as an 8- or 16-bit PNG / JPEG / TIFF")
    return Image.fromarray((values >> 8).astype(np.uint8), "L")


_BIG_IMAGE_HINT = "resize or remove it: a model takes at most a few hundred pixels a side"


def _check_pixels(file: Path, size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"{file}: image of {width} x {height} pixels is larger than the {MAX_IMAGE_PIXELS} pixels "
                        "vitedge decodes (a decompression bomb?)", _BIG_IMAGE_HINT)


# ----------------------------------------------------------------------------------------- folders


def read_folder(folder: Path, spec_labels: Sequence[str] | None) -> RawData:
    """A folder of class subfolders (labelled), or of loose images (unlabelled)."""
    class_dirs = [d for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    for class_dir in class_dirs:
        _check_class_dir(folder, class_dir)
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
    """Class index per folder name: its position in the model's labels, else int(name), else sorted position
    (ImageFolder's rule, used only when there is one folder per class of the model).

    Also returns the class names indexed by label (None when folders are named by integers).
    """
    _check_case_clash(names)
    if spec_labels and all(name in spec_labels for name in names):
        labels = list(spec_labels)
        _check_unambiguous(names, labels)
        return {name: labels.index(name) for name in names}, labels
    if all(name.isascii() and name.isdigit() for name in names) and len({int(n) for n in names}) == len(names):
        return {name: int(name) for name in names}, None
    if spec_labels and len(names) != len(spec_labels):
        unmatched = [name for name in sorted(names) if name not in spec_labels]
        raise DataError(f"class folder(s) {unmatched[:5]} match none of the model's {len(spec_labels)} class names "
                        f"(e.g. {list(spec_labels)[:3]}), and {len(names)} folders cannot stand for its classes by "
                        "their sorted position", "name each class folder after the model's class name or its index "
                        f"(0 to {len(spec_labels) - 1})")
    ordered = sorted(names)
    return {name: position for position, name in enumerate(ordered)}, ordered


def _check_case_clash(names: list[str]) -> None:
    """Folders whose names differ only by case: one class on a case-insensitive disk, two here."""
    by_lower: dict[str, list[str]] = {}
    for name in names:
        by_lower.setdefault(name.casefold(), []).append(name)
    clash = next((group for group in by_lower.values() if len(group) > 1), None)
    if clash:
        raise DataError(f"class folders {sorted(clash)} differ only by case: are they one class or two?",
                        "merge them into one folder, or rename one (a case-insensitive disk would merge them)")


def _check_unambiguous(names: list[str], labels: list[str]) -> None:
    """A folder named after a class name the model repeats (ImageNet has two "crane"s) has no single index."""
    repeated = sorted(name for name in names if labels.count(name) > 1)
    if repeated:
        raise DataError(f"class folder(s) {repeated[:5]} are named after class names the model uses for more than "
                        "one class", "name those folders by class index instead (e.g. 134/ and 517/)")


def _check_class_dir(folder: Path, class_dir: Path) -> None:
    """A class folder that links to the data folder or one above it would make the search walk a loop (or `/`)."""
    if not class_dir.is_symlink():
        return
    root, target = folder.resolve(), class_dir.resolve()
    if target == root or target in root.parents:
        raise DataError(f"{class_dir}: class folder is a link to {target}, which contains the data folder itself",
                        "replace the link by a folder holding that class's images")


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


# ------------------------------------------------------------------------------------------ npz, IDX


def read_npz(path: Path, spec_channels: int) -> RawData:
    """An .npz with uint8 `images` (NCHW, NHWC or NHW) and optional `labels` / `class_names`, read lazily."""
    return RawData(*npz_rows(path, spec_channels))


def read_idx(path: Path) -> RawData:
    """An IDX images file (MNIST format, optionally gzipped) and its labels file beside it, if any, read lazily."""
    return RawData(*idx_rows(path))


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
    if head[:2] == GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as stream:
                head = stream.read(4)
        except (OSError, EOFError, zlib.error):
            return False
    return head[:3] == b"\x00\x00\x08"
