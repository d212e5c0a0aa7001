"""The project's shared copy of CIFAR-10 as JPEG class folders (``train.zip``, ``test.zip``).

Decoding the 60,000 small JPEGs takes seconds (PIL, one thread); the decoded uint8 arrays are
kept in the disk cache (``corel.data.cache``) so later loads only read one ``.npz``.
The JPEGs are lossy (quality 75, about 30 dB PSNR against the original pixels): results on them
are close to, not equal to, results on the original CIFAR-10.
"""
from __future__ import annotations

import os
from pathlib import Path

from ._images import check_split
from .base import ImageSet
from .cifar import CIFAR10_CLASSES
from .folder import load_imagefolder

__all__ = ["default_cifar10_jpeg_root", "load_cifar10_jpeg"]


def default_cifar10_jpeg_root() -> Path:
    """``$COREL_CIFAR10_JPEG``, else ``../shared/data/cifar10-jpeg`` from the working directory,
    else the same path next to this source checkout."""
    env = os.environ.get("COREL_CIFAR10_JPEG")
    if env:
        return Path(env)
    rel = Path("..") / "shared" / "data" / "cifar10-jpeg"
    if rel.is_dir():
        return rel
    beside_checkout = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "cifar10-jpeg"
    return beside_checkout if beside_checkout.is_dir() else rel


def load_cifar10_jpeg(split: str = "train", root=None, image_size: int | None = 32, *,
                      channels: int | None = None, cache=True, num_workers: int = 0) -> ImageSet:
    """CIFAR-10 from ``<root>/<split>.zip`` (entries ``<split>/<class>/NNNN.jpg``).

    Parameters
    ----------
    split : {"train", "test"}
    root : path, optional
        The folder with train.zip and test.zip (default: ``default_cifar10_jpeg_root()``).
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
    folder = default_cifar10_jpeg_root() if root is None else Path(root)
    path = folder / f"{split}.zip"
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 JPEG zip {path} does not exist. Pass root= the folder "
                                f"with train.zip and test.zip, or set COREL_CIFAR10_JPEG.")
    return load_imagefolder(split, path, image_size, channels=channels, classes=CIFAR10_CLASSES,
                            cache=cache, num_workers=num_workers, name="cifar10-jpeg")
