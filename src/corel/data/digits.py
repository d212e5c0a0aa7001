"""scikit-learn's 8x8 handwritten digits (1,797 images, ships with sklearn: no download).

Values 0..16 are scaled to 0..255, the images upsampled to ``image_size`` (bilinear). The split
is a fixed stratified 70/30 split (seed 0): "train" (1,257 images) and "test" (540) are disjoint
and the same on every machine.
"""
from __future__ import annotations

import numpy as np
import torch

from ._images import check_channels, check_image_size, check_split, make_imageset
from .base import ImageSet

__all__ = ["load_digits"]

_TEST_FRACTION = 0.3  # 540 test images: 54 per class
_SEED = 0


def load_digits(split: str = "train", root=None, image_size: int | None = 32, *,
                channels: int | None = None) -> ImageSet:
    """The sklearn digits as a one-channel image set.

    Parameters
    ----------
    split : {"train", "test"}
    root : None
        Not used (the data ship with scikit-learn); anything else raises.
    image_size : int or None
        Side of the returned images; None keeps 8.
    channels : {None, 1, 3}

    Examples
    --------
    >>> ds = load_digits("test")
    >>> ds.images.shape, ds.classes[:3]
    (torch.Size([540, 1, 32, 32]), ['0', '1', '2'])
    """
    check_split(split, ("train", "test"), "digits")
    image_size, channels = check_image_size(image_size), check_channels(channels)
    if root is not None:
        raise ValueError(f"The 'digits' data ship with scikit-learn and take no root; got root={root!r}.")
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8)
    idx_train, idx_test = train_test_split(np.arange(len(x)), test_size=_TEST_FRACTION,
                                           stratify=bunch.target, random_state=_SEED)
    idx = np.sort(idx_train if split == "train" else idx_test)
    images = torch.from_numpy(x[idx]).unsqueeze(1)  # (n, 1, 8, 8)
    classes = [str(d) for d in range(10)]
    return make_imageset(images, bunch.target[idx].astype(np.int64), classes, "digits",
                         "sklearn.datasets.load_digits", image_size, channels)
