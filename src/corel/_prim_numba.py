"""Prim's algorithm as fused CPU kernels, compiled just in time by Numba on first use.

Nothing is compiled at install or import: :func:`available` imports Numba lazily, and each
kernel is compiled the first time it runs (about a second per dtype, cached on disk next to
this file where that is writable). Without Numba (or with ``COREL_NUMBA=0``) corel uses its
NumPy Prim instead; both give the same trees (tested).

Why a kernel: a NumPy or torch Prim makes N Python-level steps of O(N) vectorised work, so
either it needs the whole N x N distance matrix first (as torch.cdist would) or it pays
3*D small calls per step. Fused, each distance is computed once, right where Prim consumes
it, and never stored:

* :func:`prim_points` -- Prim on the points themselves, O(N) memory. The coordinates are held
  transposed, (D, N), and the vertices not yet in the tree are kept packed at the front, so
  the distance loop of every step runs over contiguous memory and vectorises (SIMD).
  Distances are accumulated coordinate by coordinate in the input dtype, in the order
  k = 0..D-1 (l1 and l_p: |t|^p, l2: t^2, l_inf: max), exactly as corel's NumPy path does,
  so both paths see identical numbers and pick the same tree.
* :func:`prim_matrix` -- Prim on a given (B, N, N) matrix (precomputed distances, or the
  float64-product squared l2 distances of large-D clouds).

Ties go to the lowest vertex index, and a vertex keeps the earliest tree vertex that reached
its distance -- the same rule as the NumPy Prim.
"""
from __future__ import annotations

import os

import numpy as np

_KERNELS = None
_FAILED = False

# Metric codes of the kernels: 0 l1, 1 squared l2, 2 l_inf, 3 general p (|t|^p summed).
L1, L2SQ, LINF, LP = 0, 1, 2, 3


def available() -> bool:
    """True if the Numba kernels can be used (Numba importable and not disabled)."""
    return _kernels() is not None


def metric_code(p: float) -> int:
    return {1.0: L1, 2.0: L2SQ}.get(p, LINF if p == float("inf") else LP)


def prim_points(x: np.ndarray, p: float) -> np.ndarray:
    """MST edges of each cloud, (B, N, D) float array -> (B, N-1, 2) int64, in join order."""
    b, n, d = x.shape
    # (B, D, N): always a copy, since the kernel reorders its columns (for D = 1 the
    # transpose alone would be a contiguous view of the caller's data).
    xt = np.transpose(x, (0, 2, 1)).copy(order="C")
    edges = np.empty((b, n - 1, 2), dtype=np.int64)
    _kernels()[0](xt, metric_code(p), float(p), edges)
    return edges


def prim_matrix(dist: np.ndarray) -> np.ndarray:
    """MST edges of each complete graph, (B, N, N) -> (B, N-1, 2) int64, in join order."""
    b, n, _ = dist.shape
    edges = np.empty((b, n - 1, 2), dtype=np.int64)
    _kernels()[1](np.ascontiguousarray(dist), edges)
    return edges


def _kernels():
    global _KERNELS, _FAILED
    if _KERNELS is None and not _FAILED:
        if os.environ.get("COREL_NUMBA", "1").strip().lower() in ("0", "false", "no", "off"):
            return None
        try:
            _KERNELS = _compile()
        except ImportError:
            _FAILED = True
    return _KERNELS


