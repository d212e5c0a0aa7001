"""GEOM / ADT: anomaly detection with geometric transformations (Golan & El-Yaniv, NeurIPS 2018).

A classifier learns which of 72 geometric transformations was applied to a training image;
an image whose transformations the classifier cannot tell apart is abnormal.

* The 72 transformations (:func:`transformations`, in the order of their code's ``Transformer``):
  horizontal flip in {no, yes} x translation by {0, -s, +s} rows x {0, -s, +s} columns x
  rotation by {0, 90, 180, 270} degrees, applied in that order (flip, translate, rotate);
  s = side / 4 (8 for 32 x 32 images, as their ``Transformer(8, 8)``). Translations fill the
  border by reflection about the edge (Keras ``fill_mode="reflect"``, i.e. scipy's half-sample
  symmetric ``d c b a | a b c d``). Each transformation is a fixed map of pixel positions, so a
  batch is transformed by one gather (:func:`pixel_maps`, :func:`apply_transformations`).
* The classifier: a Wide ResNet (:class:`~corel.baselines.networks.WideResNet`), Adam (lr 1e-3),
  batch 128, weight decay 5e-4 (their L2 of 0.5 * 5e-4 on every weight), ``ceil(200 / 72) = 3``
  epochs over all (image, transformation) pairs, pixels in [-1, 1]. WRN-16-8 by default (the
  setting this project's issue names; note that their public code builds WRN-10-4 for 32 x 32
  inputs and WRN-16-8 for 64 x 64 cats-vs-dogs: set ``depth=10, widen_factor=4`` to match it).
* The Dirichlet normality score: for each transformation t, a Dirichlet distribution is fitted
  by maximum likelihood (from the moment estimate of the concentration, as their code; see
  :func:`fit_dirichlet` for the iteration) to the softmax outputs of the training images transformed by
  t; a test image scores ``1/72 sum_t sum_j (alpha_tj - 1) log p_tj(T_t x)``.
* Fallback (``score_used_ = "simplified"``): when the maximum-likelihood fit fails for some t
  (degenerate outputs, e.g. all training images identical, make the concentration infinite or
  not positive), every transformation uses the *simplified* score of their paper instead,
  ``1/72 sum_t p_t(T_t x)`` (the probability of the right transformation), with a warning.
  ``normality="simplified"`` asks for it directly.
"""
from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import check_choice, check_float, check_int
from .base import BaselineDetector, fit_loop
from .networks import WideResNet
from .preprocess import to_minus_one_one

__all__ = ["GeomDetector", "Transformation", "transformations", "pixel_maps", "apply_transformations",
           "N_TRANSFORMATIONS", "fit_dirichlet", "dirichlet_normality"]

N_TRANSFORMATIONS = 72


@dataclass(frozen=True)
class Transformation:
    """Flip the columns (if ``flip``), shift by ``rows`` and ``cols`` pixels, rotate by 90 x ``k``.

    Output pixel (r, c) of the shift reads input pixel (r + rows, c + cols), reflected at the
    border; the rotation is counter-clockwise (``torch.rot90(x, k, dims=(-2, -1))``).
    """

    flip: bool
    rows: int
    cols: int
    k: int


def transformations(shift_rows: int = 8, shift_cols: int = 8) -> tuple[Transformation, ...]:
    """The 72 transformations in Golan & El-Yaniv's order (flip, rows, cols, rotation).

    Examples
    --------
    >>> ts = transformations(8, 8)
    >>> len(ts), ts[0], ts[-1]
    (72, Transformation(flip=False, rows=0, cols=0, k=0), Transformation(flip=True, rows=8, cols=8, k=3))
    """
    return tuple(Transformation(flip, r, c, k) for flip, r, c, k in itertools.product(
        (False, True), (0, -shift_rows, shift_rows), (0, -shift_cols, shift_cols), range(4)))


def _reflect(index: torch.Tensor, n: int) -> torch.Tensor:
    """Half-sample symmetric reflection of indices into [0, n) (scipy.ndimage mode 'reflect')."""
    m = torch.remainder(index, 2 * n)
    return torch.where(m >= n, 2 * n - 1 - m, m)


def pixel_maps(height: int, width: int, ts) -> torch.Tensor:
    """(T, H * W) long: entry [t, o] is the flat input pixel that output pixel o of T_t reads."""
    if height != width:
        raise ValueError(f"The geometric transformations rotate by 90 degrees, so images must be square; "
                         f"got {height} x {width}.")
    maps = []
    base = torch.arange(height * width).view(height, width)
    for t in ts:
        idx = base.flip(-1) if t.flip else base
        rows = _reflect(torch.arange(height) + t.rows, height)
        cols = _reflect(torch.arange(width) + t.cols, width)
        idx = idx[rows][:, cols]
        idx = torch.rot90(idx, t.k, dims=(0, 1))
        maps.append(idx.reshape(-1))
    return torch.stack(maps)


