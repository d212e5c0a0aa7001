"""One name per data set, and ``load_dataset`` to load any of them by name."""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable

from ._images import check_image_size
from .base import ImageSet
from .cifar import load_cifar10, load_cifar20, load_cifar100
from .cifar10_jpeg import load_cifar10_jpeg
from .digits import load_digits
from .folder import load_imagefolder
from .idx import load_fashion_mnist, load_mnist
from .imagenet import load_imagenet
from .npz import load_npz
from .tinyimagenet import load_tinyimagenet
from .unlabelled import load_unlabelled

__all__ = ["DATASETS", "load_dataset"]

# name -> loader(split, root, image_size, **options) -> ImageSet
DATASETS: dict[str, Callable[..., ImageSet]] = {
    "cifar10": load_cifar10,
    "cifar10-jpeg": load_cifar10_jpeg,
    "cifar100": load_cifar100,
    "cifar20": load_cifar20,
    "digits": load_digits,
    "fashion-mnist": load_fashion_mnist,
    "imagefolder": load_imagefolder,
    "images": load_unlabelled,
    "imagenet": load_imagenet,
    "mnist": load_mnist,
    "npz": load_npz,
    "tinyimagenet": load_tinyimagenet,
}


def load_dataset(name: str, split: str = "train", root=None, image_size: int | None = 32,
                 **options) -> ImageSet:
    """Load the data set registered as ``name`` into memory.

    Parameters
    ----------
    name : str
        One of ``DATASETS`` (case and "_" / "-" do not matter): cifar10, cifar10-jpeg, cifar100,
        cifar20, digits, fashion-mnist, imagefolder, images (any folder, zip or list of images, unlabelled),
        imagenet, mnist, npz, tinyimagenet.
    split : str
        "train" or "test" (for tinyimagenet and imagenet "test" is the val split).
    root : path, optional
        Where the files are; each loader documents what it accepts and its default.
    image_size : int or None
        Side of the returned square images (default 32, the paper's input); None keeps the
        native size.
    **options
        Loader-specific keywords, e.g. ``channels=3`` (all), ``cache=False`` (cifar10-jpeg),
        ``num_workers=8`` (folder formats), ``layout="nhwc"`` (npz).

    Returns
    -------
    ImageSet
        uint8 images (N, C, H, W) in memory, int64 labels (N,), class names.

    Examples
    --------
    >>> ds = load_dataset("digits", "test")
    >>> len(ds), ds.n_channels, ds.image_size
    (540, 1, 32)
    """
    loader = get_loader(name)
    image_size = check_image_size(image_size)
    allowed = [p.name for p in inspect.signature(loader).parameters.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"Unknown option(s) {unknown} for dataset {name!r}; it accepts {allowed}.")
    return loader(split, root, image_size, **options)


def get_loader(name: str) -> Callable[..., ImageSet]:
    """The loader registered as ``name``; a ValueError lists every name when it is unknown."""
    if not isinstance(name, str):
        raise TypeError(f"The dataset name must be a str; got {type(name).__name__}.")
    key = name.strip().lower().replace("_", "-")
    if key not in DATASETS:
        close = difflib.get_close_matches(key, DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown dataset {name!r}. Available: {', '.join(sorted(DATASETS))}.{hint}")
    return DATASETS[key]
