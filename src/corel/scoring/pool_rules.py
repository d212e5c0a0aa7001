"""Scoring rules that combine the distance to the inliers with the distance to an unlabelled pool.

Each rule maps the :class:`Ingredients` of one problem to a *novelty* per query (higher = more
novel), summed over the test-time views. The ingredients are per view and per branch (the latent
cut into the connectivity loss's branches): the mean l1 distance of a query to its k nearest
inliers, the log of the same to the unlabelled pool, and both again for the inliers themselves
(each scored against the other inliers, its own views left out, and against the pool without
itself), which gives a rule the inliers' own spread to standardise with.

Rules:

* ``knn``: the distance to the inliers (corel's plain scorer, no pool).
* ``ratio``: log distance to the inliers minus log distance to the pool, a density ratio
  p(x | inliers) / p(x). Strong when the pool holds the novelty's kind, blind when it does not:
  a query far from both looks normal.
* ``guard``: the larger of the two standardised novelties, knn's and ratio's, each standardised
  by the inliers' own scores (mean and std): a query is novel when either says so.
* ``guard-log``: the same with the log-knn distance in place of the knn distance.
* ``clip``: the ratio with the pool's log distance clipped at the inliers' median, so that a query
  farther from the pool than the inliers are is judged by its distance to the inliers alone.
* ``half``: log distance to the inliers minus half the log distance to the pool.

Codes of several encoders side by side: :func:`fused` standardises one rule per encoder and adds
them (:func:`pair_rules`, :func:`trio_rules`: the combinations measured on validation).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from ..branches import split_branches

__all__ = ["Ingredients", "RULES", "branch_groups", "branch_view_codes", "fused", "pair_rules", "trio_rules", "knn_topk",
           "loo_knn_mean", "rule_of", "self_excluded_topk"]

_CHUNK_BYTES = 64 * 2**20


@dataclass
class Ingredients:
    """Per view, (B, queries) / (B, inliers) float tensors of one problem and draw."""

    query_dist: list          # mean l1 distance to the k nearest inliers
    query_ref_log: list       # log of the mean l1 distance to the k nearest pool codes
    inlier_dist: list         # the same for each inlier, its own image's views left out
    inlier_ref_log: list      # each inlier's log distance to the pool, itself left out


def _sum(parts, f=lambda x: x) -> torch.Tensor:
    """Sum over views and branches of ``f(part)`` -> (n,)."""
    return sum(f(p).sum(0) for p in parts)


def _log(x):
    return torch.log(x.clamp_min(1e-12))


def _standardised(query: torch.Tensor, inliers: torch.Tensor) -> torch.Tensor:
    return (query - inliers.mean()) / inliers.std().clamp_min(1e-12)


def knn(ing: Ingredients) -> torch.Tensor:
    return _sum(ing.query_dist)


def log_knn(ing: Ingredients) -> torch.Tensor:
    return _sum(ing.query_dist, _log)


def ratio(ing: Ingredients) -> torch.Tensor:
    return _sum(ing.query_dist, _log) - _sum(ing.query_ref_log)


def _ratio_inliers(ing: Ingredients) -> torch.Tensor:
    return _sum(ing.inlier_dist, _log) - _sum(ing.inlier_ref_log)


def guard(ing: Ingredients) -> torch.Tensor:
    z_knn = _standardised(knn(ing), _sum(ing.inlier_dist))
    z_ratio = _standardised(ratio(ing), _ratio_inliers(ing))
    return torch.maximum(z_knn, z_ratio)


def guard_log(ing: Ingredients) -> torch.Tensor:
    z_knn = _standardised(log_knn(ing), _sum(ing.inlier_dist, _log))
    z_ratio = _standardised(ratio(ing), _ratio_inliers(ing))
    return torch.maximum(z_knn, z_ratio)


def _clip_terms(ing: Ingredients, quantile: float = 0.5) -> list:
    """Per view, (B, queries): log knn distance minus the pool's log distance capped at the inliers' level."""
    # (B, 1): the inliers' own level, over all their views (as corel.scoring.scorer.Scorer.clip_cap)
    cap = torch.quantile(torch.cat(ing.inlier_ref_log, dim=1), quantile, dim=1, keepdim=True)
    return [_log(d) - torch.minimum(r, cap) for d, r in zip(ing.query_dist, ing.query_ref_log)]


def clip(ing: Ingredients, quantile: float = 0.5) -> torch.Tensor:
    return sum(t.sum(0) for t in _clip_terms(ing, quantile))


def half(ing: Ingredients) -> torch.Tensor:
    return _sum(ing.query_dist, _log) - 0.5 * _sum(ing.query_ref_log)


RULES = {"knn": knn, "log-knn": log_knn, "ratio": ratio, "guard": guard, "guard-log": guard_log,
         "clip": clip, "half": half}


def branch_weights(ing: Ingredients, power: float = 1.0) -> torch.Tensor:
    """(B, 1): per branch, how much closer the inliers lie to each other than to the pool (their mean
    knn distance to the pool over their mean leave-one-out knn distance), to the ``power``: branches
    along which the normal class is tight against generic images count more. The pool sets only
    a scale per branch, never a query's own term."""
    to_pool = torch.cat([torch.exp(r) for r in ing.inlier_ref_log], dim=1).mean(1)
    to_each_other = torch.cat(ing.inlier_dist, dim=1).mean(1).clamp_min(1e-12)
    w = (to_pool / to_each_other) ** power
    return (w / w.mean())[:, None]


