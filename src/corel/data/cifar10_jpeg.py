"""The project's shared copy of CIFAR-10 as JPEG class folders (``train.zip``, ``test.zip``).

Decoding the 60,000 small JPEGs takes seconds (PIL, one thread); the decoded uint8 arrays are
kept in the disk cache (``corel.data.cache``) so later loads only read one ``.npz``.
The JPEGs are lossy (quality 75, about 30 dB PSNR against the original pixels): results on them
are close to, not equal to, results on the original CIFAR-10.

Where the zips are looked for without ``--data-root`` (``root=`` in Python), first match wins:

1. ``$COREL_CIFAR10_JPEG``: the folder holding ``train.zip`` and ``test.zip`` itself;
2. ``$COREL_DATA/cifar10-jpeg``: ``COREL_DATA`` is a folder with one sub-folder per data set
   (``$COREL_DATA/cifar10-jpeg/train.zip``, ``$COREL_DATA/cifar10-jpeg/test.zip``), as the
   other loaders' default root;
3. without either variable, relative to the working directory: ``./data/cifar10-jpeg``, then
   ``../shared/data/cifar10-jpeg`` (the project's shared copy beside a checkout run from its
   root).

A variable that is set is used alone (a wrong one is an error, not a silent fall-back); the
source tree's location is never consulted.
"""
from __future__ import annotations

import os
from pathlib import Path

from ._images import check_split
from .base import ImageSet
from .cifar import CIFAR10_CLASSES
from .folder import load_imagefolder

__all__ = ["default_cifar10_jpeg_root", "cifar10_jpeg_candidates", "load_cifar10_jpeg"]

_NAME = "cifar10-jpeg"


def _default_sources() -> list[tuple[Path, str]]:
    """(folder, where it comes from) looked in, in order, when no root is given."""
    env = os.environ.get("COREL_CIFAR10_JPEG")
    if env:
        return [(Path(env), "$COREL_CIFAR10_JPEG")]
    data = os.environ.get("COREL_DATA")
    if data:
        return [(Path(data) / _NAME, "$COREL_DATA/cifar10-jpeg")]
    return [(Path("data") / _NAME, "./data/cifar10-jpeg"),
            (Path("..") / "shared" / "data" / _NAME, "../shared/data/cifar10-jpeg")]


def cifar10_jpeg_candidates() -> list[Path]:
    """The folders looked in, in order, when no root is given (see the module docstring)."""
    return [folder for folder, _ in _default_sources()]


def default_cifar10_jpeg_root() -> Path:
    """The first of :func:`cifar10_jpeg_candidates` that is a folder, else the first of them."""
    candidates = cifar10_jpeg_candidates()
    return next((c for c in candidates if c.is_dir()), candidates[0])


def load_cifar10_jpeg(split: str = "train", root=None, image_size: int | None = 32, *,
                      channels: int | None = None, cache=True, num_workers: int = 0) -> ImageSet:
    """CIFAR-10 from ``<root>/<split>.zip`` (entries ``<split>/<class>/NNNN.jpg``).

    Parameters
    ----------
    split : {"train", "test"}
    root : path, optional
        The folder with train.zip and test.zip (default: the first of ``$COREL_CIFAR10_JPEG``,
        ``$COREL_DATA/cifar10-jpeg``, ``./data/cifar10-jpeg``, ``../shared/data/cifar10-jpeg``
        that holds the split's zip; see the module docstring).
    image_size : int or None
        Side of the returned images (native 32).
    channels : {None, 1, 3}
    cache : bool or path
        Cache the decoded set on disk (True: ``$COREL_CACHE`` or ``~/.cache/corel``).
    num_workers : int
        Decoding threads (0: decode in this thread; threads do not speed up 32x32 JPEGs).

    Labels follow CIFAR-10's order: airplane, automobile, bird, cat, deer, dog, frog, horse,
    ship, truck.

    Examples
    --------
    >>> ds = load_cifar10_jpeg("test")  # doctest: +SKIP
    >>> ds.images.shape, ds.class_counts().tolist()  # doctest: +SKIP
    (torch.Size([10000, 3, 32, 32]), [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000])
    """
    check_split(split, ("train", "test"), "cifar10-jpeg")
    name = f"{split}.zip"
    if root is not None:
        path, looked = Path(root) / name, ""
    else:
        sources = _default_sources()
        path = next((d / name for d, _ in sources if (d / name).is_file()), sources[0][0] / name)
        looked = " (no --data-root given; looked in " + ", ".join(
            f"{label} = {d}" if label.startswith("$") else f"{label} from {Path.cwd()}"
            for d, label in sources) + ")"
    if not path.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 JPEG zip {path} does not exist{looked}. Pass --data-root (root= in Python): the folder "
            f"with train.zip and test.zip; or set COREL_DATA to a folder holding cifar10-jpeg/train.zip and "
            f"cifar10-jpeg/test.zip.")
    return load_imagefolder(split, path, image_size, channels=channels, classes=CIFAR10_CLASSES,
                            cache=cache, num_workers=num_workers, name="cifar10-jpeg")
