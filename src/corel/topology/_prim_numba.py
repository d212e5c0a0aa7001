"""Prim's algorithm as fused CPU kernels, compiled just in time by Numba on first use.

Nothing is compiled at install or import: :func:`available` imports Numba lazily, and each
kernel is compiled the first time it runs (about a second per dtype, cached on disk next to
this file where that is writable). Without Numba (or with ``COREL_NUMBA=0``) corel uses its
NumPy Prim instead; both give the same trees up to rounding (tested).

Why a kernel: a NumPy or torch Prim makes N Python-level steps of O(N) vectorised work, so
either it needs the whole N x N distance matrix first (as torch.cdist would) or it pays
3*D small calls per step. Fused, each distance is computed once, right where Prim consumes
it, and never stored:

* :func:`prim_points` -- Prim on the points themselves, O(N*D) memory. The coordinates are
  held transposed, (D, N), zero-padded to a multiple of four, and the vertices not yet in
  the tree are kept packed at the front, so the distance loop of every step runs over
  contiguous memory and vectorises (SIMD). Sums in the input dtype, four coordinates at a
  time: ``acc += (t0^2 + t1^2) + (t2^2 + t3^2)`` (l2; l1 alike, l_inf with max). A general
  p sums ``(|t| / m)^p``, each pair scaled by its largest coordinate difference m, so the
  p-th powers stay in range whatever p and the scale (``_prim_kernels.points_kernel_lp``).
* :func:`prim_gram` -- l2 with many coordinates: Prim on estimates read off one symmetric
  matrix product (torch's BLAS: compute-bound, where the direct sums are bound by memory),
  each estimate with a proven rounding bound; whatever the bounds leave undecided is decided
  on the direct sums of :func:`prim_points`, so it builds exactly the same tree.
* :func:`prim_matrix` -- Prim on a given (B, N, N) matrix (precomputed distances).

Ties go to the lowest vertex index, and a vertex keeps the earliest tree vertex that reached
its distance -- the same rule as the NumPy Prim. Two tricks keep the loops vectorised:
minima of non-negative floats are taken over their bit patterns as integers (a float
minimum does not vectorise without reassociation), and conditional updates write into a
second array rather than in place (LLVM turns those into masked stores, slow on AMD Zen).
"""
from __future__ import annotations

import functools
import os

import numpy as np
import torch

_KERNELS = None
_FAILED = False

# Metric codes of the kernels: 0 l1, 1 squared l2, 2 l_inf, 3 general p (the distance itself,
# from sums scaled per pair).
L1, L2SQ, LINF, LP = 0, 1, 2, 3


def available() -> bool:
    """True if the Numba kernels can be used (Numba importable and not disabled)."""
    return _kernels() is not None


def metric_code(p: float) -> int:
    return {1.0: L1, 2.0: L2SQ}.get(p, LINF if p == float("inf") else LP)