def apply_transformations(x: torch.Tensor, t_index, maps: torch.Tensor) -> torch.Tensor:
    """Transform each image of ``x`` (B, C, H, W) by its own transformation ``t_index[b]``.

    ``t_index`` is an int (all images) or a (B,) long tensor; ``maps`` from :func:`pixel_maps`.
    """
    b, c, h, w = x.shape
    if isinstance(t_index, int):
        return x.flatten(2)[:, :, maps[t_index]].view(b, c, h, w)
    src = maps[t_index.to(maps.device)].to(x.device)[:, None, :].expand(b, c, h * w)       # (B, C, HW)
    return torch.gather(x.flatten(2), 2, src).view(b, c, h, w)


# --------------------------------------------------------------------------------------------
# The Dirichlet normality score (their experiments.py, in float64 on log-probabilities)
# --------------------------------------------------------------------------------------------

def _inv_psi(y: torch.Tensor, iters: int = 5) -> torch.Tensor:
    """Inverse digamma by Newton's method from Minka's initial guess (their ``inv_psi``)."""
    psi1 = -0.5772156649015329                                                # digamma(1)
    x = torch.where(y >= -2.22, torch.exp(y.clamp(max=700.0)) + 0.5, -1.0 / (y - psi1))
    for _ in range(iters):
        x = x - (torch.special.digamma(x) - y) / torch.special.polygamma(1, x)
    return x


def fit_dirichlet(log_p, max_iter: int = 1000, tol: float = 1e-9) -> np.ndarray:
    """Maximum-likelihood Dirichlet concentrations of the rows of ``exp(log_p)``.

    ``log_p`` has shape (..., N, K): one fit per leading index (all fitted together), in
    float64. Started, as their code, from the moment estimate of the concentration; iterated
    until the step is below ``tol``. Their code iterates Minka's fixed point
    ``alpha <- inv_psi(psi(sum alpha) + mean log p)``, which converges linearly (often all 1000
    iterations); here Minka's Newton step for the same concave likelihood is taken instead
    (the Hessian is a diagonal plus a constant, so a step costs O(K)), falling back to the
    fixed-point step where Newton would leave alpha > 0. Both converge to the same unique
    maximum. Returns (..., K); a row is NaN where the estimate is not finite and positive
    (degenerate observations, e.g. all identical).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> alpha = fit_dirichlet(np.log(rng.dirichlet([2.0, 5.0, 3.0], size=4000)))
    >>> np.round(alpha).tolist()
    [2.0, 5.0, 3.0]
    """
    lp = torch.as_tensor(np.asarray(log_p), dtype=torch.float64)
    n, k = lp.shape[-2:]
    f = lp.exp().mean(-2)                                                     # (..., K)
    log_p_hat = lp.mean(-2)                                                   # (..., K)
    denom = n * torch.special.xlogy(f, f).sum(-1) - n * (f * log_p_hat).sum(-1)           # (...,)
    alpha_sum = torch.where(denom > 0, n * (k - 1) * 0.5772156649015329 / denom, torch.nan)
    alpha = f * alpha_sum[..., None]

    def valid(a):
        return torch.isfinite(a).all(-1) & (a > 0).all(-1)

    active = valid(alpha)
    for _ in range(max_iter):
        if not bool(active.any()):
            break
        a = alpha[active]                                                     # (M, K)
        lph = log_p_hat[active]
        total = a.sum(-1, keepdim=True)
        g = torch.special.digamma(total) - torch.special.digamma(a) + lph    # gradient / N
        q = -torch.special.polygamma(1, a)                                    # Hessian diagonal / N
        z = torch.special.polygamma(1, total)                                 # Hessian constant / N
        b = (g / q).sum(-1, keepdim=True) / (1.0 / z + (1.0 / q).sum(-1, keepdim=True))
        new = a - (g - b) / q
        fallback = ~((new > 0).all(-1) & torch.isfinite(new).all(-1))
        if bool(fallback.any()):
            new[fallback] = _inv_psi(torch.special.digamma(total[fallback]) + lph[fallback])
        step = (a - new).pow(2).sum(-1).sqrt()
        bad = ~torch.isfinite(new).all(-1)
        new[bad] = torch.nan
        alpha[active] = new
        still = ~bad & ~(step < tol)
        active = active.clone()
        active[active.clone()] = still
    alpha[~valid(alpha)] = torch.nan
    return alpha.numpy()


