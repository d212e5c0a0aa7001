"""The Numba kernels of :mod:`corel.topology.h1`: which edges create and kill the
1-dimensional classes of a Vietoris-Rips filtration, given its distance matrix
(:func:`h1_pairs`), and that matrix for l1, l2 and l_inf clouds (:func:`distance_matrix`).

Importing this module imports Numba and compiles nothing yet: each kernel compiles at its
first call (10-30 s per dtype on a small machine) or loads from Numba's on-disk cache. They
run without the GIL, so a thread pool computes many clouds at once.

The algorithm is Ripser's (Bauer, "Ripser: efficient computation of Vietoris-Rips
persistence barcodes", J. Appl. Comput. Topology 2021) restricted to dimensions 0 and 1,
written anew here:

* The filtration is truncated at the enclosing radius r = min_i max_j d(i, j) (or the
  user's threshold, if smaller): from r on the complex is a cone, so no 1-cycle survives it
  and the diagram is unchanged. The simplexwise order is by diameter, ties broken by the
  reverse colexicographic order of the vertices (a larger combinatorial index first): the
  edges are listed by decreasing index and sorted stably by length, an LSD radix sort of
  the lengths' bit patterns (non-negative floats sort like their bits).
* Dimension 0: union-find over the edges in that order. The edges that merge two components
  are cleared from the dimension-1 reduction (the clearing/twist optimisation).
* Dimension 1: persistent *co*homology. The columns are the remaining edges, in reverse
  filtration order; a column's entries are its cofacets (the triangles it spans with a third
  vertex), with the diameter max(d_ij, d_ik, d_jk); its pivot is the earliest cofacet in the
  filtration. One pass over the third vertices finds the column's first zero-persistence
  cofacet (same diameter as the edge), else its smallest one. An unowned zero-persistence
  pivot is an emergent pair: nearly every column, recorded as the third vertex per edge (no
  hash table; its owner can only be an edge of the same length, so without a tie nothing
  is looked up). Every other column is reduced over Z/2 by adding the columns that already
  own its pivot, recomputed from their stored combinations of edges (usually one or a few),
  never stored as triangles: while the combination has at most ``_SCAN_MAX`` edges the next
  pivot comes from scanning their cofacets (keeping those in an odd number of the
  combination's coboundaries), beyond that from a binary heap. Those pivots live in an
  open-addressing hash table keyed by the triangle's combinatorial index.

Everything is in the dtype of the matrix (float32 or float64); the kernel only *selects*
edges. The birth of a pair is the length of its column edge, its death the diameter of its
pivot triangle, i.e. the length of that triangle's longest edge, which is what it returns.
"""
import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, boundscheck=False)

_HASH_MULT = np.uint64(11400714819323198485)        # 2^64 / golden ratio, odd
# Reductions scan the cofacets of up to this many edges for the pivot, then switch to a heap.
_SCAN_MAX = 4


@jit
def _tri(a, b, c):
    """Combinatorial index of the triangle {a > b > c}: C(a, 3) + C(b, 2) + c."""
    return a * (a - 1) * (a - 2) // 6 + b * (b - 1) // 2 + c


@jit
def _cofacet(i, j, k):
    """Index of the triangle of edge (i > j) and a third vertex k (not i, j)."""
    if k > i:
        return _tri(k, i, j)
    if k > j:
        return _tri(i, k, j)
    return _tri(i, j, k)


@jit
def _vertices(t, n):
    """The vertices (a > b > c) of triangle index t, among n vertices."""
    lo, hi = 2, n - 1                                 # largest a with C(a, 3) <= t
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid * (mid - 1) * (mid - 2) // 6 <= t:
            lo = mid
        else:
            hi = mid - 1
    a = lo
    t -= a * (a - 1) * (a - 2) // 6
    lo, hi = 1, a - 1                                 # largest b with C(b, 2) <= t
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid * (mid - 1) // 2 <= t:
            lo = mid
        else:
            hi = mid - 1
    b = lo
    return a, b, t - b * (b - 1) // 2


