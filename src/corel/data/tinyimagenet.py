"""TinyImageNet-200 (64x64 images of 200 ImageNet classes), resized to ``image_size``.

Layout of ``tiny-imagenet-200/``::

    wnids.txt                          the 200 class ids, one a line (this is the class order)
    train/<wnid>/images/*.JPEG         500 images per class
    val/images/*.JPEG                  10,000 images
    val/val_annotations.txt            filename <TAB> wnid <TAB> x0 <TAB> y0 <TAB> x1 <TAB> y1

The official test split has no labels, so split "test" is the val split, as in the paper.
"""
from __future__ import annotations

from pathlib import Path

from ._images import (check_channels, check_image_size, check_split, decode_all, default_data_root,
                      is_image_name, make_imageset)
from .base import DataError, ImageSet

__all__ = ["load_tinyimagenet"]

_SPLITS = {"train": "train", "val": "val", "test": "val"}
N_CLASSES, N_VAL_PER_CLASS = 200, 50    # the official archive: 200 classes, val_0 .. val_9999


def load_tinyimagenet(split: str = "train", root=None, image_size: int | None = 32, *,
                      channels: int | None = None, num_workers: int = 0) -> ImageSet:
    """TinyImageNet-200's train split (100,000 images) or val split (10,000; also "test").

    Parameters
    ----------
    split : {"train", "val", "test"}
        "test" reads the val split (the official test split has no labels).
    root : path, optional
        The ``tiny-imagenet-200`` folder or its parent (default: ``$COREL_DATA`` or ``./data``).
    image_size : int or None
        Side of the returned images (native 64), antialiased bilinear resize.
    channels : {None, 1, 3}
        None gives RGB (a few images are grayscale JPEGs; they are converted).
    num_workers : int
        Decoding threads.

    Examples
    --------
    >>> ds = load_tinyimagenet("test", root="data")  # doctest: +SKIP
    >>> ds.images.shape, len(ds.classes)  # doctest: +SKIP
    (torch.Size([10000, 3, 32, 32]), 200)
    """
    check_split(split, tuple(_SPLITS), "tinyimagenet")
    image_size, channels = check_image_size(image_size), check_channels(channels)
    folder = _find_root(root)
    wnids = _read_wnids(folder / "wnids.txt")
    _check_no_extra_classes(folder, wnids)
    if _SPLITS[split] == "train":
        paths, labels = _train_files(folder / "train", wnids)
    else:
        paths, labels = _val_files(folder / "val", wnids)
    items = [(str(p), p.read_bytes) for p in paths]
    images = decode_all(items, image_size, 3 if channels is None else channels, num_workers)
    return make_imageset(images, labels, wnids, "tinyimagenet", folder, image_size, channels)


def _find_root(root) -> Path:
    root = default_data_root() if root is None else Path(root)
    candidates = [root, root / "tiny-imagenet-200"]
    for c in candidates:
        if (c / "wnids.txt").is_file():
            return c
    raise FileNotFoundError(f"TinyImageNet not found: no wnids.txt in "
                            f"{' or '.join(str(c) for c in candidates)}. Pass --data-root (root= in Python): "
                            f"the 'tiny-imagenet-200' folder or its parent (the default root is $COREL_DATA, "
                            f"else ./data).")


def _read_wnids(path: Path) -> list[str]:
    wnids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not wnids:
        raise DataError(f"{path} lists no class ids.")
    if len(set(wnids)) != len(wnids):
        raise DataError(f"{path} lists some class ids more than once.")
    return wnids


def _check_no_extra_classes(folder: Path, wnids: list[str]) -> None:
    """A copy with more than TinyImageNet's 200 classes is refused, naming the extra ones: results on it
    would not be TinyImageNet's. The extras are the classes of val images numbered beyond the official
    val_0 .. val_9999 (else the ids listed after the 200th)."""
    if len(wnids) <= N_CLASSES:
        return
    extra: list[str] = []
    ann = folder / "val" / "val_annotations.txt"
    if ann.is_file():
        for line in ann.read_text().splitlines():
            fields = line.split("\t")
            stem = fields[0].strip().split(".")[0]
            if len(fields) > 1 and stem.startswith("val_") and stem[4:].isdigit() \
                    and int(stem[4:]) >= N_CLASSES * N_VAL_PER_CLASS and fields[1].strip() not in extra:
                extra.append(fields[1].strip())
    extra = extra or wnids[N_CLASSES:]
    raise DataError(f"{folder / 'wnids.txt'} lists {len(wnids)} classes; TinyImageNet-200 has {N_CLASSES}. Extra "
                    f"class(es) {extra} are not TinyImageNet's: make the canonical layout with "
                    f"python scripts/tinyimagenet_canonical.py {folder} NEW_FOLDER.")


def _train_files(train: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    if not train.is_dir():
        raise FileNotFoundError(f"TinyImageNet train folder {train} does not exist.")
    paths, labels = [], []
    for k, wnid in enumerate(wnids):
        folder = train / wnid / "images"
        if not folder.is_dir():
            raise FileNotFoundError(f"Missing {folder}: {wnid} is listed in wnids.txt but has no "
                                    f"train images folder.")
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_name(p.name))
        if not files:
            raise DataError(f"{folder} holds no images.")
        paths += files
        labels += [k] * len(files)
    return paths, labels


def _val_files(val: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    ann = val / "val_annotations.txt"
    if not ann.is_file():
        raise FileNotFoundError(f"TinyImageNet val annotations {ann} do not exist.")
    index = {w: k for k, w in enumerate(wnids)}
    paths, labels = [], []
    for n, line in enumerate(ann.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{ann} line {n} is not '<filename>\\t<wnid>\\t...': {line!r}.")
        fname, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            raise DataError(f"{ann} line {n}: class id {wnid!r} is not in wnids.txt.")
        path = val / "images" / fname
        if not path.is_file():
            raise FileNotFoundError(f"{ann} line {n} names {path}, which does not exist.")
        paths.append(path)
        labels.append(index[wnid])
    if not paths:
        raise DataError(f"{ann} lists no images.")
    order = sorted(range(len(paths)), key=lambda i: (labels[i], paths[i].name))
    return [paths[i] for i in order], [labels[i] for i in order]
