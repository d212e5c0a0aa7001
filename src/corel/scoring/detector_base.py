"""The estimator contract shared by :class:`corel.scoring.detector.CorelDetector` and every baseline.

A detector is a scikit-learn outlier detector (``BaseEstimator`` + ``OutlierMixin``):
``__init__`` only stores its keyword arguments; ``fit(X)`` sets ``training_scores_`` (higher =
more normal, one per training sample) and ``offset_`` (their ``contamination`` quantile) and
returns ``self``; ``score_samples`` is higher for more normal samples. Everything else is
derived here, once:

* scikit-learn: ``decision_function = score_samples - offset_`` (negative for outliers),
  ``predict`` (+1 inlier / -1 outlier), ``fit_predict`` (the training labels);
* PyOD: ``decision_scores_ = -training_scores_`` (higher = more abnormal),
  ``threshold_ = -offset_`` and ``labels_`` (1 = training outlier), read-only properties.

The scikit-learn checks a detector is known to fail (``check_estimator``) are declared on its
class with the reason, in ``_expected_failed_checks``; :func:`expected_failed_checks` hands them
to ``check_estimator(..., expected_failed_checks=...)`` or ``parametrize_with_checks``.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

__all__ = ["DetectorBase", "expected_failed_checks", "IMAGE_ONLY_REASON", "IMAGE_ONLY_CHECKS"]

# Why an image detector fails a check: scikit-learn's checks generate 2-D (n_samples, n_features)
# data, and these detectors take only (N, C, H, W) images (sides divisible by 8, or 4 for GEOM).
IMAGE_ONLY_REASON = ("image-only detector: fit needs (N, C, H, W) images (convolutional network), and this "
                     "check fits on 2-D (n_samples, n_features) tabular data, which is refused with a "
                     "ValueError naming the expected shape.")

# The checks of scikit-learn 1.6+ that fit on valid 2-D data and so cannot pass for an image-only
# detector. The others run and pass: parameters, clone, get/set_params, not-fitted errors, and
# the errors on sparse, complex, NaN / infinite, 1-D and empty input (scikit-learn's messages,
# raised before the shape check). tests/test_baselines.py checks the contract these cannot
# (idempotent fit, pickling, subset and order invariance, ...) on images instead.
IMAGE_ONLY_CHECKS = (
    "check_classifier_data_not_an_array", "check_dict_unchanged", "check_dont_overwrite_parameters",
    "check_dtype_object", "check_estimators_dtypes", "check_estimators_fit_returns_self",
    "check_estimators_nan_inf", "check_estimators_overwrite_params", "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature", "check_fit2d_1sample", "check_fit2d_predict1d", "check_fit_check_is_fitted",
    "check_fit_idempotent", "check_fit_score_takes_y", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_n_features_in", "check_n_features_in_after_fitting",
    "check_outliers_fit_predict", "check_outliers_train", "check_pipeline_consistency",
    "check_positive_only_tag_during_fit", "check_readonly_memmap_input",
)


class DetectorBase(OutlierMixin, BaseEstimator):
    """decision_function / predict / fit_predict and the PyOD view, from ``training_scores_``
    and ``offset_`` (see the module docstring). Subclasses define ``fit`` and ``score_samples``.
    """

    #: check name -> reason, for the scikit-learn checks this detector is expected to fail.
    _expected_failed_checks: dict[str, str] = {}

    # ---- scikit-learn -------------------------------------------------------------------------

    def decision_function(self, X) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for predicted outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for outliers (``decision_function < 0``), as scikit-learn does."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit, then label the training samples (+1 / -1): -1 exactly where ``labels_`` is 1."""
        return np.where(self.fit(X, y).labels_ == 1, -1, 1)

    # ---- the PyOD view, derived here only -----------------------------------------------------

    @property
    def decision_scores_(self) -> np.ndarray:
        """``-training_scores_`` as float64: higher = more abnormal."""
        check_is_fitted(self, "training_scores_")
        return -np.asarray(self.training_scores_, dtype=np.float64)

    @property
    def threshold_(self) -> float:
        """``-offset_``: a training sample with ``decision_scores_ > threshold_`` is an outlier."""
        check_is_fitted(self, "offset_")
        return -self.offset_

    @property
    def labels_(self) -> np.ndarray:
        """1 for a training outlier (``decision_scores_ > threshold_``), else 0."""
        return (self.decision_scores_ > self.threshold_).astype(np.int64)


def expected_failed_checks(estimator) -> dict[str, str]:
    """The scikit-learn checks ``estimator`` is declared to fail, each with its reason.

    Examples
    --------
    >>> from sklearn.utils.estimator_checks import check_estimator
    >>> from corel import CorelDetector
    >>> det = CorelDetector(n_branches=1)
    >>> sorted(expected_failed_checks(det))
    ['check_outliers_fit_predict', 'check_outliers_train']
    >>> _ = check_estimator(det, expected_failed_checks=expected_failed_checks(det))   # doctest: +SKIP
    """
    return dict(getattr(estimator, "_expected_failed_checks", {}))
