"""Tests of corel.topology.h1: 1-dimensional diagrams against gudhi and ripser, gradients
(gradcheck, float32 vs float64), batching and threads, the torchph API in dimension 1 and the
input checks."""
from __future__ import annotations

import dataclasses
import math

import gudhi
import numpy as np
import pytest
import ripser
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

from corel.topology.h0 import vr_persistence_0d
from corel.topology.torchph import vr_persistence, vr_persistence_l1
from corel.topology.h1 import Persistence1, h1_edges, vr_persistence_1d

SCIPY_METRIC = {"l1": {"metric": "cityblock"}, "l2": {"metric": "euclidean"},
                "linf": {"metric": "chebyshev"}, 3.0: {"metric": "minkowski", "p": 3}}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)                                   # deterministic clouds in every test


# ----------------------------------------------------------------------------- strategies
@st.composite
def clouds(draw, max_n: int = 24, max_d: int = 3):
    """A float64 (N, D) cloud and its scale: floats, integer grids (many exact ties),
    collinear points, two far-apart clusters with fine structure, circles (a persistent loop),
    with duplicated rows, at scales 1e-6, 1 and 1e6."""
    n = draw(st.integers(3, max_n))
    d = draw(st.integers(1, max_d))
    kind = draw(st.sampled_from(["float", "grid", "collinear", "two_scales", "circle"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    if kind == "two_scales":
        x = rng.uniform(-1, 1, size=(n, d)) * 1e-3
        x[: n // 2] += 1e3
    elif kind == "grid":
        x = draw(arrays(np.float64, (n, d), elements=st.integers(-2, 2).map(float)))
    elif kind == "float":
        x = draw(arrays(np.float64, (n, d), elements=st.floats(-1, 1, allow_subnormal=False)))
    elif kind == "circle":
        t = rng.uniform(0, 2 * np.pi, n)
        x = np.zeros((n, max(d, 2)))
        x[:, 0], x[:, 1] = np.cos(t), np.sin(t)
        x += 0.1 * rng.standard_normal(x.shape)
    else:
        t = draw(arrays(np.float64, (n,), elements=st.integers(-8, 8).map(float)
                        | st.floats(-1, 1, allow_subnormal=False)))
        direction = draw(arrays(np.float64, (d,), elements=st.integers(-2, 2).map(float)))
        x = t[:, None] * direction[None, :]
    for src, dst in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n // 3)):
        x[dst] = x[src]
    scale = draw(st.sampled_from([1e-6, 1.0, 1e6]))
    return x * scale, scale, kind


metrics = st.sampled_from(["l1", "l2", "linf"])


# ----------------------------------------------------------------------------- oracles
def gudhi_h1(dist: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Finite H1 pairs (death > birth) and essential births, gudhi (float64, Z/2)."""
    kw = {} if threshold is None else {"max_edge_length": threshold}
    tree = gudhi.RipsComplex(distance_matrix=dist, **kw).create_simplex_tree(max_dimension=2)
    tree.compute_persistence(homology_coeff_field=2, min_persistence=0)
    iv = tree.persistence_intervals_in_dimension(1).reshape(-1, 2)
    finite = iv[np.isfinite(iv[:, 1])]
    return finite[finite[:, 1] > finite[:, 0]], np.sort(iv[~np.isfinite(iv[:, 1]), 0])


def ripser_h1(dist: np.ndarray) -> np.ndarray:
    dgm = ripser.ripser(dist, distance_matrix=True, maxdim=1)["dgms"][1].reshape(-1, 2)
    return dgm[dgm[:, 1] > dgm[:, 0]]


def bottleneck(a, b) -> float:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
    if len(a) == 0 and len(b) == 0:
        return 0.0
    return float(gudhi.bottleneck_distance(a, b))


def sorted_rows(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
    return a[np.lexsort((a[:, 1], a[:, 0]))]


def noisy_circle(n: int, seed: int, noise: float = 0.1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    return torch.stack([t.cos(), t.sin()], -1) + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)


def ours(x, metric="l2", **kw):
    h0, h1 = vr_persistence_1d(torch.as_tensor(x), metric, **kw)
    return h0, h1


# ----------------------------------------------------------------------------- exactness
@given(clouds(), metrics, st.sampled_from([torch.float64, torch.float32]))
def test_h1_equals_gudhi(cloud, metric, dtype):
    """The H1 diagram equals gudhi's (float64 oracle on the same points): within rounding
    (bottleneck distance), and exactly for float64 integer grids, where ties are exact."""
    x, scale, kind = cloud
    xt = torch.tensor(x, dtype=dtype)
    x64 = xt.double().numpy()
    _, h1 = ours(xt, metric)
    got = h1.diagram().detach().double().numpy()
    want, essential = gudhi_h1(cdist(x64, x64, **SCIPY_METRIC[metric]))
    assert len(essential) == 0 and int(h1.n_essential) == 0
    extent = max(float(np.ptp(x64, axis=0).max()), 1e-300)
    tol = (1e-12 if dtype == torch.float64 else 4e-6) * extent
    assert bottleneck(got, want) <= tol
    # exact only where the grid's coordinates are integers: at scale 1e-6 they are inexact in binary,
    # and two correctly rounded ways of taking an l2 norm may then differ in the last bit
    if dtype == torch.float64 and kind == "grid" and scale >= 1:
        np.testing.assert_array_equal(sorted_rows(got), sorted_rows(want))
    elif dtype == torch.float64:
        assert len(got) == len(want)


@settings(max_examples=30)
@given(clouds(), metrics)
def test_h1_equals_ripser(cloud, metric):
    """Ripser computes in float32: equal within its rounding."""
    x, scale, kind = cloud
    _, h1 = ours(x, metric)
    got = h1.diagram().detach().numpy()
    want = ripser_h1(cdist(x, x, **SCIPY_METRIC[metric]))
    extent = max(float(np.ptp(x, axis=0).max()), 1e-300)
    assert bottleneck(got, want) <= 4e-6 * extent


@settings(max_examples=25)
@given(clouds(max_n=16), metrics, st.floats(0.05, 1.5))
def test_threshold_equals_gudhi(cloud, metric, fraction):
    """With max_ball_diameter: finite pairs and essential births equal gudhi's with
    max_edge_length (edges longer than it, and the triangles they span, left out)."""
    x, scale, kind = cloud
    dist = cdist(x, x, **SCIPY_METRIC[metric])
    threshold = fraction * float(dist.max()) if dist.max() > 0 else 1.0
    h0, h1 = ours(x, metric, threshold=threshold)
    want, want_ess = gudhi_h1(dist, threshold)
    got_ess = np.sort(h1.essential_births[: int(h1.n_essential)].detach().numpy())
    tol = 1e-12 * max(float(dist.max()), 1e-300)
    assert bottleneck(h1.diagram().detach().numpy(), want) <= tol
    assert got_ess.shape == want_ess.shape and np.allclose(got_ess, want_ess, rtol=1e-12, atol=tol)
    # every essential edge exists in the filtration
    assert bool((h1.essential_births <= threshold).all())


@pytest.mark.parametrize("metric", ["l1", "l2", "linf", 3.0])
@pytest.mark.parametrize("n", [30, 120])
def test_random_clouds_equal_gudhi(metric, n):
    x = np.random.default_rng(n).standard_normal((n, 3))
    _, h1 = ours(x, metric)
    want, _ = gudhi_h1(cdist(x, x, **SCIPY_METRIC[metric]))
    got = h1.diagram().detach().numpy()
    assert len(got) == len(want) and len(got) > 0
    np.testing.assert_allclose(sorted_rows(got), sorted_rows(want), rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-20, 1e20])
@pytest.mark.parametrize("metric", ["l2", 3.0])
def test_extreme_scales_float32(scale, metric):
    """Far outside the usual range (squares of float32 coordinates over/underflow): the
    diagram of the scaled cloud is the scaled diagram (oracle on the unit cloud)."""
    x = np.random.default_rng(1).standard_normal((25, 2))
    _, h1 = ours(torch.tensor(x * scale, dtype=torch.float32), metric)
    want, _ = gudhi_h1(cdist(x, x, **SCIPY_METRIC[metric]))
    got = h1.diagram().detach().double().numpy() / scale
    assert np.isfinite(got).all()
    assert bottleneck(got, want) <= 1e-5


@pytest.mark.parametrize("scale", [1e-200, 1e200])
@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_extreme_scales_float64(scale, metric):
    """float64 clouds whose squared (or summed) distances leave float64's range take the
    rescaled matrices of corel.topology.h0; the diagram scales with the cloud."""
    x = np.random.default_rng(2).standard_normal((25, 2))
    _, h1 = ours(torch.tensor(x * scale), metric)
    want, _ = gudhi_h1(cdist(x, x, **SCIPY_METRIC[metric]))
    got = h1.diagram().detach().numpy() / scale
    assert np.isfinite(got).all() and len(got) == len(want)
    np.testing.assert_allclose(sorted_rows(got), sorted_rows(want), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("code,metric", [(0, "cityblock"), (1, "euclidean"), (2, "chebyshev")])
def test_distance_kernel_is_correctly_rounded(dtype, code, metric):
    from corel.topology._h1_kernels import distance_matrix
    x = (np.random.default_rng(3).standard_normal((70, 5)) * [1, 1e3, 1e-3, 1, 1]).astype(dtype)
    out = np.empty((70, 70), dtype=dtype)
    distance_matrix(x, code, out)
    want = cdist(x.astype(np.float64), x.astype(np.float64), metric).astype(dtype)
    np.testing.assert_array_equal(out, out.T)
    np.testing.assert_allclose(out, want, rtol=2 * np.finfo(dtype).eps, atol=0)


def test_edges_give_the_values():
    """birth = |birth edge|, death = |death edge|, births < deaths, and the kernel's pairs
    agree with the recomputed values."""
    x = torch.randn(40, 2, dtype=torch.float64)
    _, h1 = ours(x, "l2")
    m = int(h1.n_pairs)
    be, de = h1.birth_edges[:m], h1.death_edges[:m]
    torch.testing.assert_close(h1.births[:m], (x[be[:, 0]] - x[be[:, 1]]).norm(dim=-1))
    torch.testing.assert_close(h1.deaths[:m], (x[de[:, 0]] - x[de[:, 1]]).norm(dim=-1))
    assert bool((h1.deaths[:m] > h1.births[:m]).all())
    pers = (h1.deaths - h1.births)[:m]
    assert bool((pers[:-1] >= pers[1:]).all())                      # most persistent first
    d = torch.cdist(x, x).numpy()
    pairs, ess = h1_edges(np.triu(d) + np.triu(d, 1).T)           # torch.cdist rounds d(i, j), d(j, i) apart
    assert pairs.shape == (m, 4) and ess.shape == (0, 2)


def test_circle_has_one_big_loop():
    t = torch.linspace(0, 2 * math.pi, 41, dtype=torch.float64)[:-1]
    x = torch.stack([t.cos(), t.sin()], -1)
    _, h1 = ours(x, "l2")
    assert int(h1.n_pairs) == 1
    # born when the 40-gon closes (its side), dead when the triangle of side sqrt(3) fills it
    torch.testing.assert_close(h1.births[0], 2 * torch.sin(torch.tensor(math.pi / 40, dtype=torch.float64)))
    assert abs(float(h1.deaths[0]) - math.sqrt(3)) < 0.05


# ----------------------------------------------------------------------------- invariances
def test_permutation_invariant():
    x = torch.randn(50, 3, dtype=torch.float64)
    perm = torch.randperm(50)
    a = ours(x, "l1")[1].diagram()
    b = ours(x[perm], "l1")[1].diagram()
    np.testing.assert_allclose(sorted_rows(a.numpy()), sorted_rows(b.numpy()), rtol=1e-12)


@pytest.mark.parametrize("metric", ["l1", "l2", "linf"])
def test_points_equal_precomputed(metric):
    x = torch.randn(40, 3, dtype=torch.float64)
    p = {"l1": 1.0, "l2": 2.0, "linf": math.inf}[metric]
    _, a = ours(x, metric)
    _, b = vr_persistence_1d(torch.cdist(x, x, p=p), precomputed=True)
    np.testing.assert_allclose(sorted_rows(a.diagram()), sorted_rows(b.diagram()), rtol=1e-12)


@pytest.mark.parametrize("threads", [1, 3])
def test_batched_equals_looped(threads):
    x = torch.randn(2, 3, 30, 2)
    h0, h1 = vr_persistence_1d(x, "l2", n_threads=threads)
    assert h1.births.shape[:2] == (2, 3) and h1.n_pairs.shape == (2, 3)
    assert h1.birth_edges.shape[-1] == 2 and h1.mask.shape == h1.births.shape
    for i in range(2):
        for j in range(3):
            h0s, h1s = vr_persistence_1d(x[i, j], "l2")
            torch.testing.assert_close(h1[i, j].diagram(), h1s.diagram())
            torch.testing.assert_close(h0.deaths[i, j], h0s.deaths)
            assert bool((h1.births[i, j][~h1.mask[i, j]] == 0).all())
            assert bool((h1.birth_edges[i, j][~h1.mask[i, j]] == 0).all())


def test_zero_dimension_is_vr_persistence_0d():
    x = torch.randn(4, 30, 5)
    h0, _ = vr_persistence_1d(x, "l1", threshold=1.5)
    ref = vr_persistence_0d(x, "l1", threshold=1.5)
    torch.testing.assert_close(h0.deaths, ref.deaths)
    assert torch.equal(h0.edges, ref.edges) and h0.threshold == ref.threshold


def test_few_points_and_empty_batches():
    for n in (2, 3):
        h0, h1 = vr_persistence_1d(torch.randn(n, 2, requires_grad=True), "l2")
        assert h1.births.shape == (0,) and int(h1.n_pairs) == 0 and h1.diagram().shape == (0, 2)
    x = torch.randn(5, 3, 2, requires_grad=True)
    _, h1 = vr_persistence_1d(x, "l2")
    assert h1.births.shape == (5, 0)
    h1.persistence.sum().backward()                        # no loops: zero gradient, no error
    assert x.grad is not None and not x.grad.any()
    _, h1 = vr_persistence_1d(torch.randn(0, 10, 2), "l2")
    assert h1.births.shape == (0, 0) and h1.n_pairs.shape == (0,)


def test_result_is_frozen_and_indexable():
    _, h1 = vr_persistence_1d(torch.randn(3, 20, 2), "l2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        h1.births = None
    assert isinstance(h1[1], Persistence1) and h1[1].diagram().shape[1] == 2
    with pytest.raises(ValueError, match="single cloud"):
        h1.diagram()


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("metric", ["l1", "l2", "linf", 3.0])
def test_gradcheck_points(metric):
    x = noisy_circle(16, seed=0).requires_grad_()

    def f(x):
        _, h1 = vr_persistence_1d(x, metric)
        return torch.cat([h1.births, h1.deaths])

    assert f(x).numel() > 0
    assert torch.autograd.gradcheck(f, (x,), eps=1e-7, atol=1e-6)


@pytest.mark.parametrize("threshold", [None, 1.6])
def test_gradcheck_precomputed(threshold):
    """Gradients into a distance matrix (lower triangle), finite pairs and, below the loop's
    death, an essential class."""
    x = noisy_circle(10, seed=3)
    rows, cols = torch.tril_indices(10, 10, -1)
    v = torch.cdist(x, x)[rows, cols].requires_grad_()          # the lower triangle

    def f(v):
        lower = torch.zeros(10, 10, dtype=v.dtype).index_put((rows, cols), v)
        _, h1 = vr_persistence_1d(lower + lower.T, precomputed=True, threshold=threshold)
        return torch.cat([h1.births, h1.deaths, h1.essential_births])

    assert f(v).numel() > 0
    assert torch.autograd.gradcheck(f, (v,), eps=1e-7, atol=1e-6)


@pytest.mark.parametrize("metric", ["l1", "l2", "linf"])
@pytest.mark.parametrize("n", [50, 300])
def test_float32_gradient_close_to_float64(metric, n):
    """The float32 gradient of a loss over the H1 pairs is within 1e-4 (relative, max norm)
    of the float64 gradient at the same points."""
    x32 = torch.randn(n, 3)
    grads = []
    for dtype in (torch.float32, torch.float64):
        x = x32.to(dtype).detach().clone().requires_grad_()
        _, h1 = vr_persistence_1d(x, metric)
        w = torch.linspace(1, 2, h1.births.shape[-1], dtype=dtype)
        ((h1.deaths - h1.births) * w).sum().backward()
        grads.append(x.grad.double())
    err = (grads[0] - grads[1]).abs().max() / grads[1].abs().max()
    assert err < 1e-4


def test_duplicates_have_finite_gradients():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0]],
                     dtype=torch.float64, requires_grad=True)
    _, h1 = vr_persistence_1d(x, "l2")
    assert int(h1.n_pairs) == 1
    h1.persistence.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_gradient_descent_grows_the_loop():
    torch.manual_seed(0)
    t = torch.rand(40) * 2 * math.pi
    x = (torch.stack([t.cos(), t.sin()], -1) + 0.2 * torch.randn(40, 2)).requires_grad_()
    opt = torch.optim.SGD([x], lr=0.05)
    first = None
    for _ in range(20):
        _, h1 = vr_persistence_1d(x, "l2")
        loss = -h1.persistence[0]
        first = float(-loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(vr_persistence_1d(x.detach(), "l2")[1].persistence[0]) > first + 0.3


# ----------------------------------------------------------------------------- torchph API
def test_torchph_dimension_one_structure():
    x = torch.randn(30, 2, dtype=torch.float64)
    out = vr_persistence_l1(x, 1, 0)
    assert isinstance(out, list) and len(out) == 2 and len(out[0]) == 2 and len(out[1]) == 2
    (ne0, ne1), (e0, e1) = out
    torch.testing.assert_close(ne0, vr_persistence_l1(x, 0, 0)[0][0])
    assert e0.shape == (1, 1) and e1.shape == (0, 1)
    want, _ = gudhi_h1(cdist(x.numpy(), x.numpy(), "cityblock"))
    np.testing.assert_allclose(sorted_rows(ne1.numpy()), sorted_rows(want), rtol=1e-12)
    out2 = vr_persistence(torch.cdist(x, x, p=1), 1)
    np.testing.assert_allclose(sorted_rows(out2[0][1].numpy()), sorted_rows(ne1.numpy()), rtol=1e-12)


def test_torchph_square_with_threshold():
    """A unit square in l1: one loop born at 1, filled by triangles with the diagonal, 2.
    Below 2 it never dies: essential, born at 1."""
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], requires_grad=True)
    (ne0, ne1), (e0, e1) = vr_persistence_l1(x, 1, 0)
    torch.testing.assert_close(ne1, torch.tensor([[1.0, 2.0]]))
    assert e1.shape == (0, 1)
    (ne0, ne1), (e0, e1) = vr_persistence_l1(x, 1, 1.5)
    assert ne1.shape == (0, 2)
    torch.testing.assert_close(e1, torch.tensor([[1.0]]))
    e1.sum().backward()
    assert x.grad.abs().sum() == 2.0                      # one side of the square


# ----------------------------------------------------------------------------- bad input
def test_bad_input_messages():
    x = torch.randn(6, 2)
    with pytest.raises(NotImplementedError, match="dimensions 0 and 1.*max_dimension=2"):
        vr_persistence_l1(x, 2)
    with pytest.raises(NotImplementedError, match="dimensions 0 and 1"):
        vr_persistence(torch.cdist(x, x), 3)
    bad = x.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite.*1 NaN"):
        vr_persistence_1d(bad, "l2")
    bad[2, 1] = float("inf")
    with pytest.raises(ValueError, match="non-finite.*1 infinite"):
        vr_persistence_l1(bad, 1)
    with pytest.raises(ValueError, match="at least 2 points"):
        vr_persistence_1d(torch.randn(1, 2), "l2")
    with pytest.raises(TypeError, match="float32 or float64.*torch.float16.*x.float()"):
        vr_persistence_1d(x.half(), "l2")
    with pytest.raises(TypeError, match="float32 or float64.*bfloat16"):
        vr_persistence_l1(x.bfloat16(), 1)
    with pytest.raises(TypeError, match="real floating dtype.*torch.int64.*x.float()"):
        vr_persistence_1d(torch.ones(5, 2, dtype=torch.long), "l2")
    with pytest.raises(ValueError, match="'threshold'"):
        vr_persistence_1d(x, "l2", threshold=-1.0)
    with pytest.raises(ValueError, match="'n_threads'"):
        vr_persistence_1d(x, "l2", n_threads=0)
    with pytest.raises(ValueError, match="symmetric"):
        vr_persistence_1d(torch.rand(5, 5), precomputed=True)
    with pytest.raises(ValueError, match="metric"):
        vr_persistence_1d(x, "cosine")
    for call in (lambda: vr_persistence_1d(x.half(), "l2"), lambda: vr_persistence_l1(x, 5),
                 lambda: vr_persistence_1d(torch.ones(5, 2, dtype=torch.int32), "l2")):
        with pytest.raises((TypeError, ValueError, NotImplementedError)) as info:
            call()
        assert "\n" not in str(info.value)                  # one line


# ----------------------------------------------------------------------------- CUDA
@cuda
@pytest.mark.parametrize("precomputed", [False, True])
def test_cuda_matches_cpu(precomputed):
    x = torch.randn(3, 60, 3, dtype=torch.float64)
    inp = torch.cdist(x, x) if precomputed else x
    h0c, h1c = vr_persistence_1d(inp, "l2", precomputed=precomputed)
    g = inp.cuda().requires_grad_()
    h0g, h1g = vr_persistence_1d(g, "l2", precomputed=precomputed)
    assert h1g.births.device.type == "cuda" and h1g.birth_edges.device.type == "cuda"
    for b in range(3):
        torch.testing.assert_close(h1g[b].diagram().cpu(), h1c[b].diagram())
    h1g.persistence.sum().backward()
    assert g.grad.device.type == "cuda" and torch.isfinite(g.grad).all()


# ----------------------------------------------------------------------------- the loop demo
def test_loop_demo_moves_the_loop_both_ways(tmp_path):
    from corel.apps.loop_demo import format_loop_report, run_loop_demo
    res = run_loop_demo(tmp_path, n_points=30, noise=0.25, steps=40, lr=0.02, seed=1)
    assert res.persistence_more > res.persistence_start + 0.2
    assert res.persistence_less < res.persistence_start - 0.2
    assert (tmp_path / "loop.png").stat().st_size > 10_000 and (tmp_path / "numbers.json").is_file()
    assert "persistence" in format_loop_report(res)


def test_loop_command(tmp_path):
    import contextlib
    import io

    from corel.apps.cli import main
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["loop", "--points", "20", "--steps", "3", "--metric", "3", "--out-dir", str(tmp_path)]) == 0
    assert "largest loop" in out.getvalue() and (tmp_path / "loop.png").is_file()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["loop", "--points", "2", "--out-dir", str(tmp_path)]) == 2
    assert "at least 4 points" in err.getvalue()


# ----------------------------------------------------------------------------- general p
@settings(max_examples=40)
@given(st.integers(0, 2**32 - 1), st.integers(8, 60), st.integers(2, 12), st.sampled_from([1.5, 2.5, 3.0, 7.0]),
       st.sampled_from([torch.float32, torch.float64]))
def test_general_p_h1_equals_gudhi_on_the_same_matrix(seed, n, d, p, dtype):
    """At p other than 1, 2, inf the distance matrix is exactly symmetric, and H1 selects gudhi's pairs on it
    (before, one-ulp uneven entries gave wrong pairs or an IndexError in float32 and float64)."""
    from corel.topology.h0 import pairwise_distances
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.standard_normal((n, d)) if seed % 2 else rng.integers(0, 2, (n, d)) * 0.5, dtype=dtype)
    dist = pairwise_distances(x, p)
    assert torch.equal(dist, dist.T)
    _, h1 = vr_persistence_1d(dist, precomputed=True)
    want, _ = gudhi_h1(dist.double().numpy())
    got = h1.diagram().detach().double().numpy()
    assert len(got) == len(want)
    assert bottleneck(got, want) <= 1e-6 * max(float(dist.max()), 1e-30)
    _, h1_points = vr_persistence_1d(x, p)                  # the points' path: the same pairs
    assert bottleneck(h1_points.diagram().detach().double().numpy(), want) <= 1e-5 * max(float(dist.max()), 1e-30)


@pytest.mark.parametrize("metric", ["l2", "l1", "linf", 1.5, 3.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_selection_matrices_are_exactly_symmetric(metric, dtype):
    """Every matrix corel selects edges on is exactly symmetric (the H1 kernel reads both halves). A guard:
    torch.cdist's matrix-multiply mode rounds d(i, j) and d(j, i) apart (test_edges_give_the_values), and
    vectorised pow can round apart on some CPUs; corel mirrors the upper triangle."""
    from corel.topology.h0 import pairwise_distances
    torch.manual_seed(0)
    for seed in range(20):
        x = torch.randn(40, 2 + seed % 7, dtype=dtype)
        d = pairwise_distances(x, {"l2": 2.0, "l1": 1.0, "linf": math.inf}.get(metric, metric))
        assert torch.equal(d, d.transpose(0, 1))


def test_an_uneven_matrix_is_a_one_line_error():
    d = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5000001, 0.0]])
    with pytest.raises(ValueError, match="not symmetric.*symmetrise"):
        h1_edges(d)


@pytest.mark.parametrize("metric", ["l1", "l2", 3.0, "linf"])
@pytest.mark.parametrize("dtype, scale", [(torch.float32, 1.5e38), (torch.float32, 1e-40), (torch.float64, 1e307)])
def test_h1_at_the_edges_of_the_float_range_is_exact(metric, dtype, scale):
    """Pairs are selected on the cloud rescaled by a power of two (exact), so none goes missing where the
    distances would overflow the selection matrix; the values agree with the cloud at scale 1 times the scale."""
    x = noisy_circle(40, 3).to(dtype)
    _, ref = ours(x, metric)
    _, h1 = ours(x * scale, metric)
    assert int(h1.n_pairs) == int(ref.n_pairs) >= 1
    assert torch.equal(h1.birth_edges, ref.birth_edges) and torch.equal(h1.death_edges, ref.death_edges)
    rel = 1e-5 if dtype == torch.float32 and scale > 1e-30 else 1e-3 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(h1.deaths.double() / scale, ref.deaths.double(), rtol=rel)


def test_h1_beyond_the_float_range_and_meta_tensors_are_one_line_errors():
    x = noisy_circle(40, 3).float() * 2e38           # coordinates in range, the loop's l1 death (4e38) not
    with pytest.raises(ValueError, match="exceeds the torch.float32 range.*float64"):
        ours(x, "l1")
    for f in (lambda t: vr_persistence_1d(t, "l2"), lambda t: vr_persistence_0d(t, "l2")):
        with pytest.raises(ValueError, match="meta tensor"):
            f(torch.empty(5, 2, device="meta"))
