"""Batched image augmentations for training: one tensor call per batch, no per-image Python loop.

Images are float tensors (B, C, H, W) in [0, 1]. Every function takes a ``torch.Generator`` so
that a run's augmentations depend only on its seed and step, which keeps resumed runs equal to
uninterrupted ones.

* ``crop``: pad by 4 pixels (reflection) and cut a random H x W window (the CIFAR classic).
* ``rcrop``: random resized crop, area 20-100 %, aspect 3/4-4/3, resized back (SimCLR's crop).
* ``flip``: horizontal flip with probability 1/2.
* ``jitter``: with probability 0.8, brightness, contrast and saturation x U(0.6, 1.4) and a hue
  rotation of up to +-0.1 turn (in YIQ space), in a random order of the first three.
* ``gray``: grey scale with probability 0.2.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .config import AUGMENTATIONS

__all__ = ["augment", "AUGMENTATIONS"]

# ITU-R BT.601 luma weights and the RGB <-> YIQ matrices used for the hue rotation.
_LUMA = (0.299, 0.587, 0.114)
_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ2RGB = torch.linalg.inv(_RGB2YIQ)


def augment(x: torch.Tensor, names, generator: torch.Generator) -> torch.Tensor:
    """Apply the named augmentations to a batch, in the canonical order crop, flip, jitter, gray."""
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"Unknown augmentation(s) {unknown}; choose among {list(AUGMENTATIONS)}.")
    if "crop" in names:
        x = pad_crop(x, 4, generator)
    if "rcrop" in names:
        # The flip folds into the crop's sampling grid (a negative x-scale): the same pixels
        # as flipping the crop, one pass fewer (tested).
        x = resized_crop(x, (0.2, 1.0), generator, flip="flip" in names)
    elif "flip" in names:
        x = hflip(x, generator)
    if "jitter" in names and x.shape[1] == 3:
        x = colour_jitter(x, generator)
    elif "jitter" in names:
        x = brightness_contrast(x, generator)
    if "gray" in names and x.shape[1] == 3:
        x = random_gray(x, 0.2, generator)
    return x


def _uniform(n: int, lo: float, hi: float, generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device) * (hi - lo) + lo


def pad_crop(x: torch.Tensor, pad: int, generator) -> torch.Tensor:
    """Reflect-pad by ``pad`` and cut a random window of the original size from each image."""
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=generator).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]       # (B,1,H,1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]       # (B,1,1,W)
    bi = torch.arange(b, device=x.device)[:, None, None, None]
    ci = torch.arange(c, device=x.device)[None, :, None, None]
    return xp[bi, ci, rows, cols]


def resized_crop(x: torch.Tensor, area: tuple[float, float], generator, flip: bool = False) -> torch.Tensor:
    """Random resized crops through one batched affine grid sample (bilinear); with ``flip``,
    each crop is then mirrored with probability 1/2 (the draws of :func:`hflip`, after the crop's)."""
    b = x.shape[0]
    s = _uniform(b, *area, generator, x.device)
    log_r = _uniform(b, math.log(3 / 4), math.log(4 / 3), generator, x.device)
    r = log_r.exp()
    sw = (s * r).sqrt().clamp(max=1.0)            # crop width / image width
    sh = (s / r).sqrt().clamp(max=1.0)
    tx = (_uniform(b, -1, 1, generator, x.device)) * (1 - sw)
    ty = (_uniform(b, -1, 1, generator, x.device)) * (1 - sh)
    if flip:
        sw = torch.where(_flip_draws(b, generator, x.device), -sw, sw)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = sw, tx
    theta[:, 1, 1], theta[:, 1, 2] = sh, ty
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _flip_draws(b: int, generator, device) -> torch.Tensor:
    return (torch.rand(b, generator=generator) < 0.5).to(device)


def hflip(x: torch.Tensor, generator) -> torch.Tensor:
    flip = _flip_draws(x.shape[0], generator, x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def _on_subset(x: torch.Tensor, pick: torch.Tensor, fn) -> torch.Tensor:
    """``x`` with ``fn`` applied to the images where ``pick`` (B,) is True, computed on those only."""
    idx = pick.nonzero().squeeze(-1)
    if idx.numel() == x.shape[0]:
        return fn(x, idx)
    return x.index_copy(0, idx, fn(x.index_select(0, idx), idx))


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype)
    return (x * w[None, :, None, None]).sum(1, keepdim=True)


def brightness_contrast(x: torch.Tensor, generator, strength: float = 0.4) -> torch.Tensor:
    """Brightness and contrast factors for any number of channels."""
    b = x.shape[0]
    bright = _uniform(b, 1 - strength, 1 + strength, generator, x.device)[:, None, None, None]
    contrast = _uniform(b, 1 - strength, 1 + strength, generator, x.device)[:, None, None, None]
    x = (x * bright).clamp(0, 1)
    mean = x.mean((1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean).clamp(0, 1)


def colour_jitter(x: torch.Tensor, generator, strength: float = 0.4, hue: float = 0.1,
                  p: float = 0.8) -> torch.Tensor:
    """SimCLR's colour jitter (brightness, contrast, saturation, hue), applied with probability p."""
    b = x.shape[0]
    apply = (torch.rand(b, generator=generator) < p).to(x.device)
    bright = _uniform(b, 1 - strength, 1 + strength, generator, x.device)[:, None, None, None]
    contrast = _uniform(b, 1 - strength, 1 + strength, generator, x.device)[:, None, None, None]
    sat = _uniform(b, 1 - strength, 1 + strength, generator, x.device)[:, None, None, None]
    angle = _uniform(b, -hue, hue, generator, x.device) * 2 * math.pi
    order = torch.randperm(3, generator=generator).tolist()

    def jitter(y, idx):        # every step is per image: the picked images alone give the same values
        for k in order:
            if k == 0:
                y = (y * bright[idx]).clamp(0, 1)
            elif k == 1:
                mean = _gray(y).mean((1, 2, 3), keepdim=True)
                y = ((y - mean) * contrast[idx] + mean).clamp(0, 1)
            else:
                g = _gray(y)
                y = ((y - g) * sat[idx] + g).clamp(0, 1)
        return _rotate_hue(y, angle[idx])
    return _on_subset(x, apply, jitter)


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma plane (I, Q) of YIQ by ``angle`` radians per image."""
    to_yiq = _RGB2YIQ.to(x.device, x.dtype)
    to_rgb = _YIQ2RGB.to(x.device, x.dtype)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.zeros(x.shape[0], 3, 3, device=x.device, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    m = to_rgb @ rot @ to_yiq                                             # (B, 3, 3)
    return torch.einsum("bij,bjhw->bihw", m, x).clamp(0, 1)


def random_gray(x: torch.Tensor, p: float, generator) -> torch.Tensor:
    pick = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return _on_subset(x, pick, lambda y, idx: _gray(y).expand_as(y))
