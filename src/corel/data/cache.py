"""A disk cache of decoded image sets, so a zip of JPEGs is decoded once per machine.

A cache file is an uncompressed ``.npz`` (images, labels, classes) named by what it holds
(dataset, split, size, channels), a hash of the source's resolved path, and the source's size
and modification time: a changed source gets a new file and the stale one is removed. Files are
written to a temporary name and moved into place with ``os.replace``, so readers never see a
partial file, even with several processes loading at once.
"""
from __future__ import annotations

import hashlib
import logging
import os
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_file
from .base import ImageSet

__all__ = ["cache_dir", "cached"]

_log = logging.getLogger(__name__)
_FORMAT = 1  # bump when the decoding changes, to invalidate old cache files


def cache_dir(cache=True) -> Path:
    """The folder for cache files: ``cache`` itself if a path, else ``$COREL_CACHE``, else
    ``~/.cache/corel``."""
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache)
    env = os.environ.get("COREL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "corel"


def cached(source: Path, tag: str, build: Callable[[], ImageSet], cache=True) -> ImageSet:
    """``build()``'s set, from the cache when an entry for ``source`` (a file) and ``tag`` exists.

    ``cache`` is True (default folder), False (always build, write nothing) or a folder path.
    An unreadable cache file is rebuilt with a warning; an unwritable cache folder only warns.
    """
    if cache is False or cache is None:
        return build()
    source = Path(source)
    st = source.stat()
    path_key = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
    stem = f"{tag}-{path_key}"
    folder = cache_dir(cache)
    target = folder / f"{stem}-{st.st_size}-{st.st_mtime_ns}-v{_FORMAT}.npz"
    if target.is_file():
        try:
            return _read(target, source)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
            warnings.warn(f"Ignoring unreadable cache file {target} ({type(e).__name__}: {e}); "
                          f"decoding {source} again.", stacklevel=3)
    ds = build()
    try:
        _write(target, ds)
        for old in folder.glob(f"{stem}-*.npz"):
            if old != target:
                old.unlink(missing_ok=True)
    except OSError as e:
        warnings.warn(f"Could not write the cache file {target} ({e}); set COREL_CACHE to a "
                      f"writable folder to avoid decoding {source} every time.", stacklevel=3)
    return ds


def _read(target: Path, source: Path) -> ImageSet:
    with np.load(target, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
        classes = [str(c) for c in z["classes"]]
        name = str(z["name"])
    _log.debug("loaded %s from cache %s", source, target)
    return ImageSet(torch.from_numpy(images), torch.from_numpy(labels), classes, name, str(source))


def _write(target: Path, ds: ImageSet) -> None:
    with atomic_file(target) as f:
        np.savez(f, images=ds.images.numpy(), labels=ds.labels.numpy(),
                 classes=np.array(ds.classes, dtype=str), name=np.array(ds.name))
