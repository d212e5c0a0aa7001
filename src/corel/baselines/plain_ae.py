"""The plain autoencoder baseline: COREL's count scorer on the codes of an autoencoder trained
without the connectivity loss (lambda = 0), as in the ablation of Hofer et al., ICML 2019.

There is nothing new to fit: it *is* :class:`corel.scoring.detector.CorelDetector` on a lambda = 0
checkpoint (:func:`plain_autoencoder_detector`). Its latent scale is arbitrary, so the paper's
radius 2 has no meaning there; :func:`corel.protocols.oneclass.hindsight_radius` therefore also reports the best radius
of a grid **chosen on the test set** (an oracle, optimistic by construction: labelled so in
every table it reaches), to show that no radius rescues the plain autoencoder.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .._validation import check_n_branches
from ..scoring.detector import CorelDetector

__all__ = ["plain_autoencoder_detector", "radius_grid", "DEFAULT_QUANTILES"]

# Quantiles of the per-branch l1 distances between training codes that make the default grid:
# from "a handful of neighbours" to "half the set" whatever the latent scale.
DEFAULT_QUANTILES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def plain_autoencoder_detector(checkpoint, radius: float = 2.0, contamination: float = 0.1,
                               batch_size: int = 1000, device=None) -> CorelDetector:
    """A :class:`CorelDetector` on the encoder of a lambda = 0 checkpoint (unfitted).

    Warns when the checkpoint was trained with lambda != 0 (then it is COREL, not the baseline).

    Examples
    --------
    >>> det = plain_autoencoder_detector("runs/lam0/model.pt")      # doctest: +SKIP
    >>> det.fit(x_inliers).score_samples(x_test)                     # doctest: +SKIP
    """
    from ..training.engine import load_checkpoint, load_model
    ck = load_checkpoint(checkpoint)
    lam = float(ck.get("config", {}).get("lam", float("nan")))
    if lam != 0.0:
        warnings.warn(f"Checkpoint {checkpoint} was trained with lambda={lam:g}; the plain-autoencoder "
                      f"baseline needs lambda=0 (train one with `corel train --lam 0`).", stacklevel=2)
    model = load_model(checkpoint)
    return CorelDetector(encoder=model, n_branches=int(ck["model_args"]["n_branches"]), radius=radius, scorer="count",
                         contamination=contamination, batch_size=batch_size, device=device)


def radius_grid(train_codes, n_branches: int, quantiles=DEFAULT_QUANTILES, n_pairs: int = 20000,
                seed: int = 0) -> np.ndarray:
    """Radii at ``quantiles`` of the per-branch l1 distances of random pairs of training codes.

    Uses training codes only; the grid adapts to the code scale (which is arbitrary for a plain
    autoencoder). Returns the sorted unique positive radii, float64.

    Examples
    --------
    >>> codes = np.arange(20.0).reshape(10, 2)
    >>> radius_grid(codes, n_branches=2, quantiles=(0.5,)).tolist()
    [6.0]
    """
    z = torch.as_tensor(np.asarray(train_codes, dtype=np.float64))
    if z.dim() != 2 or len(z) < 2:
        raise ValueError(f"radius_grid needs (n >= 2, latent_dim) codes; got shape {tuple(z.shape)}.")
    check_n_branches(n_branches, z.shape[1], "radius_grid")
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(z), size=n_pairs)
    j = rng.integers(0, len(z), size=n_pairs)
    keep = i != j
    d = (z[i[keep]] - z[j[keep]]).abs().view(int(keep.sum()), n_branches, -1).sum(-1).flatten()   # (pairs * B,)
    radii = np.unique(np.quantile(d.numpy(), quantiles))
    radii = radii[radii > 0]
    if len(radii) == 0:
        raise ValueError("All training codes coincide; no positive radius can be derived from them.")
    return radii
