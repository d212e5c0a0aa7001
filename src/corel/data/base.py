"""The in-memory image set every loader returns, and the error type for unreadable data."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["DataError", "ImageSet"]


class DataError(ValueError):
    """A data file or folder exists but cannot be used: corrupt, truncated, inconsistent, empty.

    The message always names the file or folder. A missing path raises ``FileNotFoundError``
    instead, an unknown dataset name or split a plain ``ValueError``.
    """


class ImageSet(Dataset):
    """Images decoded once and kept in memory as uint8, with integer labels and class names.

    Parameters
    ----------
    images : uint8 torch.Tensor or numpy array of shape (N, C, H, W)
        The pixels, 0..255. Kept as uint8 (a quarter of float32's memory); converted to float32
        in [0, 1] per item or per batch (``float_images``).
    labels : integer array-like of shape (N,)
        Class indices in ``[0, len(classes))``. Stored as int64.
    classes : sequence of str
        The class names; ``classes[k]`` names label ``k``.
    name : str
        The dataset's name (for reports), e.g. ``"cifar10"``.
    source : str, optional
        Where the data came from (a path); quoted in error messages.

    Examples
    --------
    >>> import torch
    >>> ds = ImageSet(torch.zeros(4, 3, 32, 32, dtype=torch.uint8), [0, 1, 1, 0], ["a", "b"])
    >>> x, y = ds[1]
    >>> x.shape, x.dtype, y
    (torch.Size([3, 32, 32]), torch.float32, 1)
    """

    def __init__(self, images, labels, classes: Sequence[str], name: str = "", source: str | None = None):
        self.name = str(name)
        self.source = None if source is None else str(source)
        where = f" (source: {self.source})" if self.source else ""
        self.images = _as_uint8_images(images, where)
        self.labels = _as_int64_labels(labels, where)
        self.classes = _as_class_names(classes, where)
        n_img, n_lab = self.images.shape[0], self.labels.shape[0]
        if n_img != n_lab:
            raise ValueError(f"labels has {n_lab} entries but images has {n_img}{where}. "
                             f"Each image needs exactly one label.")
        if n_lab:
            lo, hi = int(self.labels.min()), int(self.labels.max())
            if lo < 0 or hi >= len(self.classes):
                bad = lo if lo < 0 else hi
                raise ValueError(f"Label {bad} is outside [0, {len(self.classes)}) for "
                                 f"{len(self.classes)} classes{where}. Pass one name per class.")

    # --- torch Dataset protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i) -> tuple[torch.Tensor, int]:
        """The i-th image as float32 in [0, 1] of shape (C, H, W), and its label as an int."""
        return self.images[i].float().div_(255.0), int(self.labels[i])

    # --- batched access and derived sets ----------------------------------------------------
    def float_images(self, idx=None) -> torch.Tensor:
        """Images ``idx`` (all when None; an index array, mask or slice) as float32 in [0, 1]."""
        x = self.images if idx is None else self.images[_as_index(idx)]
        return x.float().div_(255.0)  # (n, C, H, W)

    def subset(self, indices) -> "ImageSet":
        """A new set with the images and labels at ``indices`` (ints or a boolean mask), copied."""
        idx = _as_index(indices)
        return ImageSet(self.images[idx], self.labels[idx], self.classes, self.name, self.source)

    def with_labels(self, labels, classes: Sequence[str]) -> "ImageSet":
        """The same images (shared, not copied) under new labels and class names.

        Used for relabelings such as CIFAR-100's 20 superclasses, or one-vs-rest labels.
        """
        return ImageSet(self.images, labels, classes, self.name, self.source)

    def class_counts(self) -> torch.Tensor:
        """Number of images per class, shape (len(classes),), int64."""
        return torch.bincount(self.labels, minlength=len(self.classes))

    @property
    def n_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int | tuple[int, int]:
        """The side length of the (square) images; ``(H, W)`` if they are not square."""
        h, w = int(self.images.shape[2]), int(self.images.shape[3])
        return h if h == w else (h, w)

    def __repr__(self) -> str:
        c, h, w = self.images.shape[1:]
        return (f"ImageSet(name={self.name!r}, n={len(self)}, shape=({c}, {h}, {w}), "
                f"classes={len(self.classes)})")


def _as_uint8_images(images, where: str) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a uint8 torch.Tensor or numpy array of shape (N, C, H, W); "
                        f"got {type(images).__name__}{where}.")
    if images.dtype != torch.uint8:
        raise TypeError(f"images must have dtype uint8 (0..255); got {images.dtype}{where}. "
                        f"Convert floats in [0, 1] with (x * 255).round().to(torch.uint8).")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W); got shape {tuple(images.shape)}{where}.")
    return images.contiguous()


def _as_int64_labels(labels, where: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise TypeError(f"labels must be integers; got dtype {t.dtype}{where}.")
    if t.dim() != 1:
        raise ValueError(f"labels must have shape (N,); got shape {tuple(t.shape)}{where}.")
    return t.to(torch.int64).contiguous()


def _as_class_names(classes, where: str) -> list[str]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence | np.ndarray):
        raise TypeError(f"classes must be a list of class names; got {type(classes).__name__}{where}.")
    names = [str(c) for c in classes]
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise ValueError(f"classes must be unique; {dup} appear more than once{where}.")
    return names


def _as_index(idx):
    if isinstance(idx, slice):
        return idx
    t = torch.as_tensor(np.asarray(idx) if not isinstance(idx, torch.Tensor) else idx)
    if t.dtype != torch.bool:
        t = t.to(torch.int64)
    return t
