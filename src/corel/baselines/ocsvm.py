"""One-class SVM (Schölkopf et al. 2001) with a Gaussian kernel, on raw pixels or on codes.

Hyper-parameters are chosen on the training inliers only, never on test data:

* ``gamma="max-distance"`` (default): ``gamma = 1 / max_ij ||x_i - x_j||^2`` over the
  (preprocessed) training set, the rule of Ruff et al.'s code (``baseline_ocsvm.py`` without
  ``--GridSearchCV``) for the variant that does not peek; their published OC-SVM numbers instead
  chose gamma in {2^-10, ..., 2^-1} on 10 % of the *test* set, and Golan & El-Yaniv's
  RAW-OC-SVM chose (nu, gamma) by the test AUROC, so both are optimistic.
* ``gamma="scale"``: scikit-learn's ``1 / (n_features * X.var())``; or a float.
* ``nu = 0.1`` by default (Ruff et al.'s grid was {0.01, 0.1}).

Preprocessing (``preprocess``, see :mod:`corel.baselines.preprocess`): the default ``"auto"``
is ``"gcn-pca"`` for images given as (N, C, H, W) - GCN (l1), min-max to [0, 1] by the
training extremes, PCA to 95 % of the training variance, as Ruff et al.'s code - and
``"standardize"`` for 2-D feature vectors; ``"none"`` keeps latent codes as they are.
"""
from __future__ import annotations

import numpy as np
import torch

from .._validation import check_choice, check_float
from .base import ShallowDetector
from .preprocess import PREPROCESS_CHOICES

__all__ = ["OCSVMDetector", "max_distance_gamma"]



class OCSVMDetector(ShallowDetector):
    """scikit-learn's ``OneClassSVM`` (RBF) with a training-only rule for gamma.

    Parameters
    ----------
    nu : float in (0, 1], default=0.1
        Upper bound on the share of training outliers / lower bound on support vectors.
    gamma : "max-distance", "scale" or float > 0, default="max-distance"
        See the module docstring.
    preprocess : {"auto", "gcn-pca", "standardize", "none"}, default="auto"
        "auto": "gcn-pca" for images (N, C, H, W) (flattened to pixels), "standardize" for
        2-D feature vectors. "none" for codes whose scale matters. "gcn-pca" on 2-D input warns.
    pca_variance : float in (0, 1], default=0.95
        Share of the training variance PCA keeps (with "gcn-pca").
    contamination : float in (0, 0.5], default=0.1
        Sets ``offset_`` / ``threshold_`` only.
    random_state : int, default=0

    Attributes
    ----------
    svm_ : sklearn.svm.OneClassSVM
    gamma_ : float
        The gamma used.
    preprocess_ : str
        The preprocessing used ("auto" resolved).
    preprocessor_ : PixelPreprocessor, Standardizer or None

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> det = OCSVMDetector().fit(rng.normal(size=(200, 3)))
    >>> det.predict(np.array([[0.0, 0.0, 0.0], [9.0, 9.0, 9.0]]))
    array([ 1, -1])
    """

    def __init__(self, nu: float = 0.1, gamma="max-distance", preprocess: str = "auto",
                 pca_variance: float = 0.95, contamination: float = 0.1, random_state: int = 0):
        self.nu = nu
        self.gamma = gamma
        self.preprocess = preprocess
        self.pca_variance = pca_variance
        self.contamination = contamination
        self.random_state = random_state

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_float(self.nu, "nu", owner, 0.0, 1.0)
        if isinstance(self.gamma, str):
            check_choice(self.gamma, "gamma", {"max-distance", "scale"}, owner=owner)
        else:
            check_float(self.gamma, "gamma", owner)
        check_choice(self.preprocess, "preprocess", PREPROCESS_CHOICES, owner=owner)
        check_float(self.pca_variance, "pca_variance", owner, 0.0, 1.0)

    def _fit(self, X: np.ndarray) -> np.ndarray:
        from sklearn.svm import OneClassSVM
        Z = self._fit_preprocessing(X)
        if self.gamma == "max-distance":
            self.gamma_ = max_distance_gamma(Z)
        elif self.gamma == "scale":
            var = float(Z.var())
            self.gamma_ = 1.0 / (Z.shape[1] * var) if var > 0 else 1.0
        else:
            self.gamma_ = float(self.gamma)
        self.svm_ = OneClassSVM(kernel="rbf", nu=self.nu, gamma=self.gamma_).fit(Z)
        return self.svm_.score_samples(Z)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return self.svm_.score_samples(self._preprocessed(X))


def max_distance_gamma(Z: np.ndarray, chunk: int = 2048) -> float:
    """``1 / max_ij ||z_i - z_j||^2`` (1.0 when all points coincide), in float64 chunks.

    Examples
    --------
    >>> max_distance_gamma(np.array([[0.0, 0.0], [3.0, 4.0]]))
    0.04
    """
    z = torch.from_numpy(np.ascontiguousarray(Z, dtype=np.float64))
    sq = (z * z).sum(1)
    best = 0.0
    for s in range(0, len(z), chunk):
        d = sq[s:s + chunk, None] + sq[None, :] - 2.0 * z[s:s + chunk] @ z.T      # (chunk, N)
        best = max(best, float(d.max()))
    return 1.0 / best if best > 1e-12 else 1.0
