"""One-dimensional Vietoris-Rips persistence (loops) of point clouds, differentiable, batched.

A 1-dimensional class (a loop) is born when an edge closes a cycle and dies when a triangle
fills it in; in a Vietoris-Rips filtration a triangle enters with its longest edge, so every
birth and every death is the length of one edge. The work is split as in the 0-dimensional
path (:mod:`corel.topology.h0`):

* *which* edges: a Numba kernel (:mod:`corel.topology._h1_kernels`: Ripser's algorithm for dimensions
  0 and 1 -- enclosing-radius truncation, clearing, emergent pairs, cohomology over Z/2 --
  with a radix sort of the edge lengths and emergent pairs kept per edge) reads a detached
  distance matrix and returns, per pair, the edge that creates the class and the longest
  edge of the triangle that kills it. On the CPU the matrix of an l1, l2 or l_inf cloud
  comes from a Numba kernel too (float64 sums, one rounding). Both run without the GIL, so
  the clouds of a batch go through a thread pool (``n_threads``); on CUDA the matrix is
  built on the device and copied to the CPU for the kernel. Measured 2.5-3x faster than
  giotto-ph's C++ (the engine of torch-topological), one thread each
  (``benchmarks/persistence_h1.md``).
* *how long*: births and deaths are recomputed from the points along those edges
  (:func:`corel.topology.h0.edge_lengths`, on the input's device), so autograd holds O(M*D)
  work and no N x N matrix, and the gradients are the exact gradients of the diagram (those
  of the distances along the chosen edges), as for the deaths of dimension 0.

:func:`vr_persistence_1d` returns the diagrams of dimension 0 (Prim's tree from corel's
fused kernels, as :func:`corel.topology.h0.vr_persistence_0d` returns it) and 1
(:class:`Persistence1`). The kernels compile on first use (10-30 s per dtype, then cached on
disk next to the package).
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from .._validation import check_float_tensor, metric_to_p
from .h0 import (Persistence0, check_distance_matrix, edge_lengths, l2_safe_range, mst_edges,
                          pairwise_distances, point_mst_edges)

__all__ = ["Persistence1", "vr_persistence_1d", "h1_edges"]


@dataclass(frozen=True)
class Persistence1:
    """The 1-dimensional Vietoris-Rips diagram of one cloud or a batch of clouds.

    Clouds of a batch have different numbers of pairs: the pair axis has the length M of the
    largest, and cloud ``b`` holds ``n_pairs[b]`` pairs followed by padding (birth = death = 0,
    edges (0, 0), zero gradient); ``mask`` tells them apart. Pairs are sorted by persistence
    (as the selection measured it), the most persistent loop first.

    Attributes
    ----------
    births, deaths : Tensor, shape (..., M)
        Birth and death of each finite pair, differentiable with respect to the input; only
        pairs with death > birth (as in Ripser and gudhi).
    birth_edges, death_edges : LongTensor, shape (..., M, 2)
        The edge whose length is the birth (the edge closing the loop) and the one whose
        length is the death (the longest edge of the triangle filling it).
    n_pairs : LongTensor, shape (...)
        Number of finite pairs per cloud.
    essential_births : Tensor, shape (..., K); essential_edges : LongTensor, (..., K, 2)
        Loops that never die because the triangles filling them are longer than
        ``threshold`` (none without a threshold), padded like the pairs.
    n_essential : LongTensor, shape (...)
    threshold : float or None
        Edges (and so triangles) longer than this are not in the filtration.
    """

    births: torch.Tensor
    deaths: torch.Tensor
    birth_edges: torch.Tensor
    death_edges: torch.Tensor
    n_pairs: torch.Tensor
    essential_births: torch.Tensor
    essential_edges: torch.Tensor
    n_essential: torch.Tensor
    threshold: float | None = None

    @property
    def mask(self) -> torch.Tensor:
        """Bool (..., M): True for real pairs, False for padding."""
        return torch.arange(self.births.shape[-1], device=self.births.device) < self.n_pairs[..., None]

    @property
    def essential_mask(self) -> torch.Tensor:
        """Bool (..., K): True for real essential classes, False for padding."""
        k = self.essential_births.shape[-1]
        return torch.arange(k, device=self.essential_births.device) < self.n_essential[..., None]

    @property
    def persistence(self) -> torch.Tensor:
        """deaths - births, (..., M), differentiable; 0 at padding."""
        return self.deaths - self.births

    def diagram(self) -> torch.Tensor:
        """The finite (birth, death) pairs of a single cloud as an (m, 2) tensor."""
        if self.births.dim() != 1:
            raise ValueError("diagram() needs the result of a single cloud; index the batch first, "
                             f"e.g. result[0]. Got births of shape {tuple(self.births.shape)}.")
        m = int(self.n_pairs)
        return torch.stack([self.births[:m], self.deaths[:m]], dim=1)

    def __getitem__(self, index) -> "Persistence1":
        """Index the batch dimensions: ``result[3]`` is the 4th cloud's diagram."""
        if not isinstance(index, tuple):
            index = (index,)
        return Persistence1(self.births[index], self.deaths[index], self.birth_edges[index],
                            self.death_edges[index], self.n_pairs[index], self.essential_births[index],
                            self.essential_edges[index], self.n_essential[index], self.threshold)


