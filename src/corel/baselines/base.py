"""What every baseline detector shares: the estimator contract, input checks, seeding, the
training loop, and the error raised when a method diverges.

The contract (as :class:`corel.detect.CorelDetector` and scikit-learn's outlier detectors):
``__init__`` only stores its keyword arguments; ``fit(X)`` validates them, seeds, trains and
returns ``self``; ``score_samples`` is higher for more normal samples; ``decision_function =
score_samples - offset_``; ``predict`` gives +1 / -1. The PyOD view (``decision_scores_``,
``threshold_``, ``labels_``; higher = more abnormal) is derived from ``training_scores_`` and
``offset_`` in :class:`BaseDetector` only.

No detector ever returns a NaN or infinite score: a method whose training loss or scores stop
being finite raises :class:`DivergedError` instead, which ``corel compare`` reports as
"diverged" rather than as a number.
"""
from __future__ import annotations

import contextlib
import logging
import math
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["DivergedError", "BaseDetector", "check_images", "check_vectors", "fit_loop", "predict_batched"]

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


class BaseDetector(OutlierMixin, BaseEstimator):
    """The shared half of every baseline: fit / score / predict, the offset and the PyOD view.

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
        ``-training_scores_``, ``-offset_``, and 1 where ``decision_scores_ > threshold_``.
    """

    _input_kind = "images"   # or "vectors"; decides the input check

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

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for predicted outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for outliers (``decision_function < 0``)."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit, then label the training samples (+1 / -1): -1 exactly where ``labels_`` is 1."""
        return np.where(self.fit(X, y).labels_ == 1, -1, 1)

    # ---- the PyOD view, derived here only -------------------------------------------------------

    @property
    def decision_scores_(self) -> np.ndarray:
        check_is_fitted(self, "training_scores_")
        return -self.training_scores_

    @property
    def threshold_(self) -> float:
        check_is_fitted(self, "offset_")
        return -self.offset_

    @property
    def labels_(self) -> np.ndarray:
        return (self.decision_scores_ > self.threshold_).astype(np.int64)

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
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not (0 < c <= 0.5):
            raise ValueError(f"The 'contamination' parameter of {owner} must be a float in (0, 0.5]. "
                             f"Got {c!r} instead.")
        check_int(self.random_state, "random_state", owner, low=0)

    def _device(self) -> torch.device:
        device = getattr(self, "device", None)
        if device is None:
            return torch.device("cpu")
        try:
            return torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"The 'device' parameter of {type(self).__name__} must name a torch device such "
                             f"as 'cpu' or 'cuda:0'. Got {device!r} instead.") from err


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------

def check_images(X, owner: str) -> torch.Tensor:
    """``X`` as a float32 CPU tensor (N, C, H, W) in [0, 1]: uint8 images are divided by 255.

    Floats are taken as they are (expected in [0, 1], as ``ImageSet.float_images()`` gives);
    NaN or infinite values raise.
    """
    if isinstance(X, torch.Tensor):
        x = X.detach().cpu()
    else:
        arr = np.asarray(X)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)):
            raise TypeError(f"{owner} expects images as a numeric array or tensor of shape (N, C, H, W); "
                            f"got {type(X).__name__} of dtype {arr.dtype}.")
        x = torch.from_numpy(np.ascontiguousarray(arr))
    if x.dim() != 4:
        raise ValueError(f"{owner} expects images of shape (N, C, H, W); got shape {tuple(x.shape)}. "
                         f"A single image needs a batch axis: x[None].")
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    elif x.is_floating_point():
        x = x.float()
    else:
        raise TypeError(f"{owner} expects uint8 images (0..255) or floats in [0, 1]; got dtype {x.dtype}.")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{owner} got images with {int((~torch.isfinite(x)).sum())} NaN or infinite values.")
    return x.contiguous()


def check_vectors(X, owner: str) -> np.ndarray:
    """``X`` (N, ...) as a float64 (N, D) array; more than 2 axes are flattened (images: pixels)."""
    arr = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:])))
    if arr.dtype == np.uint8:
        arr = arr / 255.0
    return check_array(arr, dtype=np.float64, ensure_min_samples=0, input_name="X")


# --------------------------------------------------------------------------------------------
# Parameter checks (the message names the owner, the parameter, the rule and the value)
# --------------------------------------------------------------------------------------------

def check_int(value, name: str, owner: str, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"The '{name}' parameter of {owner} must be an int >= {low}. Got {value!r} instead.")


def check_float(value, name: str, owner: str, low: float = 0.0, high: float = math.inf,
                low_open: bool = True, high_open: bool = False) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
          and (value > low if low_open else value >= low) and (value < high if high_open else value <= high))
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"The '{name}' parameter of {owner} must be a float in {lo}{low}, {high}{hi}. "
                         f"Got {value!r} instead.")


def check_choice(value, name: str, owner: str, choices) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"The '{name}' parameter of {owner} must be one of {sorted(choices)}. "
                         f"Got {value!r} instead.")


def check_milestones(value, name: str, owner: str) -> None:
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 1 for m in value):
        raise ValueError(f"The '{name}' parameter of {owner} must be a tuple of epoch numbers >= 1, e.g. (50,). "
                         f"Got {value!r} instead.")


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
