"""AUROC x 100, as every protocol reports it: scikit-learn's ``roc_auc_score`` (ties count one half).

scikit-learn is imported on the first call, not with corel: importing it costs about 1.5 s (its
``sklearn.utils`` pulls in SciPy's statistics), which commands would otherwise spend before any work.
"""
from __future__ import annotations

__all__ = ["auroc_percent"]


def auroc_percent(is_positive, scores) -> float:
    """100 x the area under the ROC curve of ``scores`` for the binary labels ``is_positive``."""
    from sklearn.metrics import roc_auc_score
    return 100.0 * float(roc_auc_score(is_positive, scores))
