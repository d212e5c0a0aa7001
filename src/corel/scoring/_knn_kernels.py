"""The Numba kernel of the k-nearest-neighbour scorer (:mod:`corel.scoring.scorer`), per branch in l1.

``torch.cdist(p=1)`` has no matrix-product shortcut and runs at well under 1 G abs-diff-adds per
second on one core; test-time views multiply its work by the number of views squared (36 for
``flips-shifts``). This kernel streams each branch's inliers transposed (dims x inliers), so
that the inner loop runs over contiguous inliers and vectorises, and keeps the k smallest
distances by insertion (k is small), never materialising the (queries x inliers) matrix.
Imported only when the knn scorer runs (compiles once, then Numba's on-disk cache).
"""
import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@jit
def _distances(q, xt, b, i, d):
    """d[j] = l1 distance of q[b, i] to xt[b, :, j] (inliers contiguous: the inner loop vectorises)."""
    d[:] = 0
    for t in range(q.shape[2]):
        v = q[b, i, t]
        row = xt[b, t]
        for j in range(d.shape[0]):
            d[j] += abs(v - row[j])


@jit
def _k_smallest(d, best):
    """best[:] = the len(best) smallest entries of d, ascending, kept by insertion (k is small)."""
    k = best.shape[0]
    for j in range(k):
        best[j] = np.inf
    worst = np.inf
    for j in range(d.shape[0]):
        s = d[j]
        if s < worst:
            p = k - 1
            while p > 0 and best[p - 1] > s:
                best[p] = best[p - 1]
                p -= 1
            best[p] = s
            worst = best[k - 1]


@jit
def knn_l1(q, xt, k, kth, out):
    """out[b, i] = mean (or max if kth) of the k smallest l1 distances of q[b, i] to xt[b, :, j].

    q: (B, Q, w), xt: (B, w, n) C-contiguous, same float dtype; out: (B, Q) float64; 1 <= k <= n.
    """
    n_b, n_q, _ = q.shape
    d = np.empty(xt.shape[2], dtype=xt.dtype)
    best = np.empty(k, dtype=np.float64)
    for b in range(n_b):
        for i in range(n_q):
            _distances(q, xt, b, i, d)
            _k_smallest(d, best)
            if kth:
                out[b, i] = best[k - 1]
            else:
                total = 0.0
                for j in range(k):
                    total += best[j]
                out[b, i] = total / k


@jit
def knn_l1_topk(q, xt, out):
    """out[b, i, :] = the k smallest l1 distances of q[b, i] to xt[b, :, j], ascending (k = out.shape[2]).

    q: (B, Q, w), xt: (B, w, n) C-contiguous, same float dtype; out: (B, Q, k) float64; 1 <= k <= n.
    """
    d = np.empty(xt.shape[2], dtype=xt.dtype)
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            _distances(q, xt, b, i, d)
            _k_smallest(d, out[b, i])
