"""The input preprocessing of the baselines' papers, made safe for degenerate inputs.

* Ruff et al. (2018), Deep SVDD and its shallow baselines: per-sample global contrast
  normalisation with the l1 scale (:func:`global_contrast_normalization`), then min-max scaling
  to [0, 1] with the minimum and maximum of the *training* data; the shallow baselines (OC-SVM,
  KDE) then keep the PCA components explaining 95 % of the training variance
  (:class:`PixelPreprocessor`, as their code's ``--gcn 1 --unit_norm_used l1 --pca 1``).
* Golan & El-Yaniv (2018), GEOM and their DSEBM / DAGMM runs: pixels scaled to [-1, 1]
  (:func:`to_minus_one_one`).

Guards (not in the papers, which never meet these inputs): a constant image has l1 scale 0, so
the scale is clamped to ``eps``; constant training data (max == min) is only shifted; PCA is
skipped when the training variance is 0.

The ``preprocess`` option of the shallow detectors (OC-SVM, KDE), :func:`resolve_preprocess`:

* ``"auto"`` (their default): ``"gcn-pca"`` for images, i.e. input with more than 2 axes such
  as (N, C, H, W) (what ``corel compare`` passes for the pixel baselines), else
  ``"standardize"``. GCN subtracts each *row's* mean and divides by its scale: meaningful for
  the pixels of one image, destructive for feature vectors (2 features collapse onto at most
  3 points; on 2-D blobs OC-SVM gave one distinct score for all points).
* ``"gcn-pca"``: :class:`PixelPreprocessor`; on 2-D input each row is taken as a flattened
  image, with a warning.
* ``"standardize"``: each feature to zero mean and unit variance on the training data
  (:class:`Standardizer`; constant features are only centred).
* ``"none"``: the data as they are (codes whose scale is meaningful).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

__all__ = ["global_contrast_normalization", "to_minus_one_one", "PixelPreprocessor", "Standardizer",
           "PREPROCESS_CHOICES", "resolve_preprocess", "fit_preprocessing", "apply_preprocessing"]

_EPS = 1e-8


def global_contrast_normalization(x: torch.Tensor, scale: str = "l1", eps: float = _EPS) -> torch.Tensor:
    """Per sample: subtract the mean over all features, divide by the mean absolute value (l1)
    or by the l2 norm divided by the number of features (l2), as Ruff et al.'s code does.

    ``x`` has shape (N, ...); returns a new float tensor of the same shape.

    Examples
    --------
    >>> global_contrast_normalization(torch.tensor([[1.0, 3.0]]))
    tensor([[-1.,  1.]])
    """
    if scale not in ("l1", "l2"):
        raise ValueError(f"scale must be 'l1' or 'l2'; got {scale!r}.")
    flat = x.reshape(x.shape[0], -1).double()
    flat = flat - flat.mean(1, keepdim=True)
    if scale == "l1":
        s = flat.abs().mean(1, keepdim=True)
    else:
        s = flat.pow(2).sum(1, keepdim=True).sqrt() / flat.shape[1]
    return (flat / s.clamp_min(eps)).to(x.dtype if x.is_floating_point() else torch.float32).reshape(x.shape)


def to_minus_one_one(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] to [-1, 1] (``2 x - 1``), Golan & El-Yaniv's ``normalize_minus1_1``."""
    return x * 2.0 - 1.0


