"""The theory of COREL as tools to measure and to plan with (Hofer et al., ICML 2019).

Setting: a set M of N codes in one latent branch (R^d with an l_p metric, the paper's l1) and
mini-batches of b of them. ``alpha``, ``epsilon`` and ``beta`` are the smallest, mean and largest
0-dim death time (MST edge length) of the batches.

What is exact and what is a bound:

* :func:`batch_death_stats` measures alpha / epsilon / beta on *sampled* batches. The theory's
  hypotheses speak of *every* b-subset, so sampled values are estimates: the sampled alpha is
  >= the true one and the sampled beta <= the true one.
* The smallest death over *all* b-subsets (b >= 2) is exactly the smallest pairwise distance of
  M (the shortest edge of a set is always an MST edge, and any pair lies in some b-subset);
  :func:`densification_check` reports it.
* Densification (a theorem, proof in :func:`densification_check`): if every b-subset of M has
  all deaths <= beta, every point of M has at least N - b + 1 other points within distance beta.
* Packing (a theorem): if moreover every death is >= alpha, the closed ball of radius beta
  around any code holds N - b + 2 codes pairwise >= alpha apart, so
  ``N - b + 2 <= P_d(alpha, beta)``, the largest number of points pairwise >= alpha apart in a
  closed ball of radius beta of R^d. :func:`packing_bounds` gives a rigorous upper bound
  (volume) and a rigorous lower bound (an explicit lattice packing) on P_d; P_d is exact for
  d = 1. The guideline functions only use the *upper* bound, so what they rule out is ruled
  out for certain; what they do not rule out is not thereby shown achievable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validation import check_float_tensor, check_positive, metric_to_p
from ..branches import split_branches
from ..topology.h0 import vr_persistence_0d

__all__ = ["BatchDeathStats", "batch_death_stats", "Densification", "densification_check",
           "packing_bounds", "lattice_packing", "max_codes", "min_batch_size", "min_beta_over_alpha",
           "Guideline", "batch_size_guideline", "format_guidelines", "write_guide"]


# ----------------------------------------------------------------------------- alpha, epsilon, beta
@dataclass(frozen=True)
class BatchDeathStats:
    """Death-time statistics of sampled mini-batches, per batch and branch.

    Attributes
    ----------
    alpha, epsilon, beta, std : ndarray, shape (n_batches, n_branches)
        Smallest, mean, largest death time and the std (ddof=0) of the b-1 deaths of each
        batch in each branch.
    batch_size : int
    """

    alpha: np.ndarray
    epsilon: np.ndarray
    beta: np.ndarray
    std: np.ndarray
    batch_size: int

    @property
    def n_batches(self) -> int:
        return self.alpha.shape[0]

    def summary(self) -> dict[str, float]:
        """Over all batches and branches: alpha = min, beta = max; epsilon, std and the
        relative spread std / epsilon as means of the per-batch values."""
        return {"alpha": float(self.alpha.min()), "epsilon": float(self.epsilon.mean()),
                "beta": float(self.beta.max()), "std": float(self.std.mean()),
                "relative_spread": float((self.std / self.epsilon).mean()),
                "mean_alpha": float(self.alpha.mean()), "mean_beta": float(self.beta.mean())}


def batch_death_stats(codes, batch_size: int, n_branches: int = 1, metric="l1", n_batches: int | None = None,
                      seed: int = 0) -> BatchDeathStats:
    """Per-batch alpha (min), epsilon (mean) and beta (max) of the 0-dim death times.

    The codes are shuffled with ``numpy.random.default_rng(seed)`` and cut into consecutive
    batches of ``batch_size`` (the last incomplete one dropped), as in training; when more
    batches are asked for than one pass gives, further passes are reshuffled. Each branch of
    each batch gets its own persistence (its own MST), as in :class:`corel.ConnectivityLoss`.

    Parameters
    ----------
    codes : tensor or array, shape (N, D)
    batch_size : int >= 2, <= N
    n_branches : int >= 1, dividing D
    metric : "l1" (the paper), "l2", "linf" or p >= 1
    n_batches : int, optional
        Default: one pass, ``N // batch_size`` batches.
    seed : int

    Returns
    -------
    BatchDeathStats
        Exact for the sampled batches; as estimates of the extremes over *every* b-subset, the
        sampled alpha is an upper and the sampled beta a lower estimate.

    Examples
    --------
    >>> s = batch_death_stats(torch.randn(1000, 20), batch_size=100, n_branches=2)
    >>> s.alpha.shape
    (10, 2)
    """
    z = _codes(codes)
    n = z.shape[0]
    b = _int(batch_size, "batch_size", 2)
    if b > n:
        raise ValueError(f"The 'batch_size' parameter must be <= the number of codes ({n}). Got {b}.")
    n_branches = _int(n_branches, "n_branches", 1)
    p = metric_to_p(metric)
    per_pass = n // b
    total = per_pass if n_batches is None else _int(n_batches, "n_batches", 1)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n)[:per_pass * b] for _ in range(math.ceil(total / per_pass))])
    idx = torch.from_numpy(order[:total * b]).reshape(total, b)               # (n_batches, b)
    split_branches(z[:2], n_branches)                                         # checks D % n_branches
    rows = []
    for chunk in idx.split(max(1, 2 ** 22 // (n_branches * b * b))):          # bound the (c, branches, b, b) memory
        zb = z[chunk].reshape(len(chunk), b, n_branches, -1).transpose(1, 2)  # (c, branches, b, D/branches)
        rows.append(vr_persistence_0d(zb, p).deaths)                          # (c, branches, b-1)
    deaths = torch.cat(rows).double()
    return BatchDeathStats(alpha=deaths.min(-1).values.numpy(), epsilon=deaths.mean(-1).numpy(),
                           beta=deaths.max(-1).values.numpy(), std=deaths.std(-1, correction=0).numpy(),
                           batch_size=b)


# ----------------------------------------------------------------------------- densification
@dataclass(frozen=True)
class Densification:
    """Neighbour counts inside the closed ball of radius beta against the bound N - b + 1.

    Attributes
    ----------
    counts : ndarray of int, shape (n_branches, N)
        For each branch and code: how many *other* codes lie within distance <= beta.
    bound : int
        N - b + 1, what the theorem guarantees when every b-subset has all deaths <= beta.
    min_distance : ndarray, shape (n_branches,)
        The smallest pairwise distance: exactly the smallest death over all b-subsets (alpha).
    beta : float
    batch_size : int
    """

    counts: np.ndarray
    bound: int
    min_distance: np.ndarray
    beta: float
    batch_size: int

    @property
    def fraction_satisfied(self) -> np.ndarray:
        """(n_branches,) fraction of codes with at least ``bound`` others inside the ball."""
        return (self.counts >= self.bound).mean(1)

    @property
    def min_count(self) -> np.ndarray:
        return self.counts.min(1)

    @property
    def median_count(self) -> np.ndarray:
        return np.median(self.counts, axis=1)

    def summary(self) -> dict:
        return {"n_codes": int(self.counts.shape[1]), "batch_size": self.batch_size, "beta": self.beta,
                "bound": self.bound, "fraction_satisfied": float(self.fraction_satisfied.mean()),
                "min_count": int(self.min_count.min()), "median_count": float(np.median(self.median_count)),
                "min_distance": float(self.min_distance.min())}


def densification_check(codes, beta: float, batch_size: int, n_branches: int = 1, metric="l1",
                        chunk_size: int = 1024) -> Densification:
    """Count, for each code, the other codes within ``beta``, against the bound N - b + 1.

    Theorem (densification). Let M be N >= b points of a metric space such that every subset of
    b points has all its 0-dim death times <= beta. Then every x in M has at least N - b + 1
    other points of M at distance <= beta.

    Proof: if x had at most N - b others within beta, at least b - 1 points would be farther
    than beta from x; together with x they form a b-subset S in which x's nearest neighbour is
    farther than beta. The edge from x to its nearest neighbour in S belongs to a minimum
    spanning tree of S, so S has a death > beta: a contradiction.

    The hypothesis is about *every* b-subset; on real codes it is usually only true for the
    sampled batches, so this function measures how far the conclusion holds (the fraction of
    codes meeting the bound) rather than assuming it.

    Parameters
    ----------
    codes : tensor or array, shape (N, D), N > batch_size
    beta : float > 0
        E.g. the largest death seen over training batches (:func:`batch_death_stats`).
    batch_size : int >= 2
        The b of the hypothesis.
    n_branches : int
        Each branch is checked on its own (the theory holds per branch).
    metric : "l1" (the paper), "l2", "linf" or p >= 1
    chunk_size : int
        Rows of the distance matrix computed at once (float64).

    Returns
    -------
    Densification

    Examples
    --------
    >>> grid = torch.arange(10.0)[:, None]               # 10 points on a line, spacing 1
    >>> densification_check(grid, beta=9.0, batch_size=2).fraction_satisfied
    array([1.])
    """
    z = _codes(codes)
    n = z.shape[0]
    beta = check_positive(beta, "beta", "densification_check")
    b = _int(batch_size, "batch_size", 2)
    if n <= b:
        raise ValueError(f"densification_check needs more codes than the batch size (N > b); got N={n}, b={b}. "
                         f"Pass more codes or a smaller batch_size.")
    p = metric_to_p(metric)
    branches = split_branches(z.double(), _int(n_branches, "n_branches", 1))   # (branches, N, d)
    counts = np.empty((branches.shape[0], n), dtype=np.int64)
    min_distance = np.full(branches.shape[0], np.inf)
    for k, zk in enumerate(branches):
        for start in range(0, n, chunk_size):
            dist = torch.cdist(zk[start:start + chunk_size], zk, p=p, compute_mode="donot_use_mm_for_euclid_dist")
            rows = torch.arange(dist.shape[0])
            dist[rows, rows + start] = math.inf                               # not its own neighbour
            counts[k, start:start + dist.shape[0]] = (dist <= beta).sum(1).numpy()
            min_distance[k] = min(min_distance[k], float(dist.min()))
    return Densification(counts=counts, bound=n - b + 1, min_distance=min_distance, beta=beta, batch_size=b)


# ----------------------------------------------------------------------------- packing
def packing_bounds(d: int, alpha: float, beta: float) -> tuple[int, int]:
    """Lower and upper bounds on P_d(alpha, beta), the most points of R^d (l1 metric) pairwise
    at distance >= alpha inside a closed l1 ball of radius beta.

    Upper bound (volume, valid for every norm): the open balls of radius alpha/2 around such
    points are disjoint and lie in the ball of radius beta + alpha/2, and volumes scale as
    r^d, so ``P_d <= ((2 beta + alpha) / alpha)^d``; the floor is returned.

    Lower bound (an explicit packing, see :func:`lattice_packing`): the checkerboard lattice
    D_d = {z in Z^d : sum(z) even} scaled by alpha/2 has l1 minimum distance alpha (a nonzero
    integer vector with even sum has even l1 norm, so >= 2). Its points in the ball are the z with
    ||z||_1 <= 2 beta / alpha and ||z||_1 even, counted exactly as
    ``sum over even m of #{z : ||z||_1 = m}``, ``#{||z||_1 = m} = sum_k 2^k C(d, k) C(m-1, k-1)``.

    d = 1 is exact: an interval of length 2 beta holds ``floor(2 beta / alpha) + 1`` points
    spaced alpha, and no more; both bounds are that number. For d = 2 and alpha = beta both
    bounds are 9, so P_2 = 9 exactly. Only the ratio beta / alpha matters.

    Parameters
    ----------
    d : int >= 1
    alpha, beta : float > 0

    Returns
    -------
    (lower, upper) : tuple of int (Python ints: exact even when huge)

    Examples
    --------
    >>> packing_bounds(2, 2.0, 2.0)
    (9, 9)
    >>> packing_bounds(10, 2.0, 2.0)
    (201, 59049)
    """
    d = _int(d, "d", 1)
    alpha = check_positive(alpha, "alpha", "packing_bounds")
    beta = check_positive(beta, "beta", "packing_bounds")
    ratio = 2.0 * beta / alpha
    r = math.floor(ratio * (1 + 1e-12))                 # 2 beta / alpha, robust to rounding at integers
    if d == 1:
        return r + 1, r + 1
    upper_real = _pow_exact(ratio + 1.0, d)
    if not math.isfinite(upper_real):
        raise ValueError(f"The volume bound ((2 beta + alpha) / alpha)^d overflows for d={d}, "
                         f"beta/alpha={beta / alpha:g}; use a smaller d.")
    upper = math.floor(upper_real * (1 + 1e-12))         # rounding up keeps it an upper bound
    lower = sum(_shell(d, m) for m in range(0, r + 1, 2))
    return lower, max(upper, lower)


def _shell(d: int, m: int) -> int:
    """Number of integer points of Z^d with l1 norm exactly m."""
    if m == 0:
        return 1
    return sum(2 ** k * math.comb(d, k) * math.comb(m - 1, k - 1) for k in range(1, min(d, m) + 1))


def _pow_exact(base: float, d: int) -> float:
    try:
        return base ** d
    except OverflowError:
        return math.inf


def lattice_packing(d: int, alpha: float, beta: float, max_points: int = 100_000) -> np.ndarray:
    """The points of the lower bound of :func:`packing_bounds` (d >= 2), as an (M, d) array.

    ``(alpha / 2) * z`` for every z in Z^d with even l1 norm <= 2 beta / alpha: pairwise l1
    distances >= alpha, all within the closed l1 ball of radius beta. For checks and pictures.
    """
    d = _int(d, "d", 1)
    lower, _ = packing_bounds(d, alpha, beta)
    if d == 1:
        r = lower - 1
        return (alpha * (np.arange(r + 1) - r / 2.0))[:, None]
    if lower > max_points:
        raise ValueError(f"The packing has {lower} points, more than max_points={max_points}; "
                         f"raise max_points or use packing_bounds for the count.")
    r = math.floor(2.0 * beta / alpha * (1 + 1e-12))
    pts = [np.zeros(d, dtype=np.int64)]
    frontier = {tuple(pts[0])}
    seen = set(frontier)
    for _ in range(r):                                    # breadth-first over unit steps
        nxt = set()
        for q in frontier:
            for i in range(d):
                for s in (-1, 1):
                    c = list(q)
                    c[i] += s
                    c = tuple(c)
                    if c not in seen and sum(map(abs, c)) <= r:
                        seen.add(c)
                        nxt.add(c)
        frontier = nxt
    z = np.array(sorted(p for p in seen if sum(map(abs, p)) % 2 == 0), dtype=np.float64)
    return z * (alpha / 2.0)


# ----------------------------------------------------------------------------- the guideline
def max_codes(d: int, alpha: float, beta: float, batch_size: int) -> int:
    """The most codes N for which every b-subset can have all deaths in [alpha, beta].

    From N - b + 2 <= P_d(alpha, beta) <= upper bound of :func:`packing_bounds`: more codes than
    ``upper + b - 2`` are impossible (a theorem). Fewer is not proven achievable.
    """
    b = _int(batch_size, "batch_size", 2)
    return packing_bounds(d, alpha, beta)[1] + b - 2


def min_batch_size(d: int, alpha: float, beta: float, n_codes: int) -> int:
    """The smallest batch size b not ruled out for N codes with all deaths in [alpha, beta].

    From N - b + 2 <= P_d(alpha, beta): ``b >= N - upper + 2`` (at least 2). Note the direction:
    for a fixed number of codes, the packing argument bounds the batch size from *below*; a
    larger batch only weakens the requirement (b = N asks nothing of the other codes).
    """
    n = _int(n_codes, "n_codes", 2)
    return max(2, n - packing_bounds(d, alpha, beta)[1] + 2)


def min_beta_over_alpha(d: int, n_codes: int, batch_size: int) -> float:
    """The smallest spread beta / alpha not ruled out for N codes, batches of b, dimension d.

    Solves ``(2 beta / alpha + 1)^d >= N - b + 2`` (the volume bound): below this ratio the
    deaths of all b-subsets cannot lie in [alpha, beta]. A value <= 1 means that even
    alpha = beta is not ruled out; 0 when N - b + 2 <= 1.
    """
    d = _int(d, "d", 1)
    need = _int(n_codes, "n_codes", 2) - _int(batch_size, "batch_size", 2) + 2
    if need <= 1:
        return 0.0
    return (need ** (1.0 / d) - 1.0) / 2.0


@dataclass(frozen=True)
class Guideline:
    """The packing argument for one latent (sub)space dimension; see :func:`batch_size_guideline`."""

    d: int
    alpha: float
    beta: float
    batch_size: int
    n_codes: int
    packing_lower: int
    packing_upper: int
    max_codes: int              # more codes are impossible at this batch size
    min_batch_size: int         # smaller batches are impossible for n_codes
    min_beta_over_alpha: float  # a smaller spread is impossible for n_codes and batch_size

    @property
    def required(self) -> int:
        """N - b + 2: codes pairwise >= alpha apart that one ball of radius beta must hold."""
        return self.n_codes - self.batch_size + 2

    @property
    def ruled_out(self) -> bool:
        """True when deaths in [alpha, beta] for every b-subset of n_codes codes are impossible."""
        return self.required > self.packing_upper


def batch_size_guideline(d: int, alpha: float = 2.0, beta: float = 2.0, batch_size: int = 100,
                         n_codes: int = 50_000) -> Guideline:
    """Can N codes in a d-dim branch (l1) have every b-subset's deaths in [alpha, beta]?

    Theorem chain: deaths >= alpha for every b-subset => pairwise distances >= alpha; deaths
    <= beta => (densification) a ball of radius beta around any code holds >= N - b + 2 codes;
    so ``N - b + 2 <= P_d(alpha, beta) <= ((2 beta + alpha) / alpha)^d``. ``ruled_out`` is
    certain; "not ruled out" only means the volume bound does not forbid it. The capacity grows
    exponentially with d: at alpha = beta it is at most 3^d (9 in 2-D, 59049 in 10-D).

    Parameters
    ----------
    d : int >= 1
        Dimension of the branch (the paper: 10).
    alpha, beta : float > 0, alpha <= beta
        The targeted range of death times (alpha = beta = eta: perfect homogeneity).
    batch_size : int >= 2
    n_codes : int >= batch_size
        How many codes the batches are drawn from (the training set: 50,000 for CIFAR-10).

    Examples
    --------
    >>> batch_size_guideline(10, 2.0, 2.0, 100, 50_000).ruled_out
    False
    >>> batch_size_guideline(2, 1.9, 2.1, 50, 1_500).ruled_out
    True
    """
    d = _int(d, "d", 1)
    b = _int(batch_size, "batch_size", 2)
    n = _int(n_codes, "n_codes", 2)
    if n < b:
        raise ValueError(f"The 'n_codes' parameter must be >= batch_size ({b}); got {n}.")
    if alpha > beta:
        raise ValueError(f"alpha must be <= beta (the smallest and largest death); got alpha={alpha}, beta={beta}.")
    lower, upper = packing_bounds(d, alpha, beta)
    return Guideline(d=d, alpha=float(alpha), beta=float(beta), batch_size=b, n_codes=n, packing_lower=lower,
                     packing_upper=upper, max_codes=upper + b - 2, min_batch_size=max(2, n - upper + 2),
                     min_beta_over_alpha=min_beta_over_alpha(d, n, b))


def format_guidelines(rows: list[Guideline]) -> str:
    """A Markdown table of :func:`batch_size_guideline` results, one row per dimension."""
    if not rows:
        return ""
    g = rows[0]
    lines = [f"Packing guideline, l1, alpha = {g.alpha:g}, beta = {g.beta:g}, batch size b = {g.batch_size}, "
             f"N = {g.n_codes:,} codes (a ball of radius beta must hold N - b + 2 = {g.required:,} codes pairwise "
             f">= alpha apart):", "",
             "| d | packing lower bound | packing upper bound | max codes at b | min batch size for N | "
             "min beta/alpha for N, b | verdict |", "|---|---|---|---|---|---|---|"]
    for g in rows:
        verdict = "ruled out" if g.ruled_out else "not ruled out"
        ratio = f"{g.min_beta_over_alpha:.3g}" if g.min_beta_over_alpha > 1 else "<= 1 (alpha = beta allowed)"
        lines.append(f"| {g.d} | {g.packing_lower:,} | {g.packing_upper:,} | {g.max_codes:,} | {g.min_batch_size:,} | "
                     f"{ratio} | {verdict} |")
    lines += ["", "Upper bound: volume argument (rigorous); lower bound: the D_d lattice packing (rigorous); "
              "exact for d = 1. 'ruled out' is certain; 'not ruled out' is not a proof of feasibility."]
    return "\n".join(lines)


def write_guide(out_dir, dims=range(1, 21), alpha: float = 2.0, beta: float = 2.0, batch_size: int = 100,
                n_codes: int = 50_000) -> tuple[str, dict]:
    """The guideline for every d of ``dims``: ``guide.md`` (the table) and ``guide.png`` (the bounds
    against d beside N - b + 2) in ``out_dir``. Returns the table text and the paths."""
    from .. import plots

    rows = [batch_size_guideline(d, alpha, beta, batch_size, n_codes) for d in dims]
    if not rows:
        raise ValueError("The range of dimensions is empty; give d_min <= d_max.")
    text = format_guidelines(rows)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / "guide.md"}
    paths["table"].write_text(text + "\n")
    paths["plot"] = plots.plot_packing_bounds(
        [g.d for g in rows], [g.packing_lower for g in rows], [g.packing_upper for g in rows], rows[0].required,
        out / "guide.png", title=f"l1 packing capacity at beta/alpha = {beta / alpha:g} (b = {batch_size}, "
                                 f"N = {n_codes:,})")
    return text, paths


# ----------------------------------------------------------------------------- helpers
def _codes(codes) -> torch.Tensor:
    if isinstance(codes, np.ndarray):
        codes = torch.from_numpy(np.ascontiguousarray(codes))
    z = check_float_tensor(codes, "codes", min_dim=2)
    if z.dim() != 2:
        raise ValueError(f"'codes' must be a 2-D (N, D) array; got shape {tuple(z.shape)}.")
    return z.detach().cpu()


def _int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"The '{name}' parameter must be an int >= {low}. Got {value!r} instead.")
    return int(value)
