"""What every baseline detector shares: fit / score around the hooks, seeding, the training
loop, and the error raised when a method diverges.

The contract (as :class:`corel.scoring.detector.CorelDetector` and scikit-learn's outlier detectors):
``__init__`` only stores its keyword arguments; ``fit(X)`` validates them, seeds, trains and
returns ``self``; ``score_samples`` is higher for more normal samples. ``decision_function``,
``predict``, ``fit_predict`` and the PyOD view (``decision_scores_``, ``threshold_``,
``labels_``) come from :class:`corel.scoring.detector_base.DetectorBase`, which CorelDetector shares.
The input and parameter checks live in :mod:`corel._validation` (re-exported here).

No detector ever returns a NaN or infinite score: a method whose training loss or scores stop
being finite raises :class:`DivergedError` instead, which ``corel compare`` reports as
"diverged" rather than as a number.
"""
from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._validation import as_device, check_contamination, check_images, check_int, check_vectors
from ..scoring.detector_base import IMAGE_ONLY_CHECKS, IMAGE_ONLY_REASON, DetectorBase
from .preprocess import apply_preprocessing, fit_preprocessing, resolve_preprocess

__all__ = ["DivergedError", "BaselineDetector", "ShallowDetector", "check_images", "check_vectors", "fit_loop",
           "predict_batched"]

log = logging.getLogger("corel.baselines")


class DivergedError(RuntimeError):
    """A detector's training loss or its scores stopped being finite numbers.

    Attributes
    ----------
    method : str
        The detector's class name.
    """

    def __init__(self, method: str, detail: str):
        self.method = method
        super().__init__(f"{method} diverged: {detail}")


class BaselineDetector(DetectorBase):
    """The shared half of every baseline: fit and score around the hooks, the offset.

    A subclass defines ``__init__`` (keyword arguments stored as they are, including
    ``contamination`` and ``random_state``), ``_check_params()``, ``_prepare(X, fitting)``
    (input checks and conversion), ``_fit(X) -> training scores`` and ``_score(X) -> scores``;
    both score arrays are higher = more normal.

    Attributes (after fit)
    ----------------------
    training_scores_ : ndarray of float64, shape (n_train,)
        ``score_samples`` of the training set (computed in fit, in eval mode).
    offset_ : float
        The ``contamination`` quantile of ``training_scores_``.
    decision_scores_, threshold_, labels_ : PyOD view (read-only properties)
        ``-training_scores_``, ``-offset_``, and 1 where ``decision_scores_ > threshold_``
        (from :class:`~corel.scoring.detector_base.DetectorBase`).
    """

    _input_kind = "images"   # or "vectors"; decides the input check
    # Image detectors cannot take scikit-learn's 2-D test data (see corel.scoring.detector_base).
    _expected_failed_checks = dict.fromkeys(IMAGE_ONLY_CHECKS, IMAGE_ONLY_REASON)

    # ---- the public contract ------------------------------------------------------------------

    def fit(self, X, y=None):
        """Train on the inliers ``X`` (``y`` is ignored) and return ``self``."""
        self._check_common_params()
        self._check_params()
        data = self._prepare(X, fitting=True)
        with _seeded(self.random_state):
            train_scores = self._fit(data)
        self.training_scores_ = _require_finite(train_scores, type(self).__name__, "training scores")
        self.offset_ = float(np.percentile(self.training_scores_, 100.0 * self.contamination))
        return self

    def score_samples(self, X) -> np.ndarray:
        """Normality scores of ``X`` (higher = more normal), float64, shape (n_samples,)."""
        check_is_fitted(self, "offset_")
        data = self._prepare(X, fitting=False)
        if len(data) == 0:
            return np.zeros(0)
        with torch.no_grad():
            scores = self._score(data)
        return _require_finite(scores, type(self).__name__, "scores")

    # ---- hooks ----------------------------------------------------------------------------------

    def _check_params(self) -> None:            # pragma: no cover - every subclass overrides
        pass

    def _fit(self, X) -> np.ndarray:            # pragma: no cover
        raise NotImplementedError

    def _score(self, X) -> np.ndarray:          # pragma: no cover
        raise NotImplementedError

    def _prepare(self, X, fitting: bool):
        """Images as a float32 (N, C, H, W) tensor in [0, 1]; vectors as a float64 (N, D) array."""
        owner = type(self).__name__
        if self._input_kind == "images":
            x = check_images(X, owner)
            if fitting:
                self.input_shape_ = tuple(x.shape[1:])
            elif tuple(x.shape[1:]) != self.input_shape_:
                raise ValueError(f"X has images of shape {tuple(x.shape[1:])}, but {owner} was fitted on "
                                 f"{self.input_shape_}; score images of the training shape.")
            return x
        x = check_vectors(X, owner)
        if fitting:
            self.n_features_in_ = x.shape[1]
        elif x.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {x.shape[1]} features, but {owner} is expecting {self.n_features_in_} "
                             f"features as input.")
        return x

    def _check_common_params(self) -> None:
        owner = type(self).__name__
        check_contamination(self.contamination, owner)
        check_int(self.random_state, "random_state", owner, low=0)

    def _device(self) -> torch.device:
        device = getattr(self, "device", None)
        return torch.device("cpu") if device is None else as_device(device, type(self).__name__)


