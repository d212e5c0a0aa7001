"""AUROC x 100, as every protocol reports it: scikit-learn's ``roc_auc_score`` (ties count one half).

scikit-learn is imported on the first call, not with corel: importing it costs about 1.5 s (its
``sklearn.utils`` pulls in SciPy's statistics), which commands would otherwise spend before any work.
Integer scores (the paper's neighbour counts) take an exact histogram path instead: the same value
to float rounding (tested against scikit-learn), without sorting 10^4-10^5 scores per class and draw.
"""
from __future__ import annotations

import numpy as np

__all__ = ["auroc_percent", "auroc_from_counts"]


def auroc_percent(is_positive, scores) -> float:
    """100 x the area under the ROC curve of ``scores`` for the binary labels ``is_positive``."""
    scores = np.asarray(scores)
    if scores.dtype.kind in "iu" and scores.ndim == 1 and scores.size and scores.min() >= 0:
        return 100.0 * float(auroc_from_counts(scores[None], is_positive)[0])
    from sklearn.metrics import roc_auc_score
    return 100.0 * float(roc_auc_score(is_positive, scores))


def auroc_from_counts(scores: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """AUROC (in [0, 1]) of each row of non-negative integer ``scores`` (R, Q) for the labels
    ``positives`` (Q,): P(score of a positive > score of a negative) + P(equal) / 2, exactly
    (integer histograms; what sklearn's roc_auc_score computes, to rounding)."""
    scores = np.asarray(scores)
    pos = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("The AUROC needs positives and negatives among the scored codes.")
    out = np.empty(len(scores))
    for r, row in enumerate(scores):
        top = int(row.max()) + 1
        hp = np.bincount(row[pos], minlength=top).astype(np.float64)
        hn = np.bincount(row[~pos], minlength=top).astype(np.float64)
        below = np.concatenate([[0.0], np.cumsum(hn)[:-1]])
        out[r] = float((hp * (below + 0.5 * hn)).sum()) / (n_pos * n_neg)
    return out
