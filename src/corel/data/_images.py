"""What the loaders share: argument checks, decoding image files, resizing, channel conversion."""
from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .base import DataError, ImageSet

# File endings read as images by the folder formats (compared lower-case).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff",
                              ".webp", ".gif"})

# Exceptions PIL raises for bytes that are not a readable image (UnidentifiedImageError and
# "image file is truncated" are OSErrors; some plugins raise SyntaxError or struct.error).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  Image.DecompressionBombError)

_RESIZE_CHUNK = 1024  # images resized per torch call: bounds the float32 copy's memory


def check_image_size(image_size) -> int | None:
    if image_size is None:
        return None
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"The 'image_size' parameter must be an int >= 1 (the side of the square "
                         f"images) or None (native size). Got {image_size!r} instead.")
    return int(image_size)


def check_channels(channels) -> int | None:
    if channels is not None and (isinstance(channels, bool) or channels not in (1, 3)):
        raise ValueError(f"The 'channels' parameter must be 1 (grayscale), 3 (RGB) or None (the "
                         f"format's own). Got {channels!r} instead.")
    return channels


def check_split(split, allowed: Sequence[str], dataset: str) -> str:
    if split not in allowed:
        raise ValueError(f"Unknown split {split!r} for dataset {dataset!r}; choose one of {list(allowed)}.")
    return split


def default_data_root() -> Path:
    """Where loaders look when ``root`` is None: ``$COREL_DATA``, else ``./data``."""
    return Path(os.environ.get("COREL_DATA", "data"))


def is_image_name(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and os.path.splitext(base)[1].lower() in IMAGE_EXTENSIONS


# --- decoding files -------------------------------------------------------------------------
def decode_image(data: bytes, where: str, image_size: int | None, channels: int | None) -> np.ndarray:
    """Decode one image file's bytes into a uint8 array, (H, W) for grayscale or (H, W, 3).

    Grayscale modes (1, L, LA, 16-bit) become L, all others (RGBA, P, CMYK, ...) RGB, the
    alpha channel dropped; ``channels`` forces L (1) or RGB (3). Images whose size differs
    from ``image_size`` are resized (stretched) to it with PIL's antialiased bilinear filter.
    JPEGs much larger than the target are first decoded at a reduced scale (PIL's ``draft``),
    never below twice the target, so the final filter still sees every output pixel's area.
    """
    try:
        img = Image.open(io.BytesIO(data))
        if image_size is not None and min(img.size) >= 4 * image_size:
            img.draft(None, (2 * image_size, 2 * image_size))  # JPEG only; a no-op otherwise
        img.load()
        img = _normalise_mode(img, channels)
        if image_size is not None and img.size != (image_size, image_size):
            img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(img)
    except _DECODE_ERRORS as e:
        raise DataError(f"Cannot decode image {where}: {type(e).__name__}: {e}. "
                        f"The file is corrupt, truncated or not an image.") from None


def _normalise_mode(img: Image.Image, channels: int | None) -> Image.Image:
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or arr.max(initial=0) > 255:  # 16-bit range -> 8-bit
            arr = arr / 257.0
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
    elif mode in ("1", "LA", "La"):
        img = img.convert("L")
    elif mode not in ("L", "RGB"):
        img = img.convert("RGB")  # RGBA, RGBX, P, PA, CMYK, YCbCr, ...: alpha dropped
    if channels == 1 and img.mode != "L":
        img = img.convert("L")
    elif channels == 3 and img.mode != "RGB":
        img = img.convert("RGB")
    return img


def decode_all(items: Sequence[tuple[str, Callable[[], bytes]]], image_size: int | None,
               channels: int | None, num_workers: int = 0) -> torch.Tensor:
    """Decode ``(where, read)`` items into one uint8 tensor (N, C, H, W).

    ``read()`` returns a file's bytes; ``where`` names it in errors. ``num_workers > 0`` decodes
    in that many threads (PIL releases the GIL while decoding: this pays off for large JPEGs,
    not for 32x32 ones, where per-file Python overhead dominates).
    """
    def one(item):
        where, read = item
        try:
            data = read()
        except (OSError, zipfile.BadZipFile, EOFError) as e:
            raise DataError(f"Cannot read {where}: {type(e).__name__}: {e}.") from None
        return decode_image(data, where, image_size, channels)

    if num_workers and num_workers > 0:
        with ThreadPoolExecutor(num_workers) as pool:
            arrays = list(pool.map(one, items, chunksize=64))
    else:
        arrays = [one(item) for item in items]
    return stack_images(arrays, [w for w, _ in items])


def stack_images(arrays: Sequence[np.ndarray], wheres: Sequence[str]) -> torch.Tensor:
    """Stack (H, W) / (H, W, 3) uint8 arrays into (N, C, H, W); grayscale ones become RGB if
    any image is RGB. All must have one size (a clear error names the first that differs)."""
    if not arrays:
        raise DataError("No images to stack.")
    h, w = arrays[0].shape[:2]
    for a, where in zip(arrays, wheres):
        if a.shape[:2] != (h, w):
            raise DataError(
                f"Image {where} is {a.shape[1]}x{a.shape[0]} but {wheres[0]} is {w}x{h}. With "
                f"image_size=None all images must share one size; pass image_size=32 to resize them.")
    rgb = any(a.ndim == 3 for a in arrays)
    out = np.empty((len(arrays), h, w, 3 if rgb else 1), dtype=np.uint8)  # (N, H, W, C)
    for i, a in enumerate(arrays):
        out[i] = a if a.ndim == 3 else a[:, :, None]
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)


# --- array-level resizing and channel conversion ----------------------------------------------
def resize_images(images: torch.Tensor, image_size: int | None) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) to (N, C, image_size, image_size), bilinear with antialiasing
    (the same filter as PIL's BILINEAR). None or an equal size returns ``images`` itself."""
    n, c, h, w = images.shape
    if image_size is None or (h, w) == (image_size, image_size):
        return images
    out = torch.empty((n, c, image_size, image_size), dtype=torch.uint8)
    for s in range(0, n, _RESIZE_CHUNK):
        x = images[s:s + _RESIZE_CHUNK].float()
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                          antialias=True)
        out[s:s + _RESIZE_CHUNK] = x.round_().clamp_(0, 255).to(torch.uint8)
    return out


def convert_channels(images: torch.Tensor, channels: int | None) -> torch.Tensor:
    """uint8 (N, C, H, W) with C in {1, 3} to ``channels`` (None keeps C). RGB -> gray uses
    PIL's integer luma (ITU-R 601-2), so it matches ``Image.convert("L")`` exactly."""
    c = images.shape[1]
    if channels is None or channels == c:
        return images
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and c == 3:
        x = images.to(torch.int32)
        luma = (x[:, 0] * 19595 + x[:, 1] * 38470 + x[:, 2] * 7471 + 0x8000) >> 16
        return luma.to(torch.uint8).unsqueeze(1)
    raise ValueError(f"Cannot convert {c}-channel images to {channels} channels.")


def make_imageset(images: torch.Tensor, labels, classes: Sequence[str], name: str, source,
                  image_size: int | None, channels: int | None) -> ImageSet:
    """Resize and convert channels (whichever order touches fewer values), then wrap."""
    if channels is not None and channels < images.shape[1]:
        images = resize_images(convert_channels(images, channels), image_size)
    else:
        images = convert_channels(resize_images(images, image_size), channels)
    return ImageSet(images, labels, classes, name=name, source=str(source))
