"""Image data sets for COREL: one loader per format, one registry by name.

>>> from corel.data import load_dataset
>>> ds = load_dataset("digits", "train")          # an ImageSet: uint8 images in memory
>>> x, y = ds[0]                                  # float32 (1, 32, 32) in [0, 1], int label

Every loader returns an :class:`ImageSet` (uint8 images (N, C, H, W), int64 labels, class
names). Formats: CIFAR-10/100/20 pickles (``cifar``), class folders and zips (``folder``), the
shared CIFAR-10 JPEG zips (``cifar10_jpeg``, cached on disk), MNIST IDX files (``idx``),
TinyImageNet (``tinyimagenet``), ImageNet folders (``imagenet``), ``.npz`` (``npz``) and
scikit-learn's digits (``digits``).
"""
from .base import DataError, ImageSet
from .cifar import CIFAR10_CLASSES, load_cifar10, load_cifar20, load_cifar100
from .cifar10_jpeg import load_cifar10_jpeg
from .digits import load_digits
from .folder import load_imagefolder
from .idx import load_fashion_mnist, load_mnist, read_idx
from .imagenet import load_imagenet
from .npz import load_npz
from .registry import DATASETS, get_loader, load_dataset
from .split import class_subset, holdout_split
from .tinyimagenet import load_tinyimagenet

__all__ = ["CIFAR10_CLASSES", "DATASETS", "DataError", "ImageSet", "get_loader", "load_cifar10",
           "load_cifar100", "load_cifar10_jpeg", "load_cifar20", "load_dataset", "load_digits",
           "class_subset", "holdout_split", "load_fashion_mnist", "load_imagefolder", "load_imagenet", "load_mnist", "load_npz",
           "load_tinyimagenet", "read_idx"]
