"""The baselines COREL is compared with (Hofer et al., ICML 2019), each a detector with the API of
:class:`corel.scoring.detector.CorelDetector` (scikit-learn ``BaseEstimator`` + ``OutlierMixin``; the PyOD
view ``decision_scores_`` / ``threshold_`` / ``labels_``), seeded by ``random_state``, never
returning NaN scores (:class:`DivergedError` instead).

=====================  ======================================================  ======================
detector               method                                                   input
=====================  ======================================================  ======================
plain_ae               CorelDetector on a lambda = 0 checkpoint; hindsight r    images or codes
OCSVMDetector          one-class SVM, RBF, gamma by a training-only rule        pixels, vectors, codes
KDEDetector            Gaussian KDE, bandwidth by 5-fold CV log-likelihood      pixels, vectors, codes
DeepSVDDDetector       Deep SVDD (one-class / soft-boundary), AE pretraining    images
DSEBMDetector          deep structured energy-based model                       images
DAGMMDetector          deep autoencoding Gaussian mixture model                 images
GeomDetector           GEOM / ADT: 72 geometric transformations, WRN            images
=====================  ======================================================  ======================

OC-SVM and KDE preprocess by the input's shape by default (``preprocess="auto"``): Ruff et
al.'s GCN + PCA for images (N, C, H, W), standardisation for 2-D vectors; ``"none"`` for codes.
The shared estimator contract is :class:`corel.scoring.detector_base.DetectorBase`; the checks of
scikit-learn's ``check_estimator`` each detector is expected to fail are declared on its class
(:func:`corel.scoring.detector_base.expected_failed_checks`).
"""
from .base import BaselineDetector, DivergedError
from .dagmm import DAGMMDetector
from .deep_svdd import DeepSVDDDetector
from .dsebm import DSEBMDetector
from .geom import GeomDetector
from .kde import KDEDetector
from .ocsvm import OCSVMDetector
from .plain_ae import plain_autoencoder_detector, radius_grid

__all__ = ["BaselineDetector", "DivergedError", "OCSVMDetector", "KDEDetector", "DeepSVDDDetector", "DSEBMDetector",
           "DAGMMDetector", "GeomDetector", "plain_autoencoder_detector", "radius_grid"]

BaseDetector = BaselineDetector   # its name in corel 0.1 (too close to corel.scoring.detector_base.DetectorBase)
