"""The plain autoencoder baseline: COREL's count scorer on the codes of an autoencoder trained
without the connectivity loss (lambda = 0), as in the ablation of Hofer et al., ICML 2019.

There is nothing new to fit: it *is* :class:`corel.detect.CorelDetector` on a lambda = 0
checkpoint (:func:`plain_autoencoder_detector`). Its latent scale is arbitrary, so the paper's
radius 2 has no meaning there; :func:`hindsight_radius` therefore also reports the best radius
of a grid **chosen on the test set** (an oracle, optimistic by construction: labelled so in
every table it reaches), to show that no radius rescues the plain autoencoder.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .._validation import check_n_branches
from ..detect import CorelDetector
from ..evaluate import evaluate_one_class

__all__ = ["plain_autoencoder_detector", "radius_grid", "hindsight_radius", "HindsightRadius",
           "DEFAULT_QUANTILES", "HINDSIGHT_LABEL"]

# Quantiles of the per-branch l1 distances between training codes that make the default grid:
# from "a handful of neighbours" to "half the set" whatever the latent scale.
DEFAULT_QUANTILES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
HINDSIGHT_LABEL = "radius chosen on the test set (oracle, optimistic)"


def plain_autoencoder_detector(checkpoint, radius: float = 2.0, contamination: float = 0.1,
                               batch_size: int = 1000, device=None) -> CorelDetector:
    """A :class:`CorelDetector` on the encoder of a lambda = 0 checkpoint (unfitted).

    Warns when the checkpoint was trained with lambda != 0 (then it is COREL, not the baseline).

    Examples
    --------
    >>> det = plain_autoencoder_detector("runs/lam0/model.pt")      # doctest: +SKIP
    >>> det.fit(x_inliers).score_samples(x_test)                     # doctest: +SKIP
    """
    from ..training import load_checkpoint, load_model
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


@dataclass(frozen=True)
class HindsightRadius:
    """AUROC x 100 per (radius, class), and the radius that maximises the mean over classes.

    ``best_radius`` was chosen with the test labels: an oracle (see ``label``).
    """

    radii: np.ndarray            # (R,)
    class_names: tuple           # (C,)
    auroc: np.ndarray            # (R, C) mean over draws
    label: str = HINDSIGHT_LABEL

    @property
    def mean_per_radius(self) -> np.ndarray:
        return self.auroc.mean(1)

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.mean_per_radius))

    @property
    def best_radius(self) -> float:
        return float(self.radii[self.best_index])

    @property
    def best_mean(self) -> float:
        return float(self.mean_per_radius[self.best_index])

    @property
    def best_per_class(self) -> np.ndarray:
        return self.auroc[self.best_index]


def hindsight_radius(train_codes, train_labels, test_codes, test_labels, radii=None, n: int = 120,
                     draws: int = 5, n_branches: int = 16, seed: int = 0, class_names=None) -> HindsightRadius:
    """Run the one-class protocol at every radius; pick the best mean AUROC with the test labels.

    Parameters
    ----------
    train_codes, train_labels, test_codes, test_labels, n, draws, n_branches, seed, class_names
        As :func:`corel.evaluate.evaluate_one_class` (the same draws at every radius).
    radii : sequence of float, optional
        Default :func:`radius_grid` of the training codes, plus the paper's 2.0.

    Returns
    -------
    HindsightRadius
    """
    if radii is None:
        radii = np.unique(np.append(radius_grid(train_codes, n_branches, seed=seed), 2.0))
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim != 1 or len(radii) == 0:
        raise ValueError(f"'radii' must be a non-empty 1-D sequence of floats > 0; got {radii!r}.")
    rows, names = [], None
    for r in radii:
        res = evaluate_one_class(train_codes, train_labels, test_codes, test_labels, n=n, draws=draws,
                                 radius=float(r), n_branches=n_branches, seed=seed, class_names=class_names)
        rows.append(res.per_class_mean)
        names = res.class_names
    return HindsightRadius(radii=radii, class_names=names, auroc=np.stack(rows))
