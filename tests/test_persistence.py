"""Tests of corel.topology.h0: death times against ripser, gudhi and scipy's MST, invariances,
gradients, the torchph-compatible API and the input checks."""
from __future__ import annotations

import contextlib
import dataclasses

import gudhi
import numpy as np
import pytest
import ripser
import scipy.sparse
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial.distance import cdist

from corel.topology import _prim_numba
from corel.topology.h0 import Persistence0, edge_lengths, mst_edges, pairwise_distances, vr_persistence_0d
from corel.topology.torchph import vr_persistence, vr_persistence_l1

# corel's metric -> the scipy cdist call used as the distance oracle.
SCIPY_METRIC = {"l1": {"metric": "cityblock"}, "l2": {"metric": "euclidean"},
                "linf": {"metric": "chebyshev"}, 3.0: {"metric": "minkowski", "p": 3}}
TORCH_P = {"l1": 1.0, "l2": 2.0, "linf": float("inf"), 3.0: 3.0}
ALL_METRICS = list(SCIPY_METRIC)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


# ----------------------------------------------------------------------------- strategies
@st.composite
def clouds(draw, max_n: int = 40, max_d: int = 4):
    """A float64 (N, D) cloud and the scale of its finest structure: floats, integer grids
    (ties), collinear points, two far-apart clusters with fine structure (multi-scale), with
    duplicated rows, at scales 1e-6, 1 and 1e6. Up to 40 points: torch.cdist switches to its
    matrix-multiply l2 kernel above 25."""
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    kind = draw(st.sampled_from(["float", "grid", "collinear", "two_scales"]))
    fine = 1.0
    if kind == "two_scales":
        fine = 1e-3
        # Random (not Hypothesis-simple) values: near-ties among the short edges are the point.
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
        x = rng.uniform(-1, 1, size=(n, d)) * fine
        x[: n // 2] += 1e4
    elif kind == "grid":
        x = draw(arrays(np.float64, (n, d), elements=st.integers(-3, 3).map(float)))
    elif kind == "float":
        x = draw(arrays(np.float64, (n, d), elements=st.floats(-1, 1, allow_subnormal=False)))
    else:
        t = draw(arrays(np.float64, (n,), elements=st.integers(-8, 8).map(float)
                        | st.floats(-1, 1, allow_subnormal=False)))
        direction = draw(arrays(np.float64, (d,), elements=st.integers(-2, 2).map(float)))
        x = t[:, None] * direction[None, :]
    for src, dst in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                                  max_size=n // 2)):
        x[dst] = x[src]                                   # duplicate points
    scale = draw(st.sampled_from([1e-6, 1.0, 1e6]))
    return x * scale, fine * scale


metrics = st.sampled_from(ALL_METRICS)


# ----------------------------------------------------------------------------- oracles
def oracle_distances(x: np.ndarray, metric) -> np.ndarray:
    return cdist(x, x, **SCIPY_METRIC[metric])


def scipy_mst_deaths(dist: np.ndarray) -> np.ndarray:
    """Sorted MST edge lengths with scipy. scipy reads 0 entries as missing edges (and, for a
    dense input, entries below ~1e-8 too), so every off-diagonal weight is shifted by a
    constant c > 0 and passed as a sparse matrix: all spanning trees have N-1 edges, so the
    minimum trees are unchanged and each weight comes back as w + c."""
    n = dist.shape[0]
    c = float(dist.max()) if dist.max() > 0 else 1.0
    shifted = scipy.sparse.csr_matrix(dist + c * (1.0 - np.eye(n)))
    tree = minimum_spanning_tree(shifted).toarray()
    w = tree[tree != 0] - c
    assert w.shape == (n - 1,)
    return np.sort(np.maximum(w, 0.0))


def pad_zeros(finite: np.ndarray, n: int) -> np.ndarray:
    """ripser and gudhi drop zero-length pairs (duplicates); put them back as zeros."""
    finite = np.sort(finite)
    return np.concatenate([np.zeros(n - 1 - finite.size), finite])


def ripser_deaths(dist: np.ndarray) -> np.ndarray:
    dgm = ripser.ripser(dist, maxdim=0, distance_matrix=True)["dgms"][0]
    assert np.isinf(dgm[:, 1]).sum() == 1
    return pad_zeros(dgm[np.isfinite(dgm[:, 1]), 1], dist.shape[0])


def gudhi_deaths(dist: np.ndarray) -> np.ndarray:
    tree = gudhi.RipsComplex(distance_matrix=dist).create_simplex_tree(max_dimension=1)
    tree.compute_persistence(min_persistence=-1)
    dgm = tree.persistence_intervals_in_dimension(0)
    assert np.isinf(dgm[:, 1]).sum() == 1
    return pad_zeros(dgm[np.isfinite(dgm[:, 1]), 1], dist.shape[0])


def corel_deaths(x: np.ndarray, metric) -> np.ndarray:
    return vr_persistence_0d(torch.from_numpy(x), metric).deaths.numpy()


def is_spanning_tree(edges: np.ndarray, n: int) -> bool:
    adj = np.zeros((n, n))
    adj[edges[:, 0], edges[:, 1]] = 1
    return edges.shape == (n - 1, 2) and connected_components(adj, directed=False)[0] == 1


# ----------------------------------------------------------------------------- exactness
# float64 throughout. corel and scipy/gudhi compute in float64: the only slack is l2 edge
# *selection* (torch.cdist's matrix-multiply mode, error ~sqrt(eps) * scale near ties), hence
# atol ~1e-7 * scale. ripser computes in float32: rtol 1e-5.
@given(clouds(), metrics)
def test_deaths_match_scipy_mst(cloud, metric):
    x, scale = cloud
    dist = oracle_distances(x, metric)
    res = vr_persistence_0d(torch.from_numpy(x), metric)
    deaths, edges = res.deaths.numpy(), res.edges.numpy()
    assert deaths.shape == (x.shape[0] - 1,) and res.deaths.dtype == torch.float64
    assert np.all(np.diff(deaths) >= 0), "deaths must be ascending"
    assert is_spanning_tree(edges, x.shape[0])
    np.testing.assert_allclose(deaths, dist[edges[:, 0], edges[:, 1]], rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(deaths, scipy_mst_deaths(dist), rtol=1e-9, atol=1e-7 * scale)


@given(clouds(), metrics)
def test_deaths_match_ripser(cloud, metric):
    x, scale = cloud
    ref = ripser_deaths(oracle_distances(x, metric))
    np.testing.assert_allclose(corel_deaths(x, metric), ref, rtol=1e-5, atol=1e-6 * scale)


@given(clouds(), metrics)
def test_deaths_match_gudhi(cloud, metric):
    x, scale = cloud
    ref = gudhi_deaths(oracle_distances(x, metric))
    np.testing.assert_allclose(corel_deaths(x, metric), ref, rtol=1e-9, atol=1e-7 * scale)


@pytest.mark.parametrize("metric,ripser_metric", [("l1", "manhattan"), ("l2", "euclidean"),
                                                  ("linf", "chebyshev")])
def test_deaths_match_ripser_on_points(metric, ripser_metric):
    x = np.random.default_rng(0).normal(size=(60, 3))
    dgm = ripser.ripser(x, maxdim=0, metric=ripser_metric)["dgms"][0]
    ref = pad_zeros(dgm[np.isfinite(dgm[:, 1]), 1], 60)
    np.testing.assert_allclose(corel_deaths(x, metric), ref, rtol=1e-5)


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize("offset", [1e2, 1e4, 1e6])
def test_multiscale_cloud(metric, offset):
    """Two clusters `offset` apart, each with structure at 1e-3: the short deaths must be
    right to float64 precision, not just to sqrt(eps) * offset."""
    a = np.random.default_rng(5).uniform(size=(30, 2)) * 1e-2
    x = np.concatenate([a, a[::-1] + offset])
    ref = scipy_mst_deaths(oracle_distances(x, metric))
    np.testing.assert_allclose(corel_deaths(x, metric), ref, rtol=1e-6, atol=1e-9)


@given(st.integers(0, 2 ** 32 - 1), st.integers(26, 60), st.integers(1, 3),
       st.sampled_from([1e3, 1e4, 1e6]), metrics)
def test_multiscale_clouds_match_scipy(seed, n, d, offset, metric):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, d)) * 1e-2
    x[: n // 2] += offset * rng.normal(size=d)
    ref = scipy_mst_deaths(oracle_distances(x, metric))
    np.testing.assert_allclose(corel_deaths(x, metric), ref, rtol=1e-6, atol=1e-9)


def test_metric_aliases_and_numbers_agree():
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(30, 4)))
    for a, b in [("l1", 1), ("manhattan", "cityblock"), ("l2", 2.0), ("euclidean", "L2"),
                 ("linf", float("inf")), ("chebyshev", "linf"), ("l3", 3)]:
        torch.testing.assert_close(vr_persistence_0d(x, a).deaths, vr_persistence_0d(x, b).deaths)


