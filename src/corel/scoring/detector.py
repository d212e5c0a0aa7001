"""The scikit-learn style COREL detector: :func:`corel.scoring.counting.count_neighbors` against a set
of inlier codes, with an optional encoder in front.

``count_neighbors`` (the exact neighbour count; see :mod:`corel.scoring.counting` for its exactness
rule) is importable from here too, as it always was.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted

from .._validation import (as_device, as_float_tensor, check_contamination, check_finite_codes, check_int,
                          check_n_branches, check_radius)
from .counting import count_neighbors
from .detector_base import DetectorBase
from .fitted import FittedScorer

__all__ = ["count_neighbors", "CorelDetector"]

# Why CorelDetector is expected to fail two of scikit-learn's checks.
_LOO = ("Training scores are leave-one-out (as LOF and PyOD's KNN compute them), so the training labels "
        "differ from predict(X_train), which counts each code's self-match.")

_SAVE_FORMAT = "corel.CorelDetector"
_SAVE_VERSION = 2          # 2: optional "encoder" (name, args, state dict) and "meta"
_READ_VERSIONS = (1, 2)


class CorelDetector(DetectorBase):
    """One-class novelty detector: COREL's neighbour count against a set of inlier codes.

    Parameters
    ----------
    encoder : str, nn.Module or callable, optional
        A shipped model's name (``corel models``, e.g. ``"cifar10-contrastive"``: it takes (N, 3, 32, 32)
        float images in [0, 1]), or a map from a float tensor batch (B, ...) to codes (B, D). If it has an ``encode`` method (as
        corel's autoencoders do, whose ``forward`` returns ``(x_hat, z)``), that is used. If
        None, ``X`` are codes already. An ``nn.Module`` is run in eval mode under ``no_grad``
        and its training flag is restored afterwards.
    n_branches : int or None, default=None
        Latent branches (the paper: 16 of 10 dims). None: the encoder's own (a corel model knows
        its branches; ``cifar10-pair``, a stack of two, has 32), else 16.
    radius : float or "auto", default=2.0
        Closed l1-ball radius per branch (the paper: eta = 2.0). ``"auto"``: per branch, the
        ``radius_quantile`` quantile of the inliers' own 0-dim death times (no scale to set).
    scorer : {"count", "soft", "knn-mean", "knn-kth"}, default="knn-mean"
        Per-branch normality (see :mod:`corel.scoring.scorer`): minus the mean / k-th l1 distance to the
        ``k`` nearest inliers (the default: on CIFAR-10 above the count in every protocol measured,
        ``results/cifar10-beyond``), the paper's count in the ball, or a soft (Laplace,
        ``exp(-d / radius)``) count.
    k : int, default=5
        Neighbours of the knn scorers.
    aggregate : {"sum", "mean", "max", "median"}, default="sum"
        How the branch scores are combined (the paper: sum).
    radius_quantile : float in [0, 1], default=0.5
        Used with ``radius="auto"``.
    With ``fit(X, reference=R)`` and a knn scorer, each branch's distance to the inliers is divided
    by its distance to the unlabelled reference ``R`` (images of the kind the encoder was trained
    on, any class; codes when ``encoder`` is None): minus the log of that ratio, summed over
    branches (a density ratio, :mod:`corel.scoring.scorer`). It helps only against kinds of images that
    ``R`` holds: a novelty of a kind ``R`` lacks is far from ``R`` too, and the plain ratio then
    calls it normal (``results/novelty-unseen``).
    pool_rule : {"clip", "ratio", "fused"} or None, default=None
        How ``R`` enters (with a reference only). ``"clip"``: the distance to ``R`` is capped at the
        inliers' median distance to ``R``, so a sample farther from ``R`` than the inliers are is
        judged by its distance to the inliers alone (safe when ``R`` lacks the novelty).
        ``"ratio"``: the plain density ratio (best when ``R`` holds every kind of novelty).
        ``"fused"``, for an encoder that is a stack of two (``corel stack``, or a shipped pair): the
        first encoder's knn distance plus the second's ratio, each standardised by the inliers' own
        scores (without ``R``: the first encoder's knn alone). None: ``"fused"`` for such a stack,
        else ``"clip"``.
    tta : {"off", "flips", "flips-shifts"}, default="off"
        Test-time views (:mod:`corel.scoring.views`; needs ``encoder`` and images ``(N, C, H, W)``):
        every inlier joins in each view, and a sample's score is the sum of its views' scores.
        Training scores leave all views of the image out.
    contamination : float in (0, 0.5], default=0.1
        Expected share of outliers in the training set; sets ``offset_`` (sklearn) and
        ``threshold_`` (PyOD) only, never the scores.
    batch_size : int, default=1000
        Rows encoded per encoder call.
    device : str or torch.device, optional
        Where encoding and counting run. Default: the encoder's parameters' device, else CPU.

    Attributes
    ----------
    inlier_codes_ : torch.Tensor, shape (n_inliers, D)
        The encoded training set.
    reference_codes_ : torch.Tensor, shape (M, D), or None
        The encoded reference set given to :meth:`fit` (None without one).
    training_scores_ : ndarray of int64, shape (n_inliers,)
        Leave-one-out scores of the training codes: each one's count among the *other*
        training codes (its own match, n_branches, removed), as LOF does for its training set.
    offset_ : float
        The ``contamination`` quantile of ``training_scores_``;
        ``decision_function = score_samples - offset_``.
    n_features_in_ : int
        D, set only when ``encoder`` is None (X are codes).
    decision_scores_, threshold_, labels_ : PyOD view (read-only properties)
        ``-training_scores_`` (higher = more abnormal), ``-offset_``, and 1 for a training
        outlier (``decision_scores_ > threshold_``), else 0. Consistent with ``predict``.

    Notes
    -----
    ``decision_function``, ``predict`` (+1 / -1), ``fit_predict`` and the PyOD view come from
    :class:`corel.scoring.detector_base.DetectorBase`, shared with the baselines. ``predict`` scores X
    as new data: a training code passed there matches itself in every branch. ``fit_predict``
    labels the *training* codes by their leave-one-out scores (-1 exactly where ``labels_`` is
    1), as ``LocalOutlierFactor(novelty=False).fit_predict`` does; so it differs from
    ``fit(X).predict(X)``, which counts each code's match with itself (``n_branches`` more).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> det = CorelDetector(n_branches=2, radius=2.0).fit(rng.normal(size=(200, 4)))
    >>> det.predict(np.array([[0., 0., 0., 0.], [9., 9., 9., 9.]]))
    array([ 1, -1])
    """

    _expected_failed_checks = {"check_outliers_fit_predict": _LOO, "check_outliers_train": _LOO}

    def __init__(self, encoder=None, n_branches: int | None = None, radius: float = 2.0, contamination: float = 0.1,
                 batch_size: int = 1000, device=None, scorer: str = "knn-mean", k: int = 5, aggregate: str = "sum",
                 radius_quantile: float = 0.5, tta: str = "off", pool_rule: str | None = None):
        self.encoder = encoder
        self.pool_rule = pool_rule
        self.tta = tta
        self.n_branches = n_branches
        self.radius = radius
        self.scorer = scorer
        self.k = k
        self.aggregate = aggregate
        self.radius_quantile = radius_quantile
        self.contamination = contamination
        self.batch_size = batch_size
        self.device = device

    # ---- fitting and scoring ----------------------------------------------------------------

    def fit(self, X, y=None, reference=None):
        """Encode ``X`` and keep the codes as the inlier set. ``y`` is ignored. ``reference``:
        unlabelled data (as X) to divide the knn distances by (see the class docstring). With a
        shipped model's name as ``encoder`` and a knn scorer, ``None`` means the pool that model
        carries (``corel models NAME``); ``False``: no pool."""
        self._validate_params()
        X = self._images_at(X)
        views = self._views(X)
        codes = torch.cat([self._encode(v, fitted_dim=None) for v in views])
        if reference is None and isinstance(self.encoder, str) and self.scorer.startswith("knn"):
            from ..named import pool_codes
            shipped = pool_codes(self.encoder)
            return self.fit_codes(codes, n_views=len(views), reference_codes=shipped)
        ref = None if reference is None or reference is False else \
            self._encode(self._images_at(reference), fitted_dim=None)
        return self.fit_codes(codes, n_views=len(views), reference_codes=ref)

    def fit_codes(self, codes, n_views: int = 1, reference_codes=None):
        """Fit on codes already encoded: (N x n_views, D), view-major (all images in view 0, then
        view 1, ...) in the order of ``corel.scoring.views.tta_views(tta)``, as :meth:`fit` encodes them.
        For callers that encode images themselves (``corel score`` streams them).
        ``reference_codes`` (M, D): the encoded unlabelled reference, optional."""
        from .views import tta_views
        self._validate_params()
        self.reference_codes_ = None
        expected = len(tta_views(self.tta))
        if n_views != expected:
            raise ValueError(f"tta={self.tta!r} has {expected} view(s) but the codes hold {n_views}.")
        if len(codes) == 0:     # before the shape check: an encoder gives (0, 0) for no images
            raise ValueError("CorelDetector.fit got an empty inlier set (0 samples); it needs at least 1.")
        codes = self._codes_of(codes, self._device())      # shape, dtype and finiteness, whoever encoded them
        if codes.shape[0] % n_views:
            raise ValueError(f"{codes.shape[0]} codes cannot be {n_views} views of the same images.")
        if codes.shape[1] == 0:
            raise ValueError("CorelDetector.fit got codes with 0 features (shape (n, 0)); codes need at least 1.")
        check_n_branches(self._branches(), codes.shape[1], "CorelDetector")
        self.inlier_codes_ = codes
        if self.encoder is None:
            self.n_features_in_ = codes.shape[1]
        if reference_codes is not None:
            if not self.scorer.startswith("knn"):
                raise ValueError(f"A reference set divides knn distances: fit it with scorer='knn-mean' (or "
                                 f"'knn-kth'), not {self.scorer!r}.")
            reference_codes = self._codes_of(reference_codes, self._device())
            if reference_codes.shape[0] == 0 or reference_codes.shape[1] != codes.shape[1]:
                raise ValueError(f"The reference codes must be a non-empty (M, {codes.shape[1]}) array; got shape "
                                 f"{tuple(reference_codes.shape)}.")
            self.reference_codes_ = reference_codes
        fitted = FittedScorer.fit(self._scorer(), self._branches(), codes, n_views, self.reference_codes_,
                                  owner="CorelDetector")
        self.training_scores_ = fitted.training_scores
        self._fitted_state = fitted
        self.offset_ = float(np.percentile(self.training_scores_, 100.0 * self.contamination))
        return self

    def score_samples(self, X) -> np.ndarray:
        """COREL's score: summed per-branch neighbour counts (higher = more normal), or the
        chosen ``scorer``'s normality. Float64, as scikit-learn's outlier detectors return.
        """
        check_is_fitted(self, "inlier_codes_")
        fitted = self.fitted_scorer()
        total = None
        for view in self._views(self._images_at(X)):
            codes = self._encode(view, fitted_dim=self.inlier_codes_.shape[1])
            if codes.shape[0] == 0:
                return np.zeros(0)
            normality = fitted.normality(codes)
            total = normality if total is None else total + normality
        return total

    @classmethod
    def from_fitted(cls, fitted: FittedScorer, contamination: float = 0.1, **params) -> CorelDetector:
        """A fitted detector around ``fitted`` (the state ``corel score`` builds without scikit-learn);
        ``params`` are the constructor's (encoder, scorer, tta, ...), matching ``fitted.scorer``."""
        det = cls(n_branches=fitted.n_branches, contamination=contamination, **params)
        det._validate_params()
        det.inlier_codes_, det.reference_codes_ = fitted.inlier_codes, fitted.reference_codes
        if det._scorer() != fitted.scorer:
            raise ValueError(f"CorelDetector.from_fitted: the parameters describe {det._scorer().describe()!r}, "
                             f"the fitted state {fitted.scorer.describe()!r}.")
        det.training_scores_ = fitted.training_scores
        det.offset_ = float(np.percentile(det.training_scores_, 100.0 * det.contamination))
        det._fitted_state = fitted
        return det

    def fitted_scorer(self) -> FittedScorer:
        """The fitted state as :class:`corel.scoring.fitted.FittedScorer` (kept while the codes and parameters stay)."""
        state = getattr(self, "_fitted_state", None)
        scorer = self._scorer()
        if (state is None or state.scorer != scorer or state.inlier_codes is not self.inlier_codes_
                or state.reference_codes is not self.reference_codes_ or state.n_branches != self._branches()):
            if scorer.pool_rule == "fused":    # its parts' standardisation comes from the inliers: fit again
                from .views import tta_views
                state = FittedScorer.fit(scorer, self._branches(), self.inlier_codes_, len(tta_views(self.tta)),
                                         self.reference_codes_, owner="CorelDetector")
            else:
                state = FittedScorer(scorer, self._branches(), self.inlier_codes_, self.reference_codes_,
                                     self.training_scores_)
            self._fitted_state = state
        return state

    def _views(self, X) -> list:
        """``X`` seen in each test-time view (``[X]`` without tta)."""
        from .views import apply_view, tta_views
        names = tta_views(self.tta)
        if len(names) == 1:
            return [X]
        x = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
        if x.dim() != 4:
            raise ValueError(f"tta={self.tta!r} needs images of shape (N, C, H, W); got shape {tuple(x.shape)}.")
        return [apply_view(x, v) for v in names]

    def _scorer(self):
        from .scorer import parse_scorer
        from .settings import default_pool_rule
        reference = getattr(self, "reference_codes_", None)
        split = self._stack_split()
        rule = self.pool_rule or default_pool_rule(split)
        return parse_scorer(self.scorer, self.radius if self.radius == "auto" else float(self.radius),
                            self.radius_quantile, self.k, self.aggregate,
                            0 if reference is None else reference.shape[0], rule, split if rule == "fused" else 0)

    def _branches(self) -> int:
        """``n_branches``, or the encoder's own branches when it is None (16 for an encoder that does not say)."""
        if self.n_branches is not None:
            return int(self.n_branches)
        own = getattr(self._encoder_obj(), "n_branches", None)
        return int(own) if isinstance(own, int) and not isinstance(own, bool) else 16

    def _stack_split(self) -> int:
        """The first encoder's branches when the encoder is a stack of two (where ``fused`` cuts), else 0."""
        from ..training.models import encoder_stack_split
        return encoder_stack_split(self._encoder_obj())

    # ---- persistence ------------------------------------------------------------------------

    def save(self, path, with_encoder: bool = False, encoder_spec=None, meta: dict | None = None) -> str:
        """Write the fitted state (codes, scores, parameters) with torch.save; one file.

        Parameters
        ----------
        path : str or path
        with_encoder : bool, default=False
            Also store the encoder, as its model name, constructor arguments and state dict (no
            pickled code: the file loads with ``torch.load(weights_only=True)``), so that
            :meth:`load` rebuilds a detector that scores images with no inliers at hand. The
            encoder must be a corel model (``corel.training.models.MODELS``) or ``encoder_spec`` must
            name it. Without it the encoder is not stored: pass it to :meth:`load` again.
        encoder_spec : (name, kwargs), optional
            The encoder's ``corel.training.models.build_model`` name and arguments (a checkpoint's
            ``model_name`` and ``model_args``); read off corel's autoencoders when omitted.
        meta : dict, optional
            Plain data (str, numbers, bool, None, lists and dicts of them) kept with the file
            and returned as ``meta_`` by :meth:`load` (e.g. the image size and channels).
        """
        check_is_fitted(self, "inlier_codes_")
        state = {
            "format": _SAVE_FORMAT, "version": _SAVE_VERSION,
            "params": {"n_branches": self._branches(),
                       "radius": self.radius if self.radius == "auto" else float(self.radius),
                       "contamination": float(self.contamination), "batch_size": int(self.batch_size),
                       "scorer": str(self.scorer), "k": int(self.k), "aggregate": str(self.aggregate),
                       "radius_quantile": float(self.radius_quantile), "tta": str(self.tta),
                       "pool_rule": None if self.pool_rule is None else str(self.pool_rule)},
            "had_encoder": self.encoder is not None,
            "inlier_codes": self.inlier_codes_.detach().cpu(),
            "reference_codes": None if self.reference_codes_ is None else self.reference_codes_.detach().cpu(),
            "training_scores": torch.from_numpy(np.asarray(self.training_scores_)),
            "offset": float(self.offset_),
            "meta": _plain(dict(meta or getattr(self, "meta_", None) or {}), "meta"),
        }
        if with_encoder:
            encoder = self._encoder_obj()
            if not isinstance(encoder, torch.nn.Module):
                raise ValueError(f"CorelDetector.save(with_encoder=True) stores an nn.Module encoder; this detector's "
                                 f"encoder is {type(encoder).__name__}.")
            name, kwargs = encoder_spec if encoder_spec is not None else _encoder_spec(encoder)
            state["encoder"] = {"name": str(name), "args": _plain(dict(kwargs), "encoder_spec"),
                                "state_dict": {k: v.detach().cpu() for k, v in encoder.state_dict().items()}}
        path = os.fspath(path)
        torch.save(state, path)
        return path

    @classmethod
    def load(cls, path, encoder=None, device=None) -> CorelDetector:
        """Rebuild a fitted detector from :meth:`save`'s file (loaded with ``weights_only=True``).

        A file saved ``with_encoder=True`` brings its encoder back (rebuilt with
        ``corel.training.models.build_model``, in eval mode) unless ``encoder`` is given. The file's
        ``meta`` comes back as ``meta_``, the encoder's (name, kwargs) as ``encoder_spec_``
        (None when the file holds no encoder).
        """
        where = os.fspath(path)
        if not os.path.isfile(where):
            raise FileNotFoundError(f"Detector file {where} does not exist.")
        try:
            state = torch.load(where, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types (and multi-line advice) for foreign files
            raise ValueError(f"{where!r} is not a CorelDetector file (written by CorelDetector.save): it could not "
                             f"be read ({type(err).__name__}).") from None
        if not isinstance(state, dict) or state.get("format") != _SAVE_FORMAT:
            raise ValueError(f"{where!r} is not a CorelDetector file (written by CorelDetector.save).")
        if state.get("version") not in _READ_VERSIONS:
            raise ValueError(f"{where!r} has CorelDetector file version {state.get('version')!r}; "
                             f"this corel reads versions {list(_READ_VERSIONS)}.")
        spec = None
        if state.get("encoder") is not None:
            stored = state["encoder"]
            spec = (stored["name"], dict(stored["args"]))
            if encoder is None:
                from ..training.models import build_model
                try:
                    encoder = build_model(spec[0], **spec[1])
                    encoder.load_state_dict(stored["state_dict"])
                except (RuntimeError, TypeError, ValueError) as err:
                    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                    raise ValueError(f"{where!r}: its encoder does not match its declared architecture "
                                     f"{spec[0]!r}: {first}") from None
                encoder.eval()
                if device is not None:
                    encoder.to(as_device(device, "CorelDetector"))
        # files written before pool rules existed scored with the plain ratio: they keep doing so
        det = cls(encoder=encoder, device=device, **{"pool_rule": "ratio", **state["params"]})
        det._validate_params()
        det.inlier_codes_ = state["inlier_codes"].to(det._device())
        ref = state.get("reference_codes")     # absent in files written before references existed
        det.reference_codes_ = None if ref is None else ref.to(det._device())
        if encoder is None:
            det.n_features_in_ = det.inlier_codes_.shape[1]
        det.training_scores_ = state["training_scores"].numpy()
        det.offset_ = float(state["offset"])
        det.meta_ = dict(state.get("meta") or {})
        det.encoder_spec_ = spec
        return det

    # ---- helpers ----------------------------------------------------------------------------

    def _validate_params(self) -> None:
        if self.n_branches is not None:
            check_int(self.n_branches, "n_branches", "CorelDetector")
        if not (isinstance(self.radius, str) and self.radius == "auto"):
            check_radius(self.radius, "CorelDetector")
        if self.scorer not in ("count", "soft", "knn-mean", "knn-kth"):
            raise ValueError(f"The 'scorer' parameter of CorelDetector must be one of 'count', 'soft', 'knn-mean', "
                             f"'knn-kth'. Got {self.scorer!r} instead.")
        check_int(self.k, "k", "CorelDetector")
        if self.pool_rule not in (None, "clip", "ratio", "fused"):
            raise ValueError(f"The 'pool_rule' parameter of CorelDetector must be None, 'clip', 'ratio' or 'fused'. "
                             f"Got {self.pool_rule!r} instead.")
        self._scorer()   # checks aggregate and radius_quantile with corel.scoring.scorer's messages
        from .views import tta_views
        if len(tta_views(self.tta)) > 1 and self.encoder is None:
            raise ValueError(f"tta={self.tta!r} needs an encoder: the views are of images, and X are codes when "
                             f"encoder is None.")
        check_contamination(self.contamination, "CorelDetector")
        check_int(self.batch_size, "batch_size", "CorelDetector")
        if self.encoder is not None and not callable(self.encoder) and not isinstance(self.encoder, str):
            raise TypeError(f"The 'encoder' parameter of CorelDetector must be None, a shipped model's name, an "
                            f"nn.Module or a callable. Got {type(self.encoder).__name__} instead.")
        self._encoder_obj()      # an unknown name: one line listing the shipped ones
        self._device()

    def _device(self) -> torch.device:
        if self.device is not None:
            return as_device(self.device, "CorelDetector")
        encoder = self._encoder_obj()
        if isinstance(encoder, torch.nn.Module):
            for p in encoder.parameters():
                return p.device
        return torch.device("cpu")

    def _images_at(self, X):
        """``X`` itself, or the images at a path (folder, zip, list) as the encoder takes them."""
        if not isinstance(X, (str, os.PathLike)):
            return X
        encoder = self._encoder_obj()
        size, channels = getattr(encoder, "image_size", None), getattr(encoder, "in_channels", None)
        if not isinstance(size, int) or channels not in (1, 3):
            raise ValueError(f"CorelDetector reads image files ({X}) only with one of corel's image encoders (it "
                             f"needs their image size); load them yourself and pass arrays.")
        from ..data.imagefiles import load_images
        return load_images(X, image_size=size, channels=channels)

    def _encoder_obj(self):
        """The encoder: ``encoder`` itself, or the shipped model it names (loaded once, kept privately so
        that ``get_params`` still gives the name)."""
        if not isinstance(self.encoder, str):
            return self.encoder
        cached = getattr(self, "_named_encoder", None)
        if cached is None or cached[0] != self.encoder:
            from ..named import load_model
            cached = (self.encoder, load_model(self.encoder))
            self._named_encoder = cached
        return cached[1]

    def _encode(self, X, fitted_dim: int | None) -> torch.Tensor:
        """Codes of ``X`` as a detached (N, D) float tensor on the detector's device.

        ``fitted_dim``: the latent size seen in fit (None while fitting), checked here.
        """
        device = self._device()
        codes = self._codes_of(X, device) if self.encoder is None else self._run_encoder(X, device)
        if fitted_dim is not None and codes.shape[0] and codes.shape[1] != fitted_dim:
            if self.encoder is None:
                raise ValueError(f"X has {codes.shape[1]} features, but CorelDetector is expecting {fitted_dim} "
                                 f"features as input (the latent size of the codes given to fit).")
            raise ValueError(f"The encoder gives codes of size {codes.shape[1]}, but CorelDetector was fitted on "
                             f"codes of size {fitted_dim}; score with the encoder used in fit.")
        return codes

    @staticmethod
    def _codes_of(X, device) -> torch.Tensor:
        if isinstance(X, torch.Tensor):
            codes = as_float_tensor(X, "X")
            if codes.dim() != 2 or codes.shape[1] == 0:
                raise ValueError(f"Expected a 2-D array of codes (n_samples, latent_dim >= 1), got shape "
                                 f"{tuple(codes.shape)}. Reshape your data with X.reshape(1, -1) for a single "
                                 f"code, or pass an encoder to CorelDetector to score raw inputs.")
            codes = codes.detach().to(device)
            check_finite_codes(codes, "X")
            return codes
        # Arrays go through scikit-learn's own checks (sparse, complex, 1-D, NaN: its messages).
        arr = check_array(X, dtype=[np.float64, np.float32], ensure_min_samples=0, input_name="X")
        return torch.from_numpy(arr if arr.flags.writeable else arr.copy()).to(device)

    def _run_encoder(self, X, device) -> torch.Tensor:
        x = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
        if not x.is_floating_point():
            raise TypeError(f"CorelDetector feeds X to the encoder as floats; got dtype {x.dtype}. Convert it "
                            f"(images: x.float() / 255) before calling.")
        if x.dim() < 1:
            raise ValueError(f"X must have a batch dimension; got a scalar of shape {tuple(x.shape)}.")
        encoder = self._encoder_obj()
        enc = getattr(encoder, "encode", encoder)
        module = encoder if isinstance(encoder, torch.nn.Module) else None
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        parts = []
        try:
            with torch.no_grad():
                for i in range(0, x.shape[0], self.batch_size):
                    b = min(self.batch_size, x.shape[0] - i)
                    z = enc(x[i:i + b].to(device))
                    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[0] != b:
                        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
                        raise ValueError(f"The encoder must map a batch of B inputs to a (B, latent_dim) tensor; "
                                         f"got {got} for B={b}. An autoencoder whose forward returns (x_hat, z) "
                                         f"needs an encode() method.")
                    parts.append(z.detach())
        finally:
            if module is not None:
                module.train(was_training)
        if not parts:
            return torch.zeros(0, 0, device=device)
        codes = as_float_tensor(torch.cat(parts).to(device), "encoded X")
        check_finite_codes(codes, "encoded X")
        return codes


def _encoder_spec(encoder) -> tuple[str, dict]:
    """(name, kwargs) that rebuild one of corel's autoencoders with ``corel.training.models.build_model``."""
    from ..training.models import CorelAutoencoder, MLPAutoencoder, StackedEncoder
    if isinstance(encoder, StackedEncoder):
        parts = [dict(zip(("model_name", "model_args"), _encoder_spec(m))) for m in encoder.parts]
        return "stack", dict(parts=parts, n_branches=int(encoder.n_branches), image_size=encoder.image_size,
                             in_channels=encoder.in_channels)
    if isinstance(encoder, CorelAutoencoder):
        return "conv", dict(in_channels=int(encoder.in_channels), image_size=int(encoder.image_size),
                            channels=[int(c) for c in encoder.channels], n_branches=int(encoder.n_branches),
                            branch_dim=int(encoder.branch_dim))
    if isinstance(encoder, MLPAutoencoder):
        return "mlp", dict(in_dim=int(encoder.in_dim), hidden=[int(h) for h in encoder.hidden],
                           latent_dim=int(encoder.latent_dim), n_branches=int(encoder.n_branches))
    if encoder is None:
        raise ValueError("CorelDetector.save(with_encoder=True) needs an encoder; this detector has none.")
    raise TypeError(f"CorelDetector.save(with_encoder=True) stores corel's autoencoders by name; the encoder is a "
                    f"{type(encoder).__name__}. Pass encoder_spec=(name, kwargs) of a model registered in "
                    f"corel.training.models.MODELS, or save without the encoder.")


def _plain(value, what: str):
    """``value`` if it is plain data a weights_only load accepts (tuples become lists), else a TypeError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, what) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"CorelDetector.save: {what} must hold plain data (str, numbers, bool, None, lists, dicts); "
                    f"got a {type(value).__name__}.")
