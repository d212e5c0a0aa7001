"""Class-folder image sets, in a folder or inside a zip file.

Layouts (``root`` a folder or a ``.zip`` with the same tree inside)::

    root/<split>/<class>/.../*.png|jpg|jpeg|bmp|...   split layout
    root/<class>/.../*.png|jpg|jpeg|bmp|...           flat layout: no split folders at all

The label is the class folder's name. Classes are sorted by name, and in the split layout they
are the union over all split folders, so that a label means the same class in every split even
where a split lacks a class. A loader may impose its own class order (``classes=``).
"""
from __future__ import annotations

import hashlib
import warnings
import zipfile
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from ._images import (check_channels, check_image_size, decode_all, default_data_root,
                      is_image_name, make_imageset)
from .base import DataError, ImageSet
from .cache import cached

__all__ = ["SPLIT_NAMES", "load_imagefolder", "load_zip", "scan_folder"]

# Folder names taken for splits: one of these under root means "split layout".
SPLIT_NAMES = ("train", "val", "valid", "validation", "test")

Item = tuple[str, Callable[[], bytes]]  # (where, read)


def load_imagefolder(split: str = "train", root=None, image_size: int | None = 32, *,
                     channels: int | None = None, classes: Sequence[str] | None = None,
                     cache=False, num_workers: int = 0, name: str = "imagefolder") -> ImageSet:
    """Images from class folders under ``root`` (a folder or a zip), labelled by folder name.

    Parameters
    ----------
    split : str
        The split folder to read (``root/<split>/``). When root has no split folder at all
        (flat layout), the whole of root is returned whatever the split, with a warning for
        splits other than "train".
    root : path
        A folder or a ``.zip`` file (default: ``$COREL_DATA`` or ``./data``).
    image_size : int or None
        Images are resized (stretched) to image_size x image_size; None keeps the native size,
        which must then be the same for every image.
    channels : {None, 1, 3}
        None: RGB, or grayscale if every image is grayscale. Alpha is always dropped.
    classes : sequence of str, optional
        The class order (label k = classes[k]); every class folder must be listed.
        Default: the folder names, sorted.
    cache : bool or path
        Keep the decoded set in the disk cache (zip roots only; see ``corel.data.cache``).
    num_workers : int
        Decoding threads; 0 decodes in the calling thread (fastest for small images).

    Examples
    --------
    >>> ds = load_imagefolder("train", root="data/pets.zip", image_size=32)  # doctest: +SKIP
    >>> ds.classes  # doctest: +SKIP
    ['cat', 'dog']
    """
    image_size, channels = check_image_size(image_size), check_channels(channels)
    root = default_data_root() if root is None else Path(root)
    if root.is_file():
        def build():
            return load_zip(root, split, image_size, channels, classes, num_workers, name)
        order = "sorted" if classes is None else hashlib.sha1("\n".join(classes).encode()).hexdigest()[:8]
        tag = f"{name}-{split}-{image_size or 'native'}-{channels or 'auto'}-{order}"
        return cached(root, tag, build, cache)
    if cache:
        raise ValueError(f"cache=True needs root to be a zip file (its size and modification "
                         f"time key the cache); {root} is a folder. Pass cache=False.")
    items, labels, names = scan_folder(root, split, classes)
    images = decode_all(items, image_size, channels, num_workers)
    return make_imageset(images, labels, names, name, root, image_size, channels)