def test_hand_computed_line():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]], dtype=torch.float64)
    res = vr_persistence_0d(x, "l2")
    torch.testing.assert_close(res.deaths, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    assert res.edges.tolist() == [[0, 1], [1, 2], [2, 3]]
    torch.testing.assert_close(res.diagram(), torch.tensor([[0.0, 1.0], [0, 2], [0, 3]], dtype=torch.float64))


def test_hand_computed_l1_vs_linf():
    # A unit square plus its centre: l1 edges centre-corner = 1, linf = 0.5.
    x = torch.tensor([[0.0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]])
    torch.testing.assert_close(vr_persistence_0d(x, "l1").deaths, torch.ones(4))
    torch.testing.assert_close(vr_persistence_0d(x, "linf").deaths, torch.full((4,), 0.5))
    torch.testing.assert_close(vr_persistence_0d(x, "l2").deaths, torch.full((4,), 0.5 ** 0.5))


# ----------------------------------------------------------------------------- the two CPU backends
@given(clouds(), metrics)
def test_numpy_backend_matches_scipy_mst(cloud, metric):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_prim_numba, "_kernels", lambda: None)
        x, scale = cloud
        dist = oracle_distances(x, metric)
        res = vr_persistence_0d(torch.from_numpy(x), metric)
        assert is_spanning_tree(res.edges.numpy(), x.shape[0])
        np.testing.assert_allclose(res.deaths.numpy(), scipy_mst_deaths(dist), rtol=1e-9, atol=1e-7 * scale)
        pre = vr_persistence_0d(torch.from_numpy(dist), precomputed=True)
        np.testing.assert_allclose(pre.deaths.numpy(), scipy_mst_deaths(dist), rtol=1e-9, atol=1e-7 * scale)


@pytest.mark.skipif(not _prim_numba.available(), reason="needs Numba")
@given(st.integers(2, 300), st.integers(1, 12), st.sampled_from([torch.float32, torch.float64]), metrics,
       st.integers(0, 2 ** 16))
