"""COREL's novelty score (an exact neighbour count) and the scikit-learn style detector.

The score of a query code q against a set of inlier codes X (METHOD.md section 5, step 3):
split the latent dims into ``n_branches`` equal consecutive slices; in each branch count the
inliers x with ``||q_b - x_b||_1 <= radius`` (a closed ball); sum over the branches. Higher means
more normal; the score is an integer.

Exactness rule
--------------
A pair counts iff its l1 distance *evaluated in float64* (the branch's coordinates cast to
float64, absolute differences summed) is ``<= radius``. For coordinates on a grid coarse enough
that float64 sums are exact (integers, or multiples of 2^-k of moderate size) this is exact real
arithmetic, so points exactly on the sphere count. For other inputs it differs from exact
arithmetic only for pairs whose true distance lies within about 1e-15 relative of the radius.

The hot path screens in float32 (about twice as fast as float64 on a CPU), with
|a - b| = a + b - 2 min(a, b) so that each pair costs one minimum and one add per coordinate
(see :class:`_Screen`). Every screened value carries a proven error bound (:func:`_band`); a
pair farther than that bound from the radius is decided by the screen, and the few pairs inside
the band are recomputed in float64 from the original inputs. The result is therefore the same
as a float64 brute force, not "float32 up to rounding".
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["count_neighbors", "CorelDetector"]

# Working memory of one block of the count (distance buffers), when the caller gives none.
# CPU: small enough to stay in the last-level cache; CUDA: large enough to fill the device.
_DEFAULT_BUDGET = {"cpu": 8 * 2**20, "cuda": 1 * 2**30}
# Fewest queries per block before the inlier axis is split instead (keeps each op large).
_MIN_QUERY_CHUNK = 64
# Screen in float32 only while its error band stays this small relative to the radius;
# otherwise (codes spread over a range huge next to the radius) screen in float64.
_MAX_RELATIVE_BAND = 1e-3


# --------------------------------------------------------------------------------------------
# The exact count
# --------------------------------------------------------------------------------------------

def count_neighbors(queries, inliers, n_branches: int, radius: float, chunk_size: int | None = None,
                    *, memory_budget: int | None = None) -> torch.Tensor:
    """Per-branch closed l1-ball neighbour counts, summed over the branches (COREL's score).

    Parameters
    ----------
    queries : tensor or array, shape (Q, D)
        Codes to score (float16/32/64; numpy arrays are converted).
    inliers : tensor or array, shape (n, D) or (C, n, D)
        One inlier set, or C sets of n inliers each (one per class): all classes are scored in
        one call, in bounded memory.
    n_branches : int >= 1
        The D latent dims are cut into ``n_branches`` consecutive slices of ``D // n_branches``.
    radius : float > 0
        The ball radius (the paper: eta = 2.0). The ball is closed: distance == radius counts.
    chunk_size : int, optional
        Queries per block. By default chosen from ``memory_budget``.
    memory_budget : int, optional
        Bytes of working memory per block (default 8 MiB on CPU, 1 GiB on CUDA). The output
        tensor (C x Q int64) comes on top.

    Returns
    -------
    torch.Tensor of int64, shape (Q,) for 2-D ``inliers``, (C, Q) for 3-D, on the inputs' device.
    Each entry lies in [0, n_branches * n].

    Notes
    -----
    Exact under the rule in this module's docstring (float64 evaluation of each distance);
    independent of ``chunk_size`` and ``memory_budget``. Runs where the inputs live (CPU or
    CUDA); both must be on the same device.

    Examples
    --------
    >>> q = torch.tensor([[0., 0.], [5., 5.]])
    >>> x = torch.tensor([[1., 1.], [0., 2.], [3., 0.]])
    >>> count_neighbors(q, x, n_branches=1, radius=2.0)
    tensor([2, 0])
    >>> count_neighbors(q, x, n_branches=2, radius=1.0)   # branch dims {0} and {1}
    tensor([4, 0])
    """
    q, x, batched = _check_count_inputs(queries, inliers, n_branches, radius, chunk_size, memory_budget)
    with torch.no_grad():
        out = _count(q, x, n_branches, float(radius), chunk_size, memory_budget)
    return out if batched else out[0]


def _check_count_inputs(queries, inliers, n_branches, radius, chunk_size, memory_budget):
    q = _as_float_tensor(queries, "queries")
    x = _as_float_tensor(inliers, "inliers")
    if q.dim() != 2:
        raise ValueError(f"'queries' must be a 2-D (n_queries, latent_dim) array; got shape {tuple(q.shape)}. "
                         f"Reshape a single code with codes.reshape(1, -1).")
    if x.dim() not in (2, 3):
        raise ValueError(f"'inliers' must be (n_inliers, latent_dim) or (n_classes, n_inliers, latent_dim); "
                         f"got shape {tuple(x.shape)}.")
    batched = x.dim() == 3
    if not batched:
        x = x.unsqueeze(0)
    if q.shape[1] == 0:
        raise ValueError("'queries' have latent_dim=0; codes need at least one dimension.")
    if q.shape[1] != x.shape[2]:
        raise ValueError(f"'queries' have latent_dim={q.shape[1]} but 'inliers' have latent_dim={x.shape[2]}; "
                         f"both must come from the same encoder.")
    if q.device != x.device:
        raise ValueError(f"'queries' are on {q.device} but 'inliers' on {x.device}; move both to one device.")
    _check_n_branches(n_branches, q.shape[1], "count_neighbors")
    _check_radius(radius, "count_neighbors")
    for value, name in ((chunk_size, "chunk_size"), (memory_budget, "memory_budget")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"The '{name}' parameter of count_neighbors must be None or an int >= 1. "
                             f"Got {value!r} instead.")
    _check_finite(q, "queries")
    _check_finite(x, "inliers")
    return q.detach().contiguous(), x.detach().contiguous(), batched


@dataclass(frozen=True)
class _Plan:
    """How the (queries x inliers) grid is cut into blocks; each block holds k x cc x jn pairs."""

    query_chunk: int     # k: queries per block
    class_chunk: int     # cc: classes per block (1 when a class is split)
    inlier_chunk: int    # jn: inliers of each class per block (n unless a class is split)


def _plan(n_queries, n_classes, n, width, itemsize, chunk_size, budget) -> _Plan:
    # Per pair of a block: the (width, k, mm) minimum buffer, the (k, mm) sums and the (2, k, mm)
    # threshold indicators.
    max_pairs = max(1, budget // ((width + 3) * itemsize))
    if chunk_size is not None:
        k = chunk_size
    else:
        k = max_pairs // max(1, n_classes * n)          # all classes at once, if that leaves >= 64 queries
        k = max(k, _MIN_QUERY_CHUNK)
    k = max(1, min(k, max(1, n_queries)))
    per_query = max(1, max_pairs // k)
    if per_query >= n:
        return _Plan(k, max(1, min(n_classes, per_query // n)), n)
    return _Plan(k, 1, max(1, per_query))


@dataclass(frozen=True)
class _Screen:
    """The screened problem: centred codes in the screen dtype and the per-query thresholds.

    For a pair (q, x) of one branch, with m_j = min(q_j, x_j), the identity
    |q_j - x_j| = q_j + x_j - 2 m_j gives ``d(q, x) <= r  <=>  y >= hq - r / 2`` with
    ``y = sum_j m_j - hx``, ``hq = sum_j q_j / 2``, ``hx = sum_j x_j / 2``: per pair one
    minimum per coordinate and one sum, a pass fewer than subtract-abs-sum.
    """

    q: torch.Tensor          # (branches, w, Q) centred queries
    x: torch.Tensor          # (branches, w, C * n) centred inliers
    hx: torch.Tensor         # (branches, C * n) half coordinate sums of the inliers
    theta_in: torch.Tensor   # (branches, Q): y >= theta_in proves d <= r
    theta_out: torch.Tensor  # (branches, Q): y < theta_out proves d > r


def _screen(q: torch.Tensor, x: torch.Tensor, centre: torch.Tensor, n_branches: int, radius: float,
            dtype) -> _Screen:
    """Centre, cast and threshold the codes; see :func:`_band` for the error bound."""
    qs = _centred_branch_major(q, centre, n_branches, dtype)                       # (branches, w, Q)
    xs = _centred_branch_major(x.reshape(-1, x.shape[-1]), centre, n_branches, dtype)  # (branches, w, C n)
    hq = qs.sum(1) / 2                                                              # (branches, Q)
    hx = xs.sum(1) / 2                                                              # (branches, C n)
    nq = torch.stack([qb.abs().sum(0) for qb in qs]).double()                       # (branches, Q)
    nx = torch.stack([xb.abs().sum(0).amax() for xb in xs]).double()                # (branches,)
    band = _band(nq + nx[:, None], qs.shape[1], radius, dtype)                      # (branches, Q)
    theta_in = _outward(hq.double() - (radius - band) / 2, dtype, +1.0)
    theta_out = _outward(hq.double() - (radius + band) / 2, dtype, -1.0)
    return _Screen(qs, xs, hx, theta_in, theta_out)


def _centred_branch_major(z: torch.Tensor, centre: torch.Tensor, n_branches: int, dtype) -> torch.Tensor:
    """``z - centre`` (computed in z's dtype), cast to ``dtype``, as (branches, w, N); one copy."""
    rows, dim = z.shape
    w = dim // n_branches
    out = torch.empty(n_branches, w, rows, dtype=dtype, device=z.device)
    if z.dtype == dtype:          # copy, then centre in place: no temporary of the input's size
        out.copy_(z.view(rows, n_branches, w).permute(1, 2, 0))
        out.sub_(centre.to(dtype).view(n_branches, w, 1))
    else:                         # centre before casting (the error bound counts on it)
        out.copy_((z - centre.to(z.dtype)).view(rows, n_branches, w).permute(1, 2, 0))
    return out


def _band(norms: torch.Tensor, w: int, radius: float, dtype) -> torch.Tensor:
    """Half-width T of the band around the radius where the screened test cannot decide.

    Let u be the unit roundoff and eta the smallest normal number of the screen dtype, a = q - c
    and b = x - c the exactly centred coordinates of one branch (d = ||a - b||_1), and N the sum of
    the screened l1 norms of the two (``norms``). Centring in the input dtype and casting moves
    each coordinate by at most 2u|a_j| + eta, so the screened coordinates have distance within
    A = 2uN + 2w eta of d. The minimum is exact; each of the three sums of w terms errs by at most
    (w - 1)u times the sum of its magnitudes, and y one more rounding; altogether
    |2 (hq - y) - d| <= (3w + 2) u N + 3w eta, for any summation order (so also on CUDA). Outside
    a band of twice that (plus a float64 term for evaluating the thresholds) the screened decision
    is the exact one, and equals the float64 one, whose own error is far smaller.
    """
    fi = torch.finfo(dtype)
    u, eta = fi.eps / 2, fi.tiny
    return 2 * ((3 * w + 3) * u * norms + 4 * w * eta) + (w + 1) * 2.0**-50 * radius


def _outward(values: torch.Tensor, dtype, direction: float) -> torch.Tensor:
    """Round float64 ``values`` to ``dtype``: up if ``direction > 0``, else down (never inward)."""
    v = values.to(dtype)
    wrong = (v.double() < values) if direction > 0 else (v.double() > values)
    toward = torch.full_like(v, math.inf if direction > 0 else -math.inf)
    return torch.where(wrong, torch.nextafter(v, toward), v)


def _screen_dtype(q: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, n_branches: int, radius: float):
    """float32, unless the inliers' spread alone would make its band wide (or overflow it)."""
    w = q.shape[1] // n_branches
    spread = (hi.double() - lo.double()).view(n_branches, w).sum(-1)                    # (branches,)
    qmax = (q.double() - (lo.double() / 2 + hi.double() / 2)).abs().max()
    band = _band(2 * spread, w, radius, torch.float32)
    if float(band.max()) > _MAX_RELATIVE_BAND * radius or float(qmax) > 2.0**60 or float(spread.max()) > 2.0**60:
        return torch.float64
    return torch.float32


def _centre(q: torch.Tensor, x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The inliers' midrange, exactly representable in both inputs' dtypes (so q and x are
    shifted by the same vector and no l1 distance changes); the error bound scales with the
    centred norms. lo/2 + hi/2 cannot overflow."""
    dtype = q.dtype if torch.finfo(q.dtype).bits <= torch.finfo(x.dtype).bits else x.dtype
    c = (lo.double() / 2 + hi.double() / 2).to(dtype)
    return torch.where(torch.isfinite(c), c, torch.zeros_like(c))


def _count(q: torch.Tensor, x: torch.Tensor, n_branches: int, radius: float,
           chunk_size: int | None, memory_budget: int | None) -> torch.Tensor:
    n_queries, dim = q.shape
    n_classes, n, _ = x.shape
    device = q.device
    out = torch.zeros(n_classes, n_queries, dtype=torch.int64, device=device)   # (C, Q)
    if n_queries == 0 or n_classes == 0 or n == 0:
        return out
    w = dim // n_branches
    lo, hi = x.reshape(-1, dim).aminmax(dim=0)                                     # (D,) each
    dtype = _screen_dtype(q, lo, hi, n_branches, radius)
    sc = _screen(q, x, _centre(q, x, lo, hi), n_branches, radius, dtype)

    budget = memory_budget or _DEFAULT_BUDGET["cuda" if device.type == "cuda" else "cpu"]
    plan = _plan(n_queries, n_classes, n, w, torch.finfo(dtype).bits // 8, chunk_size, budget)
    k_max, mm_max = plan.query_chunk, plan.class_chunk * plan.inlier_chunk
    min_buf = torch.empty(k_max * w * mm_max, dtype=dtype, device=device)
    y_buf = torch.empty(k_max * mm_max, dtype=dtype, device=device)
    ind_buf = torch.empty(2 * k_max * mm_max, dtype=dtype, device=device)
    cnt_buf = torch.empty(n_branches * 2 * k_max * plan.class_chunk, dtype=dtype, device=device)

    blocks = [(c0, min(n_classes, c0 + plan.class_chunk), j0, min(n, j0 + plan.inlier_chunk))
              for c0 in range(0, n_classes, plan.class_chunk)
              for j0 in range(0, n, plan.inlier_chunk)]
    for s in range(0, n_queries, plan.query_chunk):
        e = min(n_queries, s + plan.query_chunk)
        k = e - s
        acc = torch.zeros(k, n_classes, dtype=torch.int64, device=device)           # (k, C)
        for c0, c1, j0, j1 in blocks:
            cc, jn = c1 - c0, j1 - j0
            mm = cc * jn
            cols = slice(c0 * n + j0, (c1 - 1) * n + j1)      # whole classes, or a piece of one
            mins = min_buf[:k * w * mm].view(w, k, mm)
            y = y_buf[:k * mm].view(k, mm)
            ind = ind_buf[:2 * k * mm].view(2, k, mm)
            cnt = cnt_buf[:n_branches * 2 * k * cc].view(n_branches, 2, k, cc)
            for b in range(n_branches):
                torch.minimum(sc.q[b, :, s:e, None], sc.x[b, :, None, cols], out=mins)   # (w, k, mm)
                torch.sum(mins, 0, out=y)                                                # (k, mm)
                y.sub_(sc.hx[b, cols])
                torch.ge(y, sc.theta_in[b, s:e, None], out=ind[0])     # certainly inside
                torch.ge(y, sc.theta_out[b, s:e, None], out=ind[1])    # not certainly outside
                torch.sum(ind.view(2, k, cc, jn), -1, out=cnt[b])                        # (2, k, cc)
            upper = cnt[:, 1]                                                   # (branches, k, cc)
            ambiguous = cnt[:, 0] != upper
            if bool(ambiguous.any()):
                idx = ambiguous.nonzero()                                       # (P, 3): branch, query, class
                upper[idx[:, 0], idx[:, 1], idx[:, 2]] = _refine(
                    q, x, n_branches, radius, idx, s, c0, j0, j1, budget).to(dtype)
            acc[:, c0:c1] += upper.to(torch.int64).sum(0)
        out[:, s:e] = acc.T
    return out


def _refine(q, x, n_branches, radius, idx, s, c0, j0, j1, budget) -> torch.Tensor:
    """Exact float64 counts for the (branch, query, class) triples in ``idx`` over inliers j0:j1."""
    w = q.shape[1] // n_branches
    q4 = q.view(q.shape[0], n_branches, w)
    x4 = x.view(x.shape[0], x.shape[1], n_branches, w)
    jn = j1 - j0
    step = max(1, budget // (3 * 8 * jn * w))
    parts = []
    for p0 in range(0, idx.shape[0], step):
        b, i, c = idx[p0:p0 + step].unbind(1)
        qq = q4[s + i, b].double()                                   # (P, w)
        xx = x4[c0 + c, j0:j1, b].double()                           # (P, jn, w)
        d = (qq[:, None, :] - xx).abs().sum(-1)                      # (P, jn)
        parts.append((d <= radius).sum(-1))
    return torch.cat(parts)


# --------------------------------------------------------------------------------------------
# Checks shared by the function and the estimator
# --------------------------------------------------------------------------------------------

def _as_float_tensor(a, name: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        t = a
    else:
        arr = np.asarray(a)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"'{name}' must be a torch.Tensor or a numeric array; got {type(a).__name__} "
                            f"of dtype {arr.dtype}.")
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"'{name}' must be real numbers; got dtype {t.dtype}.")
    if not t.is_floating_point():
        t = t.to(torch.float64)          # integer codes: float64 holds them exactly up to 2**53
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t


def _check_finite(t: torch.Tensor, name: str) -> None:
    if t.numel() == 0:
        return
    lo, hi = torch.aminmax(t)                        # one pass; NaN and inf show up in the extremes
    if math.isfinite(float(lo)) and math.isfinite(float(hi)):
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        n_nan = int(torch.isnan(t).sum())
        where = bad.nonzero()[:3].tolist()
        raise ValueError(f"'{name}' contains {int(bad.sum())} non-finite values ({n_nan} NaN), first at "
                         f"indices {where}. NaN codes usually mean the encoder diverged; check the checkpoint.")


def _check_n_branches(n_branches, dim: int, owner: str) -> None:
    if isinstance(n_branches, bool) or not isinstance(n_branches, (int, np.integer)) or n_branches < 1:
        raise ValueError(f"The 'n_branches' parameter of {owner} must be an int >= 1. Got {n_branches!r} instead.")
    if dim % n_branches:
        divisors = [d for d in range(1, dim + 1) if dim % d == 0]
        raise ValueError(f"The latent size D={dim} is not divisible by n_branches={n_branches}; "
                         f"choose n_branches among the divisors of {dim}: {divisors}.")


def _check_radius(radius, owner: str) -> None:
    if (isinstance(radius, bool) or not isinstance(radius, (int, float, np.floating, np.integer))
            or not math.isfinite(radius) or radius <= 0):
        raise ValueError(f"The 'radius' parameter of {owner} must be a finite float > 0. Got {radius!r} instead.")


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------

_SAVE_FORMAT = "corel.CorelDetector"
_SAVE_VERSION = 1


class CorelDetector(OutlierMixin, BaseEstimator):
    """One-class novelty detector: COREL's neighbour count against a set of inlier codes.

    Parameters
    ----------
    encoder : nn.Module or callable, optional
        Maps a float tensor batch (B, ...) to codes (B, D). If it has an ``encode`` method (as
        corel's autoencoders do, whose ``forward`` returns ``(x_hat, z)``), that is used. If
        None, ``X`` are codes already. An ``nn.Module`` is run in eval mode under ``no_grad``
        and its training flag is restored afterwards.
    n_branches : int, default=16
        Latent branches (the paper: 16 of 10 dims).
    radius : float, default=2.0
        Closed l1-ball radius per branch (the paper: eta = 2.0).
    contamination : float in (0, 0.5], default=0.1
        Expected share of outliers in the training set; sets ``offset_`` (sklearn) and
        ``threshold_`` (PyOD) only, never the scores.
    batch_size : int, default=1000
        Rows encoded per encoder call.
    device : str or torch.device, optional
        Where encoding and counting run. Default: the encoder's parameters' device, else CPU.

    Attributes
    ----------
    inlier_codes_ : torch.Tensor, shape (n_inliers, D)
        The encoded training set.
    training_scores_ : ndarray of int64, shape (n_inliers,)
        Leave-one-out scores of the training codes: each one's count among the *other*
        training codes (its own match, n_branches, removed), as LOF does for its training set.
    offset_ : float
        The ``contamination`` quantile of ``training_scores_``;
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        D, set only when ``encoder`` is None (X are codes).
    decision_scores_, threshold_, labels_ : PyOD view (read-only properties)
        ``-training_scores_`` (higher = more abnormal), ``-offset_``, and 1 for a training
        outlier (``decision_scores_ > threshold_``), else 0. Consistent with ``predict``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> det = CorelDetector(n_branches=2, radius=2.0).fit(rng.normal(size=(200, 4)))
    >>> det.predict(np.array([[0., 0., 0., 0.], [9., 9., 9., 9.]]))
    array([ 1, -1])
    """

    def __init__(self, encoder=None, n_branches: int = 16, radius: float = 2.0, contamination: float = 0.1,
                 batch_size: int = 1000, device=None):
        self.encoder = encoder
        self.n_branches = n_branches
        self.radius = radius
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device

    # ---- fitting and scoring ----------------------------------------------------------------

    def fit(self, X, y=None):
        """Encode ``X`` and keep the codes as the inlier set. ``y`` is ignored."""
        self._validate_params()
        codes = self._encode(X, fitted_dim=None)                       # (N, D)
        if codes.shape[0] == 0:
            raise ValueError("CorelDetector.fit got an empty inlier set (0 samples); it needs at least 1.")
        if codes.shape[1] == 0:
            raise ValueError("CorelDetector.fit got codes with 0 features (shape (n, 0)); codes need at least 1.")
        _check_n_branches(self.n_branches, codes.shape[1], "CorelDetector")
        self.inlier_codes_ = codes
        if self.encoder is None:
            self.n_features_in_ = codes.shape[1]
        loo = count_neighbors(codes, codes, self.n_branches, self.radius) - self.n_branches
        self.training_scores_ = loo.cpu().numpy()
        self.offset_ = float(np.percentile(self.training_scores_, 100.0 * self.contamination))
        return self

    def score_samples(self, X) -> np.ndarray:
        """COREL's score: summed per-branch neighbour counts (higher = more normal).

        Integers, returned as float64 as scikit-learn's outlier detectors do.
        """
        check_is_fitted(self, "inlier_codes_")
        codes = self._encode(X, fitted_dim=self.inlier_codes_.shape[1])
        if codes.shape[0] == 0:
            return np.zeros(0)
        counts = count_neighbors(codes, self.inlier_codes_, self.n_branches, self.radius)
        return counts.cpu().numpy().astype(np.float64)

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for predicted outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for outliers (``decision_function < 0``), as scikit-learn does.

        ``X`` is scored as new data: a training code passed here matches itself in every branch.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit, then label the *training* codes (+1 / -1) by their leave-one-out scores.

        As ``LocalOutlierFactor(novelty=False).fit_predict``: ``-1`` exactly where ``labels_``
        is 1. This differs from ``fit(X).predict(X)``, which scores X as new data and so counts
        each code's match with itself (``n_branches`` more).
        """
        return np.where(self.fit(X, y).labels_ == 1, -1, 1)

    # ---- the PyOD view, derived here only -----------------------------------------------------

    @property
    def decision_scores_(self) -> np.ndarray:
        check_is_fitted(self, "training_scores_")
        return -self.training_scores_.astype(np.float64)

    @property
    def threshold_(self) -> float:
        check_is_fitted(self, "offset_")
        return -self.offset_

    @property
    def labels_(self) -> np.ndarray:
        return (self.decision_scores_ > self.threshold_).astype(np.int64)

    # ---- persistence ------------------------------------------------------------------------

    def save(self, path) -> str:
        """Write the fitted state (codes, scores, parameters; never the encoder) with torch.save.

        The encoder is not stored: pass it to :meth:`load` again (save its state dict yourself).
        """
        check_is_fitted(self, "inlier_codes_")
        state = {
            "format": _SAVE_FORMAT, "version": _SAVE_VERSION,
            "params": {"n_branches": int(self.n_branches), "radius": float(self.radius),
                       "contamination": float(self.contamination), "batch_size": int(self.batch_size)},
            "had_encoder": self.encoder is not None,
            "inlier_codes": self.inlier_codes_.detach().cpu(),
            "training_scores": torch.from_numpy(np.asarray(self.training_scores_)),
            "offset": float(self.offset_),
        }
        path = os.fspath(path)
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path, encoder=None, device=None) -> CorelDetector:
        """Rebuild a fitted detector from :meth:`save`'s file (loaded with ``weights_only=True``)."""
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _SAVE_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a CorelDetector file (written by CorelDetector.save).")
        if state.get("version") != _SAVE_VERSION:
            raise ValueError(f"{os.fspath(path)!r} has CorelDetector file version {state.get('version')!r}; "
                             f"this corel reads version {_SAVE_VERSION}.")
        det = cls(encoder=encoder, device=device, **state["params"])
        det._validate_params()
        det.inlier_codes_ = state["inlier_codes"].to(det._device())
        if encoder is None:
            det.n_features_in_ = det.inlier_codes_.shape[1]
        det.training_scores_ = state["training_scores"].numpy()
        det.offset_ = float(state["offset"])
        return det

    # ---- helpers ----------------------------------------------------------------------------

    def _validate_params(self) -> None:
        if isinstance(self.n_branches, bool) or not isinstance(self.n_branches, (int, np.integer)) \
                or self.n_branches < 1:
            raise ValueError(f"The 'n_branches' parameter of CorelDetector must be an int >= 1. "
                             f"Got {self.n_branches!r} instead.")
        _check_radius(self.radius, "CorelDetector")
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, (int, float, np.floating)) or not (0 < c <= 0.5):
            raise ValueError(f"The 'contamination' parameter of CorelDetector must be a float in (0, 0.5]. "
                             f"Got {c!r} instead.")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, (int, np.integer)) \
                or self.batch_size < 1:
            raise ValueError(f"The 'batch_size' parameter of CorelDetector must be an int >= 1. "
                             f"Got {self.batch_size!r} instead.")
        if self.encoder is not None and not callable(self.encoder):
            raise TypeError(f"The 'encoder' parameter of CorelDetector must be None, an nn.Module or a callable. "
                            f"Got {type(self.encoder).__name__} instead.")
        self._device()

    def _device(self) -> torch.device:
        if self.device is not None:
            try:
                return torch.device(self.device)
            except (RuntimeError, TypeError) as err:
                raise ValueError(f"The 'device' parameter of CorelDetector must name a torch device such as "
                                 f"'cpu' or 'cuda:0'. Got {self.device!r} instead.") from err
        if isinstance(self.encoder, torch.nn.Module):
            for p in self.encoder.parameters():
                return p.device
        return torch.device("cpu")

    def _encode(self, X, fitted_dim: int | None) -> torch.Tensor:
        """Codes of ``X`` as a detached (N, D) float tensor on the detector's device.

        ``fitted_dim``: the latent size seen in fit (None while fitting), checked here.
        """
        device = self._device()
        codes = self._codes_of(X, device) if self.encoder is None else self._run_encoder(X, device)
        if fitted_dim is not None and codes.shape[0] and codes.shape[1] != fitted_dim:
            if self.encoder is None:
                raise ValueError(f"X has {codes.shape[1]} features, but CorelDetector is expecting {fitted_dim} "
                                 f"features as input (the latent size of the codes given to fit).")
            raise ValueError(f"The encoder gives codes of size {codes.shape[1]}, but CorelDetector was fitted on "
                             f"codes of size {fitted_dim}; score with the encoder used in fit.")
        return codes

    @staticmethod
    def _codes_of(X, device) -> torch.Tensor:
        if isinstance(X, torch.Tensor):
            codes = _as_float_tensor(X, "X")
            if codes.dim() != 2 or codes.shape[1] == 0:
                raise ValueError(f"Expected a 2-D array of codes (n_samples, latent_dim >= 1), got shape "
                                 f"{tuple(codes.shape)}. Reshape your data with X.reshape(1, -1) for a single "
                                 f"code, or pass an encoder to CorelDetector to score raw inputs.")
            codes = codes.detach().to(device)
            _check_finite(codes, "X")
            return codes
        # Arrays go through scikit-learn's own checks (sparse, complex, 1-D, NaN: its messages).
        arr = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=0, input_name="X")
        return torch.from_numpy(arr if arr.flags.writeable else arr.copy()).to(device)

    def _run_encoder(self, X, device) -> torch.Tensor:
        x = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
        if not x.is_floating_point():
            raise TypeError(f"CorelDetector feeds X to the encoder as floats; got dtype {x.dtype}. Convert it "
                            f"(images: x.float() / 255) before calling.")
        if x.dim() < 1:
            raise ValueError(f"X must have a batch dimension; got a scalar of shape {tuple(x.shape)}.")
        enc = getattr(self.encoder, "encode", self.encoder)
        module = self.encoder if isinstance(self.encoder, torch.nn.Module) else None
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        parts = []
        try:
            with torch.no_grad():
                for i in range(0, x.shape[0], self.batch_size):
                    b = min(self.batch_size, x.shape[0] - i)
                    z = enc(x[i:i + b].to(device))
                    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[0] != b:
                        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                        raise ValueError(f"The encoder must map a batch of B inputs to a (B, latent_dim) tensor; "
                                         f"got {got} for B={b}. An autoencoder whose forward returns (x_hat, z) "
                                         f"needs an encode() method.")
                    parts.append(z.detach())
        finally:
            if module is not None:
                module.train(was_training)
        if not parts:
            return torch.zeros(0, 0, device=device)
        codes = _as_float_tensor(torch.cat(parts).to(device), "encoded X")
        _check_finite(codes, "encoded X")
        return codes