def prim_points(x: np.ndarray, p: float) -> np.ndarray:
    """MST edges of each cloud, (B, N, D) float array -> (B, N-1, 2) int64, in join order."""
    b, n, d = x.shape
    # (B, D', N) with D' = D rounded up to a multiple of 4 by zero coordinates (they add
    # exact zeros): always a copy, since the kernel reorders its columns.
    xt = np.zeros((b, -(-d // 4) * 4, n), dtype=x.dtype)
    xt[:, :d] = np.transpose(x, (0, 2, 1))
    edges = np.empty((b, n - 1, 2), dtype=np.int64)
    code = metric_code(p)
    if code == LP:
        _kernels().points_kernel_lp(xt, float(p), edges, _bits(x.dtype))
    else:
        _kernels().points_kernel(xt, code, float(p), edges, _bits(x.dtype))
    return edges


def extents(x: np.ndarray, low: float = 0.0, high: float = np.inf) -> tuple[np.ndarray, int]:
    """Per cloud of x (B, N, D) its largest coordinate range (max - min over the points), a
    (B,) float64 array, and how many clouds have a nonzero range outside [low, high]; one
    pass (NumPy's reductions over the point axis are ~10x slower for few coordinates, and
    the count spares the usual case any further NumPy call)."""
    out = np.empty(x.shape[0])
    outside = _kernels().extents(np.ascontiguousarray(x), out, float(low), float(high))
    return out, outside


def sorted_edge_lengths(x: np.ndarray, edges: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """l1 or l2 lengths of the edges (B, M, 2) of the clouds x (B, N, D): (B, M) in x's dtype,
    ascending per cloud (stable), and the edges in that order. Summed in float64: for
    float32 points correctly rounded up to one ulp, at any scale."""
    lengths = np.empty(edges.shape[:2], dtype=x.dtype)
    out = np.empty_like(edges)
    _kernels().sorted_lengths(x, edges, p == 1.0, lengths, out)
    return lengths, out


def edge_length_grads(x: np.ndarray, edges: np.ndarray, lengths: np.ndarray, g: np.ndarray,
                      p: float) -> np.ndarray:
    """The gradient (B, N, D), in x's dtype, of sum(g * lengths) for the l1 or l2 lengths
    (B, M) of the edges (B, M, 2) of x (B, N, D), g (B, M): the backward of
    :func:`sorted_edge_lengths`, given its output."""
    grad = np.zeros(x.shape, dtype=x.dtype)
    _kernels().length_grads(x, edges, lengths, g, p == 1.0, grad)
    return grad


def _bits(dtype) -> np.ndarray:
    """An empty array of the integer type as wide as ``dtype``: the kernels compare
    non-negative floats through their bit patterns, and number vertices with it."""
    return np.empty(0, dtype=np.int32 if np.dtype(dtype).itemsize == 4 else np.int64)


def prim_matrix(dist: np.ndarray) -> np.ndarray:
    """MST edges of each complete graph, (B, N, N) -> (B, N-1, 2) int64, in join order."""
    b, n, _ = dist.shape
    edges = np.empty((b, n - 1, 2), dtype=np.int64)
    _kernels().matrix_kernel(np.ascontiguousarray(dist), edges)
    return edges


def _kernels():
    """The module of Numba kernels (importing it imports Numba), or None without Numba or
    with ``COREL_NUMBA=0``."""
    global _KERNELS, _FAILED
    if _KERNELS is None and not _FAILED:
        if os.environ.get("COREL_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
            return None
        try:
            from . import _prim_kernels           # the kernels themselves compile lazily
            _KERNELS = _prim_kernels
        except ImportError:
            _FAILED = True
    return _KERNELS


@functools.lru_cache(maxsize=None)
def _gram_constants(dtype: np.dtype, d: int) -> tuple[float, np.ndarray]:
    """The largest finite number of the dtype and the constants :func:`prim_gram`'s kernel
    reads, among them the relative rounding bound of its estimates for D coordinates (cached:
    np.finfo and a small array cost a tenth of the kernel's work on a 100-point cloud; the
    kernel only reads them)."""
    info = np.finfo(dtype)
    tol = 4.0 * (d + 8) * float(info.eps)
    # Below the smallest normal number rounding errors are absolute (<= 2^-150 per
    # operation in float32): the smallest normal bounds them all, as the floor of the bound.
    consts = np.array([0.0, 2.0, tol, np.inf, info.tiny], dtype=dtype)
    return float(info.max), consts


def prim_gram(x: np.ndarray, max_checks: int | None = None) -> np.ndarray | None:
    """l2 MST edges of one cloud, (N, D) float32/float64 -> (N-1, 2) int64 in join order:
    the tree of :func:`prim_points`, or None where the rounding bounds left more than
    ``max_checks`` (default 64 N + 1000) comparisons to direct sums -- strongly multi-scale
    clouds, whose short edges are below the product's rounding error (in float32, two
    clusters 1e3 apart with unit spread) -- and the caller should use :func:`prim_points`.

    Each squared distance is estimated as |x_v|^2 + |x_w|^2 - 2 x_v.x_w from the centred
    points, within a bound proportional to eps * D * (|x_v|^2 + |x_w|^2). Prim keeps, per
    vertex, an interval [lo, hi] holding the direct sum of its distance to the tree: an
    estimate replaces it only when certainly smaller, and the next vertex is the one whose
    interval lies below all others; where intervals overlap, direct sums decide. One N x N
    matrix of memory.
    """
    n, d = x.shape
    x = np.ascontiguousarray(x)
    # Centred (the bound scales with |x - mean|^2), with the squared norms.
    xc, sq = np.empty_like(x), np.empty(n, dtype=x.dtype)
    _kernels().centre(x, xc, sq)
    fmax, consts = _gram_constants(x.dtype, d)
    if not sq.max(initial=0.0) <= fmax / 16:
        return None                            # the estimates would overflow
    # torch's matrix product, not NumPy's: it runs on torch's threads (torch.set_num_threads),
    # where NumPy's OpenBLAS starts its own; beside busy processes those waited for a scheduler
    # slice in every call (seen: 8 ms for a 100 x 160 cloud, against 0.05 ms on one thread).
    # Each entry is within the bound below; the kernel needs no exact symmetry.
    xt = torch.from_numpy(xc)
    g = torch.mm(xt, xt.T).numpy()
    edges = np.empty((n - 1, 2), dtype=np.int64)
    limit = 64 * n + 1000 if max_checks is None else max_checks
    checked = _kernels().gram_kernel(g, x, sq, consts, edges, _bits(x.dtype), limit)
    return edges if checked >= 0 else None