def _compile():
    import numba

    jit = numba.njit(cache=True, nogil=True, boundscheck=False)

    @jit
    def points_kernel(xt, code, p, edges):
        nb, d, n = xt.shape
        acc = np.empty(n, dtype=xt.dtype)
        key = np.empty(n, dtype=xt.dtype)
        parent = np.empty(n, dtype=np.int64)
        ids = np.empty(n, dtype=np.int64)
        cur = np.empty(d, dtype=xt.dtype)
        for b in range(nb):
            x = xt[b]
            for j in range(n):
                ids[j] = j
                key[j] = np.inf
                parent[j] = 0
            # Vertex 0 joins first; the last vertex moves into its column.
            for k in range(d):
                cur[k] = x[k, 0]
                x[k, 0] = x[k, n - 1]
            ids[0] = n - 1
            cur_id = 0
            for step in range(n - 1):
                m = n - 1 - step                      # vertices outside the tree, packed
                for j in range(m):
                    acc[j] = 0.0
                # Four coordinates per pass over acc: a quarter of its loads and stores.
                k = 0
                while k + 4 <= d:
                    c0, c1, c2, c3 = cur[k], cur[k + 1], cur[k + 2], cur[k + 3]
                    r0, r1, r2, r3 = x[k], x[k + 1], x[k + 2], x[k + 3]
                    if code == 0:
                        for j in range(m):
                            acc[j] += (abs(r0[j] - c0) + abs(r1[j] - c1)) + (abs(r2[j] - c2) + abs(r3[j] - c3))
                    elif code == 1:
                        for j in range(m):
                            t0 = r0[j] - c0
                            t1 = r1[j] - c1
                            t2 = r2[j] - c2
                            t3 = r3[j] - c3
                            acc[j] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
                    elif code == 2:
                        for j in range(m):
                            acc[j] = max(max(acc[j], max(abs(r0[j] - c0), abs(r1[j] - c1))),
                                         max(abs(r2[j] - c2), abs(r3[j] - c3)))
                    else:
                        for j in range(m):
                            acc[j] += (abs(r0[j] - c0) ** p + abs(r1[j] - c1) ** p) \
                                + (abs(r2[j] - c2) ** p + abs(r3[j] - c3) ** p)
                    k += 4
                while k < d:
                    c = cur[k]
                    row = x[k]
                    if code == 0:
                        for j in range(m):
                            acc[j] += abs(row[j] - c)
                    elif code == 1:
                        for j in range(m):
                            t = row[j] - c
                            acc[j] += t * t
                    elif code == 2:
                        for j in range(m):
                            acc[j] = max(acc[j], abs(row[j] - c))
                    else:
                        for j in range(m):
                            acc[j] += abs(row[j] - c) ** p
                    k += 1
                # Branch-free key update (vectorises), then the smallest key, then the
                # lowest vertex id among the keys equal to it.
                for j in range(m):
                    a = acc[j]
                    kj = key[j]
                    parent[j] = cur_id if a < kj else parent[j]
                    key[j] = a if a < kj else kj
                best = key[0]
                for j in range(1, m):
                    best = min(best, key[j])
                bj = -1
                bid = n
                for j in range(m):
                    if key[j] == best and ids[j] < bid:
                        bid = ids[j]
                        bj = j
                cur_id = ids[bj]
                edges[b, step, 0] = parent[bj]
                edges[b, step, 1] = cur_id
                last = m - 1                          # the last packed vertex fills the gap
                for k in range(d):
                    cur[k] = x[k, bj]
                    x[k, bj] = x[k, last]
                key[bj] = key[last]
                parent[bj] = parent[last]
                ids[bj] = ids[last]

    @jit
    def matrix_kernel(dist, edges):
        nb, n, _ = dist.shape
        key = np.empty(n, dtype=dist.dtype)
        parent = np.empty(n, dtype=np.int64)
        done = np.empty(n, dtype=np.bool_)
        for b in range(nb):
            w = dist[b]
            for j in range(n):
                key[j] = np.inf
                parent[j] = 0
                done[j] = False
            done[0] = True
            cur = 0
            for step in range(n - 1):
                row = w[cur]
                best = np.inf
                bj = -1
                for j in range(n):
                    if not done[j]:
                        if row[j] < key[j]:
                            key[j] = row[j]
                            parent[j] = cur
                        if bj < 0 or key[j] < best:
                            best = key[j]
                            bj = j
                done[bj] = True
                edges[b, step, 0] = parent[bj]
                edges[b, step, 1] = bj
                cur = bj

    return points_kernel, matrix_kernel
