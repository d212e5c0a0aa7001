"""A one-class scorer fitted on codes: what :class:`corel.scoring.detector.CorelDetector` (scikit-learn's API)
and ``corel score`` (folders streamed batch by batch) both score with.

It holds the :class:`corel.scoring.scorer.Scorer` (the one description of how codes are scored), the
inlier codes (every test-time view of every inlier, view-major), the optional unlabelled reference
pool, and the inliers' leave-one-out normality. It does not import scikit-learn, so that a command
that scores images starts as fast as ``import torch`` allows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..branches import split_branches
from .._validation import check_n_branches
from .counting import count_neighbors
from .scorer import Scorer

__all__ = ["FittedScorer"]


@dataclass
class FittedScorer:
    """``scorer`` fitted on ``inlier_codes`` (n x views, D); see :meth:`fit`.

    ``training_scores`` (n,): each inlier's normality against the others (all its views left
    out together), higher = more normal, as LOF scores its training set.
    """

    scorer: Scorer
    n_branches: int
    inlier_codes: torch.Tensor
    reference_codes: torch.Tensor | None = None
    training_scores: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    # pool_rule "fused": per encoder of the stack, (first code dim, end dim, its FittedScorer, the mean
    # and std of its inliers' leave-one-out scores, the number of views)
    parts: list | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(cls, scorer: Scorer, n_branches: int, codes: torch.Tensor, n_views: int = 1,
            reference_codes: torch.Tensor | None = None, owner: str = "corel") -> FittedScorer:
        """Keep ``codes`` (view-major: all images in view 0, then view 1, ...) and score each inlier
        against the others. ``scorer.reference`` must be the pool's size (0 without a pool)."""
        if codes.dim() != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
            raise ValueError(f"{owner} needs a non-empty (n, D) array of inlier codes; got shape {tuple(codes.shape)}.")
        if codes.shape[0] % n_views:
            raise ValueError(f"{codes.shape[0]} codes cannot be {n_views} views of the same images.")
        check_n_branches(n_branches, codes.shape[1], owner)
        size = 0 if reference_codes is None else int(reference_codes.shape[0])
        if scorer.reference != size:
            raise ValueError(f"The scorer expects a pool of {scorer.reference} reference codes; got {size}.")
        fitted = cls(scorer, int(n_branches), codes, reference_codes)
        if scorer.pool_rule == "fused":
            return fitted._fit_fused(n_views, owner)
        n = codes.shape[0] // n_views
        term = fitted.reference_term(codes)
        if n_views > 1:   # an image's other views are not its neighbours: all are left out together
            groups = torch.arange(n).repeat(n_views)
            loo = scorer.score_leave_one_out(codes, fitted.n_branches, groups=groups,
                                             reference_term=term).reshape(n_views, n).sum(0)
        elif fitted._count_is_score:      # the exact count kernel; the self-match is one per branch
            loo = count_neighbors(codes, codes, fitted.n_branches, float(scorer.radius)) - fitted.n_branches
        else:
            loo = scorer.score_leave_one_out(codes, fitted.n_branches, reference_term=term)
        fitted.training_scores = loo.cpu().numpy()
        return fitted

    def _fit_fused(self, n_views: int, owner: str) -> FittedScorer:
        """Each encoder's scorer fitted on its own code dims; the fused training scores are the sum of
        their leave-one-out scores, each standardised by its mean and std over the inliers."""
        width = self.inlier_codes.shape[1] // self.n_branches
        self.parts, total = [], 0
        for first, end, scorer in self.scorer.fused_parts(self.n_branches):
            a, b = first * width, end * width
            ref = None if not scorer.reference else self.reference_codes[:, a:b]
            part = FittedScorer.fit(scorer, end - first, self.inlier_codes[:, a:b], n_views, ref, owner=owner)
            mean, std = float(part.training_scores.mean()), float(part.training_scores.std(ddof=1))
            if not std > 0:
                raise ValueError(f"{owner}: the inliers' scores do not vary (all {mean:.4g}); a fused score "
                                 f"standardises by their spread and needs at least 2 different inliers.")
            self.parts.append((a, b, part, mean, std, n_views))
            total = total + (part.training_scores - mean) / std
        self.training_scores = np.asarray(total, dtype=np.float64)
        return self

    @property
    def _count_is_score(self) -> bool:
        return self.scorer.is_paper and self.scorer.aggregate == "sum"

    def reference_term(self, codes: torch.Tensor) -> torch.Tensor | None:
        """The codes' per-branch log knn distance to the pool (None without a pool)."""
        if not self.scorer.reference:
            return None
        return self.scorer.reference_term(codes, self.reference_codes, self.n_branches)

    def normality(self, codes: torch.Tensor) -> np.ndarray:
        """(Q,) float64 normality of one view's (Q, D) codes; higher = more normal."""
        if self.scorer.pool_rule == "fused":   # per view: a view's share of each part's standardised score
            return sum((part.normality(codes[:, a:b]) - mean / views) / std
                       for a, b, part, mean, std, views in self._fused_parts())
        if self._count_is_score:
            out = count_neighbors(codes, self.inlier_codes, self.n_branches, float(self.scorer.radius))
        else:
            out = self.scorer.score(codes, self.inlier_codes, self.n_branches,
                                    reference_term=self.reference_term(codes),
                                    inlier_reference_term=self._inlier_reference_term())
        return out.cpu().numpy().astype(np.float64)

    def neighbour_counts(self, codes: torch.Tensor, normality: np.ndarray | None = None) -> np.ndarray:
        """(Q,) int64: inliers within the scorer's radius, summed over branches (the paper's count;
        with ``radius="auto"`` each branch's radius is read off the inliers' death times).
        ``normality``: this view's :meth:`normality`, reused when it is the count itself."""
        if self._count_is_score:
            return np.rint(self.normality(codes) if normality is None else normality).astype(np.int64)
        if self.scorer.radius != "auto":
            return count_neighbors(codes, self.inlier_codes, self.n_branches,
                                   float(self.scorer.radius)).cpu().numpy()
        radii = self._radii()
        q = split_branches(codes, self.n_branches).double()
        x = split_branches(self.inlier_codes, self.n_branches).double()
        total = torch.zeros(q.shape[1], dtype=torch.int64, device=q.device)
        for b in range(self.n_branches):
            total += (torch.cdist(q[b], x[b].to(q.device), p=1) <= radii[b]).sum(-1)
        return total.cpu().numpy()

    def _fused_parts(self) -> list:
        if self.parts is None:
            raise ValueError("This fused scorer was built without fitting; use FittedScorer.fit (its parts' "
                             "standardisation comes from the inliers' scores).")
        return self.parts

    def _radii(self) -> torch.Tensor:
        if "radii" not in self._cache:
            self._cache["radii"] = self.scorer.radii(self.inlier_codes, self.n_branches).to(self.inlier_codes.device)
        return self._cache["radii"]

    def _inlier_reference_term(self) -> torch.Tensor | None:
        """The inliers' own log distances to the pool (all views), which set the clipped ratio's cap;
        computed once."""
        if not (self.scorer.reference and self.scorer.pool_rule == "clip"):
            return None
        if "inlier_term" not in self._cache:
            self._cache["inlier_term"] = self.reference_term(self.inlier_codes)
        return self._cache["inlier_term"]