# ----------------------------------------------------------------------------- hash table
# Triangle index -> owning column, for the pivots of columns that needed a reduction (few:
# the emergent pairs, nearly all of them, are kept in an array per edge instead). Open
# addressing, linear probing, doubled at half load.
@jit
def _slot(key, bits):
    return np.int64((np.uint64(key) * _HASH_MULT) >> np.uint64(64 - bits))


@jit
def _find(keys, vals, bits, key):
    """The value stored under ``key``, or -1."""
    mask = keys.shape[0] - 1
    s = _slot(key, bits)
    while True:
        k = keys[s]
        if k == key:
            return vals[s]
        if k < 0:
            return -1
        s = (s + 1) & mask


@jit
def _put(keys, vals, bits, key, val):
    mask = keys.shape[0] - 1
    s = _slot(key, bits)
    while keys[s] >= 0:
        s = (s + 1) & mask
    keys[s] = key
    vals[s] = val


@jit
def _insert(keys, vals, bits, count, key, val):
    """Insert; returns the (possibly rebuilt) table, its bits and count."""
    if 2 * (count + 1) > keys.shape[0]:
        new_keys = np.full(2 * keys.shape[0], -1, dtype=np.int64)
        new_vals = np.empty(2 * keys.shape[0], dtype=np.int64)
        for s in range(keys.shape[0]):
            if keys[s] >= 0:
                _put(new_keys, new_vals, bits + 1, keys[s], vals[s])
        keys, vals, bits = new_keys, new_vals, bits + 1
    _put(keys, vals, bits, key, val)
    return keys, vals, bits, count + 1


# ----------------------------------------------------------------------------- sorting
@jit
def _radix_sort(keys, payload):
    """Stable LSD radix sort of non-negative integer ``keys`` (int32 or int64: the bit
    patterns of non-negative floats, in the same order) carrying ``payload``, one byte per
    pass, passes over a constant byte skipped. Returns the sorted arrays (either the inputs,
    permuted, or buffers of the same size)."""
    n = keys.shape[0]
    width = keys.itemsize
    tmp_k = np.empty_like(keys)
    tmp_p = np.empty_like(payload)
    count = np.empty(256, dtype=np.int64)
    for byte in range(width):
        kb = keys.view(np.uint8)
        count[:] = 0
        for i in range(n):
            count[kb[i * width + byte]] += 1
        if n == 0 or count[kb[byte]] == n:              # one value in this byte: nothing to do
            continue
        total = 0
        for b in range(256):
            c = count[b]
            count[b] = total
            total += c
        for i in range(n):
            b = kb[i * width + byte]
            dst = count[b]
            tmp_k[dst] = keys[i]
            tmp_p[dst] = payload[i]
            count[b] = dst + 1
        keys, tmp_k = tmp_k, keys
        payload, tmp_p = tmp_p, payload
    return keys, payload


@jit
def _edge(idx):
    """The vertices (i > j) of edge index idx = C(i, 2) + j."""
    i = np.int64((1.0 + np.sqrt(1.0 + 8.0 * idx)) / 2.0)
    while i * (i - 1) // 2 > idx:
        i -= 1
    while (i + 1) * i // 2 <= idx:
        i += 1
    return i, idx - i * (i - 1) // 2


@jit
def _position(sd, sidx, d, idx):
    """Position of edge ``idx`` of length ``d`` in the filtration order (by length, ties by
    decreasing index), by bisection."""
    lo, hi = 0, sd.shape[0]
    while lo < hi:                                       # first position with length >= d
        mid = (lo + hi) // 2
        if sd[mid] < d:
            lo = mid + 1
        else:
            hi = mid
    hi = sd.shape[0]
    while lo < hi:                                       # then the first with index <= idx
        mid = (lo + hi) // 2
        if sd[mid] == d and sidx[mid] > idx:
            lo = mid + 1
        else:
            hi = mid
    return lo


# ----------------------------------------------------------------------------- binary heap
# Entries (diameter, triangle index); the top is the earliest in the filtration: the smallest
# diameter, ties the largest index.
@jit
def _before(d1, t1, d2, t2):
    return d1 < d2 or (d1 == d2 and t1 > t2)