def test_numba_and_numpy_backends_agree(n, d, dtype, metric, seed):
    # Larger clouds than the oracle tests, float32 too; the Numba kernel unrolls the
    # coordinates by four, so the sums may round differently: deaths agree to rounding.
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    fast = vr_persistence_0d(x, metric)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_prim_numba, "_kernels", lambda: None)
        slow = vr_persistence_0d(x, metric)
    assert is_spanning_tree(fast.edges.numpy(), n)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(fast.deaths, slow.deaths, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- the product Prim (l2)
needs_numba = pytest.mark.skipif(not _prim_numba.available(), reason="needs Numba")


def canonical_tree(edges: np.ndarray) -> np.ndarray:
    e = np.sort(edges.reshape(-1, 2), axis=1)
    return e[np.lexsort(e.T[::-1])]


@st.composite
def gram_clouds(draw):
    """Clouds for the matrix-product Prim: Gaussian, far from the origin, two clusters far
    apart (fine structure 1e-3 of the extent), half-integer grids (ties), duplicated rows,
    scaled over 30 orders of magnitude, float32 or float64."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n, d = draw(st.integers(2, 300)), draw(st.integers(1, 200))
    kind = draw(st.sampled_from(["gauss", "offset", "two_scales", "grid"]))
    x = rng.standard_normal((n, d))
    if kind == "offset":
        x = x * 1e-3 + 1e3
    elif kind == "two_scales":
        x[: n // 2] += 1e3
    elif kind == "grid":
        x = np.round(x * 2) / 2
    for _ in range(draw(st.integers(0, 3))):
        x[rng.integers(n)] = x[rng.integers(n)]
    x = x * draw(st.sampled_from([1e-15, 1e-3, 1.0, 1e3, 1e15]))
    return x.astype(draw(st.sampled_from([np.float32, np.float64])))


@needs_numba
@given(gram_clouds())
def test_product_prim_builds_the_direct_sum_tree(x):
    # The same edges in the same join order as the direct-sum kernel: every comparison the
    # rounding bound cannot decide is decided on the same direct sums. None (too many open
    # comparisons: the estimates are useless, as for the two_scales clouds in float32) sends
    # the caller to the direct kernel, tested below.
    direct = _prim_numba.prim_points(x[None], 2.0)[0]
    product = _prim_numba.prim_gram(x)
    if product is not None:
        np.testing.assert_array_equal(product, direct)


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_product_prim_at_the_dispatch_sizes(dtype):
    # Above _GRAM_MIN_N / _GRAM_MIN_D, where vr_persistence_0d uses it: deaths against scipy.
    from corel.topology import h0 as persistence
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 128)).astype(dtype)
    x[:150] += 5.0                                            # two clusters
    assert persistence._use_gram(x.shape, x.dtype.itemsize, 2.0)
    res = vr_persistence_0d(torch.from_numpy(x), "l2")
    assert is_spanning_tree(res.edges.numpy(), 300)
    np.testing.assert_allclose(res.deaths.numpy(), scipy_mst_deaths(oracle_distances(x.astype(np.float64), "l2")),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(canonical_tree(_prim_numba.prim_gram(x)),
                                  canonical_tree(_prim_numba.prim_points(x[None], 2.0)[0]))
    # A batch goes cloud by cloud through the same kernel: batched equals looped.
    other = rng.standard_normal((300, 128)).astype(dtype)
    batch = vr_persistence_0d(torch.from_numpy(np.stack([x, other])), "l2")
    torch.testing.assert_close(batch.deaths[0], res.deaths, rtol=0, atol=0)
    torch.testing.assert_close(batch.deaths[1], vr_persistence_0d(torch.from_numpy(other), "l2").deaths,
                               rtol=0, atol=0)


@needs_numba
def test_product_prim_gives_up_cleanly():
    from corel.topology import h0 as persistence
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 100)).astype(np.float32)
    assert _prim_numba.prim_gram(x, max_checks=0) is None               # check budget spent
    assert _prim_numba.prim_gram(x * np.float32(1e18)) is None          # estimates would overflow
    # vr_persistence_0d then takes the direct sums: the same deaths either way.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_prim_numba, "prim_gram", lambda cloud: None)
        fallback = vr_persistence_0d(torch.from_numpy(x).expand(2, 300, 100), "l2")
    direct = vr_persistence_0d(torch.from_numpy(x), "l2")
    assert persistence._use_gram((300, 100), 4, 2.0)
    torch.testing.assert_close(fallback.deaths[1], direct.deaths, rtol=0, atol=0)


def test_product_prim_dispatch_rule():
    from corel.topology import h0 as persistence
    assert persistence._use_gram((1000, 160), 4, 2.0)
    assert not persistence._use_gram((1000, 160), 4, 1.0)            # l2 only
    assert not persistence._use_gram((1000, 10), 4, 2.0)             # few coordinates
    assert persistence._use_gram((300, 64), 4, 2.0)                  # 64 suffice up to ~500 points
    assert not persistence._use_gram((1000, 64), 4, 2.0)
    assert persistence._use_gram((100, 160), 4, 2.0)                 # from 64 points on
    assert not persistence._use_gram((32, 160), 4, 2.0)              # tiny cloud
    assert not persistence._use_gram((10000, 160), 4, 2.0)           # matrix over the cap


@pytest.mark.parametrize("d", [1, 2, 5])
def test_input_is_not_modified(d):
    # The Numba kernel reorders a scratch copy of the coordinates; for D = 1 a transpose alone
    # would have been a view of the caller's tensor (a bug found by the scipy oracle test).
    x = torch.randn(3, 30, d)
    before = x.clone()
    vr_persistence_0d(x, "l1")
    vr_persistence_0d(torch.cdist(x, x), precomputed=True)
    assert torch.equal(x, before)


def test_numba_can_be_disabled_by_environment():
    import subprocess
    import sys
    code = "from corel.topology import _prim_numba; print(_prim_numba.available())"
    env = {**__import__("os").environ, "COREL_NUMBA": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_numba_not_imported_with_corel():
    import subprocess
    import sys
    code = "import sys, corel; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- invariances
@given(clouds(max_n=16), metrics, st.data())
def test_permutation_invariance(cloud, metric, data):
    x, scale = cloud
    perm = np.array(data.draw(st.permutations(range(x.shape[0]))))
    np.testing.assert_allclose(corel_deaths(x[perm], metric), corel_deaths(x, metric),
                               rtol=1e-12, atol=1e-7 * scale)


@given(st.integers(2, 12), st.integers(1, 3), st.booleans(), metrics, st.data())
def test_batched_equals_loop(n, d, grid, metric, data):
    elements = st.integers(-2, 2).map(float) if grid else st.floats(-1, 1, allow_subnormal=False)
    x = torch.from_numpy(data.draw(arrays(np.float64, (3, 4, n, d), elements=elements)))
    res = vr_persistence_0d(x, metric)
    assert res.deaths.shape == (3, 4, n - 1) and res.edges.shape == (3, 4, n - 1, 2)
    for i in range(3):
        for j in range(4):
            single = vr_persistence_0d(x[i, j], metric)
            torch.testing.assert_close(res.deaths[i, j], single.deaths, rtol=1e-12, atol=1e-9)
            torch.testing.assert_close(res[i, j].deaths, single.deaths, rtol=1e-12, atol=1e-9)
            if metric in ("l1", "linf"):   # exact distances: the same tie-breaking
                assert torch.equal(res.edges[i, j], single.edges)


@given(clouds(max_n=16), metrics)
def test_points_equal_precomputed(cloud, metric):
    x, scale = cloud
    dist = torch.from_numpy(oracle_distances(x, metric))
    pre = vr_persistence_0d(dist, precomputed=True)
    np.testing.assert_allclose(pre.deaths.numpy(), corel_deaths(x, metric), rtol=1e-9, atol=1e-7 * scale)
    assert is_spanning_tree(pre.edges.numpy(), x.shape[0])


def test_precomputed_batched():
    x = torch.randn(2, 3, 10, 4, dtype=torch.float64)
    dist = torch.cdist(x, x, p=1)
    pre = vr_persistence_0d(dist, precomputed=True)
    torch.testing.assert_close(pre.deaths, vr_persistence_0d(x, "l1").deaths)


@given(arrays(np.float64, st.tuples(st.integers(2, 20), st.integers(1, 3)),
              elements=st.integers(-2, 2).map(float)), metrics)
def test_deterministic_at_ties(x, metric):
    t = torch.from_numpy(x)
    a, b = vr_persistence_0d(t, metric), vr_persistence_0d(t.clone(), metric)
    assert torch.equal(a.edges, b.edges) and torch.equal(a.deaths, b.deaths)
    two = vr_persistence_0d(torch.stack([t, t]), metric)
    assert torch.equal(two.edges[0], two.edges[1])


def test_mst_edges_tie_rule():
    # All distances equal: Prim from vertex 0, lowest index first -> a star at 0.
    dist = torch.ones(5, 5) - torch.eye(5)
    assert mst_edges(dist).tolist() == [[0, 1], [0, 2], [0, 3], [0, 4]]
    assert mst_edges(dist[None].expand(3, 5, 5)).tolist() == [[[0, 1], [0, 2], [0, 3], [0, 4]]] * 3


def test_mst_edges_small_inputs():
    assert mst_edges(torch.zeros(1, 1)).shape == (0, 2)
    assert mst_edges(torch.zeros(4, 1, 1)).shape == (4, 0, 2)
    assert mst_edges(torch.tensor([[0.0, 2.0], [2.0, 0.0]])).tolist() == [[0, 1]]


def test_mst_edges_half_precision():
    x = torch.randn(20, 3)
    dist = torch.cdist(x, x)
    assert is_spanning_tree(mst_edges(dist.half()).numpy(), 20)
    assert is_spanning_tree(mst_edges(dist.bfloat16()).numpy(), 20)


def test_pairwise_distances_and_edge_lengths():
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    for metric, p in TORCH_P.items():
        ref = np.stack([oracle_distances(c.numpy(), metric) for c in x])
        np.testing.assert_allclose(pairwise_distances(x, p).numpy(), ref, atol=1e-12)
        edges = torch.tensor([[[0, 1], [2, 5]], [[6, 3], [4, 4]]])
        want = [[ref[0, 0, 1], ref[0, 2, 5]], [ref[1, 6, 3], 0.0]]
        np.testing.assert_allclose(edge_lengths(x, edges, p).numpy(), want, atol=1e-12)


@cuda
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_cpu_equals_cuda(metric):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 50, 5, generator=gen, dtype=torch.float64)
    cpu, gpu = vr_persistence_0d(x, metric), vr_persistence_0d(x.cuda(), metric)
    assert gpu.deaths.is_cuda and gpu.edges.is_cuda
    torch.testing.assert_close(gpu.deaths.cpu(), cpu.deaths, rtol=1e-9, atol=1e-9)
    grid = torch.randint(-2, 3, (4, 30, 2), generator=gen).double()
    cpu, gpu = vr_persistence_0d(grid, metric), vr_persistence_0d(grid.cuda(), metric)
    torch.testing.assert_close(gpu.deaths.cpu(), cpu.deaths, rtol=1e-9, atol=1e-9)
    if metric in ("l1", "linf"):
        assert torch.equal(gpu.edges.cpu(), cpu.edges)
    pre = vr_persistence_0d(torch.cdist(grid, grid, p=1).cuda(), precomputed=True)
    torch.testing.assert_close(pre.deaths.cpu(), vr_persistence_0d(grid, "l1").deaths)


# ----------------------------------------------------------------------------- precision
@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_float32_agrees_with_float64(metric):
    """N = 2000 in 10 dims: deaths agree to rtol 1e-5, gradients of sum(deaths) to 1e-4."""
    x64 = torch.randn(2000, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grads = []
    for dtype in (torch.float32, torch.float64):
        x = x64.to(dtype).requires_grad_()
        deaths = vr_persistence_0d(x, metric).deaths
        deaths.sum().backward()
        grads.append(x.grad.double())
        if dtype == torch.float32:
            d32 = deaths.detach().double()
    d64 = deaths.detach()
    torch.testing.assert_close(d32, d64, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("metric", ALL_METRICS)
def test_half_precision_inputs(dtype, metric):
    """Half inputs work on the CPU (edges selected in float32); deaths keep the input dtype."""
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(6)).to(dtype).requires_grad_()
    res = vr_persistence_0d(x, metric)
    assert res.deaths.dtype == dtype
    ref = vr_persistence_0d(x.detach().float(), metric).deaths
    torch.testing.assert_close(res.deaths.float(), ref, rtol=2e-2, atol=1e-2)
    res.deaths.sum().backward()
    assert torch.isfinite(x.grad).all()


# ----------------------------------------------------------------------------- the floating-point range
def scaled_lp_distances(x: np.ndarray, p: float) -> np.ndarray:
    """float64 l_p distances with every pair scaled by its largest |coordinate difference| m,
    as in hypot: m * (sum (|t| / m)^p)^(1/p). The oracle for large p and extreme scales, where
    scipy's cdist (unscaled |t|^p) under- or overflows even in float64."""
    x = np.asarray(x, dtype=np.float64)
    diff = np.abs(x[:, None] - x[None])
    m = diff.max(-1)
    if p == np.inf:
        return m
    safe = np.where(m > 0, m, 1.0)
    return m * ((diff / safe[..., None]) ** p).sum(-1) ** (1.0 / p)


@contextlib.contextmanager
def numpy_backend(use: bool):
    """Within it corel runs without its Numba kernels if ``use`` (NumPy Prim on a matrix)."""
    if not use:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_prim_numba, "_kernels", lambda: None)
        yield


