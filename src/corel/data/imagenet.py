"""ImageNet (ILSVRC-2012) in class-folder layout, resized to ``image_size`` (the paper: 32).

Layout: ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG``; the val images must
already be sorted into class folders (e.g. with the widely used ``valprep.sh``). Classes are
the wnids, sorted (the usual label order, as torchvision's ImageFolder).
"""
from __future__ import annotations

from pathlib import Path

from ._images import (check_channels, check_image_size, check_split, decode_all, default_data_root,
                      make_imageset)
from .base import ImageSet
from .folder import scan_folder

__all__ = ["load_imagenet"]

_SPLITS = {"train": "train", "val": "val", "test": "val"}


def load_imagenet(split: str = "train", root=None, image_size: int | None = 32, *,
                  channels: int | None = None, num_workers: int = 0) -> ImageSet:
    """ImageNet's train split, or its val split (also "test"), decoded into memory.

    Parameters
    ----------
    split : {"train", "val", "test"}
        "test" reads val (the test labels are not public), as the paper does.
    root : path, optional
        The folder holding ``train/`` and ``val/`` (default: ``$COREL_DATA/imagenet`` or
        ``./data/imagenet``).
    image_size : int or None
        Side of the returned images. Large JPEGs are decoded at a reduced scale first
        (never below 2 x image_size), then resized with an antialiased bilinear filter.
    channels : {None, 1, 3}
        None gives RGB (grayscale and CMYK JPEGs are converted).
    num_workers : int
        Decoding threads; worth it here (full-size JPEGs), e.g. the number of cores.

    Examples
    --------
    >>> ds = load_imagenet("test", root="data/imagenet", num_workers=8)  # doctest: +SKIP
    >>> ds.images.shape  # doctest: +SKIP
    torch.Size([50000, 3, 32, 32])
    """
    check_split(split, tuple(_SPLITS), "imagenet")
    image_size, channels = check_image_size(image_size), check_channels(channels)
    root = default_data_root() / "imagenet" if root is None else Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ImageNet folder {root} does not exist. Pass --data-root (root= in Python): "
                                f"the folder holding train/<wnid>/ and val/<wnid>/ (the default is "
                                f"$COREL_DATA/imagenet, else ./data/imagenet).")
    items, labels, wnids = scan_folder(root, _SPLITS[split], allow_flat=False)
    images = decode_all(items, image_size, 3 if channels is None else channels, num_workers)
    return make_imageset(images, labels, wnids, "imagenet", root, image_size, channels)
