"""Any folder (nested too), zip or file list of images, without labels: what a user trains on.

No class folders are needed: every image gets label 0 of the one class ``"unlabelled"``. Files
that cannot be read are left out with one warning naming the first (they never stop a training).
"""
from __future__ import annotations

import warnings

from ._images import check_channels, check_image_size, check_split, default_data_root
from .base import ImageSet

__all__ = ["load_unlabelled"]


def load_unlabelled(split: str = "train", root=None, image_size: int | None = 32, *,
                    channels: int | None = None) -> ImageSet:
    """Every readable image at ``root`` (folder, zip or list), resized to ``image_size``, label 0.

    The folder is one pool of training images: ``split`` must be "train" (the images have no classes,
    so there is no split to score one vs rest).
    """
    from .imagefiles import read_all
    check_split(split, ("train",), "images")
    image_size = check_image_size(image_size) or 32
    channels = check_channels(channels) or 3
    root = default_data_root() if root is None else root
    images, names, failed = read_all(root, image_size, channels)
    if failed:
        warnings.warn(f"{len(failed)} of {len(failed) + len(names)} files at {root} could not be read and were left "
                      f"out (first: {failed[0][0]}: {failed[0][1]}).", UserWarning, stacklevel=2)
    return ImageSet(images, [0] * len(names), ["unlabelled"], name="images", source=str(root))