def check_against_scaled_oracle(x: torch.Tensor, p: float, rtol: float):
    """Deaths, tree and gradients of one cloud against the scaled float64 oracle: no zero or
    infinite deaths, the sorted deaths of the minimum tree, corel's tree as light as it."""
    x = x.detach().requires_grad_()
    res = vr_persistence_0d(x, p)
    deaths, edges = res.deaths.detach().double().numpy(), res.edges.numpy()
    dist = scaled_lp_distances(x.detach().numpy(), p)
    ref = scipy_mst_deaths(dist)
    assert np.isfinite(deaths).all() and (deaths > 0).all()
    assert is_spanning_tree(edges, x.shape[0])
    np.testing.assert_allclose(deaths, dist[edges[:, 0], edges[:, 1]], rtol=rtol)   # these edges' lengths
    np.testing.assert_allclose(deaths, ref, rtol=rtol)                               # a minimum tree
    res.deaths.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    return res, x.grad


@pytest.mark.parametrize("numpy_prim", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e-3, 0.1, 10.0])
@pytest.mark.parametrize("p", [20.0, 50.0])
def test_large_p_matches_scaled_oracle(p, scale, dtype, numpy_prim):
    """Unscaled sums of |t|^p underflow (float32, p = 50: |t| < 0.2) or overflow (|t| > 6):
    before the fix, 137 of 149 deaths 0 at scale 0.1 and a tree 33% too heavy, all 0 at
    p = 20 and scale 1e-3, inf at p = 50 and scale 10."""
    x = torch.randn(150, 5, generator=torch.Generator().manual_seed(0), dtype=dtype) * scale
    with numpy_backend(numpy_prim):
        check_against_scaled_oracle(x, p, rtol=1e-5 if dtype == torch.float32 else 1e-12)
        got = pairwise_distances(x, p).double().numpy()
    np.testing.assert_allclose(got, scaled_lp_distances(x.numpy(), p),
                               rtol=1e-5 if dtype == torch.float32 else 1e-12)


