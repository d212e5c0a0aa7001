"""COREL's novelty score: an exact, chunked count of neighbours in closed l1 balls.

The score of a query code q against a set of inlier codes X (Hofer et al., ICML 2019):
split the latent dims into ``n_branches`` equal consecutive slices; in each branch count the
inliers x with ``||q_b - x_b||_1 <= radius`` (a closed ball); sum over the branches. Higher means
more normal; the score is an integer. :class:`corel.scoring.detector.CorelDetector` wraps it as a
scikit-learn estimator.

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
from dataclasses import dataclass

import torch

from .._validation import as_float_tensor, check_finite_codes, check_n_branches, check_radius

__all__ = ["count_neighbors"]

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
    q = as_float_tensor(queries, "queries")
    x = as_float_tensor(inliers, "inliers")
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
    check_n_branches(n_branches, q.shape[1], "count_neighbors")
    check_radius(radius, "count_neighbors")
    for value, name in ((chunk_size, "chunk_size"), (memory_budget, "memory_budget")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"The '{name}' parameter of count_neighbors must be None or an int >= 1. "
                             f"Got {value!r} instead.")
    check_finite_codes(q, "queries")
    check_finite_codes(x, "inliers")
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
