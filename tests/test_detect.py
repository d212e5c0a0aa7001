"""count_neighbors (exactness, batching, chunking) and CorelDetector (sklearn contract, IO, errors)."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from corel.scoring.detector import CorelDetector, count_neighbors


def oracle(queries, inliers, n_branches, radius):
    """Brute force in float64 numpy: (C, Q) counts, or (Q,) for 2-D inliers."""
    q = np.asarray(queries, dtype=np.float64)
    x = np.asarray(inliers, dtype=np.float64)
    squeeze = x.ndim == 2
    x = x[None] if squeeze else x
    nq, dim = q.shape
    w = dim // n_branches
    out = np.zeros((x.shape[0], nq), dtype=np.int64)
    for c in range(x.shape[0]):
        d = np.abs(q.reshape(nq, 1, n_branches, w) - x[c].reshape(1, -1, n_branches, w)).sum(-1)  # (Q, n, B)
        out[c] = (d <= radius).sum((1, 2))
    return out[0] if squeeze else out


# ---- exactness -------------------------------------------------------------------------------

@st.composite
def integer_problems(draw):
    """Integer coordinates in a small range: many distances fall exactly on the radius."""
    n_branches = draw(st.integers(1, 4))
    width = draw(st.integers(1, 4))
    dim = n_branches * width
    n_classes = draw(st.integers(1, 3))
    n = draw(st.integers(1, 12))
    nq = draw(st.integers(1, 15))
    ints = st.integers(-3, 3)
    x = draw(arrays(np.int64, (n_classes, n, dim), elements=ints))
    q = draw(arrays(np.int64, (nq, dim), elements=ints))
    radius = draw(st.sampled_from([1.0, 2.0, 3.0, 4.0, 2.5]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    return q, x, n_branches, radius, dtype


@given(integer_problems())
def test_count_matches_oracle_on_integer_grid(problem):
    q, x, n_branches, radius, dtype = problem
    got = count_neighbors(torch.tensor(q, dtype=dtype), torch.tensor(x, dtype=dtype), n_branches, radius)
    np.testing.assert_array_equal(got.numpy(), oracle(q, x, n_branches, radius))


@st.composite
def fine_grid_problems(draw):
    """Coordinates on the grid 2^-26 in [0, 4], stored as float64: the float32 cast is lossy,
    float64 sums are exact. One query sits exactly on the sphere of radius r around inlier 0,
    one a grid step outside it."""
    width = draw(st.integers(1, 5))
    n_branches = draw(st.integers(1, 3))
    dim = width * n_branches
    n = draw(st.integers(1, 8))
    # An odd offset keeps the lowest bits set, so most values need 28 bits (float32 has 24).
    grid = st.integers(-2**26, 2**26).map(lambda k: (2**27 + 1 + 2 * k) * 2.0**-26)
    x = draw(arrays(np.float64, (n, dim), elements=grid))
    q = draw(arrays(np.float64, (draw(st.integers(1, 8)), dim), elements=grid))
    # Put a query at l1 distance exactly r from inlier 0 in every branch.
    step = draw(arrays(np.int64, (dim,), elements=st.integers(-2**24, 2**24))).astype(np.float64) * 2.0**-26
    on_sphere = x[0] + step
    per_branch = np.abs(step.reshape(n_branches, width)).sum(-1)
    radius = float(per_branch.max())
    if radius == 0.0:
        radius = 1.0
    # And one just outside (one grid step farther in the widest branch): float32 cannot tell.
    j = int(per_branch.argmax()) * width
    just_outside = on_sphere.copy()
    just_outside[j] += 2.0**-26 if step[j] >= 0 else -(2.0**-26)
    q = np.vstack([q, on_sphere, just_outside])
    return q, x, n_branches, radius


@given(fine_grid_problems())
def test_count_matches_oracle_with_lossy_float32_screen(problem):
    q, x, n_branches, radius = problem
    got = count_neighbors(torch.tensor(q), torch.tensor(x), n_branches, radius)
    np.testing.assert_array_equal(got.numpy(), oracle(q, x, n_branches, radius))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_count_matches_oracle_on_gaussian_codes(dtype):
    gen = torch.Generator().manual_seed(0)
    q = (torch.randn(200, 40, generator=gen) * 0.5).to(dtype)
    x = (torch.randn(3, 50, 40, generator=gen) * 0.5).to(dtype)
    got = count_neighbors(q, x, n_branches=4, radius=2.0)
    want = oracle(q.double().numpy(), x.double().numpy(), 4, 2.0)
    assert want.sum() > 0 and (want < 4 * 50).any()          # neither all nor nothing inside
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("q_dtype,x_dtype", [(torch.float32, torch.float64), (torch.float64, torch.float32)])
def test_mixed_dtypes_match_oracle(q_dtype, x_dtype):
    gen = torch.Generator().manual_seed(1)
    x = (torch.randn(2, 40, 20, generator=gen, dtype=torch.float64) * 0.7 + 3.3).to(x_dtype)
    q = (torch.randn(60, 20, generator=gen, dtype=torch.float64) * 0.7 + 3.3).to(q_dtype)
    q[:5] = x[0, :5].to(q_dtype)                         # exact matches (distance 0)
    want = oracle(q.double().numpy(), x.double().numpy(), 2, 2.5)
    assert want.sum() > 0
    np.testing.assert_array_equal(count_neighbors(q, x, 2, 2.5).numpy(), want)


@pytest.mark.parametrize("swap", [False, True])
def test_mixed_dtypes_far_from_origin_on_the_sphere(swap):
    # Points a near 1000 on float32's grid there (2^-14); points b = a + delta on a 2^-20 grid
    # (float64 only), with ||delta||_1 = r exactly in each branch, or one grid step more in one
    # branch. q and x must be shifted by the very same centre, or such pairs flip.
    rng = np.random.default_rng(5)
    n_pts, n_branches, w, radius, fine = 12, 2, 8, 0.5, 2.0**-20
    a = 1000.0 + rng.integers(-2**12, 2**12, size=(n_pts, n_branches * w)) * 2.0**-14
    delta = np.concatenate([rng.multinomial(int(radius / fine), np.ones(w) / w, size=n_pts)
                            for _ in range(n_branches)], axis=1) * fine
    delta *= rng.choice([-1.0, 1.0], size=delta.shape)
    outside = delta.copy()
    outside[:, 0] += np.where(outside[:, 0] >= 0, fine, -fine)
    b = np.vstack([a + delta, a + outside])
    f32, f64 = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float64)
    assert np.array_equal(f32.double().numpy(), a)
    q, x = (f64, f32) if swap else (f32, f64)
    want = oracle(q.double().numpy(), x.double().numpy(), n_branches, radius)
    assert (want >= n_branches - 1).all()          # every code has its partner on (or by) a sphere
    np.testing.assert_array_equal(count_neighbors(q, x, n_branches, radius).numpy(), want)


def test_float32_rounding_at_the_boundary_is_corrected():
    # Exact distance 2 + 2^-23 > 2, but float32 rounds the sum to exactly 2.0.
    q = torch.tensor([[1.0, 1.0 + 2**-23]], dtype=torch.float32)
    x = torch.zeros(1, 2)
    assert float(q.abs().sum()) == 2.0
    assert count_neighbors(q, x, 1, 2.0).tolist() == [0]
    # Exactly on the sphere counts (closed ball).
    assert count_neighbors(torch.tensor([[1.0, 1.0]]), x, 1, 2.0).tolist() == [1]


def test_huge_float64_codes_are_screened_in_float64():
    big = torch.tensor([[1e300, 0.0], [1e300, 3.0]], dtype=torch.float64)
    got = count_neighbors(big, big[:1], n_branches=1, radius=2.0)
    assert got.tolist() == [1, 0]


def test_docstring_example():
    q = torch.tensor([[0., 0.], [5., 5.]])
    x = torch.tensor([[1., 1.], [0., 2.], [3., 0.]])
    assert count_neighbors(q, x, 1, 2.0).tolist() == [2, 0]
    assert count_neighbors(q, x, 2, 1.0).tolist() == [4, 0]


# ---- batching and chunking ---------------------------------------------------------------------

def _codes(seed, *shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.6


def test_batched_over_classes_equals_looped():
    q, x = _codes(0, 120, 32), _codes(1, 7, 30, 32)
    batched = count_neighbors(q, x, 4, 2.0)
    assert batched.shape == (7, 120) and batched.dtype == torch.int64
    looped = torch.stack([count_neighbors(q, x[c], 4, 2.0) for c in range(7)])
    assert torch.equal(batched, looped)


@pytest.mark.parametrize("chunk_size,memory_budget", [(1, None), (7, None), (1000, None), (None, 64),
                                                      (None, 5000), (3, 2000), (None, 10**9)])
def test_chunking_invariance(chunk_size, memory_budget):
    q, x = _codes(2, 90, 20), _codes(3, 5, 33, 20)
    ref = torch.tensor(oracle(q.numpy(), x.numpy(), 2, 2.0))
    got = count_neighbors(q, x, 2, 2.0, chunk_size=chunk_size, memory_budget=memory_budget)
    assert torch.equal(got, ref)


def test_inputs_as_numpy_and_empty_sets():
    q, x = _codes(4, 10, 8).numpy(), _codes(5, 12, 8).numpy()
    assert torch.equal(count_neighbors(q, x, 2, 1.5), torch.tensor(oracle(q, x, 2, 1.5)))
    assert count_neighbors(q[:0], x, 2, 1.5).shape == (0,)
    assert count_neighbors(q, x[:0], 2, 1.5).tolist() == [0] * 10
    assert count_neighbors(q, np.zeros((0, 4, 8)), 2, 1.5).shape == (0, 10)


def test_scores_are_bounded_by_branches_times_inliers():
    x = _codes(6, 20, 16)
    got = count_neighbors(x, x, 4, 100.0)
    assert got.tolist() == [4 * 20] * 20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    q, x = _codes(7, 300, 160), _codes(8, 10, 120, 160)
    assert torch.equal(count_neighbors(q.cuda(), x.cuda(), 16, 2.0).cpu(), count_neighbors(q, x, 16, 2.0))


# ---- count_neighbors errors ---------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    ({"n_branches": 3}, "not divisible by n_branches=3"),
    ({"n_branches": 0}, "'n_branches' parameter"),
    ({"radius": 0.0}, "'radius' parameter"),
    ({"radius": -1.0}, "'radius' parameter"),
    ({"radius": float("nan")}, "'radius' parameter"),
    ({"chunk_size": 0}, "'chunk_size' parameter"),
])
def test_count_errors(kwargs, match):
    args = {"queries": torch.zeros(3, 4), "inliers": torch.zeros(5, 4), "n_branches": 2, "radius": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        count_neighbors(**args)


def test_count_shape_and_value_errors():
    with pytest.raises(ValueError, match="2-D"):
        count_neighbors(torch.zeros(4), torch.zeros(5, 4), 2, 1.0)
    with pytest.raises(ValueError, match="latent_dim=4 but 'inliers' have latent_dim=6"):
        count_neighbors(torch.zeros(3, 4), torch.zeros(5, 6), 2, 1.0)
    with pytest.raises(ValueError, match="n_classes, n_inliers, latent_dim"):
        count_neighbors(torch.zeros(3, 4), torch.zeros(1, 5, 4, 1), 2, 1.0)
    bad = torch.zeros(3, 4)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="1 NaN"):
        count_neighbors(bad, torch.zeros(5, 4), 2, 1.0)
    with pytest.raises(TypeError, match="real numbers"):
        count_neighbors(torch.zeros(3, 4, dtype=torch.complex64), torch.zeros(5, 4), 2, 1.0)


# ---- CorelDetector ------------------------------------------------------------------------------

def _fit_data(seed=0, n=300, dim=8):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)) * 0.5


def test_estimator_contract_clone_and_params():
    enc = torch.nn.Linear(4, 8)
    det = CorelDetector(scorer="count", encoder=enc, n_branches=2, radius=1.5, contamination=0.05, batch_size=7)
    params = det.get_params()
    assert params["n_branches"] == 2 and params["radius"] == 1.5 and params["encoder"] is enc
    twin = clone(det)
    assert twin.get_params()["radius"] == 1.5 and twin.encoder is not enc
    assert not hasattr(twin, "inlier_codes_")
    det.set_params(radius=3.0)
    assert det.radius == 3.0
    # __init__ only stores: invalid values fail in fit, not in the constructor.
    bad = CorelDetector(scorer="count", radius=-1.0)
    with pytest.raises(ValueError, match="'radius' parameter of CorelDetector must be a finite float > 0"):
        bad.fit(_fit_data())


def test_not_fitted_errors():
    det = CorelDetector(scorer="count", n_branches=2)
    for call in (lambda: det.score_samples(_fit_data()), lambda: det.decision_function(_fit_data()),
                 lambda: det.predict(_fit_data()), lambda: det.save("unused.pt"),
                 lambda: det.decision_scores_, lambda: det.threshold_, lambda: det.labels_):
        with pytest.raises(NotFittedError):
            call()


def test_fit_scores_and_views_are_consistent():
    X = _fit_data()
    det = CorelDetector(scorer="count", n_branches=2, radius=2.0, contamination=0.1)
    assert det.fit(X) is det
    assert det.n_features_in_ == 8
    # Leave-one-out training scores: each code's count among the other codes.
    full = oracle(X, X, 2, 2.0)
    np.testing.assert_array_equal(det.training_scores_, full - 2)
    assert det.offset_ == pytest.approx(np.percentile(det.training_scores_, 10.0))

    Y = _fit_data(seed=1, n=50)
    s = det.score_samples(Y)
    assert s.dtype == np.float64                         # integer counts, float as in scikit-learn
    np.testing.assert_array_equal(s, oracle(Y, X, 2, 2.0))
    np.testing.assert_allclose(det.decision_function(Y), s - det.offset_)
    np.testing.assert_array_equal(det.predict(Y), np.where(s - det.offset_ < 0, -1, 1))

    # PyOD view: higher = more abnormal, and labels_ agrees with the sklearn sign convention.
    np.testing.assert_array_equal(det.decision_scores_, -det.training_scores_)
    assert det.threshold_ == -det.offset_
    np.testing.assert_array_equal(det.labels_, (det.training_scores_ - det.offset_ < 0).astype(int))
    assert set(np.unique(det.labels_)) <= {0, 1}
    assert 0.0 < det.labels_.mean() <= 0.2
    # fit_predict labels the training codes by their leave-one-out scores (as LOF does).
    np.testing.assert_array_equal(clone(det).fit_predict(X), np.where(det.labels_ == 1, -1, 1))


def test_far_points_are_outliers():
    det = CorelDetector(scorer="count", n_branches=2).fit(_fit_data())
    pred = det.predict(np.array([[0.0] * 8, [50.0] * 8]))
    assert pred.tolist() == [1, -1]


class _AE(torch.nn.Module):
    """Like corel's autoencoders: forward returns (x_hat, z), encode returns z."""

    def __init__(self):
        super().__init__()
        self.enc = torch.nn.Linear(6, 8)
        self.dec = torch.nn.Linear(8, 6)

    def encode(self, x):
        return self.enc(x)

    def forward(self, x):
        z = self.enc(x)
        return self.dec(z), z