@given(st.integers(0, 2 ** 32 - 1), st.integers(2, 60), st.integers(1, 6),
       st.sampled_from([1.5, 3.0, 7.5, 20.0, 50.0, 300.0]),
       st.sampled_from([1e-30, 1e-3, 0.1, 10.0, 1e30]), st.sampled_from([torch.float32, torch.float64]),
       st.booleans())
def test_general_p_over_the_range(seed, n, d, p, scale, dtype, numpy_prim):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((n, d)) * scale).to(dtype)
    with numpy_backend(numpy_prim):
        check_against_scaled_oracle(x, p, rtol=1e-5 if dtype == torch.float32 else 1e-10)


@pytest.mark.parametrize("numpy_prim", [False, True])
@pytest.mark.parametrize("dtype,scale", [(torch.float32, 1e20), (torch.float32, 1e30), (torch.float32, 1e-25),
                                         (torch.float32, 1e-30), (torch.float64, 1e160), (torch.float64, 1e-170)])
@pytest.mark.parametrize("n,d", [(150, 5), (300, 80)])          # (300, 80): the matrix-product Prim
def test_l2_at_extreme_scales(n, d, dtype, scale, numpy_prim):
    """Squared sums overflow beyond sqrt(max) (1.8e19 in float32) and lose all precision
    below sqrt(tiny) (1e-19): before the fix, all deaths inf at 1e20 and 0 at 1e-25.
    The deaths must match the oracle, the gradients (unit vectors, scale-free) those of the
    same cloud at scale 1."""
    x64 = torch.randn(n, d, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = (x64 * scale).to(dtype)
    with numpy_backend(numpy_prim):
        res, grad = check_against_scaled_oracle(x, 2.0, rtol=1e-5 if dtype == torch.float32 else 1e-12)
        unit = (x.double() / scale).requires_grad_()       # the same cloud at scale 1 (up to rounding)
        ref = vr_persistence_0d(unit, "l2")
        ref.deaths.sum().backward()
        np.testing.assert_array_equal(canonical_tree(res.edges.numpy()), canonical_tree(ref.edges.numpy()))
        torch.testing.assert_close(grad.double(), unit.grad, rtol=1e-4, atol=1e-4)
        got = pairwise_distances(x, 2.0).double().numpy()
    np.testing.assert_allclose(got, scaled_lp_distances(x.numpy(), 2.0), rtol=1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("numpy_prim", [False, True])
@pytest.mark.parametrize("far", [1e30, -3.0, 1.0])
def test_l2_tiny_cloud_with_a_constant_coordinate(far, numpy_prim):
    """Extent 1e-25 (float32) but one coordinate constant far from zero: scaled up as a
    whole, that coordinate would overflow; it is shifted to 0 first (exact)."""
    x = torch.randn(60, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 1e-25
    x[:, 2] = far
    with numpy_backend(numpy_prim):
        check_against_scaled_oracle(x.float(), 2.0, rtol=1e-5)


def test_near_duplicate_in_a_unit_cloud():
    """A cloud in range skips the l2 range check on its deaths: a pair 1e-20 apart (float32,
    squares subnormal) then comes out within 1e-19, far below the resolution of the cloud."""
    x = torch.randn(40, 3, generator=torch.Generator().manual_seed(3))
    x[0] = 0.0
    x[1] = torch.tensor([1e-20, 0.0, 0.0])
    x.requires_grad_()
    res = vr_persistence_0d(x, "l2")
    assert abs(float(res.deaths.detach()[0]) - 1e-20) < 1e-19
    res.deaths.sum().backward()
    assert torch.isfinite(x.grad).all()


@given(st.integers(0, 2 ** 32 - 1), st.integers(2, 40), st.integers(1, 4),
       st.sampled_from(ALL_METRICS + [20.0, 50.0]), st.sampled_from([torch.float32, torch.float64]),
       st.integers(-1000, 1000), st.booleans())
def test_power_of_two_scaling_changes_nothing(seed, n, d, metric, dtype, k, numpy_prim):
    """Scaling a cloud by 2^k (exact) scales every distance by 2^k: the same tree, the deaths
    scaled, across the whole exponent range of the dtype."""
    k = k if dtype == torch.float64 else k * 110 // 1000          # float32: 2^-110 .. 2^110
    rng = np.random.default_rng(seed)
    x = rng.uniform(2.0 ** -10, 1.0, size=(n, d)) * rng.choice([-1.0, 1.0], size=(n, d))
    x = torch.from_numpy(x).to(dtype)
    y = (x.double() * 2.0 ** k).to(dtype)
    assert torch.equal((y.double() / 2.0 ** k).to(dtype), x)        # exact
    with numpy_backend(numpy_prim):
        a, b = vr_persistence_0d(x, metric), vr_persistence_0d(y, metric)
    np.testing.assert_array_equal(canonical_tree(b.edges.numpy()), canonical_tree(a.edges.numpy()))
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(b.deaths.double() / 2.0 ** k, a.deaths.double(), rtol=tol, atol=0)


@pytest.mark.parametrize("numpy_prim", [False, True])
@pytest.mark.parametrize("metric", ALL_METRICS + [50.0])
@pytest.mark.parametrize("shape", [(0, 50, 3), (2, 0, 7, 3), (0, 300, 80)])  # (0, 300, 80): product-Prim sizes
def test_empty_batch(shape, metric, numpy_prim):
    """No clouds: empty results of the right shapes (a reshape error before the fix),
    for points and distance matrices, and a backward pass that runs."""
    n = shape[-2]
    x = torch.randn(*shape, requires_grad=True)
    dist = torch.zeros(*shape[:-1], n, requires_grad=True)
    with numpy_backend(numpy_prim):
        for res in (vr_persistence_0d(x, metric), vr_persistence_0d(dist, precomputed=True)):
            assert res.deaths.shape == (*shape[:-2], n - 1) and res.edges.shape == (*shape[:-2], n - 1, 2)
            assert res.edges.dtype == torch.long and res.n_essential.shape == shape[:-2]
            res.deaths.sum().backward()
        assert pairwise_distances(x.detach(), TORCH_P.get(metric, metric)).shape == (*shape[:-1], n)
        assert mst_edges(dist.detach()).shape == (*shape[:-2], n - 1, 2)
    assert x.grad.shape == x.shape and dist.grad.shape == dist.shape


def test_edge_lengths_mixed_range():
    """One call with a duplicate, a normal, a huge and a tiny edge (float32): the unscaled
    l2 norm is redone scaled only where it is unsafe; values and gradients right."""
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [3e20, 4e20], [3e-25, 4e-25]], requires_grad=True)
    edges = torch.tensor([[0, 1], [0, 2], [0, 3], [0, 4]])
    for p, want in [(2.0, [0.0, 5.0, 5e20, 5e-25]), (50.0, [0.0, 4.0 * (1 + 0.75 ** 50) ** 0.02,
                                                           4e20 * (1 + 0.75 ** 50) ** 0.02,
                                                           4e-25 * (1 + 0.75 ** 50) ** 0.02])]:
        x.grad = None
        length = edge_lengths(x, edges, p)
        np.testing.assert_allclose(length.detach().numpy(), want, rtol=1e-6)
        length.sum().backward()
        assert torch.isfinite(x.grad).all() and torch.equal(x.grad[1], torch.zeros(2))
    x.grad = None
    edge_lengths(x, edges, 2.0)[1:].sum().backward()
    unit = torch.tensor([0.6, 0.8])
    torch.testing.assert_close(x.grad[2:], unit.expand(3, 2))      # d|x_j - x_0| / dx_j
    torch.testing.assert_close(x.grad[0], -3 * unit)


# ----------------------------------------------------------------------------- gradients
def _generic_points(n, d, seed):
    """Gaussian points, float64; no coordinate difference is (near) zero, so l1 is smooth."""
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    diffs = (x[:, None] - x[None]).abs() + torch.eye(n, dtype=x.dtype)[..., None]
    assert float(diffs.min()) > 1e-4   # gradcheck perturbs by 1e-6
    return x


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_gradcheck_deaths(metric):
    x = _generic_points(8, 3, seed=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: vr_persistence_0d(z, metric).deaths, (x,))


def test_gradcheck_batched():
    x = torch.stack([_generic_points(6, 2, seed=s) for s in range(3)]).requires_grad_()
    assert torch.autograd.gradcheck(lambda z: vr_persistence_0d(z, "l1").deaths, (x,))


def test_gradcheck_precomputed():
    pts = _generic_points(7, 3, seed=2)
    m = torch.cdist(pts, pts, p=1).requires_grad_()
    off_diagonal = 1.0 - torch.eye(7, dtype=m.dtype)
    # Symmetrise inside, so gradcheck's one-entry perturbations keep a valid distance matrix.
    assert torch.autograd.gradcheck(
        lambda a: vr_persistence_0d((a + a.transpose(-1, -2)) / 2 * off_diagonal, precomputed=True).deaths,
        (m,))


def test_precomputed_gradient_lands_on_mst_entries():
    pts = _generic_points(6, 2, seed=3)
    m = torch.cdist(pts, pts).requires_grad_()
    res = vr_persistence_0d(m, precomputed=True)
    res.deaths.sum().backward()
    want = torch.zeros_like(m)
    want[res.edges[:, 0], res.edges[:, 1]] = 1.0
    torch.testing.assert_close(m.grad, want)


def test_gradient_through_points_into_matrix():
    x = _generic_points(9, 2, seed=4).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: vr_persistence_0d(torch.cdist(z, z), precomputed=True).deaths, (x,))


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_gradient_finite_with_duplicates(metric):
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 2.0], [1.0, 2.0], [3.0, -1.0]],
                     dtype=torch.float64, requires_grad=True)
    res = vr_persistence_0d(x, metric)
    torch.testing.assert_close(res.deaths[:2], torch.zeros(2, dtype=torch.float64))
    (res.deaths[0] + res.deaths[1]).backward()       # the two zero-length deaths
    assert torch.equal(x.grad, torch.zeros_like(x)), "a zero distance must have gradient 0"
    x.grad = None
    vr_persistence_0d(x, metric).deaths.sum().backward()
    assert torch.isfinite(x.grad).all()


