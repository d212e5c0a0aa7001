"""CIFAR-10, CIFAR-100 and CIFAR-20 from the official python-pickle folders.

``cifar-10-batches-py/``: data_batch_1..5, test_batch, batches.meta.
``cifar-100-python/``: train, test, meta (fine_labels / coarse_labels).
Each batch is a pickled dict with bytes keys: b'data' a (N, 3072) uint8 array (the 1024 red,
then green, then blue values of each 32x32 image, rows top to bottom), b'labels' (or
b'fine_labels' and b'coarse_labels') a list of N ints.

The pickles are read with an unpickler that only builds numpy arrays, so a tampered file
cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ._images import check_channels, check_image_size, check_split, default_data_root, make_imageset
from .base import DataError, ImageSet

__all__ = ["CIFAR10_CLASSES", "load_cifar10", "load_cifar100", "load_cifar20"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")

_SPLITS = ("train", "test")


def load_cifar10(split: str = "train", root=None, image_size: int | None = 32, *,
                 channels: int | None = None) -> ImageSet:
    """CIFAR-10 (50,000 train / 10,000 test images, 10 classes) from ``cifar-10-batches-py``.

    Parameters
    ----------
    split : {"train", "test"}
    root : path, optional
        The ``cifar-10-batches-py`` folder or its parent (default: ``$COREL_DATA`` or ``./data``).
    image_size : int or None
        Side of the returned images (native 32); None keeps 32.
    channels : {None, 1, 3}
        None keeps RGB.

    Examples
    --------
    >>> ds = load_cifar10("test", root="data")  # doctest: +SKIP
    >>> ds.images.shape  # doctest: +SKIP
    torch.Size([10000, 3, 32, 32])
    """
    check_split(split, _SPLITS, "cifar10")
    image_size, channels = check_image_size(image_size), check_channels(channels)
    folder = _find_folder(root, "cifar-10-batches-py", "batches.meta", "CIFAR-10")
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    parts = [_read_batch(folder / f, "labels") for f in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = np.concatenate([p[1] for p in parts])
    classes = _names(folder / "batches.meta", "label_names")
    return make_imageset(images, labels, classes, "cifar10", folder, image_size, channels)


def load_cifar100(split: str = "train", root=None, image_size: int | None = 32, *,
                  channels: int | None = None) -> ImageSet:
    """CIFAR-100 with its 100 fine labels, from ``cifar-100-python`` (or its parent)."""
    return _load_cifar100(split, root, image_size, channels, coarse=False)


def load_cifar20(split: str = "train", root=None, image_size: int | None = 32, *,
                 channels: int | None = None) -> ImageSet:
    """CIFAR-100's images under their 20 coarse superclass labels ("CIFAR-20").

    Class names come from the meta file's ``coarse_label_names``.
    """
    return _load_cifar100(split, root, image_size, channels, coarse=True)


def _load_cifar100(split, root, image_size, channels, coarse: bool) -> ImageSet:
    name = "cifar20" if coarse else "cifar100"
    check_split(split, _SPLITS, name)
    image_size, channels = check_image_size(image_size), check_channels(channels)
    folder = _find_folder(root, "cifar-100-python", "meta", "CIFAR-100")
    kind = "coarse" if coarse else "fine"
    images, labels = _read_batch(folder / split, f"{kind}_labels")
    classes = _names(folder / "meta", f"{kind}_label_names")
    return make_imageset(torch.from_numpy(images), labels, classes, name, folder, image_size, channels)


# --- files ------------------------------------------------------------------------------------
def _find_folder(root, folder_name: str, marker: str, title: str) -> Path:
    root = default_data_root() if root is None else Path(root)
    candidates = [root, root / folder_name]
    for c in candidates:
        if (c / marker).is_file():
            return c
    raise FileNotFoundError(
        f"{title} not found: no '{marker}' in {' or '.join(str(c) for c in candidates)}. Pass --data-root "
        f"(root= in Python): the '{folder_name}' folder from the official python tarball, or its parent "
        f"(the default root is $COREL_DATA, else ./data).")


def _read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images (N, 3, 32, 32) uint8 and labels (N,) int64, checked."""
    d = _load_pickle(path)
    data = np.asarray(_get(d, "data", path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"'data' in {path} must be a uint8 array of shape (N, 3072); "
                        f"got {data.dtype} of shape {data.shape}.")
    try:
        labels = np.asarray(_get(d, label_key, path), dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise DataError(f"'{label_key}' in {path} is not a list of integers: {e}.") from None
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise DataError(f"{path} holds {data.shape[0]} images but {labels.size} '{label_key}'; "
                        f"the file is corrupt or was written incompletely.")
    return data.reshape(-1, 3, 32, 32), labels


def _names(path: Path, key: str) -> list[str]:
    names = _get(_load_pickle(path), key, path)
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def _get(d, key: str, path: Path):
    if not isinstance(d, dict):
        raise DataError(f"{path} does not hold a dict (got {type(d).__name__}); not a CIFAR batch file.")
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    found = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in d)
    raise DataError(f"{path} has no '{key}' entry; it has {found}. Is this the right CIFAR version?")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays; refuses every other global."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
                ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module == "numpy.core.multiarray":  # the official files' (Python 2) module path
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def _load_pickle(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"Missing CIFAR file {path}; the folder is incomplete.")
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError,
            ImportError, KeyError, MemoryError) as e:
        raise DataError(f"Cannot unpickle {path}: {type(e).__name__}: {e}. The file is truncated "
                        f"or corrupt; re-extract it from the official tarball.") from None
