"""Reading a user's images to score: a folder (nested folders too), a zip, or a text file listing paths.

Unlike the data set loaders (:mod:`corel.data`), which stop at the first bad file, this module
reads images one by one and reports each unreadable one with its reason, and it streams: a
batch of files is read, decoded and handed on before the next is touched, so memory does not
grow with the number of images.

Sources (:func:`open_images`):

* a **folder**: every file below it whose ending Pillow reads (png, jpg, bmp, gif, tiff, webp,
  ppm, ...), sorted by path, hidden files and folders skipped;
* a **zip** file: its members with such endings (``__MACOSX/`` and hidden entries skipped);
  named ``archive.zip:member/path.png``;
* a **text file** listing image paths, one per line (blank lines and lines starting with ``#``
  skipped; relative paths are relative to the list's folder). A listed path that does not exist
  is reported as unreadable, not skipped.

Each image is decoded with Pillow and converted as a model was trained (see
:func:`corel.data._images.decode_image`): grey or RGB (alpha dropped), resized (stretched) to
``image_size`` with antialiased bilinear filtering. :class:`ConversionStats` counts the images
whose native size or colour differ from the model's, for a one-line warning.
"""
from __future__ import annotations

import functools
import io
import os
import re
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ._images import IMAGE_EXTENSIONS, decode_image
from .base import DataError

__all__ = ["ImageSource", "ImageBatch", "ConversionStats", "open_images", "read_batches", "image_suffixes",
           "thumbnail_png", "read_all", "load_images"]

# What Pillow raises for bytes that are not a readable image (UnidentifiedImageError and "image file is
# truncated" are OSErrors; some plugins raise SyntaxError, struct.error or IndexError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, Image.DecompressionBombError)
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


@functools.lru_cache(maxsize=1)
def image_suffixes() -> frozenset[str]:
    """File endings (lower case, with the dot) taken for images: every one Pillow can open.
    Loading all of Pillow's plugins takes about 0.2 s: listings ask only for endings outside the
    common ones (``IMAGE_EXTENSIONS``)."""
    Image.init()
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items()
                     if fmt in Image.OPEN) | IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Entry:
    """One image file: its display name and how to read its bytes."""

    name: str
    read: Callable[[], bytes]


