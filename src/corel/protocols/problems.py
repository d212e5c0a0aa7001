"""One-class protocols whose novelty may be new to the unlabelled pool, and to the encoder.

The paper's protocol scores every class against all others, and corel's reference scorers divide
by the distance to an unlabelled *pool* of training images that holds every kind of image. A
novelty detector exists to flag what it has not seen, so this module states each protocol as a
list of :class:`Problem`\\ s: one inlier class, the classes whose queries are its outliers, and
the classes the unlabelled pool may hold. Labels only build these splits; they never enter a score.

* ``standard``: every class against all others, the pool holds every class.
* ``pool-without``: class c against a set B of other classes that the pool lacks (the pool holds c
  and the rest); B rotates over the other classes (:func:`pool_without_problems`).
* ``never-trained``: an encoder trained on half of the classes; each class of that half against the
  other half's classes, which neither the encoder nor the pool saw (:func:`never_trained_problems`).

:func:`run_problems` runs any list of problems on codes, with every drawn inlier in all its
test-time views and a query's score the sum over its views, and scores each problem with several
:mod:`scoring rules <corel.scoring.pool_rules>` at once (their distances are shared).

The pool of a problem is drawn *stratified*: each class's pool codes in one seeded order, and the
first ``round(M / |S|)`` of each class in the allowed set S. Then the k nearest pool codes of a
query for any S are the k nearest among the per-class k nearest, computed once per class.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Problem", "PROTOCOLS", "standard_problems", "pool_without_problems", "never_trained_problems",
           "read_halves", "ProblemResult", "run_problems", "reference_pools", "pool_rng"]

PROTOCOLS = ("standard", "pool-without", "never-trained")


@dataclass(frozen=True)
class Problem:
    """One one-vs-rest problem: ``inlier`` against ``outliers``; the pool may hold only ``pool``."""

    inlier: int
    outliers: tuple
    pool: tuple
    rotation: int = 0

    def __post_init__(self):
        if self.inlier in self.outliers:
            raise ValueError(f"Class {self.inlier} is both the inlier and an outlier of a problem.")
        if not self.outliers:
            raise ValueError(f"The problem of class {self.inlier} has no outlier class.")

    def query_mask(self, labels) -> np.ndarray:
        """Which of the query ``labels`` belong to this problem: its inlier and its outlier classes."""
        return np.isin(np.asarray(labels), (self.inlier, *self.outliers))


def standard_problems(classes) -> list[Problem]:
    """Every class against all others; the pool holds every class (the paper's protocol)."""
    classes = tuple(int(c) for c in classes)
    return [Problem(c, tuple(o for o in classes if o != c), classes) for c in classes]


def pool_without_problems(classes, rotations: int = 3) -> list[Problem]:
    """Class c against ``(C - 1) // 2`` other classes that the pool lacks, in ``rotations`` rotations.

    The other classes are taken in the cyclic order after c (c + 1, c + 2, ...), turned left by the
    rotation r; the last ``(C - 1) // 2`` of them are the left-out outliers B, the first ones (and c)
    make up the pool. With 10 classes and r = 0: the pool holds c and the next five, the queries'
    outliers are the last four.
    """
    classes = tuple(int(c) for c in classes)
    n_out = (len(classes) - 1) // 2
    if n_out < 1:
        raise ValueError(f"The pool-without protocol needs at least 3 classes; got {len(classes)}.")
    if not 1 <= rotations <= len(classes) - 1:
        raise ValueError(f"rotations must lie in 1..{len(classes) - 1} (the other classes); got {rotations}.")
    problems = []
    for i, c in enumerate(classes):
        others = [classes[(i + j) % len(classes)] for j in range(1, len(classes))]
        for r in range(rotations):
            turned = others[r:] + others[:r]
            left_out, kept = tuple(sorted(turned[-n_out:])), tuple(sorted(turned[:-n_out] + [c]))
            problems.append(Problem(c, left_out, kept, r))
    return problems


def never_trained_problems(trained, classes) -> list[Problem]:
    """Each class the encoder trained on against every class it did not; the pool holds the trained ones."""
    trained, classes = tuple(sorted(int(c) for c in trained)), tuple(int(c) for c in classes)
    unseen = tuple(c for c in classes if c not in trained)
    if not trained or not unseen:
        raise ValueError("The never-trained protocol needs classes on both sides: the encoder's training "
                         f"classes ({len(trained)}) and classes it never saw ({len(unseen)}).")
    return [Problem(c, unseen, trained) for c in trained]


def read_halves(path, class_names) -> dict[str, tuple[str, ...]]:
    """``{"A": names, "B": names}`` from a file of lines ``A: n1, n2, ...`` (``#`` starts a comment).

    Every name must be a class of the data set, no class on both sides, no side empty.
    """
    from pathlib import Path
    halves: dict[str, tuple[str, ...]] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        side, sep, names = line.partition(":")
        if not sep or not side.strip():
            raise ValueError(f"{path} line {n}: expected 'A: name, name, ...'; got {line!r}.")
        halves[side.strip()] = tuple(s.strip() for s in names.split(",") if s.strip())
    if sorted(halves) != ["A", "B"]:
        raise ValueError(f"{path} must name two halves, 'A:' and 'B:'; it names {sorted(halves) or 'none'}.")
    for side, names in halves.items():
        if not names:
            raise ValueError(f"{path}: half {side} names no class; give each half at least one class.")
        unknown = [c for c in names if c not in class_names]
        if unknown:
            raise ValueError(f"{path}: half {side} names unknown class(es) {unknown}; the data set's classes are "
                             f"{list(class_names)}.")
    both = sorted(set(halves["A"]) & set(halves["B"]))
    if both:
        raise ValueError(f"{path}: class(es) {both} are in both halves.")
    return halves


@dataclass
class ProblemResult:
    """AUROC x 100 of each problem (rows) and draw (columns), per scoring rule."""

    problems: list
    auroc: dict = field(default_factory=dict)     # rule name -> (P, draws) array
    scores_draw0: dict = field(default_factory=dict)   # rule name -> {problem index: (Q,) normality}

    def per_class(self, rule: str) -> dict[int, float]:
        """Mean AUROC per inlier class over its problems (rotations) and draws."""
        a = self.auroc[rule]
        out: dict[int, list] = {}
        for p, row in zip(self.problems, a):
            out.setdefault(p.inlier, []).append(row)
        return {c: float(np.mean(rows)) for c, rows in out.items()}

    def mean(self, rule: str) -> float:
        return float(np.mean(list(self.per_class(rule).values())))

    def one_class_result(self, rule: str, class_names, query_labels, *, n: int, draws: int, seed: int,
                         n_branches: int, radius: float = 2.0):
        """``rule``'s AUROCs as a :class:`corel.protocols.oneclass.OneClassResult`: one row per inlier class, each draw
        the mean over that class's problems (rotations). Draw-0 scores only where every problem scored
        every query (the standard protocol)."""
        from .oneclass import OneClassResult
        inliers = list(dict.fromkeys(p.inlier for p in self.problems))
        auroc = np.stack([self.auroc[rule][[i for i, p in enumerate(self.problems) if p.inlier == c]].mean(0)
                          for c in inliers])
        kept = self.scores_draw0.get(rule, {})
        full = len(kept) == len(self.problems) == len(inliers)
        return OneClassResult(class_names=tuple(class_names[c] for c in inliers), classes=np.asarray(inliers),
                              auroc=auroc, n=int(n), draws=int(draws), radius=float(radius),
                              n_branches=int(n_branches), seed=int(seed), test_labels=_labels(query_labels),
                              scores_draw0=np.stack([kept[i] for i in range(len(self.problems))]) if full else None)


def pool_rng(seed: int, label: int) -> np.random.Generator:
    """The order in which class ``label``'s pool codes join a reference pool: its own stream."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(2**31 - 2, int(label) + 2**20)))


def run_problems(pool_codes, pool_labels, query_codes, query_labels, problems, rules, *, n: int = 120,
                 draws: int = 5, seed: int = 0, n_branches: int = 16, k: int = 5, kth: bool = False,
                 reference: int = 8000, pool_views=(), query_views=(), progress=None) -> ProblemResult:
    """Score every problem with every rule; AUROC of inlier vs outlier queries per problem and draw.

    ``pool_codes`` (N, D) with ``pool_labels``: where inliers are drawn from (``draw_rng`` of
    :mod:`corel.protocols.oneclass`, the paper's draws) and each problem's unlabelled reference pool
    (:func:`reference_pools`). ``query_codes`` (Q, D), ``query_labels``: the scored images.
    ``pool_views`` / ``query_views``: the same images' codes in other views, row for row.
    ``rules``: ``{name: rule}`` of :mod:`corel.scoring.pool_rules`. ``kth``: the k-th distance instead of
    the mean of the k nearest. The rules' scores of draw 0 are kept for problems whose queries are
    the whole query set (``ProblemResult.scores_draw0``, normality: higher = more normal).
    """
    from .oneclass import draw_loop

    pool_y, query_y = _labels(pool_labels), _labels(query_labels)
    pool_all = [_codes(pool_codes)] + [_codes(v) for v in pool_views]
    query_all = [_codes(query_codes)] + [_codes(v) for v in query_views]
    if any(v.shape != pool_all[0].shape for v in pool_all) or any(v.shape != query_all[0].shape for v in query_all):
        raise ValueError("Each view must hold the codes of the same images (the same shape, row for row).")
    if pool_all[0].shape[1] != query_all[0].shape[1]:
        raise ValueError(f"pool codes have {pool_all[0].shape[1]} dims but query codes {query_all[0].shape[1]}; "
                         f"encode both with the same model.")
    classes = sorted(int(c) for c in np.unique(pool_y))
    members = [np.flatnonzero(pool_y == c) for c in classes]
    class_index = {c: i for i, c in enumerate(classes)}
    for p in problems:
        have = len(members[class_index[p.inlier]]) if p.inlier in class_index else 0
        if have < n:
            raise ValueError(f"Class {p.inlier} has {have} pool codes, fewer than n={n} to draw without "
                             f"replacement; lower n.")
    stat = (lambda t: t[..., -1]) if kth else (lambda t: t.mean(-1))
    ref_index = reference_pools(pool_y, problems, reference, seed) if reference > 0 else {}
    ref_log = _query_pool_logs(pool_all[0], pool_y, query_all, ref_index, reference, seed, n_branches, k, stat,
                               progress)
    scoring = _RuleScoring(pool_all, query_all, query_y, rules, ref_index, ref_log, n_branches, n, k, stat)
    inliers = [class_index[c] for c in dict.fromkeys(p.inlier for p in problems)]
    by_class: dict[int, list] = {}
    for i, p in enumerate(problems):
        by_class.setdefault(class_index[p.inlier], []).append((i, p))
    jobs, auroc, first = draw_loop(members, inliers, n, draws, seed, scoring, problems_of=by_class.get,
                                   progress=progress)
    order = [i for _, (i, _) in jobs]                  # row of draw_loop -> problem index
    result = ProblemResult(list(problems), {name: np.empty((len(problems), draws)) for name in rules})
    for name in rules:
        result.auroc[name][order] = auroc[name]
        kept = {order[row]: -values for row, values in first[name].items()
                if bool(problems[order[row]].query_mask(query_y).all())}
        if kept:
            result.scores_draw0[name] = kept
    return result


class _RuleScoring:
    """:func:`corel.protocols.oneclass.draw_loop`'s scoring for the pool rules: per draw, each class's knn
    distances (queries and leave-one-out inliers, every view) once; per problem, its pool's terms and
    every rule on its own queries (novelty, higher = more novel)."""

    def __init__(self, pool_all, query_all, query_y, rules, ref_index, ref_log, n_branches, n, k, stat):
        from ..scoring.pool_rules import branch_view_codes
        self.pool_all, self.query_y, self.rules, self.ref_log = pool_all, query_y, rules, ref_log
        self.n_branches, self.n, self.k, self.stat = n_branches, n, k, stat
        self.query_b = [branch_view_codes(q, n_branches) for q in query_all]
        pool_b = branch_view_codes(pool_all[0], n_branches)
        # each pool's indices sorted, and its codes, once (not per problem and draw)
        self.ref_sorted = {pool: np.sort(idx) for pool, idx in ref_index.items()}
        self.ref_codes = {pool: pool_b[:, idx] for pool, idx in self.ref_sorted.items()}

    def prepare(self, picks: np.ndarray) -> list:
        from ..scoring.pool_rules import branch_view_codes, knn_topk, loo_knn_mean
        out = []
        views = len(self.pool_all)
        for pick in picks:
            inl_b = branch_view_codes(torch.cat([v[pick] for v in self.pool_all], dim=0), self.n_branches)
            d_in = [self.stat(knn_topk(q, inl_b, self.k)) for q in self.query_b]
            d_loo = loo_knn_mean(inl_b, torch.arange(self.n).repeat(views), self.k)
            out.append((pick, inl_b, d_in, d_loo))
        return out

    def score(self, state: list, i: int, job) -> dict:
        from ..scoring.pool_rules import Ingredients, self_excluded_topk
        _, p = job
        pick, inl_b, d_in, d_loo = state[i]
        views = len(self.pool_all)
        keep = torch.as_tensor(p.query_mask(self.query_y))
        inlier_ref = [None] * views
        if self.ref_log:
            ref = self.ref_sorted[p.pool]
            own = torch.as_tensor(np.searchsorted(ref, pick).clip(max=len(ref) - 1)).repeat(views)
            in_ref = torch.as_tensor(np.isin(pick, ref)).repeat(views)
            logs = torch.log(self.stat(self_excluded_topk(inl_b, self.ref_codes[p.pool], self.k, own,
                                                          in_ref)).clamp_min(1e-12))
            inlier_ref = _by_view(logs, views, self.n)
        ing = Ingredients(query_dist=[x[:, keep] for x in d_in],
                          query_ref_log=[x[:, keep] for x in self.ref_log[p.pool]] if self.ref_log else None,
                          inlier_dist=_by_view(d_loo, views, self.n), inlier_ref_log=inlier_ref)
        outlier = self.query_y[keep.numpy()] != p.inlier
        return {name: (outlier, rule(ing).numpy()) for name, rule in self.rules.items()}


def _query_pool_logs(pool, pool_y, query_all, ref_index, reference, seed, n_branches, k, stat, progress):
    """Per allowed set, per view: (B, Q) log of each query's knn distance to that reference pool.

    A pool of every class is the uniform draw of :func:`corel.protocols.oneclass.reference_rng` (the standard
    protocol's, unchanged); a restricted pool merges per-class k nearest (stratified prefixes).
    """
    from ..scoring.pool_rules import branch_view_codes, knn_topk
    if not ref_index:
        return {}
    pool_b = branch_view_codes(pool, n_branches)
    all_classes = tuple(sorted(int(c) for c in np.unique(pool_y)))
    orders = _pool_orders(pool_y, seed)
    shares = {_share(reference, len(s)) for s in ref_index if s != all_classes}
    logs = {s: [] for s in ref_index}
    for v, q in enumerate(query_all):
        qb = branch_view_codes(q, n_branches)
        tops = {(c, m): knn_topk(qb, pool_b[:, orders[c][:m]], k) for c in all_classes for m in shares}
        for s, idx in ref_index.items():
            if s == all_classes:
                near = knn_topk(qb, pool_b[:, np.sort(idx)], k)
            else:
                m = _share(reference, len(s))
                near = torch.cat([tops[(c, m)] for c in s], dim=-1).topk(k, dim=-1, largest=False).values
            logs[s].append(torch.log(stat(near).clamp_min(1e-12)))
        if progress:
            progress(f"pool distances, view {v + 1} of {len(query_all)}")
    return logs


def reference_pools(pool_labels, problems, reference: int, seed: int = 0) -> dict[tuple, np.ndarray]:
    """The pool indices of each problem's reference pool, keyed by its allowed classes.

    A pool of every class: ``reference`` codes drawn uniformly once (:func:`corel.protocols.oneclass.reference_rng`,
    as the standard protocol always drew it). A restricted pool is stratified: the first
    ``round(reference / |S|)`` codes of each allowed class in its :func:`pool_rng` order. A pool
    never holds a class outside its allowed set (checked on the labels).
    """
    from .oneclass import reference_rng
    pool_y = _labels(pool_labels)
    orders = _pool_orders(pool_y, seed)
    all_classes = tuple(sorted(orders))
    pools = {}
    for p in problems:
        if p.pool in pools:
            continue
        if tuple(sorted(p.pool)) == all_classes:
            pick = reference_rng(seed).choice(len(pool_y), size=min(reference, len(pool_y)), replace=False)
            pools[p.pool] = np.sort(pick)
            continue
        missing = [c for c in p.pool if c not in orders]
        if missing:
            raise ValueError(f"The pool of class {p.inlier} should hold class(es) {missing}, which have no pool codes.")
        m = _share(reference, len(p.pool))
        idx = np.concatenate([orders[c][:m] for c in p.pool])
        if not set(np.unique(pool_y[idx]).tolist()) <= set(p.pool):
            raise AssertionError("a reference pool holds a class outside its allowed set")
        pools[p.pool] = idx
    return pools


def _pool_orders(pool_y: np.ndarray, seed: int) -> dict[int, np.ndarray]:
    orders = {}
    for c in np.unique(pool_y):
        members = np.flatnonzero(pool_y == c)
        orders[int(c)] = members[pool_rng(seed, int(c)).permutation(len(members))]
    return orders


def _by_view(x: torch.Tensor, n_views: int, n: int) -> list[torch.Tensor]:
    """(B, n x views) -> per view (B, n)."""
    return [x[:, v * n:(v + 1) * n] for v in range(n_views)]


def _share(reference: int, n_classes: int) -> int:
    return max(1, int(round(reference / n_classes)))


def _codes(a) -> torch.Tensor:
    t = torch.as_tensor(a).detach().cpu()
    if t.dim() != 2 or not t.is_floating_point():
        raise ValueError(f"codes must be a 2-D float array; got shape {tuple(t.shape)}, dtype {t.dtype}.")
    if not torch.isfinite(t).all():
        raise ValueError("codes hold NaN or inf; check the encoder's input.")
    return t.float()


def _labels(a) -> np.ndarray:
    return (a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)).astype(np.int64)