def test_encoder_module_callable_and_encode_method():
    torch.manual_seed(0)
    X = torch.randn(120, 6)
    ae = _AE().train()
    det = CorelDetector(scorer="count", encoder=ae, n_branches=4, radius=1.0, batch_size=16).fit(X)
    assert ae.training                                      # training flag restored
    with torch.no_grad():
        codes = ae.encode(X)
    assert torch.equal(det.inlier_codes_, codes)
    np.testing.assert_array_equal(det.score_samples(X[:10]), oracle(codes[:10].numpy(), codes.numpy(), 4, 1.0))

    via_callable = CorelDetector(scorer="count", encoder=lambda b: ae.encode(b), n_branches=4, radius=1.0).fit(X)
    np.testing.assert_array_equal(via_callable.training_scores_, det.training_scores_)

    with pytest.raises(ValueError, match=r"\(B, latent_dim\) tensor"):
        CorelDetector(scorer="count", encoder=lambda b: (b, b), n_branches=2).fit(X)
    with pytest.raises(TypeError, match="as floats"):
        CorelDetector(scorer="count", encoder=ae, n_branches=4).fit(torch.zeros(5, 6, dtype=torch.uint8))


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(1)
    ae = _AE()
    X = torch.randn(80, 6)
    det = CorelDetector(scorer="count", encoder=ae, n_branches=2, radius=1.5, contamination=0.2).fit(X)
    path = det.save(tmp_path / "det.pt")
    back = CorelDetector.load(path, encoder=ae)
    assert back.get_params()["radius"] == 1.5 and back.contamination == 0.2 and back.n_branches == 2
    assert torch.equal(back.inlier_codes_, det.inlier_codes_)
    assert back.offset_ == det.offset_
    np.testing.assert_array_equal(back.training_scores_, det.training_scores_)
    np.testing.assert_array_equal(back.score_samples(X[:20]), det.score_samples(X[:20]))
    np.testing.assert_array_equal(back.labels_, det.labels_)
    # Without the encoder the stored codes still score codes.
    codes_only = CorelDetector.load(path)
    with torch.no_grad():
        z = ae.encode(X[:5])
    np.testing.assert_array_equal(codes_only.score_samples(z), det.score_samples(X[:5]))
    # Only plain data inside: a weights_only load works.
    assert isinstance(torch.load(path, weights_only=True)["inlier_codes"], torch.Tensor)

    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a CorelDetector file"):
        CorelDetector.load(tmp_path / "other.pt")


