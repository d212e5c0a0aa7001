"""Test-time views of images, and the named sets of them that ``--tta`` scores with.

A view is the same picture seen slightly differently: ``identity``, ``hflip`` (mirrored
left-right), ``shift(dx,dy)`` (the content moved dx pixels right and dy down, the uncovered
border filled by reflection, as the training crops pad), or a composition such as
``hflip+shift(2,2)`` (applied left to right). Test-time augmentation is label-free: every drawn
inlier joins in all views and a query's score is the sum of its views' scores
(:func:`corel.protocols.oneclass.evaluate_one_class`).

``TTA_MODES`` names the sets a user chooses from (``off``, ``flips``, ``flips-shifts``); which
one pays was measured on the validation protocol (``results/cifar10-beyond``).
"""
from __future__ import annotations

import re

__all__ = ["TTA_MODES", "apply_view", "check_view", "tta_views"]

TTA_MODES = {
    "off": ("identity",),
    "flips": ("identity", "hflip"),
    "flips-shifts": ("identity", "hflip", "shift(2,2)", "hflip+shift(2,2)", "shift(-2,-2)", "hflip+shift(-2,-2)"),
}
_SHIFT = re.compile(r"^shift\((-?\d+),(-?\d+)\)$")
_CHUNK = 10_000   # images converted to float at once (bounds the memory of a whole split)


def tta_views(mode) -> tuple[str, ...]:
    """The views of a ``--tta`` mode; ``True`` / ``False`` mean ``flips`` / ``off`` (the old switch)."""
    if mode is True or mode is False or mode is None:
        mode = "flips" if mode else "off"
    if mode not in TTA_MODES:
        raise ValueError(f"Unknown test-time augmentation {mode!r}; choose one of {list(TTA_MODES)}.")
    return TTA_MODES[mode]


def check_view(view: str) -> list[tuple[str, int, int]]:
    """The steps of a view name, or a ValueError naming the accepted forms."""
    steps = []
    for part in str(view).split("+"):
        m = _SHIFT.match(part.strip())
        if part.strip() in ("identity", "hflip"):
            steps.append((part.strip(), 0, 0))
        elif m:
            steps.append(("shift", int(m.group(1)), int(m.group(2))))
        else:
            raise ValueError(f"Unknown view {view!r}; a view is identity, hflip, shift(dx,dy) or a '+'-joined "
                             f"composition such as hflip+shift(2,2).")
    return steps


def apply_view(images, view: str):
    """``images`` (N, C, H, W), uint8 or float, seen in ``view``; the same dtype comes back."""
    import torch   # here, so that the command line's parser imports this module without torch

    steps = check_view(view)
    if all(kind == "identity" for kind, _, _ in steps):
        return images
    return torch.cat([_apply_steps(images[a:a + _CHUNK], steps) for a in range(0, len(images), _CHUNK)]) \
        if len(images) else images


def _apply_steps(x, steps):
    for kind, dx, dy in steps:
        if kind == "hflip":
            x = x.flip(-1)
        elif kind == "shift":
            x = _shift(x, dx, dy)
    return x


def _shift(x, dx: int, dy: int):
    import torch.nn.functional as F
    h, w = x.shape[-2:]
    if abs(dx) >= w or abs(dy) >= h:
        raise ValueError(f"shift({dx},{dy}) is larger than the {h} x {w} images.")
    pad = max(abs(dx), abs(dy))
    if pad == 0:
        return x
    # reflection padding works on floats; uint8 values survive the round trip exactly
    xp = F.pad(x.float(), (pad, pad, pad, pad), mode="reflect").to(x.dtype)
    return xp[..., pad - dy:pad - dy + h, pad - dx:pad - dx + w]
