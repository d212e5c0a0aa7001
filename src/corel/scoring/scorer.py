"""Label-free novelty scores of query codes against n inlier codes, beside the paper's count.

Every scorer works per branch (the latent dims cut into ``n_branches`` consecutive slices, as
the connectivity loss cuts them), computes a per-branch *normality* from the l1 distances of
the query to the inliers, and aggregates the branches. Higher always means more normal (the
paper's convention; PyOD's ``decision_function`` is its negation).

Per-branch normality (``kind``):

* ``count``: inliers within the closed l1 ball of radius r (the paper, with r = eta = 2).
* ``soft``: sum over the inliers of ``exp(-d / r)``, a Laplace kernel in l1: the count with
  its hard edge smoothed, so ties vanish and near misses still count a little.
* ``knn``: minus the l1 distance to the k-th nearest inlier (``k_stat="kth"``), or minus the
  mean distance to the k nearest (``k_stat="mean"``).

Relative to a reference (``reference`` = M > 0, knn only): per branch, minus the log of the ratio
of the query's knn distance to the inliers over its knn distance to M *unlabelled* reference codes
(e.g. images the encoder was trained on, labels unused). A query in a dense part of code space
(a dog among many animals) is near the inliers of any class; the ratio asks whether it is nearer
to them than to images in general, a density ratio p(x | inliers) / p(x). The reference codes
come from the caller (:func:`corel.protocols.oneclass.evaluate_one_class` draws M from its inlier pool);
their per-branch log distances are computed once per query set by :meth:`Scorer.reference_term`.

Two encoders side by side (a :class:`corel.training.models.StackedEncoder`, ``pool_rule="fused"``,
``fuse_at`` = the first encoder's branches): the first encoder's knn normality plus the second's
ratio, each standardised by the inliers' own leave-one-out scores under it
(:mod:`corel.scoring.pool_rules`'s ``knnA+ratioB``). The standardisation needs the inliers' scores,
so a fused scorer scores through :class:`corel.scoring.fitted.FittedScorer` (what ``CorelDetector``
and ``corel score`` use), not :meth:`Scorer.score` alone; :meth:`Scorer.fused_parts` gives its two parts.

Branch aggregation (``aggregate``): ``sum`` (the paper), ``mean``, ``max``, ``median``.

Radius (``radius``): a number, or ``"auto"``: per branch, the ``radius_quantile`` quantile of the
0-dim death times (minimum spanning tree edge lengths, l1) of the n inlier codes themselves.
That is the scale the connectivity loss trained towards eta, read off the inliers alone: no
labels and no hand-set scale.

``Scorer()`` with its defaults is the paper's score, computed by the exact count kernel.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ..branches import split_branches
from .counting import count_neighbors
from .settings import AGGREGATES, POOL_RULES, scorer_fields
from ..topology.h0 import vr_persistence_0d

__all__ = ["Scorer", "KINDS", "AGGREGATES", "POOL_RULES", "parse_scorer"]

KINDS = ("count", "soft", "knn")
K_STATS = ("kth", "mean")
# Bytes of the (branches, queries, inliers) distance block computed at once.
_BLOCK_BYTES = 64 * 2**20
# Smallest distance a log ratio sees: a query equal to k inliers is very normal, not infinitely.
_MIN_DISTANCE = 1e-12


@dataclass(frozen=True)
class Scorer:
    """How query codes are scored against inlier codes; see the module docstring."""

    kind: str = "count"
    radius: float | str = 2.0
    radius_quantile: float = 0.5
    k: int = 5
    k_stat: str = "mean"
    aggregate: str = "sum"
    reference: int = 0
    pool_rule: str = "ratio"
    fuse_at: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Unknown scorer kind {self.kind!r}; choose one of {list(KINDS)}.")
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"Unknown branch aggregation {self.aggregate!r}; choose one of {list(AGGREGATES)}.")
        if self.k_stat not in K_STATS:
            raise ValueError(f"Unknown k statistic {self.k_stat!r}; choose one of {list(K_STATS)}.")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be an int >= 1; got {self.k!r}.")
        if isinstance(self.radius, str):
            if self.radius != "auto":
                raise ValueError(f"radius must be a number > 0 or 'auto'; got {self.radius!r}.")
        elif not (isinstance(self.radius, (int, float)) and math.isfinite(self.radius) and self.radius > 0):
            raise ValueError(f"radius must be a finite number > 0 or 'auto'; got {self.radius!r}.")
        if not 0.0 <= self.radius_quantile <= 1.0:
            raise ValueError(f"radius_quantile must lie in [0, 1]; got {self.radius_quantile!r}.")
        if isinstance(self.reference, bool) or not isinstance(self.reference, int) or self.reference < 0:
            raise ValueError(f"reference must be an int >= 0 (0: off); got {self.reference!r}.")
        if self.pool_rule not in POOL_RULES:
            raise ValueError(f"Unknown pool rule {self.pool_rule!r}; choose one of {list(POOL_RULES)}.")
        if isinstance(self.fuse_at, bool) or not isinstance(self.fuse_at, int) or self.fuse_at < 0:
            raise ValueError(f"fuse_at must be an int >= 0 (the first encoder's branches); got {self.fuse_at!r}.")
        if self.pool_rule == "fused" and self.kind != "knn":
            raise ValueError(f"pool_rule='fused' adds knn scores of a stack's two encoders: it needs "
                             f"--scorer knn-mean (or knn-kth), not {self.kind!r}.")
        if self.fuse_at and self.pool_rule != "fused":
            raise ValueError(f"fuse_at is used by pool_rule='fused' only; got pool_rule={self.pool_rule!r}.")
        if self.reference and self.kind != "knn":
            raise ValueError(f"A reference set divides knn distances; it needs kind='knn' (--scorer knn-mean), "
                             f"not {self.kind!r}.")

    @property
    def is_paper(self) -> bool:
        return self.kind == "count" and self.aggregate in ("sum", "mean") and self.radius != "auto"

    def describe(self) -> str:
        if self.kind == "knn":
            what = f"knn ({'k-th' if self.k_stat == 'kth' else 'mean of'} {self.k} nearest l1)"
        else:
            r = (f"radius = q{self.radius_quantile:g} of the inliers' death times" if self.radius == "auto"
                 else f"radius {self.radius:g}")
            what = f"{self.kind} ({r})"
        if self.pool_rule == "fused" and not self.reference:
            what = f"the first {self.fuse_at} branches' {what} (the first encoder of a stack; no pool)"
        elif self.pool_rule == "fused":
            what = (f"the first {self.fuse_at} branches' {what} plus the other branches' knn distance over that "
                    f"to {self.reference} unlabelled reference codes (log ratio), each standardised by the inliers' "
                    f"own scores")
        elif self.reference and self.pool_rule == "ratio":
            what += f" over the knn distance to {self.reference} unlabelled reference codes (log ratio)"
        elif self.reference:
            what += (f" over the knn distance to {self.reference} unlabelled reference codes, that distance capped "
                     f"at the inliers' median (clipped log ratio)")
        return f"{what}, branches aggregated by {self.aggregate}"

    def as_dict(self) -> dict:
        d = asdict(self)
        if not self.reference:   # as before references existed: older fingerprints stay valid
            del d["reference"]
        if self.pool_rule == "ratio":
            del d["pool_rule"]
        if not self.fuse_at:
            del d["fuse_at"]
        return d

    def fused_parts(self, n_branches: int) -> list[tuple[int, int, Scorer]]:
        """``pool_rule="fused"``: ``(first branch, end branch, scorer)`` of each encoder of the stack: the
        first encoder's knn without the pool, the second's ratio to the pool; without a pool
        (``reference`` = 0) the first encoder's knn alone (the second's term is its ratio)."""
        if self.pool_rule != "fused":
            raise ValueError(f"fused_parts is for pool_rule='fused'; this scorer's is {self.pool_rule!r}.")
        if not 1 <= self.fuse_at < n_branches:
            raise ValueError("pool_rule='fused' scores a stack of two encoders (`corel stack A B`, or a shipped "
                             "pair, `corel models`); this model is not one: use pool_rule 'clip' or 'ratio'.")
        plain = dict(kind="knn", k=self.k, k_stat=self.k_stat, aggregate=self.aggregate)
        first = (0, self.fuse_at, Scorer(**plain))
        if not self.reference:
            return [first]
        return [first, (self.fuse_at, n_branches, Scorer(**plain, reference=self.reference, pool_rule="ratio"))]

    # ------------------------------------------------------------------------------------------
    def score(self, queries: torch.Tensor, inliers: torch.Tensor, n_branches: int,
              reference_term: torch.Tensor | None = None, inlier_reference_term: torch.Tensor | None = None
              ) -> torch.Tensor:
        """Normality of (Q, D) ``queries`` against (n, D) or (C, n, D) ``inliers``: (Q,) or (C, Q) float64.

        ``reference_term``: :meth:`reference_term` of these queries; required when ``reference`` > 0.
        ``inlier_reference_term``: :meth:`reference_term` of the (one set of) inliers, (n_branches, n);
        required by ``pool_rule="clip"``, whose cap is its per-branch median.
        """
        self._not_fused()
        single = inliers.dim() == 2
        sets = inliers[None] if single else inliers
        self._check_reference_term(reference_term, queries.shape[0], n_branches)
        cap = self.clip_cap(inlier_reference_term, n_branches)
        if cap is not None and not single:
            raise ValueError("pool_rule='clip' scores one inlier set at a time (its cap is that set's median).")
        if self.is_paper:
            out = count_neighbors(queries, sets, n_branches, float(self.radius)).double()
            out = out / n_branches if self.aggregate == "mean" else out
        else:
            out = torch.stack([self._score_one(queries, s, n_branches, reference_term=reference_term, cap=cap)
                               for s in sets])
        return out[0] if single else out

    def reference_term(self, queries: torch.Tensor, reference: torch.Tensor, n_branches: int) -> torch.Tensor:
        """(n_branches, Q) float64: the log of each branch's knn distance of ``queries`` to the (M, D)
        unlabelled ``reference`` codes; computed once per query set, whatever the inliers."""
        if reference.dim() != 2 or reference.shape[0] == 0 or reference.shape[1] != queries.shape[1]:
            raise ValueError(f"reference codes must be a non-empty (M, {queries.shape[1]}) array; got shape "
                             f"{tuple(reference.shape)}.")
        plain = Scorer(kind="knn", k=self.k, k_stat=self.k_stat)
        distance = -plain._branch_normality(split_branches(queries, n_branches).double(),
                                            split_branches(reference, n_branches).double().to(queries.device), None)
        return torch.log(distance.clamp_min(_MIN_DISTANCE))

    def clip_cap(self, inlier_reference_term: torch.Tensor | None, n_branches: int) -> torch.Tensor | None:
        """(n_branches, 1) cap of the clipped ratio: the inliers' median log distance to the pool; None unless clip."""
        if not (self.reference and self.pool_rule == "clip"):
            if inlier_reference_term is not None:
                raise ValueError("inlier_reference_term is used by pool_rule='clip' only.")
            return None
        if inlier_reference_term is None or inlier_reference_term.dim() != 2 \
                or inlier_reference_term.shape[0] != n_branches:
            raise ValueError("pool_rule='clip' needs inlier_reference_term=scorer.reference_term(inliers, reference, "
                             "n_branches), shape (n_branches, n).")
        return inlier_reference_term.double().quantile(0.5, dim=1, keepdim=True)

    def _not_fused(self) -> None:
        if self.pool_rule == "fused":
            raise ValueError("pool_rule='fused' standardises each encoder's score by the inliers' own scores: score "
                             "through corel.scoring.fitted.FittedScorer (as CorelDetector and corel score do).")

    def _check_reference_term(self, term, n_queries: int, n_branches: int) -> None:
        if not self.reference:
            if term is not None:
                raise ValueError("A reference_term was given to a scorer without a reference (reference=0).")
            return
        if term is None:
            raise ValueError(f"This scorer divides by the distance to {self.reference} reference codes: pass "
                             f"reference_term=scorer.reference_term(queries, reference_codes, n_branches).")
        if tuple(term.shape) != (n_branches, n_queries):
            raise ValueError(f"reference_term must have shape (n_branches, queries) = ({n_branches}, {n_queries}); "
                             f"got {tuple(term.shape)}.")

    def radii(self, inliers: torch.Tensor, n_branches: int) -> torch.Tensor:
        """Per-branch radius (n_branches,) for one (n, D) inlier set."""
        if self.radius != "auto":
            return torch.full((n_branches,), float(self.radius), dtype=torch.float64)
        x = split_branches(inliers, n_branches).detach().double()                  # (B, n, w)
        deaths = vr_persistence_0d(x, metric="l1").deaths                       # (B, n - 1)
        r = torch.quantile(deaths, self.radius_quantile, dim=1)
        return r.clamp_min(torch.finfo(torch.float64).tiny)

    def score_leave_one_out(self, inliers: torch.Tensor, n_branches: int, groups=None,
                            reference_term: torch.Tensor | None = None) -> torch.Tensor:
        """Each inlier scored against the *other* inliers (n,), as LOF scores its training set.

        ``groups`` (n,) ints, optional: rows of one group (e.g. the test-time views of one image)
        are all left out together. The radius ('auto') is read off all n inliers, the one left
        out included.
        """
        self._not_fused()
        if groups is not None:
            groups = torch.as_tensor(groups).to(inliers.device)
            if groups.shape != (inliers.shape[0],):
                raise ValueError(f"groups must hold one int per inlier ({inliers.shape[0]}); got shape "
                                 f"{tuple(groups.shape)}.")
        self._check_reference_term(reference_term, inliers.shape[0], n_branches)
        cap = self.clip_cap(reference_term, n_branches) if self.pool_rule == "clip" and self.reference else None
        return self._score_one(inliers, inliers, n_branches, leave_one_out=True, groups=groups,
                               reference_term=reference_term, cap=cap)

    def _score_one(self, queries: torch.Tensor, inliers: torch.Tensor, n_branches: int,
                   leave_one_out: bool = False, groups=None, reference_term=None, cap=None) -> torch.Tensor:
        q = split_branches(queries, n_branches).double()                             # (B, Q, w)
        x = split_branches(inliers, n_branches).double().to(q.device)                # (B, n, w)
        radii = None if self.kind == "knn" else self.radii(inliers, n_branches).to(q.device)
        per_branch = self._branch_normality(q, x, radii, leave_one_out, groups)  # (B, Q)
        if self.reference:   # minus log(distance to the inliers / distance to the reference)
            ref = reference_term.to(per_branch.device)
            if cap is not None:   # the clipped ratio: no query is more normal for being far from the pool
                ref = torch.minimum(ref, cap.to(ref.device))
            per_branch = ref - torch.log((-per_branch).clamp_min(_MIN_DISTANCE))
        return _aggregate(per_branch, self.aggregate)

    def _branch_normality(self, q, x, radii, leave_one_out: bool = False, groups=None) -> torch.Tensor:
        """(B, Q) per-branch normality of the branch-split queries ``q`` (B, Q, w) against ``x`` (B, n, w)."""
        if self.kind == "knn" and not leave_one_out and q.device.type == "cpu" and x.shape[1] > 0:
            return -_knn_l1_cpu(q, x, min(self.k, x.shape[1]), self.k_stat == "kth")
        per_q = max(1, _BLOCK_BYTES // (8 * q.shape[0] * max(1, x.shape[1])))
        parts = []
        for a in range(0, q.shape[1], per_q):
            d = torch.cdist(q[:, a:a + per_q], x, p=1)                         # (B, chunk, n)
            if leave_one_out and groups is not None:   # a query's whole group must not count
                d[:, groups[a:a + per_q, None] == groups[None, :]] = math.inf
            elif leave_one_out:   # query a + i is inlier a + i: its own distance must not count
                i = torch.arange(d.shape[1], device=d.device)
                d[:, i, a + i] = math.inf
            parts.append(self._per_branch(d, radii))
        return torch.cat(parts, dim=1)

    def _per_branch(self, d: torch.Tensor, radii: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "count":
            return (d <= radii[:, None, None]).sum(-1).double()
        if self.kind == "soft":
            return torch.exp(-d / radii[:, None, None]).sum(-1)
        k = min(self.k, d.shape[-1])
        nearest = d.topk(k, dim=-1, largest=False).values                       # (B, Q, k), ascending
        if not torch.isfinite(nearest).all():   # fewer than k others (leave-one-out of a tiny set)
            nearest = torch.where(torch.isfinite(nearest), nearest, nearest[..., :1])
        return -(nearest[..., -1] if self.k_stat == "kth" else nearest.mean(-1))


def _knn_l1_cpu(q: torch.Tensor, x: torch.Tensor, k: int, kth: bool) -> torch.Tensor:
    """(B, Q) mean (or k-th) of the k smallest l1 distances, by the Numba kernel; queries split over
    torch's intra-op threads (the kernel releases the GIL)."""
    import numpy as np
    from ._knn_kernels import knn_l1
    qn = q.contiguous().numpy()
    xt = x.transpose(1, 2).contiguous().numpy()                                # (B, w, n): inliers contiguous
    out = np.empty(qn.shape[:2])
    workers = max(1, min(torch.get_num_threads(), qn.shape[1] // 256))
    if workers == 1:
        knn_l1(qn, xt, k, kth, out)
    else:
        from concurrent.futures import ThreadPoolExecutor
        cuts = np.linspace(0, qn.shape[1], workers + 1).astype(int)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda ab: knn_l1(qn[:, ab[0]:ab[1]], xt, k, kth, out[:, ab[0]:ab[1]]),
                          zip(cuts[:-1], cuts[1:])))
    return torch.from_numpy(out)


def _aggregate(per_branch: torch.Tensor, how: str) -> torch.Tensor:
    if how == "sum":
        return per_branch.sum(0)
    if how == "mean":
        return per_branch.mean(0)
    if how == "max":
        return per_branch.max(0).values
    return per_branch.median(0).values


def parse_scorer(kind: str = "count", radius="2.0", radius_quantile: float = 0.5, k: int = 5,
                 aggregate: str = "sum", reference: int = 0, pool_rule: str = "ratio", fuse_at: int = 0) -> Scorer:
    """A Scorer from the settings in words (:mod:`corel.scoring.settings`): ``kind`` is count, soft,
    knn-mean or knn-kth; radius a number or auto."""
    return Scorer(**scorer_fields(kind, radius, radius_quantile, int(k), aggregate, pool_rule, int(reference),
                                  int(fuse_at)))