class ShallowDetector(BaselineDetector):
    """A detector on feature vectors (OC-SVM, KDE): (N, D) arrays, or images flattened to their
    pixels, through the ``preprocess`` option (see :mod:`corel.baselines.preprocess`).

    Subclasses have the parameters ``preprocess``, ``pca_variance`` and ``random_state`` and
    call :meth:`_fit_preprocessing` first in ``_fit``. Sets ``preprocess_`` (the preprocessing
    used: "auto" resolved by the shape of the training input) and ``preprocessor_``.
    """

    _input_kind = "vectors"
    _expected_failed_checks: dict[str, str] = {}       # scikit-learn's checks all apply and pass

    def _prepare(self, X, fitting: bool):
        data = super()._prepare(X, fitting)
        if fitting:
            self.preprocess_ = resolve_preprocess(self.preprocess, _ndim(X), type(self).__name__)
        return data

    def _fit_preprocessing(self, X: np.ndarray) -> np.ndarray:
        if len(X) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 training samples; got n_samples={len(X)}.")
        self.preprocessor_, Z = fit_preprocessing(X, self.preprocess_, self.pca_variance, self.random_state)
        return Z

    def _preprocessed(self, X: np.ndarray) -> np.ndarray:
        return apply_preprocessing(self.preprocessor_, X)


def _ndim(X) -> int:
    """The number of axes of a (validated) array-like, without copying arrays or tensors."""
    if isinstance(X, torch.Tensor):
        return X.dim()
    ndim = getattr(X, "ndim", None)
    return int(ndim) if isinstance(ndim, int) else np.asarray(X).ndim


# --------------------------------------------------------------------------------------------
# Seeding, training and batched evaluation
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch's CPU generator for the block and restore the caller's state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _require_finite(scores, method: str, what: str) -> np.ndarray:
    s = np.asarray(scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else scores,
                   dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(s)
    if bad.any():
        raise DivergedError(method, f"{int(bad.sum())} of {len(s)} {what} are NaN or infinite.")
    return s


def fit_loop(step, n: int, *, epochs: int, batch_size: int, params, lr: float, weight_decay: float = 0.0,
             milestones=(), generator: torch.Generator, owner: str, drop_last: bool = False,
             on_epoch_start=None) -> list[float]:
    """Adam over shuffled mini-batches of ``range(n)``; the mean loss of each epoch is returned.

    ``step(idx, epoch) -> loss`` computes the loss of the batch with indices ``idx`` (a long
    tensor); the loop does backward and the optimiser step. The learning rate is multiplied by
    0.1 after each epoch listed in ``milestones`` (``MultiStepLR``). A non-finite loss raises
    :class:`DivergedError` at once.
    """
    params = [p for p in params if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=0.1)
    history = []
    batch_size = max(1, min(batch_size, n))
    for epoch in range(epochs):
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        perm = torch.randperm(n, generator=generator)
        stop = n - n % batch_size if drop_last and n >= batch_size else n
        total, count = 0.0, 0
        for s in range(0, stop, batch_size):
            idx = perm[s:s + batch_size]
            if len(idx) < 2 <= n:        # a lone last sample: BatchNorm cannot train on a batch of 1
                continue
            loss = step(idx, epoch)
            if not bool(torch.isfinite(loss.detach())):
                raise DivergedError(owner, f"the training loss became {float(loss.detach()):g} in epoch {epoch + 1}, "
                                           f"batch {s // batch_size + 1}. Lower the learning rate or check "
                                           f"the data.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        sched.step()
        history.append(total / max(count, 1))
        log.debug("%s epoch %d/%d: loss %.6g", owner, epoch + 1, epochs, history[-1])
    return history


@torch.no_grad()
def predict_batched(fn, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    """``torch.cat([fn(batch) for batches of x])`` on ``device``, results back on the CPU."""
    out = [fn(x[s:s + batch_size].to(device)).cpu() for s in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.zeros(0)
