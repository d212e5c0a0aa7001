"""MNIST and Fashion-MNIST from their IDX files, gzipped or not.

An IDX file: two zero bytes, a type byte (0x08 = unsigned byte, ...), the number of dimensions
d, then d big-endian uint32 sizes, then the values, big-endian. Images are ``idx3`` (N, 28, 28),
labels ``idx1`` (N,). Both datasets use the same file names:
``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each possibly ending in ``.gz``.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ._images import check_channels, check_image_size, check_split, default_data_root, make_imageset
from .base import DataError, ImageSet

__all__ = ["FASHION_MNIST_CLASSES", "MNIST_CLASSES", "load_fashion_mnist", "load_mnist", "read_idx"]

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")

# IDX type byte -> numpy dtype (big-endian).
_IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}

_PREFIX = {"train": "train", "test": "t10k"}


def load_mnist(split: str = "train", root=None, image_size: int | None = 32, *,
               channels: int | None = None) -> ImageSet:
    """MNIST (60,000 train / 10,000 test 28x28 digits), one channel, resized to ``image_size``.

    Parameters
    ----------
    split : {"train", "test"}
    root : path, optional
        The folder with the IDX files; also found in its ``raw/``, ``MNIST/raw/`` or ``mnist/``
        subfolder (torchvision's layout). Default: ``$COREL_DATA`` or ``./data``.
    image_size : int or None
        Side of the returned images (bilinear resize); None keeps 28.
    channels : {None, 1, 3}
        None keeps one channel; 3 repeats it.

    Examples
    --------
    >>> ds = load_mnist("test", root="data/mnist")  # doctest: +SKIP
    >>> ds.images.shape  # doctest: +SKIP
    torch.Size([10000, 1, 32, 32])
    """
    return _load_idx_dataset("mnist", split, root, image_size, channels, MNIST_CLASSES,
                             ("MNIST/raw", "mnist", "mnist/raw"))


def load_fashion_mnist(split: str = "train", root=None, image_size: int | None = 32, *,
                       channels: int | None = None) -> ImageSet:
    """Fashion-MNIST (same layout and file names as MNIST; 10 clothing classes)."""
    return _load_idx_dataset("fashion-mnist", split, root, image_size, channels,
                             FASHION_MNIST_CLASSES, ("FashionMNIST/raw", "fashion-mnist",
                                                     "fashion-mnist/raw", "fashion_mnist"))


def _load_idx_dataset(name, split, root, image_size, channels, classes, subfolders) -> ImageSet:
    check_split(split, tuple(_PREFIX), name)
    image_size, channels = check_image_size(image_size), check_channels(channels)
    root = default_data_root() if root is None else Path(root)
    prefix = _PREFIX[split]
    img_path = _find_idx(root, subfolders, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"])
    lab_path = _find_idx(root, subfolders, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"])
    images = read_idx(img_path, ndim=3)
    labels = read_idx(lab_path, ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise DataError(f"{name} IDX files must hold unsigned bytes (type 0x08); {img_path} has "
                        f"{images.dtype}, {lab_path} has {labels.dtype}.")
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{img_path} holds {images.shape[0]} images but {lab_path} holds "
                        f"{labels.shape[0]} labels; the files belong to different splits or are damaged.")
    images = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)  # (N, 1, 28, 28)
    return make_imageset(images, labels.astype(np.int64), classes, name, img_path.parent,
                         image_size, channels)


def _find_idx(root: Path, subfolders, names) -> Path:
    folders = [root] + [root / s for s in subfolders] + [root / "raw"]
    for folder in folders:
        for n in names:
            for candidate in (folder / n, folder / f"{n}.gz"):
                if candidate.is_file():
                    return candidate
    raise FileNotFoundError(f"No {names[0]}[.gz] found in {', '.join(str(f) for f in folders)}. "
                            f"Pass --data-root (root= in Python): the folder that holds the IDX files "
                            f"(the default root is $COREL_DATA, else ./data).")


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped when it starts with the gzip magic) into a numpy array.

    ``ndim`` (3 for images, 1 for labels) is checked against the file's magic number.
    Raises ``DataError`` naming the file for a wrong magic number or a wrong data length.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {path} does not exist.")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"Cannot decompress {path}: {type(e).__name__}: {e}. The gzip file is "
                            f"truncated or corrupt; download it again.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file: its magic number is {raw[:4].hex() or 'empty'}, "
                        f"expected 0000 then a type byte (08 = unsigned byte) and the number of "
                        f"dimensions, e.g. 00000803 for images.")
    dtype, dims = _IDX_TYPES[raw[2]], raw[3]
    if ndim is not None and dims != ndim:
        raise DataError(f"{path} has magic number {raw[:4].hex()} ({dims} dimensions) but an "
                        f"IDX file of {ndim} dimensions (magic 000008{ndim:02x}) was expected. "
                        f"Are the images and labels files swapped?")
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header ({len(raw)} bytes, need {header}).")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path} declares shape {shape} ({expected} data bytes) but holds "
                        f"{len(raw) - header} data bytes; the file is truncated or corrupt.")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
