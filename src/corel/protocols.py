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
:mod:`scoring rules <corel.pool_scoring>` at once (their distances are shared).

The pool of a problem is drawn *stratified*: each class's pool codes in one seeded order, and the
first ``round(M / |S|)`` of each class in the allowed set S. Then the k nearest pool codes of a
query for any S are the k nearest among the per-class k nearest, computed once per class.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

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

    def per_class(self, rule: str) -> dict[int, float]:
        """Mean AUROC per inlier class over its problems (rotations) and draws."""
        a = self.auroc[rule]
        out: dict[int, list] = {}
        for p, row in zip(self.problems, a):
            out.setdefault(p.inlier, []).append(row)
        return {c: float(np.mean(rows)) for c, rows in out.items()}

    def mean(self, rule: str) -> float:
        return float(np.mean(list(self.per_class(rule).values())))


def pool_rng(seed: int, label: int) -> np.random.Generator:
    """The order in which class ``label``'s pool codes join a reference pool: its own stream."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(2**31 - 2, int(label) + 2**20)))


def run_problems(pool_codes, pool_labels, query_codes, query_labels, problems, rules, *, n: int = 120,
                 draws: int = 5, seed: int = 0, n_branches: int = 16, k: int = 5, reference: int = 8000,
                 pool_views=(), query_views=(), progress=None) -> ProblemResult:
    """Score every problem with every rule; AUROC of inlier vs outlier queries per problem and draw.

    ``pool_codes`` (N, D) with ``pool_labels``: where inliers are drawn from (``draw_rng`` of
    :mod:`corel.evaluate`, the paper's draws) and the unlabelled reference pool of each problem
    (stratified, :func:`pool_rng`). ``query_codes`` (Q, D), ``query_labels``: the scored images.
    ``pool_views`` / ``query_views``: the same images' codes in other views, row for row.
    ``rules``: ``{name: rule}`` of :mod:`corel.pool_scoring`.
    """
    from .evaluate import draw_rng
    from .pool_scoring import Ingredients, branch_view_codes, knn_topk, loo_knn_mean, self_excluded_topk

    pool_y = _labels(pool_labels)
    query_y = _labels(query_labels)
    pool_all = [_codes(pool_codes)] + [_codes(v) for v in pool_views]
    query_all = [_codes(query_codes)] + [_codes(v) for v in query_views]
    classes = sorted({int(c) for c in np.unique(pool_y)})
    members = {c: np.flatnonzero(pool_y == c) for c in classes}
    orders = _pool_orders(pool_y, seed)
    per_class_m = {_share(reference, len(p.pool)) for p in problems}
    ref_index = reference_pools(pool_y, problems, reference, seed)

    # Per view, each query's k nearest pool codes of each class (prefix m of that class's order).
    ref_log = {pool: [] for pool in ref_index}               # per view: (B, Q) log knn distance to the pool
    pool_b = [branch_view_codes(v, n_branches) for v in pool_all[:1]]   # the pool is in the identity view
    for v, q in enumerate(query_all):
        qb = branch_view_codes(q, n_branches)
        tops = {(c, m): knn_topk(qb, pool_b[0][:, orders[c][:m]], k) for c in classes for m in per_class_m}
        for pool in ref_index:
            m = _share(reference, len(pool))
            merged = torch.cat([tops[(c, m)] for c in pool], dim=-1).topk(k, dim=-1, largest=False).values
            ref_log[pool].append(torch.log(merged.mean(-1).clamp_min(1e-12)))
        if progress:
            progress(f"pool distances, view {v + 1} of {len(query_all)}")

    result = ProblemResult(list(problems), {name: np.empty((len(problems), draws)) for name in rules})
    by_inlier: dict[int, list[int]] = {}
    for i, p in enumerate(problems):
        by_inlier.setdefault(p.inlier, []).append(i)
    class_index = {c: i for i, c in enumerate(classes)}
    for c, rows in by_inlier.items():
        for d in range(draws):
            pick = members[c][draw_rng(seed, class_index[c], d).choice(len(members[c]), size=n, replace=False)]
            inl = torch.cat([v[pick] for v in pool_all], dim=0)                        # (n x views, D)
            groups = torch.arange(n).repeat(len(pool_all))
            inl_b = branch_view_codes(inl, n_branches)
            d_in = [knn_topk(branch_view_codes(q, n_branches), inl_b, k).mean(-1) for q in query_all]
            d_loo = loo_knn_mean(inl_b, groups, k)                                      # (B, n x views)
            for i in rows:
                p = problems[i]
                keep = np.isin(query_y, (p.inlier,) + tuple(p.outliers))
                positive = query_y[keep] == p.inlier
                ref = ref_index[p.pool]
                own = torch.as_tensor(np.searchsorted(np.sort(ref), pick), dtype=torch.long)
                in_ref = torch.as_tensor(np.isin(pick, ref))
                ref_sorted = pool_b[0][:, np.sort(ref)]
                inl_ref = self_excluded_topk(inl_b, ref_sorted, k, own.repeat(len(pool_all)),
                                             in_ref.repeat(len(pool_all)))                 # (B, n x views, k)
                ing = Ingredients(
                    query_dist=[x[:, torch.as_tensor(keep)] for x in d_in],
                    query_ref_log=[x[:, torch.as_tensor(keep)] for x in ref_log[p.pool]],
                    inlier_dist=_by_view(d_loo, len(pool_all), n),
                    inlier_ref_log=_by_view(torch.log(inl_ref.mean(-1).clamp_min(1e-12)), len(pool_all), n))
                for name, rule in rules.items():
                    novelty = rule(ing).numpy()
                    result.auroc[name][i, d] = 100.0 * roc_auc_score(~positive, novelty)
        if progress:
            progress(f"class {c} done")
    return result


def reference_pools(pool_labels, problems, reference: int, seed: int = 0) -> dict[tuple, np.ndarray]:
    """The pool indices of each problem's reference pool, keyed by its allowed classes.

    Stratified: the first ``round(reference / |S|)`` codes of each allowed class in its
    :func:`pool_rng` order. A pool never holds a class outside its allowed set (checked on the labels).
    """
    pool_y = _labels(pool_labels)
    orders = _pool_orders(pool_y, seed)
    pools = {}
    for p in problems:
        if p.pool in pools:
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