@pytest.mark.parametrize("params,X,match", [
    ({"n_branches": 3}, np.zeros((5, 8)), "not divisible by n_branches=3"),
    ({"radius": 0.0}, np.zeros((5, 8)), "'radius' parameter"),
    ({"contamination": 0.7}, np.zeros((5, 8)), "'contamination' parameter"),
    ({"contamination": 0.0}, np.zeros((5, 8)), "'contamination' parameter"),
    ({"batch_size": 0}, np.zeros((5, 8)), "'batch_size' parameter"),
    ({}, np.zeros((0, 8)), "empty inlier set"),
    ({}, np.zeros(8), "Expected 2D array, got 1D array"),
    ({}, torch.zeros(8), "Expected a 2-D array of codes"),
    ({}, np.full((3, 16), np.nan), "NaN"),
    ({"device": "not-a-device"}, np.zeros((5, 8)), "'device' parameter"),
])
def test_detector_errors(params, X, match):
    with pytest.raises(ValueError, match=match):
        CorelDetector(scorer="count", **{"n_branches": 2, **params}).fit(X)


def test_score_with_wrong_latent_size():
    det = CorelDetector(scorer="count", n_branches=2).fit(np.zeros((5, 8)))
    with pytest.raises(ValueError, match="X has 6 features, but CorelDetector is expecting 8 features"):
        det.score_samples(np.zeros((3, 6)))
    enc = CorelDetector(scorer="count", encoder=torch.nn.Linear(3, 8), n_branches=2).fit(torch.zeros(4, 3))
    enc.encoder = torch.nn.Linear(3, 6)
    with pytest.raises(ValueError, match="encoder gives codes of size 6, but CorelDetector was fitted on codes of size 8"):
        enc.score_samples(torch.zeros(2, 3))
    assert det.score_samples(np.zeros((0, 8))).shape == (0,)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_sklearn_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    from corel.scoring.detector_base import expected_failed_checks

    det = CorelDetector(scorer="count", n_branches=1)
    declared = expected_failed_checks(det)                   # declared on the class, with the reason
    assert sorted(declared) == ["check_outliers_fit_predict", "check_outliers_train"]
    assert all("leave-one-out" in why for why in declared.values())
    check_estimator(det, expected_failed_checks=declared)