def test_gradient_is_distance_gradient():
    # Two points in 1-D: d(death)/dx = (-1, +1) along the edge.
    x = torch.tensor([[0.0], [2.0]], requires_grad=True)
    vr_persistence_0d(x, "l2").deaths.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[-1.0], [1.0]]))


def _torch_path(x: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Deaths and edges by the generic path: the differentiable torch lengths of the same
    tree, stably sorted (what vr_persistence_0d computes without the fused Numba kernels)."""
    p = TORCH_P[metric]
    edges = mst_edges(pairwise_distances(x.detach().double(), p))
    lengths = edge_lengths(x, edges, p)
    order = torch.sort(lengths.detach(), dim=-1, stable=True).indices
    return torch.gather(lengths, -1, order), torch.gather(edges, -2, order[..., None].expand(*order.shape, 2))


@pytest.mark.skipif(not _prim_numba.available(), reason="needs Numba")
@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(30, 3), (4, 25, 7), (2, 3, 12, 100)])
def test_fused_lengths_match_the_torch_path(metric, dtype, shape):
    # The fused Numba forward and backward (l1, l2 on the CPU) against torch's autograd over
    # the same tree: deaths to float rounding, the same order, the same gradients; duplicate
    # points (zero-length deaths, whose subgradient is 0) included.
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(*shape, generator=gen, dtype=torch.float64)
    x[..., 3, :] = x[..., 0, :]
    x = x.to(dtype).requires_grad_()
    weights = torch.rand(*shape[:-2], shape[-2] - 1, generator=gen, dtype=dtype)
    res = vr_persistence_0d(x, metric)
    (res.deaths * weights).sum().backward()
    got = x.grad.clone()
    x.grad = None
    deaths, edges = _torch_path(x, metric)
    (deaths * weights).sum().backward()
    tol = {"rtol": 4e-7, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-13, "atol": 1e-13}
    torch.testing.assert_close(res.deaths, deaths, **tol)
    assert torch.equal(res.deaths, torch.sort(res.deaths, dim=-1).values)
    assert torch.equal(torch.sort(res.edges, dim=-1).values, torch.sort(edges, dim=-1).values)
    torch.testing.assert_close(got, x.grad, **tol)
    assert res.deaths.dtype == dtype and got.dtype == dtype


@pytest.mark.skipif(not _prim_numba.available(), reason="needs Numba")
@pytest.mark.parametrize("scale", [1e-30, 1e30])
def test_fused_float32_lengths_at_extreme_scales(scale):
    # Summed in float64, float32 deaths and gradients need no range check: the float64
    # deaths of the same cloud, rounded, and its gradient.
    x64 = torch.randn(40, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * scale
    x32 = x64.float().requires_grad_()
    res32 = vr_persistence_0d(x32, "l2")
    res64 = vr_persistence_0d(x32.detach().double().requires_grad_(), "l2")
    torch.testing.assert_close(res32.deaths, res64.deaths.float(), rtol=2e-7, atol=0)
    res32.deaths.sum().backward()
    assert torch.isfinite(x32.grad).all() and x32.grad.abs().max() > 0.1


@pytest.mark.skipif(not _prim_numba.available(), reason="needs Numba")
def test_fused_gradient_ignores_later_changes_to_the_deaths():
    x = torch.randn(20, 3, requires_grad=True)
    deaths = vr_persistence_0d(x, "l2").deaths
    want, = torch.autograd.grad(deaths.sum(), x, retain_graph=True)
    deaths.detach().mul_(3.0)                  # the caller rescales the returned values in place
    got, = torch.autograd.grad(deaths.sum(), x, retain_graph=True)
    torch.testing.assert_close(got, want)
    deaths[..., :2].clamp_(max=0.0)            # tracked in-place ops on the deaths work as on any tensor
    got, = torch.autograd.grad(deaths.sum(), x)
    assert torch.isfinite(got).all()


@pytest.mark.skipif(not _prim_numba.available(), reason="needs Numba")
def test_fused_backward_sees_in_place_changes():
    x = torch.randn(20, 3, requires_grad=True)
    y = x * 1.0
    deaths = vr_persistence_0d(y, "l1").deaths
    with torch.no_grad():
        y.add_(1.0)                         # the points the backward would read have changed
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        deaths.sum().backward()


# ----------------------------------------------------------------------------- Persistence0
def test_persistence0_threshold_and_essential():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    res = vr_persistence_0d(x, "l1", threshold=2.0)
    assert res.threshold == 2.0
    assert res.finite.tolist() == [True, True, False]
    assert int(res.n_essential) == 2
    torch.testing.assert_close(res.diagram(), torch.tensor([[0.0, 1.0], [0.0, 2.0]]))
    for no_threshold in (None, 0, 0.0, float("inf")):
        res = vr_persistence_0d(x, "l1", threshold=no_threshold)
        assert res.threshold is None and int(res.n_essential) == 1 and res.finite.all()


def test_persistence0_batched_properties():
    x = torch.tensor([[[0.0], [1.0], [3.0]], [[0.0], [5.0], [6.0]]])
    res = vr_persistence_0d(x, "l1", threshold=1.5)
    assert res.n_essential.tolist() == [2, 2]
    assert res[1].deaths.tolist() == [1.0, 5.0]
    with pytest.raises(ValueError, match="single cloud.*result\\[0\\]"):
        res.diagram()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.deaths = None
    assert isinstance(res[0], Persistence0) and res[0].diagram().shape == (1, 2)


# ----------------------------------------------------------------------------- torchph API
def test_torchph_line_example():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    out = vr_persistence_l1(x, 0)
    assert isinstance(out, list) and len(out) == 2 and len(out[0]) == 1 and len(out[1]) == 1
    (non_essential,), (essential,) = out
    torch.testing.assert_close(non_essential, torch.tensor([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0]]))
    torch.testing.assert_close(essential, torch.zeros(1, 1))


def test_torchph_drops_duplicates():
    x = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [3.0, 1.0]])
    (non_essential,), (essential,) = vr_persistence_l1(x, 0)
    torch.testing.assert_close(non_essential, torch.tensor([[0.0, 2.0], [0.0, 2.0]]))
    torch.testing.assert_close(essential, torch.zeros(1, 1))


@pytest.mark.parametrize("diameter,deaths,n_essential", [(2.5, [1.0, 2.0], 2), (1.5, [1.0], 3),
                                                         (2.0, [1.0, 2.0], 2), (0.5, [], 4)])
def test_torchph_max_ball_diameter(diameter, deaths, n_essential):
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    (non_essential,), (essential,) = vr_persistence_l1(x, 0, max_ball_diameter=diameter)
    assert non_essential.shape == (len(deaths), 2)
    assert non_essential[:, 1].tolist() == deaths and not non_essential[:, 0].any()
    torch.testing.assert_close(essential, torch.zeros(n_essential, 1))


def test_torchph_distance_matrix_and_gradient():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]], requires_grad=True)
    dist = torch.cdist(x, x, p=1)
    (non_essential,), (essential,) = vr_persistence(dist, 0)
    torch.testing.assert_close(non_essential.detach(), vr_persistence_l1(x.detach(), 0)[0][0])
    assert essential.shape == (1, 1)
    non_essential[:, 1].sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([[-1.0], [0.0], [0.0], [1.0]]))


def test_torchph_rejects_higher_dimensions_and_batches():
    x = torch.randn(5, 2)
    with pytest.raises(NotImplementedError, match="dimensions 0 and 1.*max_dimension=2"):
        vr_persistence_l1(x, 2)
    with pytest.raises(NotImplementedError):
        vr_persistence(torch.cdist(x, x), 2)
    with pytest.raises(ValueError, match="'max_dimension' must be an int >= 0"):
        vr_persistence_l1(x, -1)
    with pytest.raises(ValueError, match="'max_dimension'"):
        vr_persistence_l1(x, 0.0)
    with pytest.raises(ValueError, match="single cloud.*vr_persistence_0d"):
        vr_persistence_l1(torch.randn(2, 5, 2), 0)


# ----------------------------------------------------------------------------- bad input
def test_non_finite_coordinates_reported():
    x = torch.randn(6, 3)
    x[1, 2] = float("nan")
    x[4, 0] = float("inf")
    with pytest.raises(ValueError, match=r"2 non-finite values \(1 NaN, 1 infinite\), "
                                         r"first at indices \[\[1, 2\], \[4, 0\]\]"):
        vr_persistence_0d(x)
    with pytest.raises(ValueError, match="non-finite"):
        vr_persistence_0d(torch.cdist(x, x), precomputed=True)


def test_too_few_points():
    with pytest.raises(ValueError, match="at least 2 points.*N=1"):
        vr_persistence_0d(torch.randn(1, 3))
    with pytest.raises(ValueError, match="at least 2 points"):
        vr_persistence_0d(torch.zeros(1, 1), precomputed=True)


def test_wrong_number_of_dims():
    with pytest.raises(ValueError, match="at least 2 dimensions; got shape \\(5,\\)"):
        vr_persistence_0d(torch.randn(5))
    with pytest.raises(ValueError, match="at least 1 coordinate"):
        vr_persistence_0d(torch.randn(5, 0))


@pytest.mark.parametrize("metric", ["l0", "cosine", "minkowski", "", 0.5, -1, float("nan")])
def test_unknown_metric(metric):
    with pytest.raises(ValueError, match="'metric'") as info:
        vr_persistence_0d(torch.randn(4, 2), metric)
    if isinstance(metric, str) and metric not in ("l0",):
        for name in ("'l1'", "'l2'", "'linf'", "'euclidean'", "'chebyshev'"):
            assert name in str(info.value)


@pytest.mark.parametrize("metric", [True, None, [1]])
def test_metric_wrong_type(metric):
    with pytest.raises(TypeError, match="'metric' parameter must be a metric name or a number"):
        vr_persistence_0d(torch.randn(4, 2), metric)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.complex64])
def test_bad_dtypes(dtype):
    x = torch.ones(4, 2, dtype=dtype)
    with pytest.raises(TypeError, match=f"real floating dtype.*got {dtype}"):
        vr_persistence_0d(x)
    with pytest.raises(TypeError, match="real floating dtype"):
        vr_persistence_0d(torch.ones(4, 4, dtype=dtype), precomputed=True)


def test_not_a_tensor():
    with pytest.raises(TypeError, match="must be a torch.Tensor; got ndarray"):
        vr_persistence_0d(np.zeros((4, 2)))


def test_bad_distance_matrices():
    with pytest.raises(ValueError, match=r"must be square \(\.\.\., N, N\); got shape \(4, 3\)"):
        vr_persistence_0d(torch.rand(4, 3), precomputed=True)
    asym = torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.5, 3.0, 0.0]])
    with pytest.raises(ValueError, match=r"symmetric; max \|D - D\^T\| = 0\.5"):
        vr_persistence_0d(asym, precomputed=True)
    neg = torch.tensor([[0.0, -1.0], [-1.0, 0.0]])
    with pytest.raises(ValueError, match=">= 0; the matrix holds 2 negative entries"):
        vr_persistence_0d(neg, precomputed=True)


@pytest.mark.parametrize("threshold", [-1.0, -1e-9, float("nan"), "1", True])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match="'threshold' parameter must be a float >= 0 or None"):
        vr_persistence_0d(torch.randn(4, 2), threshold=threshold)
    with pytest.raises(ValueError, match="'threshold'"):
        vr_persistence_l1(torch.randn(4, 2), 0, max_ball_diameter=threshold)