# ----------------------------------------------------------------------------- which edges
_KERNELS = None


def _kernels():
    global _KERNELS
    if _KERNELS is None:
        try:
            from . import _h1_kernels
        except ImportError as err:                       # pragma: no cover - numba is a dependency
            raise ImportError("1-dimensional persistence needs Numba; install it with "
                              "`pip install numba`.") from err
        _KERNELS = _h1_kernels
    return _KERNELS


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def _pool(n_threads: int) -> ThreadPoolExecutor:
    """A shared pool of ``n_threads`` workers (made on first use, kept for the process)."""
    with _POOL_LOCK:
        if n_threads not in _POOLS:
            _POOLS[n_threads] = ThreadPoolExecutor(n_threads, thread_name_prefix="corel-h1")
        return _POOLS[n_threads]


def h1_edges(dist: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 1-dimensional pairs of one symmetric distance matrix (N, N) float32/float64, as
    edges: ``pairs`` (M, 4) int64 rows (i, j, a, b) -- born at |ij|, dead at |ab|, only
    death > birth, the most persistent first -- and ``essential`` (K, 2) int64 edges of the
    classes that never die (only with a ``threshold``: edges longer than it are left out).
    Only the off-diagonal entries are read; both halves are, so the matrix must be exactly
    symmetric (an uneven one gives a one-line error: symmetrise it, e.g. ``np.minimum(d, d.T)``)."""
    dist = np.ascontiguousarray(dist)
    if dist.dtype not in (np.float32, np.float64):
        dist = dist.astype(np.float64)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f"h1_edges needs one square (N, N) distance matrix; got shape {dist.shape}.")
    if not np.array_equal(dist, dist.T):
        i, j = np.argwhere(dist != dist.T)[0]
        raise ValueError(f"The distance matrix is not symmetric (entry ({i}, {j}) = {dist[i, j]!r} but ({j}, {i}) = "
                         f"{dist[j, i]!r}); symmetrise it first, e.g. np.minimum(d, d.T).")
    thr = math.inf if threshold is None else float(threshold)
    return _kernels().h1_pairs(dist, thr, _bits(dist.dtype))


def _bits(dtype) -> np.ndarray:
    """An empty array of the integer type as wide as ``dtype`` (the kernel sorts lengths by
    their bit patterns)."""
    return np.empty(0, dtype=np.int32 if np.dtype(dtype).itemsize == 4 else np.int64)


_FMAX64 = float(np.finfo(np.float64).max)

# The kernel numbers edges with int32.
_MAX_N = 65536

# Clouds whose matrices together stay below this are measured in one batched call; larger
# ones one cloud at a time, inside the workers (memory: one N x N matrix per thread).
_BATCH_MATRIX_BYTES = 64 << 20


def _select(xd: torch.Tensor, p: float | None, threshold: float | None,
            n_threads: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Run the kernel on every cloud of detached (B, N, D) points (p given) or (B, N, N)
    matrices (p None); returns per cloud the pairs (M_b, 4) and essential edges (K_b, 2).

    CPU clouds in l1, l2 or l_inf get their matrix from corel's own kernel, inside the
    worker (:func:`corel.topology._h1_kernels.distance_matrix`: float64 sums, one rounding); other
    metrics, CUDA and float64 l2 clouds near the ends of the range from
    :func:`corel.topology.h0.pairwise_distances` (one batched call while the matrices stay
    small)."""
    b, n = xd.shape[0], xd.shape[-2]
    thr = math.inf if threshold is None else threshold
    kernels = _kernels()
    code = _direct_code(xd, p)
    mats = None
    if code is None:
        itemsize = 8 if xd.dtype == torch.float64 else 4
        if b * n * n * itemsize <= _BATCH_MATRIX_BYTES:
            mats = _matrices(xd, p)
    else:
        points = xd.contiguous().numpy()

    def one(k):
        if code is not None:
            m = np.empty((n, n), dtype=points.dtype)
            kernels.distance_matrix(points[k], code, m)
        else:
            m = mats[k] if mats is not None else _matrices(xd[k:k + 1], p)[0]
        return kernels.h1_pairs(m, thr, _bits(m.dtype))

    if n_threads == 1 or b == 1:
        out = [one(k) for k in range(b)]
    else:
        out = list(_pool(min(n_threads, b)).map(one, range(b)))
    return [o[0] for o in out], [o[1] for o in out]


def _direct_code(xd: torch.Tensor, p: float | None) -> int | None:
    """The metric code of corel's distance kernel for these clouds, or None where
    pairwise_distances must build the matrices (precomputed, CUDA, other p, and float64 l1
    or l2 clouds whose sums could leave float64's range)."""
    if p is None or xd.device.type != "cpu" or p not in (1.0, 2.0, math.inf):
        return None
    code = {1.0: 0, 2.0: 1, math.inf: 2}[p]
    if xd.dtype == torch.float64 and code != 2 and xd.numel():
        lo, hi = torch.aminmax(xd, dim=-2)
        ext = float((hi - lo).amax())
        d = xd.shape[-1]
        if code == 1:
            low, high = l2_safe_range(_FMAX64, d)
            if ext > high or (0 < ext < low):
                return None
        elif not ext * d < _FMAX64 / 4:
            return None
    return code


def _matrices(xd: torch.Tensor, p: float | None) -> np.ndarray:
    """(B, N, N) symmetric NumPy distance matrices of detached clouds or matrices; a given
    matrix is read off its lower triangle (as torchph does), mirrored."""
    if p is None:
        m = torch.tril(xd, diagonal=-1)
        m = m + m.transpose(-1, -2)
    else:
        m = pairwise_distances(xd, p)
    if m.dtype not in (torch.float32, torch.float64):
        m = m.float()
    return m.cpu().contiguous().numpy()


# ----------------------------------------------------------------------------- public API
def vr_persistence_1d(x: torch.Tensor, metric="l1", *, precomputed: bool = False,
                      threshold: float | None = None,
                      n_threads: int | None = None) -> tuple[Persistence0, Persistence1]:
    """Vietoris-Rips persistence in dimensions 0 and 1 of one or many point clouds.

    Parameters
    ----------
    x : Tensor, shape (N, D) or (..., N, D); or (..., N, N) with ``precomputed=True``
        Point clouds (any leading batch shape) or distance matrices (symmetric; read off
        the lower triangle). float32 or float64, CPU or CUDA.
    metric : {"l1", "l2", "linf"} or float p >= 1, default "l1"
        The l_p metric on the points (ignored with ``precomputed=True``). The default is l1 in
        every corel entry point (``vr_persistence_0d``, the connectivity loss, torchph's
        ``vr_persistence_l1``): the paper's metric. ripser, gudhi and torch-topological default to
        l2; pass ``metric="l2"`` to compare with them.
    precomputed : bool
        ``x`` holds distance matrices; values are gathered from it (gradients flow into it).
    threshold : float, optional
        torchph's ``max_ball_diameter``: edges longer than this are not in the filtration;
        their components and loops stay essential. ``None`` or 0 means none.
    n_threads : int, optional
        Threads running the kernel across the clouds of a batch (default: torch's
        intra-op thread count, ``torch.get_num_threads()``).

    Returns
    -------
    (Persistence0, Persistence1)
        The diagram of dimension 0 (as :func:`corel.topology.h0.vr_persistence_0d` returns
        it) and that of dimension 1: births and deaths differentiable, the edges creating
        and killing each loop, padded over the batch (see :class:`Persistence1`).

    Examples
    --------
    >>> t = torch.rand(8, 60) * 2 * math.pi                       # 8 noisy circles
    >>> x = torch.stack([t.cos(), t.sin()], -1) + 0.05 * torch.randn(8, 60, 2)
    >>> h0, h1 = vr_persistence_1d(x.requires_grad_(), "l2")
    >>> (h1.deaths[:, 0] - h1.births[:, 0]).sum().backward()      # the largest loop of each
    """
    threshold = _check_threshold(threshold)
    n_threads = _check_threads(n_threads)
    x = _check_input(x, precomputed)
    p = None if precomputed else metric_to_p(metric)
    batch, n = x.shape[:-2], x.shape[-2]
    if precomputed:
        x = check_distance_matrix(x)
    if n > _MAX_N:
        raise ValueError(f"1-dimensional persistence takes clouds of at most {_MAX_N} points (its distance "
                         f"matrix alone would need {n * n * x.element_size() / 2**30:.0f} GiB); got N={n}.")
    flat = x.reshape(-1, *x.shape[-2:])
    b = flat.shape[0]
    dev = x.device
    with torch.no_grad():
        # Dimension 0: the spanning tree of vr_persistence_0d (corel's fused Prim kernels).
        if precomputed:
            tree, in_range = mst_edges(x.detach()), True
        else:
            tree, in_range = point_mst_edges(x.detach(), p)
        chosen = flat.detach() if precomputed or threshold is not None else _power_of_two_scaled(flat.detach())
        pairs, ess = _select(chosen, p, threshold, n_threads) if b else ([], [])
    m = max((len(q) for q in pairs), default=0)
    k = max((len(e) for e in ess), default=0)
    # One (B, 2M + K, 2) array of edges: each pair's birth and death edge, then the
    # essential edges; padding (0, 0).
    edges_np = np.zeros((b, 2 * m + k, 2), dtype=np.int64)
    for c in range(b):
        edges_np[c, : 2 * len(pairs[c])] = pairs[c].reshape(-1, 2)
        edges_np[c, 2 * m: 2 * m + len(ess[c])] = ess[c]
    edges = torch.from_numpy(edges_np).to(dev)
    n_pairs = torch.as_tensor([len(q) for q in pairs], dtype=torch.long).to(dev)
    n_ess = torch.as_tensor([len(e) for e in ess], dtype=torch.long).to(dev)
    # All lengths in one differentiable call: the tree's, then the pairs'.
    tree = tree.reshape(b, n - 1, 2)
    if precomputed:
        rows = torch.arange(b, device=dev)[:, None]
        deaths0 = flat[rows, tree[..., 0], tree[..., 1]]            # as vr_persistence_0d gathers
        values = _values(flat, edges, None)
    else:
        both = edge_lengths(flat, torch.cat([tree, edges], 1), p, check=not in_range)
        deaths0, values = both[:, : n - 1], both[:, n - 1:]
    order = torch.sort(deaths0.detach(), dim=-1, stable=True).indices
    h0 = Persistence0(torch.gather(deaths0, -1, order).reshape(*batch, n - 1),
                      torch.gather(tree, -2, order.unsqueeze(-1).expand(b, n - 1, 2)).reshape(*batch, n - 1, 2),
                      threshold)
    if not precomputed and not bool(torch.isfinite(values.detach()).all()):
        raise ValueError(f"A 1-dimensional birth or death exceeds the {x.dtype} range ({torch.finfo(x.dtype).max:.3g}): "
                         f"the points span too far. Rescale them (e.g. x / x.abs().max()) or use float64.")
    births, deaths, ess_births = values[:, 0:2 * m:2], values[:, 1:2 * m:2], values[:, 2 * m:]
    if precomputed:          # padding gathered the diagonal: zero it (points give 0 there)
        zero = torch.zeros((), dtype=values.dtype, device=dev)
        births = torch.where(torch.arange(m, device=dev) < n_pairs[:, None], births, zero)
        deaths = torch.where(torch.arange(m, device=dev) < n_pairs[:, None], deaths, zero)
        ess_births = torch.where(torch.arange(k, device=dev) < n_ess[:, None], ess_births, zero)
    e4 = edges[:, : 2 * m].reshape(b, m, 2, 2)
    h1 = Persistence1(
        births.reshape(*batch, m), deaths.reshape(*batch, m),
        e4[:, :, 0].reshape(*batch, m, 2), e4[:, :, 1].reshape(*batch, m, 2), n_pairs.reshape(batch),
        ess_births.reshape(*batch, k), edges[:, 2 * m:].reshape(*batch, k, 2), n_ess.reshape(batch),
        threshold)
    return h0, h1


def _power_of_two_scaled(x: torch.Tensor) -> torch.Tensor:
    """Each (N, D) cloud of the (B, N, D) batch times the power of two that puts its largest coordinate
    in [0.5, 1). The product is exact, so every distance comparison, and hence every selected pair, is
    the same as on the points themselves, while no distance overflows (or underflows) the float range."""
    if x.numel() == 0:
        return x
    amax = x.abs().amax(dim=(-1, -2))
    _, e = torch.frexp(amax)
    e = torch.where(amax > 0, e, torch.zeros_like(e)).to(torch.float64)[:, None, None]
    half = torch.floor(-e / 2)
    # two steps: 2 ** -e alone can overflow (a float64 cloud near 1e-308)
    return (x.double() * torch.exp2(half) * torch.exp2(-e - half)).to(x.dtype)


def _values(flat: torch.Tensor, edges: torch.Tensor, p: float | None) -> torch.Tensor:
    """Lengths of the (B, E, 2) edges, differentiable: from the points (exact l_p, any
    scale) or gathered off the lower triangle of the matrices."""
    b, e = edges.shape[:2]
    if e == 0:                                 # still in the graph: a loss over it backpropagates
        return flat.flatten(1)[:, :0]
    if p is not None:
        return edge_lengths(flat, edges, p, check=True)
    hi, lo = edges.max(-1).values, edges.min(-1).values
    rows = torch.arange(b, device=flat.device)[:, None]
    return flat[rows, hi, lo]


def _check_threshold(threshold):
    if threshold is None:
        return None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0 \
            or math.isnan(threshold):
        raise ValueError(f"The 'threshold' parameter must be a float >= 0 or None. Got {threshold!r}.")
    return None if threshold == 0 or math.isinf(threshold) else float(threshold)


def _check_threads(n_threads):
    if n_threads is None:
        return max(1, torch.get_num_threads())
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise ValueError(f"The 'n_threads' parameter must be an int >= 1 or None. Got {n_threads!r}.")
    return n_threads


def _check_input(x, precomputed: bool) -> torch.Tensor:
    name = "x (distance matrix)" if precomputed else "x"
    if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"1-dimensional persistence needs float32 or float64; '{name}' is {x.dtype}. "
                        f"Convert with x.float().")
    x = check_float_tensor(x, name, min_dim=2)
    if not precomputed:
        if x.shape[-2] < 2:
            raise ValueError(f"Persistence needs at least 2 points per cloud; 'x' has shape {tuple(x.shape)} "
                             f"(..., N={x.shape[-2]}, D). Pass clouds of shape (..., N, D) with N >= 2.")
        if x.shape[-1] < 1:
            raise ValueError(f"Points must have at least 1 coordinate; 'x' has shape {tuple(x.shape)}.")
    return x