# ---- package structure --------------------------------------------------------------------------

def test_count_neighbors_lives_in_counting_and_stays_importable_from_detect():
    import corel
    import corel.scoring.counting
    import corel.scoring.detector
    from corel.scoring.detector_base import DetectorBase

    assert corel.count_neighbors is corel.scoring.detector.count_neighbors is corel.scoring.counting.count_neighbors
    assert issubclass(CorelDetector, DetectorBase)
    for name in ("decision_function", "predict", "fit_predict", "decision_scores_", "threshold_", "labels_"):
        assert name not in vars(CorelDetector), name            # inherited from the shared base only


def test_no_module_imports_another_modules_private_names():
    import ast
    from pathlib import Path

    import corel

    offenders = []
    for path in sorted(Path(corel.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.module is None:     # `from . import _module` is fine
                continue
            if node.level == 0 and not node.module.startswith("corel"):
                continue
            offenders += [f"{path.name}:{node.lineno} {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert offenders == []


# --- label-free scorers beyond the paper's count ------------------------------------------------
@pytest.mark.parametrize("params", [dict(scorer="knn-mean", k=3), dict(scorer="soft", radius="auto"),
                                    dict(scorer="knn-kth", aggregate="median"),
                                    dict(scorer="count", radius="auto", radius_quantile=0.9)])
def test_detector_scorers_flag_far_points_and_survive_save_load(params, tmp_path):
    from corel.scoring.scorer import parse_scorer
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    det = CorelDetector(n_branches=2, contamination=0.02, **params).fit(x)
    far = np.vstack([rng.normal(size=(5, 8)) * 0.3, rng.normal(size=(5, 8)) + 8.0])
    assert (det.predict(far) == np.r_[np.ones(5), -np.ones(5)]).all()
    want = parse_scorer(params.get("scorer", "count"), params.get("radius", 2.0), params.get("radius_quantile", 0.5),
                        params.get("k", 5),
                        params.get("aggregate", "sum")).score(torch.tensor(far), torch.tensor(x), 2).numpy()
    np.testing.assert_allclose(det.score_samples(far), want)
    path = tmp_path / "det.pt"
    det.save(path)
    again = CorelDetector.load(path)
    np.testing.assert_allclose(again.score_samples(far), det.score_samples(far))
    assert again.get_params()["scorer"] == det.scorer


@pytest.mark.parametrize("params, message", [(dict(scorer="lof"), "'scorer' parameter"),
                                             (dict(radius="big"), "'radius' parameter"),
                                             (dict(aggregate="min"), "branch aggregation"), (dict(k=0), "'k'")])
def test_detector_bad_scorer_params(params, message):
    with pytest.raises((ValueError, TypeError), match=message):
        CorelDetector(n_branches=2, **params).fit(np.zeros((10, 4)))


def test_test_time_views_in_the_detector_match_the_protocol_and_leave_all_views_out(tmp_path):
    """tta: inliers in every view, a sample's score the sum over its views; training scores leave
    the image's views out together (checked by brute force), and the setting survives save/load."""
    from corel.training.models import CorelAutoencoder
    from corel.scoring.scorer import Scorer
    from corel.scoring.views import apply_view, tta_views
    torch.manual_seed(0)
    ae = CorelAutoencoder(in_channels=1, image_size=8, channels=(4, 8, 16), n_branches=4, branch_dim=2).eval()
    x, q = torch.rand(12, 1, 8, 8), torch.rand(5, 1, 8, 8)
    det = CorelDetector(encoder=ae, n_branches=4, scorer="knn-mean", k=3, tta="flips-shifts").fit(x)
    views = tta_views("flips-shifts")
    with torch.no_grad():
        zx = [ae.encode(apply_view(x, v)).double() for v in views]
        zq = [ae.encode(apply_view(q, v)).double() for v in views]
    inl = torch.cat(zx)
    sc = Scorer(kind="knn", k=3)
    want = sum(sc.score(z, inl, 4) for z in zq).numpy()
    np.testing.assert_allclose(det.score_samples(q), want, rtol=1e-6)
    for i in (0, 7):
        others = torch.cat([z[torch.arange(12) != i] for z in zx])
        loo = sum(sc.score(z[i:i + 1], others, 4) for z in zx).item()
        assert det.training_scores_[i] == pytest.approx(loo, rel=1e-6)
    det.save(tmp_path / "d.pt", with_encoder=True)
    again = CorelDetector.load(tmp_path / "d.pt")
    assert again.tta == "flips-shifts"
    np.testing.assert_allclose(again.score_samples(q), det.score_samples(q))
    count = CorelDetector(scorer="count", encoder=ae, n_branches=4, radius=0.3, tta="flips").fit(x)
    flips = [zx[views.index(v)] for v in tta_views("flips")]
    others = torch.cat([z[1:] for z in flips])
    assert count.training_scores_[0] == sum(Scorer(radius=0.3).score(z[:1], others, 4).item() for z in flips)
    with pytest.raises(ValueError, match="empty inlier set"):
        CorelDetector(scorer="count", encoder=ae, n_branches=4, tta="flips").fit(torch.zeros(0, 1, 8, 8))
    with pytest.raises(ValueError, match="needs an encoder"):
        CorelDetector(scorer="count", n_branches=4, tta="flips").fit(np.zeros((5, 8)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        CorelDetector(scorer="count", encoder=lambda b: b.flatten(1), n_branches=4, tta="flips").fit(torch.rand(5, 8))
    with pytest.raises(ValueError, match="choose one of"):
        CorelDetector(scorer="count", encoder=ae, n_branches=4, tta="rotations").fit(x)


def test_a_reference_set_in_the_detector_matches_the_scorer_and_survives_save_load(tmp_path):
    """fit(X, reference=R): minus the log ratio of the knn distances to X and to R per branch,
    for new samples, for the training scores (leave-one-out, all views together) and after load."""
    from corel.training.models import CorelAutoencoder
    from corel.scoring.scorer import Scorer
    from corel.scoring.views import apply_view, tta_views
    torch.manual_seed(0)
    ae = CorelAutoencoder(in_channels=1, image_size=8, channels=(4, 8, 16), n_branches=4, branch_dim=2).eval()
    x, r, q = torch.rand(12, 1, 8, 8), torch.rand(20, 1, 8, 8), torch.rand(5, 1, 8, 8)
    det = CorelDetector(encoder=ae, n_branches=4, scorer="knn-mean", k=3, tta="flips",
                        pool_rule="ratio").fit(x, reference=r)
    views = tta_views("flips")
    with torch.no_grad():
        zx = [ae.encode(apply_view(x, v)).double() for v in views]
        zq = [ae.encode(apply_view(q, v)).double() for v in views]
        zr = ae.encode(r).double()                                   # the reference in its own view only
    sc, inl = Scorer(kind="knn", k=3, reference=20), torch.cat(zx)
    want = sum(sc.score(z, inl, 4, reference_term=sc.reference_term(z, zr, 4)) for z in zq).numpy()
    np.testing.assert_allclose(det.score_samples(q), want, rtol=1e-6)
    others = torch.cat([z[1:] for z in zx])
    loo = sum(sc.score(z[:1], others, 4, reference_term=sc.reference_term(z[:1], zr, 4)).item() for z in zx)
    assert det.training_scores_[0] == pytest.approx(loo, rel=1e-6)
    assert not np.allclose(det.score_samples(q), CorelDetector(encoder=ae, n_branches=4, scorer="knn-mean", k=3,
                                                               tta="flips").fit(x).score_samples(q))
    det.save(tmp_path / "d.pt", with_encoder=True)
    again = CorelDetector.load(tmp_path / "d.pt")
    assert again.reference_codes_.shape == (20, 8)
    np.testing.assert_allclose(again.score_samples(q), det.score_samples(q))
    # the clipped ratio (the default pool rule): its cap is the inliers' (all views) median log distance to R
    clipped = CorelDetector(encoder=ae, n_branches=4, scorer="knn-mean", k=3, tta="flips").fit(x, reference=r)
    sc_clip = Scorer(kind="knn", k=3, reference=20, pool_rule="clip")
    want = sum(sc_clip.score(z, inl, 4, reference_term=sc_clip.reference_term(z, zr, 4),
                             inlier_reference_term=sc_clip.reference_term(inl, zr, 4)) for z in zq).numpy()
    np.testing.assert_allclose(clipped.score_samples(q), want, rtol=1e-6)
    clipped.save(tmp_path / "c.pt", with_encoder=True)
    np.testing.assert_allclose(CorelDetector.load(tmp_path / "c.pt").score_samples(q), want, rtol=1e-6)
    # codes in, codes out; refitting without a reference drops it
    codes = CorelDetector(n_branches=4, scorer="knn-mean", k=3).fit(zx[0].numpy(), reference=zr.numpy())
    assert codes.fit(zx[0].numpy()).reference_codes_ is None


@pytest.mark.parametrize("params, reference, message", [
    (dict(scorer="count"), np.zeros((5, 4)), "scorer='knn-mean'"),
    (dict(scorer="knn-mean"), np.full((5, 4), np.nan), "NaN"),
    (dict(scorer="knn-mean"), np.zeros((5, 6)), r"\(M, 4\)"),
    (dict(scorer="knn-mean"), np.zeros((0, 4)), r"\(M, 4\)"),
])
def test_detector_reference_errors(params, reference, message):
    with pytest.raises(ValueError, match=message):
        CorelDetector(n_branches=2, **params).fit(np.random.default_rng(0).normal(size=(10, 4)), reference=reference)
