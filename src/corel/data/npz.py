"""Image sets stored as numpy ``.npz`` files.

Arrays: ``x`` the images, (N, H, W, C), (N, C, H, W) or (N, H, W), uint8 (0..255) or float
in [0, 1]; ``y`` the labels, (N,) integers; optionally ``classes``, the class names (strings).
A file may hold several splits as ``x_<split>``, ``y_<split>``; or ``root`` may be a folder of
``<split>.npz`` files.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from ._images import check_channels, check_image_size, default_data_root, make_imageset
from .base import DataError, ImageSet

__all__ = ["load_npz"]

_LAYOUTS = ("auto", "nhwc", "nchw")


def load_npz(split: str = "train", root=None, image_size: int | None = 32, *,
             channels: int | None = None, layout: str = "auto") -> ImageSet:
    """Images and labels from a ``.npz`` file.

    Parameters
    ----------
    split : str
        Reads ``x_<split>``/``y_<split>`` when the file has them, else ``x``/``y`` (the file is
        then the split). With a folder as root, reads ``<root>/<split>.npz``.
    root : path
        A ``.npz`` file or a folder of them (default: ``$COREL_DATA`` or ``./data``).
    image_size : int or None
        Side of the returned images (antialiased bilinear resize); None keeps H x W.
    channels : {None, 1, 3}
        None keeps the stored channels (a 4th, alpha, channel is dropped).
    layout : {"auto", "nhwc", "nchw"}
        Where the channel axis of 4-d ``x`` is; "auto" takes the axis of size 1, 3 or 4
        (last or second) and asks for ``layout`` when both would fit.

    Examples
    --------
    >>> import numpy as np
    >>> np.savez("toy.npz", x=np.zeros((5, 28, 28, 3), np.uint8), y=np.arange(5) % 2)  # doctest: +SKIP
    >>> load_npz(root="toy.npz").images.shape  # doctest: +SKIP
    torch.Size([5, 3, 32, 32])
    """
    image_size, channels = check_image_size(image_size), check_channels(channels)
    if layout not in _LAYOUTS:
        raise ValueError(f"The 'layout' parameter must be one of {list(_LAYOUTS)}. Got {layout!r} instead.")
    root = default_data_root() if root is None else Path(root)
    path = root / f"{split}.npz" if root.is_dir() else root
    if not path.is_file():
        raise FileNotFoundError(f"npz file {path} does not exist. Pass --data-root (root= in Python): an .npz "
                                f"file, or a folder of <split>.npz files (the default root is $COREL_DATA, "
                                f"else ./data).")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            xk, yk = (f"x_{split}", f"y_{split}") if f"x_{split}" in keys else ("x", "y")
            missing = [k for k in (xk, yk) if k not in keys]
            if missing:
                raise DataError(f"{path} has no array {missing[0]!r}; it has {sorted(keys)}. "
                                f"Store the images as 'x' and the labels as 'y'.")
            x, y = z[xk], z[yk]
            classes = [str(c) for c in z["classes"]] if "classes" in keys else None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"Cannot read {path} as an npz file: {type(e).__name__}: {e}.") from None
    except ValueError as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"Cannot read {path}: {e} (object arrays are not loaded; store strings "
                        f"as a unicode array).") from None
    images = _to_uint8_nchw(x, path, xk, layout)
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer)):
        raise DataError(f"'{yk}' in {path} must be a 1-d integer array; got {y.dtype} of shape {y.shape}.")
    if y.shape[0] != images.shape[0]:
        raise DataError(f"{path} holds {images.shape[0]} images ('{xk}') but {y.shape[0]} labels "
                        f"('{yk}').")
    if classes is None:
        classes = [str(k) for k in range(int(y.max(initial=-1)) + 1)]
    return make_imageset(images, y.astype(np.int64), classes, "npz", path, image_size, channels)


def _to_uint8_nchw(x: np.ndarray, path: Path, key: str, layout: str) -> torch.Tensor:
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W)
    elif x.ndim == 4:
        if layout == "auto":
            last, second = x.shape[3] in (1, 3, 4), x.shape[1] in (1, 3, 4)
            if last == second:
                raise DataError(f"Cannot tell the channel axis of '{key}' in {path} (shape "
                                f"{x.shape}); pass layout='nhwc' or layout='nchw'.")
            layout = "nhwc" if last else "nchw"
        if layout == "nhwc":
            x = x.transpose(0, 3, 1, 2)
        if x.shape[1] == 4:
            x = x[:, :3]  # drop alpha
        elif x.shape[1] == 2:
            x = x[:, :1]  # gray + alpha
        if x.shape[1] not in (1, 3):
            raise DataError(f"'{key}' in {path} has {x.shape[1]} channels (shape {x.shape}); "
                            f"expected 1, 3 or 4.")
    else:
        raise DataError(f"'{key}' in {path} must have shape (N, H, W, C), (N, C, H, W) or (N, H, W); "
                        f"got {x.shape}.")
    if x.dtype == np.uint8:
        out = x
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min(initial=0) < 0 or x.max(initial=0) > 1:
            raise DataError(f"Float images '{key}' in {path} must lie in [0, 1]; got values in "
                            f"[{np.nanmin(x)}, {np.nanmax(x)}] (or non-finite ones).")
        out = np.rint(x * 255.0).astype(np.uint8)
    elif np.issubdtype(x.dtype, np.integer) and x.size and (x.min() < 0 or x.max() > 255):
        raise DataError(f"Integer images '{key}' in {path} must lie in 0..255; got "
                        f"[{x.min()}, {x.max()}].")
    elif np.issubdtype(x.dtype, np.integer):
        out = x.astype(np.uint8)
    else:
        raise DataError(f"'{key}' in {path} has dtype {x.dtype}; store uint8 (0..255) or floats in [0, 1].")
    return torch.from_numpy(np.ascontiguousarray(out))