def scan_folder(root: Path, split: str, classes: Sequence[str] | None = None,
                allow_flat: bool = True) -> tuple[list[Item], list[int], list[str]]:
    """List a class-folder tree: ``(items, labels, classes)``, items sorted by class then path."""
    if not root.exists():
        raise FileNotFoundError(f"Image folder {root} does not exist. Pass --data-root (root= in Python): a "
                                f"folder or .zip of <split>/<class>/<image> files (the default root is "
                                f"$COREL_DATA, else ./data).")
    if not root.is_dir():
        raise DataError(f"{root} is neither a folder nor a zip file.")
    splits = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name in SPLIT_NAMES)
    if (root / split).is_dir():
        base = root / split
        found = {p.name for s in {*splits, split} for p in (root / s).iterdir()
                 if p.is_dir() and not p.name.startswith(".")}
    elif splits or not allow_flat:
        raise FileNotFoundError(f"No folder for split {split!r} in {root}; it has the split "
                                f"folders {splits}.")
    else:
        _warn_flat(root, split)
        base = root
        found = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if any(is_image_name(p.name) for p in base.iterdir() if p.is_file()):
        raise DataError(f"{base} holds image files directly; put each image in a folder named "
                        f"after its class ({base}/<class>/<image>).")
    names = _class_order(found, classes, base)
    items, labels = [], []
    for k, c in enumerate(names):
        folder = base / c
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p.name)
                           and not any(part.startswith(".") for part in p.relative_to(folder).parts)):
            items.append((str(path), path.read_bytes))
            labels.append(k)
    if not items:
        raise DataError(f"No images in {base}: expected {base}/<class>/<image> files ending in "
                        f"png, jpg, jpeg, bmp, ...")
    return items, labels, names


def load_zip(path: Path, split: str, image_size: int | None, channels: int | None,
             classes: Sequence[str] | None, num_workers: int = 0, name: str = "imagefolder") -> ImageSet:
    """Decode a class-folder tree stored in a zip file (see ``load_imagefolder``)."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise DataError(f"{path} is not a readable zip file ({e}).") from None
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir() and is_image_name(i.filename)
                   and not i.filename.startswith("__MACOSX/")
                   and not any(part.startswith(".") for part in i.filename.split("/"))]
        parts = [i.filename.split("/") for i in members]
        if len({p[0] for p in parts}) == 1 and any(len(p) >= 4 and p[1] in SPLIT_NAMES for p in parts):
            parts = [p[1:] for p in parts]  # one wrapper folder around the tree (zip -r x.zip x/)
        tops = {p[0] for p in parts if len(p) >= 3}
        splits = sorted(t for t in tops if t in SPLIT_NAMES)
        if split in tops:
            chosen = [(i, p[1:]) for i, p in zip(members, parts) if p[0] == split and len(p) >= 3]
            found = {p[1] for p in parts if len(p) >= 3 and p[0] in {*splits, split}}
        elif splits:
            raise FileNotFoundError(f"No folder for split {split!r} in zip {path}; it has the split "
                                    f"folders {splits}.")
        else:
            _warn_flat(path, split)
            chosen = [(i, p) for i, p in zip(members, parts) if len(p) >= 2]
            found = {p[0] for _, p in chosen}
            if any(len(p) == 1 for p in parts):
                raise DataError(f"Zip {path} holds image files at its top level; put each image in "
                                f"a folder named after its class (<class>/<image>).")
        if not chosen:
            raise DataError(f"No images in zip {path} (split {split!r}): expected entries "
                            f"[<split>/]<class>/<image> ending in png, jpg, jpeg, bmp, ...")
        names = _class_order(found, classes, path)
        index = {c: k for k, c in enumerate(names)}
        chosen.sort(key=lambda e: (index[e[1][0]], e[0].filename))
        items = [(f"{path}:{i.filename}", partial(zf.read, i)) for i, _ in chosen]
        labels = [index[p[0]] for _, p in chosen]
        images = decode_all(items, image_size, channels, num_workers)
    return make_imageset(images, labels, names, name, path, image_size, channels)


def _class_order(found: set[str], classes: Sequence[str] | None, where) -> list[str]:
    if classes is None:
        return sorted(found)
    names = [str(c) for c in classes]
    extra = sorted(found - set(names))
    if extra:
        raise DataError(f"{where} has class folders {extra} that are not among the given "
                        f"classes {names}.")
    return names


def _warn_flat(root, split: str) -> None:
    if split != "train":
        warnings.warn(f"{root} has no split folders ({', '.join(SPLIT_NAMES)}); loading all of it "
                      f"as split {split!r}. Train and test sets from it are the same images.",
                      stacklevel=4)