class PixelPreprocessor:
    """GCN (l1), min-max to [0, 1] by the training extremes, PCA to a share of the variance.

    ``fit_transform(train)`` learns the extremes and the PCA on the training set;
    ``transform(X)`` applies them. Inputs are (N, D) float64 arrays (flattened images).

    Parameters
    ----------
    gcn : bool
        Apply global contrast normalisation (l1) per sample first.
    pca_variance : float in (0, 1] or None
        Keep the fewest components explaining this share of the training variance
        (``sklearn.decomposition.PCA(n_components=0.95)``, exact: the covariance eigensolver
        where scikit-learn has it (>= 1.5) and samples outnumber features, twice as fast as the
        full SVD on 5000 x 3072, else the full SVD); None: no PCA.
    random_state : int
    """

    def __init__(self, gcn: bool = True, pca_variance: float | None = 0.95, random_state: int = 0):
        self.gcn, self.pca_variance, self.random_state = gcn, pca_variance, random_state

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        z = self._gcn(x)
        self.lo_, self.hi_ = float(z.min()), float(z.max())
        z = self._minmax(z)
        self.pca_ = None
        if self.pca_variance is not None and len(z) > 1 and float(z.var(0).sum()) > 1e-12:
            from sklearn.decomposition import PCA
            n = self.pca_variance if self.pca_variance < 1 else min(z.shape)
            self.pca_ = PCA(n_components=n, svd_solver=_exact_solver(z), random_state=self.random_state).fit(z)
            z = self.pca_.transform(z)
        return z

    def transform(self, x: np.ndarray) -> np.ndarray:
        z = self._minmax(self._gcn(x))
        return self.pca_.transform(z) if self.pca_ is not None else z

    @property
    def n_components(self) -> int | None:
        return None if self.pca_ is None else int(self.pca_.n_components_)

    def _gcn(self, x: np.ndarray) -> np.ndarray:
        if not self.gcn:
            return x
        return global_contrast_normalization(torch.from_numpy(x)).numpy()

    def _minmax(self, z: np.ndarray) -> np.ndarray:
        span = self.hi_ - self.lo_
        return (z - self.lo_) / span if span > _EPS else z - self.lo_


class Standardizer:
    """Each feature to zero mean and unit variance, with the training mean and std (float64);
    a feature constant on the training data is only centred (its std taken as 1)."""

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        self.mean_ = x.mean(0)
        std = x.std(0)
        constant = ~(std > 1e-12 * np.abs(self.mean_)) | ~(std > 0)      # rounding noise of a constant
        self.scale_ = np.where(constant, 1.0, std)
        return self.transform(x)

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_

    @property
    def n_components(self) -> None:
        return None


PREPROCESS_CHOICES = ("auto", "gcn-pca", "standardize", "none")


def resolve_preprocess(preprocess: str, ndim: int, owner: str) -> str:
    """The preprocessing ``preprocess`` means for raw input with ``ndim`` axes (before
    flattening): ``"auto"`` is ``"gcn-pca"`` for images (more than 2 axes), else
    ``"standardize"``; an explicit ``"gcn-pca"`` on 2-D input warns (each row is taken as a
    flattened image).

    Examples
    --------
    >>> resolve_preprocess("auto", 4, "OCSVMDetector"), resolve_preprocess("auto", 2, "OCSVMDetector")
    ('gcn-pca', 'standardize')
    """
    if preprocess == "auto":
        return "gcn-pca" if ndim > 2 else "standardize"
    if preprocess == "gcn-pca" and ndim <= 2:
        warnings.warn(f"{owner}: preprocess='gcn-pca' is image preprocessing (per-row contrast normalisation, "
                      f"then PCA), but X is 2-D, so each row is taken as a flattened image; on feature vectors "
                      f"or codes it can merge distinct points. Pass images as (N, C, H, W), or use "
                      f"preprocess='auto', 'standardize' or 'none'.", UserWarning, stacklevel=5)
    return preprocess


def fit_preprocessing(X: np.ndarray, preprocess: str, pca_variance: float, random_state: int):
    """The resolved ``preprocess`` option of the shallow detectors (OC-SVM, KDE) on the (N, D)
    training data: ``"gcn-pca"`` fits a :class:`PixelPreprocessor`, ``"standardize"`` a
    :class:`Standardizer`, ``"none"`` keeps ``X``. Returns (preprocessor or None, transformed X)."""
    if preprocess == "gcn-pca":
        pre = PixelPreprocessor(True, pca_variance, random_state)
        return pre, pre.fit_transform(X)
    if preprocess == "standardize":
        pre = Standardizer()
        return pre, pre.fit_transform(X)
    if preprocess != "none":
        raise ValueError(f"Unresolved preprocess={preprocess!r}; call resolve_preprocess first.")
    return None, X


def apply_preprocessing(preprocessor, X: np.ndarray) -> np.ndarray:
    return preprocessor.transform(X) if preprocessor is not None else X


def _exact_solver(z: np.ndarray) -> str:
    """PCA's exact solver for ``z``: the covariance eigensolver (scikit-learn >= 1.5) when there
    are at least as many samples as features, else the full SVD."""
    import sklearn
    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    return "covariance_eigh" if (major, minor) >= (1, 5) and z.shape[0] >= z.shape[1] else "full"