class ImageSource:
    """The image files of a folder, zip or list, counted up front and iterated lazily.

    Use as a context manager (a zip stays open while it is read). ``len(source)`` is the number
    of image files; ``skipped`` the files with other endings (folders and zips only).
    """

    def __init__(self, path, suffixes: frozenset[str] | None = None):
        self.path = Path(os.fspath(path))
        self.suffixes = suffixes           # None: every ending Pillow opens (image_suffixes)
        self._zip: zipfile.ZipFile | None = None
        self.skipped = 0
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path} does not exist (expected a folder of images, a .zip of them, "
                                    f"or a text file listing image paths).")
        if self.path.is_dir():
            self.kind = "folder"
            self._count, self.skipped = self._count_folder()
        elif self.path.suffix.lower() == ".zip" and not zipfile.is_zipfile(self.path):
            raise DataError(f"{self.path} is not a readable zip file (corrupt or truncated).")
        elif zipfile.is_zipfile(self.path):
            self.kind = "zip"
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError) as e:
                raise DataError(f"{self.path} is not a readable zip file ({e}).") from None
            members = [i for i in self._zip.infolist() if not i.is_dir() and _visible(i.filename)
                       and not i.filename.startswith("__MACOSX/")]
            self._members = sorted((i for i in members if self._is_image(i.filename)), key=lambda i: i.filename)
            self._count, self.skipped = len(self._members), len(members) - len(self._members)
        elif self._is_image(self.path.name):
            raise DataError(f"{self.path} is one image; pass a folder of images, a .zip of them, or a text file "
                            f"listing image paths (one per line).")
        else:
            self.kind = "list"
            self._count = sum(1 for _ in self._list_lines())
        if self._count == 0:
            self.close()
            what = {"folder": "folder", "zip": "zip file", "list": "file list"}[self.kind]
            extra = f" ({self.skipped} files with other endings ignored)" if self.skipped else ""
            raise DataError(f"No images in {what} {self.path}{extra}; expected files ending in "
                            f"{', '.join(sorted(IMAGE_EXTENSIONS))} or another format Pillow reads.")

    # -- listing ---------------------------------------------------------------------------
    def _is_image(self, name: str) -> bool:
        ending = os.path.splitext(name)[1].lower()
        if self.suffixes is not None:
            return ending in self.suffixes
        return ending in IMAGE_EXTENSIONS or (bool(ending) and ending in image_suffixes())

    def _walk(self) -> Iterator[tuple[str, bool]]:
        for folder, dirs, files in os.walk(self.path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for f in sorted(files):
                if not f.startswith("."):
                    yield os.path.join(folder, f), self._is_image(f)

    def _count_folder(self) -> tuple[int, int]:
        n = skipped = 0
        for _, ok in self._walk():
            n += ok
            skipped += not ok
        return n, skipped

    def _list_lines(self) -> Iterator[str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        yield line
        except UnicodeDecodeError:
            raise DataError(f"{self.path} is neither a folder, a zip file nor a text file listing image paths "
                            f"(it is not UTF-8 text).") from None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Entry]:
        if self.kind == "folder":
            for name, ok in self._walk():
                if ok:
                    yield Entry(name, Path(name).read_bytes)
        elif self.kind == "zip":
            for info in self._members:
                yield Entry(f"{self.path}:{info.filename}", _zip_reader(self._zip, info))
        else:
            base = self.path.parent
            for line in self._list_lines():
                p = Path(line).expanduser()
                p = p if p.is_absolute() else base / p
                yield Entry(str(p), p.read_bytes)

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> str:
        return f"{self.kind} {self.path} ({len(self)} images)"


def _visible(name: str) -> bool:
    return not any(part.startswith(".") for part in name.split("/"))


def _zip_reader(zf, info) -> Callable[[], bytes]:
    return lambda: zf.read(info)


def open_images(path, suffixes: frozenset[str] | None = None) -> ImageSource:
    """The images of a folder, zip or file list; a one-line error when there are none."""
    return ImageSource(path, suffixes)


# ----------------------------------------------------------------------------- decoding
@dataclass
class ConversionStats:
    """How many images needed a conversion to the model's input: size, colour."""

    image_size: int
    channels: int
    n_read: int = 0
    resized: int = 0
    grey_to_rgb: int = 0
    rgb_to_grey: int = 0
    sizes: dict = field(default_factory=dict)     # native (w, h) -> count, the first few sizes only

    def add(self, size: tuple[int, int], grey: bool) -> None:
        self.n_read += 1
        if size != (self.image_size, self.image_size):
            self.resized += 1
            if len(self.sizes) < 3 or size in self.sizes:
                self.sizes[size] = self.sizes.get(size, 0) + 1
        if grey and self.channels == 3:
            self.grey_to_rgb += 1
        elif not grey and self.channels == 1:
            self.rgb_to_grey += 1

    def warnings(self, what: str) -> list[str]:
        """One line per kind of conversion, naming how many of ``what`` needed it."""
        out = []
        side = f"{self.image_size}x{self.image_size}"
        if self.resized:
            sizes = ", ".join(f"{w}x{h}" for (w, h) in list(self.sizes)[:3])
            out.append(f"{self.resized} of {self.n_read} {what} are not {side} (e.g. {sizes}); resized (stretched) "
                       f"to {side} as the model was trained.")
        if self.grey_to_rgb:
            out.append(f"{self.grey_to_rgb} of {self.n_read} {what} are grey, but the model was trained on RGB "
                       f"images; their grey channel is copied to R, G and B.")
        if self.rgb_to_grey:
            out.append(f"{self.rgb_to_grey} of {self.n_read} {what} are in colour, but the model was trained on grey "
                       f"images; converted to grey (luma).")
        return out


def decode_for_model(data: bytes, image_size: int, channels: int) -> tuple[np.ndarray, tuple[int, int], bool]:
    """(pixels (H, W) or (H, W, 3) uint8, native (w, h), native is grey) of one file's bytes.

    Decoded by :func:`corel.data._images.decode_image`, as the training loaders decode. Raises
    ValueError with a short reason when the bytes are not a readable image.
    """
    if not data:
        raise ValueError("empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # DecompressionBombWarning, palette transparency notes
        try:
            with Image.open(io.BytesIO(data)) as img:      # the header only: native size and mode
                native, grey = img.size, img.mode in _GREY_MODES
        except _DECODE_ERRORS as e:
            raise ValueError(_reason(e)) from None
        try:
            return decode_image(data, "<file>", image_size, channels), native, grey
        except DataError as e:
            raise ValueError(_reason_of_message(str(e))) from None


def _reason_of_message(message: str) -> str:
    """decode_image's 'Cannot decode image <file>: Type: msg. The file is ...' as a short reason."""
    m = re.match(r"Cannot decode image <file>: (\w+): (.*?)\. The file is", message)
    if not m:
        return f"corrupt image ({message})"
    kind, msg = m.groups()
    if "truncated" in msg:
        return f"truncated or corrupt image ({msg})"
    return f"corrupt image ({kind}: {msg})" if msg else f"corrupt image ({kind})"


def _reason(e: BaseException) -> str:
    name = type(e).__name__
    msg = str(e).split("\n")[0]
    if name == "UnidentifiedImageError":
        return "not an image Pillow can read (unknown or corrupt format)"
    if "truncated" in msg:
        return f"truncated or corrupt image ({msg})"
    return f"corrupt image ({name}: {msg})" if msg else f"corrupt image ({name})"


@dataclass
class ImageBatch:
    """A batch of files in source order: ``names[i]`` is readable iff ``reasons[i]`` is None;
    ``images`` holds the readable ones in order, uint8 (b, C, H, W); ``entries`` can re-read them."""

    names: list[str]
    reasons: list[str | None]
    images: torch.Tensor
    entries: list[Entry]

    @property
    def ok(self) -> list[int]:
        """Positions (in ``names``) of the readable files, in the order of ``images``."""
        return [i for i, r in enumerate(self.reasons) if r is None]


def read_batches(source, batch_size: int, image_size: int, channels: int,
                 stats: ConversionStats | None = None) -> Iterator[ImageBatch]:
    """Decode ``source`` (an :class:`ImageSource` or any iterable of :class:`Entry`) batch by batch."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    names: list[str] = []
    reasons: list[str | None] = []
    arrays: list[np.ndarray] = []
    entries: list[Entry] = []
    for entry in source:
        try:
            data = entry.read()
        except FileNotFoundError:
            reason = "file not found"
        except IsADirectoryError:
            reason = "a folder, not an image file"
        except (OSError, zipfile.BadZipFile, EOFError, RuntimeError) as e:
            reason = f"cannot read ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        else:
            try:
                arr, native, grey = decode_for_model(data, image_size, channels)
                reason = None
            except ValueError as e:
                reason = str(e)
            del data
        names.append(entry.name)
        reasons.append(reason)
        entries.append(entry)
        if reason is None:
            if stats is not None:
                stats.add(native, grey)
            arrays.append(arr if arr.ndim == 3 else arr[:, :, None])
        if len(names) == batch_size:
            yield _batch(names, reasons, arrays, entries, image_size, channels)
            names, reasons, arrays, entries = [], [], [], []
    if names:
        yield _batch(names, reasons, arrays, entries, image_size, channels)


def _batch(names, reasons, arrays, entries, image_size, channels) -> ImageBatch:
    if arrays:
        images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    else:
        images = torch.zeros((0, channels, image_size, image_size), dtype=torch.uint8)
    return ImageBatch(names, reasons, images, entries)


def thumbnail_png(data: bytes, max_side: int = 128) -> bytes:
    """A PNG of the image in ``data`` shrunk to fit ``max_side`` (small images kept as they are)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = Image.fromarray(decode_image(data, "<file>", None, None))   # grey or RGB, alpha dropped
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


# ----------------------------------------------------------------------------- whole sets in memory
def read_all(path, image_size: int = 32, channels: int = 3) -> tuple[torch.Tensor, list[str], list[tuple[str, str]]]:
    """Every readable image at ``path`` as uint8 (N, channels, image_size, image_size), their names, and
    (name, reason) of each unreadable file. A one-line error when none can be read."""
    images, names, failed = [], [], []
    with open_images(path) as source:
        for batch in read_batches(source, 512, image_size, channels):
            images.append(batch.images)
            names += [batch.names[i] for i in batch.ok]
            failed += [(n, r) for n, r in zip(batch.names, batch.reasons) if r is not None]
    if not names:
        raise DataError(f"No readable image in {path} ({len(failed)} unreadable: first {failed[0][0]}: {failed[0][1]})."
                        if failed else f"No images in {path}.")
    return torch.cat(images), names, failed


def load_images(path, image_size: int = 32, channels: int = 3) -> torch.Tensor:
    """The images at ``path`` (a folder, nested too, a zip, or a text file listing paths) as float32
    (N, channels, image_size, image_size) in [0, 1]: what corel's encoders and ``CorelDetector`` take.

    Converted as the models were trained (RGB or grey, alpha dropped, resized with antialiased
    bilinear filtering), in sorted path order. Unreadable files are left out with one warning.

    Examples
    --------
    >>> x = load_images("my_inliers/", image_size=32)          # doctest: +SKIP
    >>> CorelDetector(encoder="cifar10-contrastive").fit(x)     # doctest: +SKIP
    """
    images, _, failed = read_all(path, image_size, channels)
    if failed:
        warnings.warn(f"{len(failed)} of {len(failed) + len(images)} files at {path} could not be read and were left "
                      f"out (first: {failed[0][0]}: {failed[0][1]}).", UserWarning, stacklevel=2)
    return images.float().div_(255.0)