def dirichlet_normality(alpha: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """``sum_j (alpha_j - 1) log p_j`` per row (the log-density up to a constant)."""
    return log_p @ (alpha - 1.0)


class GeomDetector(BaselineDetector):
    """GEOM on square images (N, C, H, W), uint8 or floats in [0, 1]; side divisible by 4.

    Parameters
    ----------
    depth, widen_factor : int, default=16, 8
        The Wide ResNet (WRN-depth-widen_factor).
    epochs : int, default=3
        Passes over all (image, transformation) pairs (their ``ceil(200 / 72)``).
    batch_size : int, default=128
    lr : float, default=1e-3
    weight_decay : float, default=5e-4
    shift : int, optional
        Translation in pixels; default side // 4 (8 for 32 x 32).
    normality : {"dirichlet", "simplified"}, default="dirichlet"
        The normality score (see the module docstring).
    eval_batch_size : int, default=512
    contamination : float in (0, 0.5], default=0.1
    random_state : int, default=0
    device : str, optional

    Attributes
    ----------
    net_ : WideResNet
    alpha_ : ndarray (72, 72) or None
        The Dirichlet concentration per transformation (None with the simplified score).
    score_used_ : {"dirichlet", "simplified"}
    loss_history_ : list of float
    """

    def __init__(self, depth: int = 16, widen_factor: int = 8, epochs: int = 3, batch_size: int = 128,
                 lr: float = 1e-3, weight_decay: float = 5e-4, shift: int | None = None, normality: str = "dirichlet",
                 eval_batch_size: int = 512, contamination: float = 0.1, random_state: int = 0, device=None):
        self.depth = depth
        self.widen_factor = widen_factor
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.shift = shift
        self.normality = normality
        self.eval_batch_size = eval_batch_size
        self.contamination = contamination
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_int(self.depth, "depth", owner, low=10)
        if (self.depth - 4) % 6:
            raise ValueError(f"The 'depth' parameter of {owner} must be 6n + 4 (10, 16, 22, ...). "
                             f"Got {self.depth!r} instead.")
        check_int(self.widen_factor, "widen_factor", owner)
        check_int(self.epochs, "epochs", owner, low=0)
        check_int(self.batch_size, "batch_size", owner)
        check_int(self.eval_batch_size, "eval_batch_size", owner)
        check_float(self.lr, "lr", owner)
        check_float(self.weight_decay, "weight_decay", owner, low_open=False)
        if self.shift is not None:
            check_int(self.shift, "shift", owner, low=0)
        check_choice(self.normality, "normality", {"dirichlet", "simplified"}, owner=owner)
        self._device()

    def _fit(self, X: torch.Tensor) -> np.ndarray:
        owner = type(self).__name__
        _, c, h, w = X.shape
        if h % 4 or w % 4:
            raise ValueError(f"{owner} needs image sides divisible by 4; got {h} x {w}.")
        if len(X) < 2:
            raise ValueError(f"{owner} needs at least 2 training images; got {len(X)}.")
        shift = h // 4 if self.shift is None else self.shift
        self.transformations_ = transformations(shift, shift)
        self.maps_ = pixel_maps(h, w, self.transformations_)                 # (72, H*W)
        device = self._device()
        gen = torch.Generator().manual_seed(int(self.random_state))
        data = to_minus_one_one(X)
        net = WideResNet(c, N_TRANSFORMATIONS, self.depth, self.widen_factor).to(device)
        self.net_ = net
        T = N_TRANSFORMATIONS

        def step(idx, epoch):
            img, t = idx // T, idx % T
            xb = apply_transformations(data[img], t, self.maps_).to(device)
            return F.cross_entropy(net(xb), t.to(device))

        net.train()
        self.loss_history_ = fit_loop(step, len(data) * T, epochs=self.epochs, batch_size=self.batch_size,
                                      params=net.parameters(), lr=self.lr, weight_decay=self.weight_decay,
                                      generator=gen, owner=owner)
        net.eval()
        with torch.no_grad():
            return self._fit_score(data)

    def _log_probs(self, data: torch.Tensor, t: int) -> np.ndarray:
        """(N, 72) float64 log-softmax of the classifier on the images transformed by t."""
        device = self._device()
        out = []
        for s in range(0, len(data), self.eval_batch_size):
            xb = apply_transformations(data[s:s + self.eval_batch_size], t, self.maps_).to(device)
            out.append(F.log_softmax(self.net_(xb).double(), dim=1).cpu())
        return torch.cat(out).numpy()

    def _fit_score(self, data: torch.Tensor) -> np.ndarray:
        """Fit the Dirichlets on the training outputs; return the training scores."""
        self.net_.eval()
        T = N_TRANSFORMATIONS
        log_p = np.stack([self._log_probs(data, t).astype(np.float32) for t in range(T)])   # (T, N, T)
        simplified = np.exp(log_p[np.arange(T), :, np.arange(T)].astype(np.float64)).mean(0)  # (N,)
        self.alpha_, self.score_used_ = None, "simplified"
        if self.normality == "dirichlet":
            alpha = fit_dirichlet(log_p)                                     # (T, T)
            if np.all(np.isfinite(alpha)):
                self.alpha_, self.score_used_ = alpha, "dirichlet"
                return sum(dirichlet_normality(alpha[t], log_p[t].astype(np.float64)) for t in range(T)) / T
            warnings.warn(f"GeomDetector: the Dirichlet maximum-likelihood fit failed for "
                          f"{int((~np.isfinite(alpha).all(1)).sum())} of {T} transformations (degenerate "
                          f"classifier outputs on the training images); using the simplified normality score.",
                          stacklevel=4)
        return simplified

    def _score(self, X: torch.Tensor) -> np.ndarray:
        data = to_minus_one_one(X)
        total = np.zeros(len(data))
        for t in range(N_TRANSFORMATIONS):
            lp = self._log_probs(data, t)
            total += dirichlet_normality(self.alpha_[t], lp) if self.alpha_ is not None else np.exp(lp[:, t])
        return total / N_TRANSFORMATIONS