@jit
def _sift_down(hd, ht, size, pos):
    d, t = hd[pos], ht[pos]
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and _before(hd[c + 1], ht[c + 1], hd[c], ht[c]):
            c += 1
        if not _before(hd[c], ht[c], d, t):
            break
        hd[pos], ht[pos] = hd[c], ht[c]
        pos = c
    hd[pos], ht[pos] = d, t


@jit
def _sift_up(hd, ht, pos):
    d, t = hd[pos], ht[pos]
    while pos > 0:
        par = (pos - 1) // 2
        if not _before(d, t, hd[par], ht[par]):
            break
        hd[pos], ht[pos] = hd[par], ht[par]
        pos = par
    hd[pos], ht[pos] = d, t


@jit
def _pop(hd, ht, size):
    """Remove the top; returns the new size."""
    size -= 1
    if size > 0:
        hd[0], ht[0] = hd[size], ht[size]
        _sift_down(hd, ht, size, 0)
    return size


@jit
def _grow(a, need):
    if need <= a.shape[0]:
        return a
    out = np.empty(max(need, 2 * a.shape[0]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@jit
def _append_cofacets(dist, i, j, thr, hd, ht, size):
    """Append the cofacets of edge (i > j) with diameter <= thr to the heap arrays (not yet
    ordered); returns the arrays (grown if need be) and the new size. The third vertex k
    runs over three ranges, so each index is a sum with one term varying."""
    n = dist.shape[0]
    hd = _grow(hd, size + n)
    ht = _grow(ht, size + n)
    d = dist[i, j]
    ri, rj = dist[i], dist[j]
    base = i * (i - 1) // 2 + j                       # k > i: C(k, 3) + C(i, 2) + j
    for k in range(i + 1, n):
        dk = max(d, max(ri[k], rj[k]))
        if dk <= thr:
            hd[size] = dk
            ht[size] = k * (k - 1) * (k - 2) // 6 + base
            size += 1
    c3 = i * (i - 1) * (i - 2) // 6
    base = c3 + j                                     # j < k < i: C(i, 3) + C(k, 2) + j
    for k in range(j + 1, i):
        dk = max(d, max(ri[k], rj[k]))
        if dk <= thr:
            hd[size] = dk
            ht[size] = k * (k - 1) // 2 + base
            size += 1
    base = c3 + j * (j - 1) // 2                      # k < j: C(i, 3) + C(j, 2) + k
    for k in range(j):
        dk = max(d, max(ri[k], rj[k]))
        if dk <= thr:
            hd[size] = dk
            ht[size] = base + k
            size += 1
    return hd, ht, size


@jit
def _pivot(hd, ht, size):
    """Cancel equal entries at the top (Z/2: they add to zero); returns the new size, the
    pivot (if any) then at the top. Equal entries are the same triangle, and the second
    one of a top pair is one of the top's children (every entry on the path between two
    equal entries equals them), so one look at the children suffices."""
    while size > 1:
        t = ht[0]
        if ht[1] == t or (size > 2 and ht[2] == t):
            size = _pop(hd, ht, size)
            size = _pop(hd, ht, size)
        else:
            break
    return size


@jit
def _heapify(hd, ht, size):
    for pos in range(size // 2 - 1, -1, -1):
        _sift_down(hd, ht, size, pos)


@jit
def _find_root(parent, v):
    while parent[v] != v:
        parent[v] = parent[parent[v]]                 # path halving
        v = parent[v]
    return v


@jit
def _longest_edge(dist, t, diameter):
    """The edge of triangle t whose length is its diameter (the first of (a, b), (a, c),
    (b, c) at ties)."""
    a, b, c = _vertices(t, dist.shape[0])
    if dist[a, b] == diameter:
        return a, b
    if dist[a, c] == diameter:
        return a, c
    return b, c


@jit
def _owner(dist, sd, sidx, ek, keys, vals, bits, t, diameter):
    """The column owning triangle t as its pivot, or -1: the column of one of its longest
    edges if the two form an emergent pair, else whatever the hash table holds."""
    a, b, c = _vertices(t, dist.shape[0])
    for u, v, w in ((a, b, c), (a, c, b), (b, c, a)):
        if dist[u, v] == diameter:
            q = _position(sd, sidx, diameter, u * (u - 1) // 2 + v)
            if ek[q] == w:
                return q
    return _find(keys, vals, bits, t)


@jit
def h1_pairs(dist, thresh, bits_like):
    """The 1-dimensional persistence pairs of the Vietoris-Rips filtration of ``dist``.

    Parameters
    ----------
    dist : (N, N) float32 or float64 array, symmetric (only the off-diagonal entries count),
        N <= 65,536
    thresh : float, the largest edge length of the filtration (inf for none)
    bits_like : empty int32 (float32 ``dist``) or int64 array: the integer type of its bits

    Returns
    -------
    pairs : (M, 4) int64, rows (i, j, a, b): the class born when edge (i, j) enters dies when
        the triangle whose longest edge is (a, b) does; only pairs with death > birth, the
        most persistent first.
    essential : (K, 2) int64, the edges creating classes that never die (only below the
        enclosing radius, i.e. with a threshold).
    """
    n = dist.shape[0]
    out = np.empty((max(n, 16), 4), dtype=np.int64)
    ess = np.empty((16, 2), dtype=np.int64)
    if n < 3:
        return out[:0], ess[:0]
    radius = np.inf                                   # enclosing radius
    for i in range(n):
        far = 0.0
        row = dist[i]
        for j in range(n):
            if j != i:
                far = max(far, row[j])
        radius = min(radius, far)
    thr = min(thresh, radius)

    # Edges up to thr, listed by decreasing index; the stable sort by length then puts ties
    # in reverse colexicographic order (the larger index first), Ripser's refinement.
    n_edges = 0
    for i in range(1, n):
        row = dist[i]
        for j in range(i):
            if row[j] <= thr:
                n_edges += 1
    ev = np.empty(n_edges, dtype=dist.dtype)
    sidx = np.empty(n_edges, dtype=np.int32)
    pos = 0
    for i in range(n - 1, 0, -1):
        row = dist[i]
        base = i * (i - 1) // 2
        for j in range(i - 1, -1, -1):
            v = row[j]
            if v <= thr:
                ev[pos] = v if v != 0 else 0.0        # no -0.0: its bits would sort last
                sidx[pos] = base + j
                pos += 1
    keys, sidx = _radix_sort(ev.view(bits_like.dtype), sidx)
    sd = keys.view(dist.dtype)

    # Dimension 0: the edges that merge components (cleared from dimension 1).
    parent = np.arange(n)
    merges = np.zeros(n_edges, dtype=np.bool_)
    n_merges = 0
    for q in range(n_edges):
        if n_merges == n - 1:
            break
        i, j = _edge(sidx[q])
        ra, rb = _find_root(parent, i), _find_root(parent, j)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
            merges[q] = True
            n_merges += 1

    # Dimension 1. Pivots: an emergent pair's in ek (the third vertex of the edge's
    # triangle), every other one in the hash table (its column: the edge position q if the
    # column is the edge alone, else -(2 + v) for the stored combination v).
    ek = np.full(n_edges, -1, dtype=np.int32)
    bits = 10
    keys_h = np.full(1 << bits, -1, dtype=np.int64)
    vals_h = np.empty(1 << bits, dtype=np.int64)
    n_hash = 0
    vdata = np.empty(64, dtype=np.int64)              # stored combinations, concatenated
    voff = np.empty(16, dtype=np.int64)
    vcnt = np.empty(16, dtype=np.int64)
    n_stored, n_vdata = 0, 0
    hd = np.empty(4 * n, dtype=dist.dtype)
    ht = np.empty(4 * n, dtype=np.int64)
    work = np.empty(16, dtype=np.int64)               # the column's combination of edges
    m, k_ess, size = 0, 0, 0
    for q in range(n_edges - 1, -1, -1):
        if merges[q]:
            continue
        d = sd[q]
        i, j = _edge(sidx[q])
        ri, rj = dist[i], dist[j]
        # One pass for the column's pivot, its earliest cofacet: the first zero-persistence
        # one (same diameter as the edge; the first found has the largest index), else the
        # smallest. An unowned zero-persistence pivot makes an emergent pair. Only an edge of
        # the same length can own it (owners come later in the filtration, pivots are no
        # shorter than their edges): without a tie, nothing to look up.
        zk, best_c, best_k = -1, np.inf, -1
        for k in range(n - 1, -1, -1):
            c = max(ri[k], rj[k])
            if c <= d:
                if k != i and k != j:
                    zk = k
                    break
            elif c < best_c:
                best_c, best_k = c, k
        if zk >= 0:
            t = _cofacet(i, j, zk)
            tied = (q > 0 and sd[q - 1] == d) or (q + 1 < n_edges and sd[q + 1] == d)
            if not tied or _owner(dist, sd, sidx, ek, keys_h, vals_h, bits, t, d) == -1:
                ek[q] = zk
                continue
            pd = np.float64(d)
        elif best_k >= 0 and best_c <= thr:
            t, pd = _cofacet(i, j, best_k), np.float64(best_c)
        else:
            t = -1                                    # no cofacet: never dies
        # Reduce: add the columns owning the pivot until it is new. While the combination
        # of edges is small, the pivot is found by scanning its cofacets (odd multiplicity);
        # beyond _SCAN_MAX edges, on a heap of all of them.
        work[0] = q
        n_work = 1
        heap = False
        while t >= 0:
            owner = _owner(dist, sd, sidx, ek, keys_h, vals_h, bits, t, pd)
            if owner == -1:
                break
            if owner >= 0:
                start, count = -1, 1
            else:
                start, count = voff[-owner - 2], vcnt[-owner - 2]
            work = _grow(work, n_work + count)
            for s in range(count):
                f = owner if start < 0 else vdata[start + s]
                if heap:
                    fi, fj = _edge(sidx[f])
                    first = size
                    hd, ht, size = _append_cofacets(dist, fi, fj, thr, hd, ht, size)
                    for h in range(first, size):
                        _sift_up(hd, ht, h)
                    work[n_work] = f
                    n_work += 1
                else:
                    n_work = _toggle(work, n_work, f)
            if not heap and n_work > _SCAN_MAX:
                heap = True
                size = 0
                for s in range(n_work):
                    fi, fj = _edge(sidx[work[s]])
                    hd, ht, size = _append_cofacets(dist, fi, fj, thr, hd, ht, size)
                _heapify(hd, ht, size)
            if heap:
                size = _pivot(hd, ht, size)
                t, pd = (ht[0], np.float64(hd[0])) if size > 0 else (-1, 0.0)
            else:
                pd, t = _column_pivot(dist, sidx, work, n_work, thr)
        if t < 0:                                     # never dies
            if k_ess == ess.shape[0]:
                ess = _grow2(ess, 2 * k_ess)
            ess[k_ess, 0], ess[k_ess, 1] = i, j
            k_ess += 1
            continue
        if heap:
            n_work = _compress(work, n_work)
        if n_work == 1:
            val = q
        else:
            if n_stored == voff.shape[0]:
                voff = _grow(voff, 2 * n_stored)
                vcnt = _grow(vcnt, 2 * n_stored)
            vdata = _grow(vdata, n_vdata + n_work)
            vdata[n_vdata: n_vdata + n_work] = work[:n_work]
            voff[n_stored], vcnt[n_stored] = n_vdata, n_work
            val = -(2 + n_stored)
            n_vdata += n_work
            n_stored += 1
        keys_h, vals_h, bits, n_hash = _insert(keys_h, vals_h, bits, n_hash, t, val)
        if pd > d:
            if m == out.shape[0]:
                out = _grow2(out, 2 * m)
            a, b = _longest_edge(dist, t, pd)
            out[m, 0], out[m, 1], out[m, 2], out[m, 3] = i, j, a, b
            m += 1
    # The most persistent first (stable: ties keep the kernel's order).
    pers = np.empty(m, dtype=np.float64)
    for r in range(m):
        pers[r] = -(np.float64(dist[out[r, 2], out[r, 3]]) - np.float64(dist[out[r, 0], out[r, 1]]))
    return out[:m][np.argsort(pers, kind="mergesort")], ess[:k_ess]


@jit
def _toggle(work, n, f):
    """Add edge position f to the set work[:n] over Z/2 (remove it if present); returns
    the new size (work has room for one more)."""
    for s in range(n):
        if work[s] == f:
            work[s] = work[n - 1]
            return n - 1
    work[n] = f
    return n + 1


@jit
def _in_set(sidx, work, n, idx):
    for s in range(n):
        if sidx[work[s]] == idx:
            return 1
    return 0


@jit
def _column_pivot(dist, sidx, work, n_work, thr):
    """(diameter, index) of the pivot of the sum of the coboundaries of the edges work[:n]
    (positions): the earliest triangle with diameter <= thr among their cofacets that holds
    an odd number of those edges; index -1 if there is none."""
    n = dist.shape[0]
    best_d, best_t = np.inf, -1
    for s in range(n_work):
        i, j = _edge(sidx[work[s]])
        d = dist[i, j]
        ri, rj = dist[i], dist[j]
        for k in range(n):
            dk = max(d, max(ri[k], rj[k]))
            if dk > best_d or dk > thr or k == i or k == j:
                continue
            t = _cofacet(i, j, k)
            if dk == best_d and t <= best_t:
                continue
            hi, lo = max(i, k), min(i, k)
            count = 1 + _in_set(sidx, work, n_work, hi * (hi - 1) // 2 + lo)
            hi, lo = max(j, k), min(j, k)
            count += _in_set(sidx, work, n_work, hi * (hi - 1) // 2 + lo)
            if count & 1:
                best_d, best_t = np.float64(dk), t
    return best_d, best_t


@jit
def _grow2(a, rows):
    out = np.empty((rows, a.shape[1]), dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@jit
def _compress(work, n):
    """Sort work[:n] and drop entries that occur an even number of times (Z/2); returns the
    new length."""
    work[:n].sort()
    out, s = 0, 0
    while s < n:
        e = s
        while e < n and work[e] == work[s]:
            e += 1
        if (e - s) % 2 == 1:
            work[out] = work[s]
            out += 1
        s = e
    return out


# ----------------------------------------------------------------------------- distances
@jit
def distance_matrix(x, code, out):
    """The l1 (code 0), l2 (1) or l_inf (2) distances of the points x (N, D) float32 into
    out (N, N) float32, each summed in float64 from the exact float32 coordinates and
    rounded once: no overflow, underflow or cancellation at any float32 scale (squares of
    float32 numbers stay far inside float64's range). The coordinates are taken transposed
    so the innermost loop runs over points (vectorised); the lower triangle is computed and
    mirrored block by block."""
    n, d = x.shape
    xt = np.empty((d, n), dtype=np.float64)
    for i in range(n):
        for k in range(d):
            xt[k, i] = x[i, k]
    acc = np.empty(n, dtype=np.float64)
    for i in range(n):
        acc[:i] = 0.0
        for k in range(d):
            row = xt[k]
            xi = row[i]
            if code == 0:
                for j in range(i):
                    acc[j] += abs(row[j] - xi)
            elif code == 1:
                for j in range(i):
                    t = row[j] - xi
                    acc[j] += t * t
            else:
                for j in range(i):
                    acc[j] = max(acc[j], abs(row[j] - xi))
        orow = out[i]
        if code == 1:
            for j in range(i):
                orow[j] = np.sqrt(acc[j])
        else:
            for j in range(i):
                orow[j] = acc[j]
        orow[i] = 0.0
    block = 64
    for b0 in range(0, n, block):                     # upper triangle = lower transposed
        b1 = min(n, b0 + block)
        for c0 in range(b0, n, block):
            c1 = min(n, c0 + block)
            for i in range(b0, b1):
                for j in range(max(c0, i + 1), c1):
                    out[i, j] = out[j, i]