def weighted_knn(ing: Ingredients, power: float = 1.0) -> torch.Tensor:
    w = branch_weights(ing, power)
    return sum((w * d).sum(0) for d in ing.query_dist)


def weighted_clip(ing: Ingredients, power: float = 1.0) -> torch.Tensor:
    w = branch_weights(ing, power)
    return sum((w * t).sum(0) for t in _clip_terms(ing))


# Variants measured on validation beside the rules above (scripts/unseen_scorers.py --variants).
VARIANTS = {"clip-q25": lambda ing: clip(ing, 0.25), "clip-q75": lambda ing: clip(ing, 0.75),
            "clip-q90": lambda ing: clip(ing, 0.9), "clip-max": lambda ing: clip(ing, 1.0),
            "wknn": weighted_knn, "wknn-p2": lambda ing: weighted_knn(ing, 2.0),
            "wclip": weighted_clip, "wclip-p2": lambda ing: weighted_clip(ing, 2.0)}


# ------------------------------------------------------------------------------ two encoders
def branch_groups(ing: Ingredients, sizes) -> list:
    """The ingredients of codes concatenated from several encoders, cut back into one per encoder
    (``sizes``: each encoder's number of branches, in the order of the concatenation)."""
    bounds = np.cumsum([0, *sizes])
    if bounds[-1] != ing.query_dist[0].shape[0]:
        raise ValueError(f"the branch groups {list(sizes)} do not add up to the codes' "
                         f"{ing.query_dist[0].shape[0]} branches.")

    def cut(parts, a, b):
        return None if parts is None else [x[a:b] for x in parts]
    return [Ingredients(cut(ing.query_dist, a, b), cut(ing.query_ref_log, a, b), cut(ing.inlier_dist, a, b),
                        cut(ing.inlier_ref_log, a, b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _inliers_as_queries(ing: Ingredients) -> Ingredients:
    """The inliers scored like queries (their leave-one-out distances), for a rule's own spread."""
    return Ingredients(ing.inlier_dist, ing.inlier_ref_log, ing.inlier_dist, ing.inlier_ref_log)


def fused(terms, sizes):
    """A rule for codes concatenated from several encoders: a weighted sum of rules, each applied to
    one encoder's branches (``terms``: ``(encoder index, rule, weight[, floor])``; ``sizes``: each
    encoder's number of branches) and standardised by the inliers' own scores under it, so that no
    encoder's or rule's scale outweighs another's. A ``floor`` raises a term's standardised score to at
    least that value: a rule may then add novelty but never vouch for a query below that level of
    the inliers' own scores."""
    def rule(ing: Ingredients) -> torch.Tensor:
        parts = branch_groups(ing, sizes)
        total = 0
        for group, r, weight, *rest in terms:
            floor = rest[0] if rest else None
            part = parts[group]
            z = _standardised(r(part), r(_inliers_as_queries(part)))
            if floor is not None:
                z = z.clamp_min(floor)
            total = total + weight * z
        return total
    return rule


def pair_rules(sizes) -> dict:
    """The fused rules of two encoders A and B measured on validation (``scripts/unseen_scorers.py
    --with``): a rule of A's branches plus a rule of B's, standardised (``knnA+ratioB``: A's knn
    distance and B's density ratio), some with a weight; and single rules of one encoder (``ratioB``),
    whose AUROC is that encoder's alone (a standardisation does not change the ranking)."""
    named = {"knn": knn, "ratio": ratio, "clip": clip, "guard-log": guard_log, "log-knn": log_knn}
    combos = {"knnA": [("knn", 0)], "clipA": [("clip", 0)], "ratioA": [("ratio", 0)], "ratioB": [("ratio", 1)],
              "knnA+knnB": [("knn", 0), ("knn", 1)], "clipA+clipB": [("clip", 0), ("clip", 1)],
              "ratioA+ratioB": [("ratio", 0), ("ratio", 1)], "clipA+ratioB": [("clip", 0), ("ratio", 1)],
              "knnA+ratioB": [("knn", 0), ("ratio", 1)], "knnA+ratioA": [("knn", 0), ("ratio", 0)],
              "knnA+guard-logB": [("knn", 0), ("guard-log", 1)],
              "knnA+ratioA+ratioB": [("knn", 0), ("ratio", 0), ("ratio", 1)],
              "knnA+clipA+ratioB": [("knn", 0), ("clip", 0), ("ratio", 1)],
              "knnA+log-knnB+ratioB": [("knn", 0), ("log-knn", 1), ("ratio", 1)],
              "2knnA+ratioB": [("knn", 0, 2.0), ("ratio", 1)], "knnA+2ratioB": [("knn", 0), ("ratio", 1, 2.0)]}
    # B's pool distance capped at a high quantile of the inliers' own (the clipped rule's cap, raised):
    # a ratio for queries the pool covers, B's knn for those far from it.
    for q in (0.5, 0.8, 0.95):
        named[f"clip{q:g}"] = functools.partial(clip, quantile=q)
        combos[f"knnA+clip{q:g}B"] = [("knn", 0), (f"clip{q:g}", 1)]
    # B's ratio with more weight, and floored: B's standardised ratio raised to at least -1 or 0 (the
    # inliers' mean), so that B adds novelty but cannot vouch for a query far from its pool.
    for w in (1.5, 3.0):
        combos[f"knnA+{w:g}ratioB"] = [("knn", 0), ("ratio", 1, w)]
    for w in (1.0, 2.0, 3.0):
        for f in (-1.0, 0.0):
            combos[f"knnA+{w:g}ratioB>={f:g}"] = [("knn", 0), ("ratio", 1, w, f)]
    combos["clipA+2ratioB"] = [("clip", 0), ("ratio", 1, 2.0)]
    return _fused_combos(combos, named, sizes)


def trio_rules(sizes) -> dict:
    """Fused rules of three encoders A, B, C (``scripts/unseen_scorers.py --with B --third C``), C
    another seed of A's recipe: A's and C's knn distances (an ensemble of the recipe with the
    connectivity loss) beside B's density ratio, and the pair rules of A and B for reference."""
    named = {"knn": knn, "ratio": ratio, "clip": clip}
    combos = {"knnA": [("knn", 0)], "knnC": [("knn", 2)], "ratioB": [("ratio", 1)], "clipA": [("clip", 0)],
              "knnA+ratioB": [("knn", 0), ("ratio", 1)], "knnA+knnC": [("knn", 0), ("knn", 2)],
              "knnA+knnC+ratioB": [("knn", 0), ("knn", 2), ("ratio", 1)],
              "knnA+knnC+2ratioB": [("knn", 0), ("knn", 2), ("ratio", 1, 2.0)],
              "clipA+clipC+ratioB": [("clip", 0), ("clip", 2), ("ratio", 1)],
              "knnA+knnC+ratioB+ratioC": [("knn", 0), ("knn", 2), ("ratio", 1), ("ratio", 2)]}
    return _fused_combos(combos, named, sizes)


def _fused_combos(combos: dict, named: dict, sizes) -> dict:
    """``{name: [(rule name, encoder index[, weight[, floor]]), ...]}`` -> ``{name: fused rule}``."""
    return {name: fused([(t[1], named[t[0]], t[2] if len(t) > 2 else 1.0, t[3] if len(t) > 3 else None)
                         for t in spec], sizes)
            for name, spec in combos.items()}


# ----------------------------------------------------------------------------------- distances
def branch_view_codes(z: torch.Tensor, n_branches: int) -> torch.Tensor:
    """(N, D) codes -> (B, N, D / B): the branches the connectivity loss cuts the latent into."""
    return split_branches(z, n_branches).contiguous()


def knn_topk(q: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, Q, k) float64: per branch, the k smallest l1 distances of each query to ``x``, ascending.

    ``q`` (B, Q, w), ``x`` (B, n, w); fewer than k codes in ``x`` repeat the largest distance.
    """
    from ._knn_kernels import knn_l1_topk
    kk = min(k, x.shape[1])
    out = np.empty((q.shape[0], q.shape[1], kk))
    qn = q.double().contiguous().numpy()            # float64 as corel.scoring.scorer's knn: the same ranks
    xt = x.double().transpose(1, 2).contiguous().numpy()
    knn_l1_topk(qn, xt, out)
    t = torch.from_numpy(out)
    return t if kk == k else torch.cat([t, t[..., -1:].expand(-1, -1, k - kk)], dim=-1)


def loo_knn_mean(x: torch.Tensor, groups: torch.Tensor, k: int) -> torch.Tensor:
    """(B, n) mean of the k smallest l1 distances of each row of ``x`` (B, n, w) to the rows of other groups."""
    d = torch.cdist(x.double(), x.double(), p=1)                             # (B, n, n): n is small (inliers)
    d[:, groups[:, None] == groups[None, :]] = float("inf")
    kk = min(k, int((groups != groups[0]).sum()))
    return d.topk(max(kk, 1), dim=-1, largest=False).values.mean(-1)


def self_excluded_topk(q: torch.Tensor, x: torch.Tensor, k: int, own: torch.Tensor, in_x: torch.Tensor) -> torch.Tensor:
    """(B, Q, k) like :func:`knn_topk`, where query i never counts row ``own[i]`` of ``x`` when ``in_x[i]``
    (an inlier that is itself in the pool is not its own neighbour)."""
    per = max(1, _CHUNK_BYTES // (8 * q.shape[0] * max(1, x.shape[1])))
    parts = []
    for a in range(0, q.shape[1], per):
        d = torch.cdist(q[:, a:a + per].double(), x.double(), p=1)             # (B, chunk, n)
        rows = torch.arange(d.shape[1])
        mask = in_x[a:a + per]
        d[:, rows[mask], own[a:a + per][mask]] = float("inf")
        parts.append(d.topk(min(k, x.shape[1] - 1), dim=-1, largest=False).values)
    return torch.cat(parts, dim=1)


def rule_of(scorer):
    """The rule of a :class:`corel.scoring.scorer.Scorer` (a knn scorer summed over branches), for the protocols."""
    if scorer is None or scorer.kind != "knn" or scorer.aggregate != "sum":
        raise ValueError("The novelty protocols score with a knn scorer summed over branches (--scorer knn-mean "
                         "or knn-kth, --aggregate sum); the paper's count has no pool to leave out.")
    if scorer.pool_rule == "fused":   # a stack's first encoder's knn (+ the second's ratio, with a pool)
        if scorer.fuse_at < 1:
            scorer.fused_parts(0)     # its one-line error: no stack of two encoders to cut
        terms = [(0, knn, 1.0)] + ([(1, ratio, 1.0)] if scorer.reference else [])
        return lambda ing: fused(terms, (scorer.fuse_at, ing.query_dist[0].shape[0] - scorer.fuse_at))(ing)
    if not scorer.reference:
        return RULES["knn"]
    return RULES[scorer.pool_rule]
