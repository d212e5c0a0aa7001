"""The Numba kernels of :mod:`corel.topology._prim_numba`, in a module of their own: importing it
imports Numba and compiles nothing yet (each kernel compiles at its first call, or loads
from Numba's on-disk cache, which needs the kernels and the helpers they call to be
module-level functions). ``import corel`` never imports this module; see _prim_numba.
"""
import numba
import numpy as np
from numba.core import types
from numba.extending import intrinsic

jit = numba.njit(cache=True, nogil=True, boundscheck=False)


@intrinsic
def as_bits(typingctx, val):
    """The bit pattern of a float as an integer of its width (a no-op reinterpretation);
    for floats >= 0 their integer order is the float order."""
    if not isinstance(val, types.Float):
        return None
    width = types.int32 if val.bitwidth == 32 else types.int64

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(width))
    return width(val), codegen


@jit
def smallest(key, m, bits):
    """Index-free minimum of key[:m] (>= 0, never NaN), as its bit pattern: for floats
    >= 0 the integer order of the bits is the float order, and an integer minimum
    vectorises (a float one does not without reassociation) -- 8x faster here."""
    kb = key.view(bits.dtype)
    best = kb[0]
    for j in range(1, m):
        best = min(best, kb[j])
    return best


@jit
def lowest_id(key, ids, m, best, bits, none):
    """The lowest vertex id among the keys equal to ``best`` (bits): the tie rule."""
    kb = key.view(bits.dtype)
    bid = none
    for j in range(m):
        bid = min(bid, ids[j] if kb[j] == best else none)
    return bid


@jit
def lp_distances(x, cur, m, p, acc, mx, inv):
    """acc[:m] = the l_p distances (p general) from ``cur`` (D,) to the columns of x[:, :m]
    (D, N), each pair scaled by its largest coordinate difference mx:
    d = mx * (sum_k (|t_k| / mx)^p)^(1/p). The sum lies in [1, D], so neither overflows nor
    underflows where the terms matter (unscaled, |t|^p leaves the floating-point range for
    p = 50 from |t| ~ 0.2 or ~ 6 in float32), and d overflows only if the distance does.
    A power-of-two rescaling of the cloud scales every key exactly: the same tree. The
    quotients are taken in float64, as products with 1 / mx (the powers cost ~25 ns each;
    this is 1.1-1.4x the unscaled sums)."""
    d = x.shape[0]
    for j in range(m):
        mx[j] = 0
    for k in range(d):
        r = x[k]
        c = cur[k]
        for j in range(m):
            mx[j] = max(mx[j], abs(r[j] - c))
    big = 2.0 ** 1023                             # 1 / mx overflows only for float64 subnormals
    for j in range(m):
        s = np.float64(mx[j])
        inv[j] = min(1.0 / s, big) if s > 0 else 0.0   # a duplicate: all terms 0
        acc[j] = 0
    for k in range(d):
        r = x[k]
        c = cur[k]
        for j in range(m):
            acc[j] += (np.float64(abs(r[j] - c)) * inv[j]) ** p
    q = 1.0 / p
    for j in range(m):
        acc[j] = mx[j] * acc[j] ** q


@jit
def extents(x, out, low, high):
    """Per cloud of x (B, N >= 1, D), C-contiguous: out[b] its largest coordinate range
    (max - min over the points), in float64; returns how many clouds have a range outside
    [low, high] (and not 0). One pass over x, read as rows of w values (whole points, >= 64
    lanes when D is small) with one running min and max per lane, folded per coordinate at
    the end: the lanes are independent, so the pass vectorises whatever D."""
    nb, n, d = x.shape
    w = d * max(1, 64 // d)
    lo = np.empty(w, dtype=x.dtype)
    hi = np.empty(w, dtype=x.dtype)
    outside = 0
    for b in range(nb):
        f = x[b].reshape(n * d)
        total = n * d
        for k in range(w):
            lo[k] = f[k % d]
            hi[k] = f[k % d]
        full = total // w * w
        for s in range(0, full, w):
            row = f[s:s + w]                      # (a slice: the loop then vectorises)
            for k in range(w):
                v = row[k]
                lo[k] = min(lo[k], v)
                hi[k] = max(hi[k], v)
        for k in range(total - full):             # the last points, fewer than a row
            v = f[full + k]
            lo[k] = min(lo[k], v)
            hi[k] = max(hi[k], v)
        e = 0.0
        for k in range(d):
            lk = lo[k]
            hk = hi[k]
            for r in range(k + d, w, d):
                lk = min(lk, lo[r])
                hk = max(hk, hi[r])
            e = max(e, np.float64(hk) - np.float64(lk))
        out[b] = e
        if e > 0 and not low <= e <= high:
            outside += 1
    return outside


@jit
def points_kernel(xt, code, p, edges, bits):
    nb, d, n = xt.shape                           # d: a multiple of 4 (zero-padded)
    acc = np.empty(n, dtype=xt.dtype)
    key = np.empty(n, dtype=xt.dtype)
    key2 = np.empty(n, dtype=xt.dtype)
    # Vertex numbers as wide as the keys (int32 for float32): uniform SIMD lanes.
    parent = np.empty(n, dtype=bits.dtype)
    parent2 = np.empty(n, dtype=bits.dtype)
    ids = np.empty(n, dtype=bits.dtype)
    pos = np.empty(n, dtype=bits.dtype)
    none = np.full(1, n, dtype=bits.dtype)[0]
    cur = np.empty(d, dtype=xt.dtype)
    for b in range(nb):
        x = xt[b]
        for j in range(n):
            ids[j] = j
            pos[j] = j
            key[j] = np.inf
            parent[j] = 0
        # Vertex 0 joins first; the last vertex moves into its column.
        for k in range(d):
            cur[k] = x[k, 0]
            x[k, 0] = x[k, n - 1]
        ids[0] = n - 1
        pos[n - 1] = 0
        cur_id = none - none
        for step in range(n - 1):
            m = n - 1 - step                      # vertices outside the tree, packed
            # Four coordinates per pass over acc: a quarter of its loads and stores.
            # The first pass writes acc, the others add to it.
            for k in range(0, d, 4):
                c0, c1, c2, c3 = cur[k], cur[k + 1], cur[k + 2], cur[k + 3]
                r0, r1, r2, r3 = x[k], x[k + 1], x[k + 2], x[k + 3]
                if code == 0:
                    if k == 0:
                        for j in range(m):
                            acc[j] = (abs(r0[j] - c0) + abs(r1[j] - c1)) + (abs(r2[j] - c2) + abs(r3[j] - c3))
                    else:
                        for j in range(m):
                            acc[j] += (abs(r0[j] - c0) + abs(r1[j] - c1)) + (abs(r2[j] - c2) + abs(r3[j] - c3))
                elif code == 1:
                    if k == 0:
                        for j in range(m):
                            t0 = r0[j] - c0
                            t1 = r1[j] - c1
                            t2 = r2[j] - c2
                            t3 = r3[j] - c3
                            acc[j] = (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
                    else:
                        for j in range(m):
                            t0 = r0[j] - c0
                            t1 = r1[j] - c1
                            t2 = r2[j] - c2
                            t3 = r3[j] - c3
                            acc[j] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
                elif code == 2:
                    if k == 0:
                        for j in range(m):
                            acc[j] = max(max(abs(r0[j] - c0), abs(r1[j] - c1)),
                                         max(abs(r2[j] - c2), abs(r3[j] - c3)))
                    else:
                        for j in range(m):
                            acc[j] = max(max(acc[j], max(abs(r0[j] - c0), abs(r1[j] - c1))),
                                         max(abs(r2[j] - c2), abs(r3[j] - c3)))
                else:
                    # Unscaled |t|^p: prim_points sends general p to points_kernel_lp (scaled
                    # sums) instead. The branch stays because without it LLVM compiles the l2
                    # loop above differently, 2-3% slower (measured, N = 1000, D = 10).
                    if k == 0:
                        for j in range(m):
                            acc[j] = (abs(r0[j] - c0) ** p + abs(r1[j] - c1) ** p) \
                                + (abs(r2[j] - c2) ** p + abs(r3[j] - c3) ** p)
                    else:
                        for j in range(m):
                            acc[j] += (abs(r0[j] - c0) ** p + abs(r1[j] - c1) ** p) \
                                + (abs(r2[j] - c2) ** p + abs(r3[j] - c3) ** p)
            # Branch-free key update (vectorises), then the smallest key, then the
            # lowest vertex id among the keys equal to it.
            # (Into the second pair of arrays: in place, LLVM would emit masked stores,
            # slow on AMD Zen.)
            for j in range(m):
                a = acc[j]
                kj = key[j]
                parent2[j] = cur_id if a < kj else parent[j]
                key2[j] = a if a < kj else kj
            key, key2 = key2, key
            parent, parent2 = parent2, parent
            cur_id = lowest_id(key, ids, m, smallest(key, m, bits), bits, none)
            bj = pos[cur_id]
            edges[b, step, 0] = parent[bj]
            edges[b, step, 1] = cur_id
            last = m - 1                          # the last packed vertex fills the gap
            for k in range(d):
                cur[k] = x[k, bj]
                x[k, bj] = x[k, last]
            key[bj] = key[last]
            parent[bj] = parent[last]
            ids[bj] = ids[last]
            pos[ids[bj]] = bj


@jit
def points_kernel_lp(xt, p, edges, bits):
    """:func:`points_kernel` for a general p (not 1, 2, inf): the same Prim, the same tie
    rule, on the scaled distances of :func:`lp_distances` (the cost is in the powers, so
    nothing is unrolled). A kernel of its own: adding this path to points_kernel slows its
    l1/l2 loops by 3-30% (LLVM compiles them differently; measured)."""
    nb, d, n = xt.shape
    acc = np.empty(n, dtype=xt.dtype)
    key = np.empty(n, dtype=xt.dtype)
    key2 = np.empty(n, dtype=xt.dtype)
    parent = np.empty(n, dtype=bits.dtype)
    parent2 = np.empty(n, dtype=bits.dtype)
    ids = np.empty(n, dtype=bits.dtype)
    pos = np.empty(n, dtype=bits.dtype)
    none = np.full(1, n, dtype=bits.dtype)[0]
    cur = np.empty(d, dtype=xt.dtype)
    mx = np.empty(n, dtype=xt.dtype)
    inv = np.empty(n)
    for b in range(nb):
        x = xt[b]
        for j in range(n):
            ids[j] = j
            pos[j] = j
            key[j] = np.inf
            parent[j] = 0
        for k in range(d):
            cur[k] = x[k, 0]
            x[k, 0] = x[k, n - 1]
        ids[0] = n - 1
        pos[n - 1] = 0
        cur_id = none - none
        for step in range(n - 1):
            m = n - 1 - step
            lp_distances(x, cur, m, p, acc, mx, inv)
            for j in range(m):
                a = acc[j]
                kj = key[j]
                parent2[j] = cur_id if a < kj else parent[j]
                key2[j] = a if a < kj else kj
            key, key2 = key2, key
            parent, parent2 = parent2, parent
            cur_id = lowest_id(key, ids, m, smallest(key, m, bits), bits, none)
            bj = pos[cur_id]
            edges[b, step, 0] = parent[bj]
            edges[b, step, 1] = cur_id
            last = m - 1
            for k in range(d):
                cur[k] = x[k, bj]
                x[k, bj] = x[k, last]
            key[bj] = key[last]
            parent[bj] = parent[last]
            ids[bj] = ids[last]
            pos[ids[bj]] = bj


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


@jit
def sq_l2(x, v, w):
    """The squared l2 distance of points v and w of x (N, D) as :func:`points_kernel`
    sums it (groups of four coordinates, zero-padded): both see identical numbers."""
    d = x.shape[1]
    s = x[0, 0] - x[0, 0]                         # a zero of the input's dtype
    for k in range(0, d - 3, 4):
        t0 = x[w, k] - x[v, k]
        t1 = x[w, k + 1] - x[v, k + 1]
        t2 = x[w, k + 2] - x[v, k + 2]
        t3 = x[w, k + 3] - x[v, k + 3]
        s += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
    k = d - d % 4
    if k < d:
        t0 = x[w, k] - x[v, k]
        t1 = x[w, k + 1] - x[v, k + 1] if k + 1 < d else t0 - t0
        t2 = x[w, k + 2] - x[v, k + 2] if k + 2 < d else t0 - t0
        s += (t0 * t0 + t1 * t1) + t2 * t2
    return s


@jit
def gram_kernel(g, x, sq, consts, edges, bits, limit):
    """Prim on estimates of the squared distances, each with a rounding bound; every
    decision the bounds leave open is taken on direct sums (see :func:`prim_gram`).

    For each vertex outside the tree: [lo, hi], an interval holding the direct sum of
    its distance to the tree, and its parent (as a float, to keep the lanes uniform).
    Tree vertices hold NaN: every comparison with them is false, so the passes run
    over all N vertices, contiguous and branch-free (no gathers), and vectorise.
    Each pass writes a second set of arrays (swapped after it) rather than updating
    in place, which LLVM would turn into masked stores -- slow on AMD Zen.
    """
    n = x.shape[0]
    lo = np.full(n, np.inf, dtype=x.dtype)
    hi = np.full(n, np.inf, dtype=x.dtype)
    par = np.zeros(n, dtype=x.dtype)
    lo2 = np.empty(n, dtype=x.dtype)
    hi2 = np.empty(n, dtype=x.dtype)
    par2 = np.empty(n, dtype=x.dtype)
    ubits = np.empty(1, dtype=bits.dtype)
    ufloat = ubits.view(x.dtype)
    # Constants and vertex numbers in the input's dtype (numba would widen float32
    # arithmetic with a Python number to float64, halving the SIMD width).
    zero, two, tl, floor = consts[0], consts[1], consts[2], consts[4]
    inf_bits = as_bits(consts[3])
    vertex = np.arange(n).astype(x.dtype)
    cur = 0
    checked = 0
    for step in range(n - 1):
        lo[cur] = np.nan
        hi[cur] = np.nan
        row = g[cur]
        sv = sq[cur]
        pc = vertex[cur]
        # Take the estimate where it is certainly below the interval, flag overlaps,
        # and find the smallest upper bound u (through its bits: a vectorised minimum).
        overlap = np.int32(0)
        ub = inf_bits
        for j in range(n):
            sj = sv + sq[j]
            e = tl * sj + floor
            a = sj - two * row[j]
            lj = lo[j]
            hj = hi[j]
            below = a + e < lj
            overlap = max(overlap, np.int32(1) if (a - e <= hj) & (a + e >= lj) else np.int32(0))
            h = a + e if below else hj
            lo2[j] = a - e if below else lj
            hi2[j] = h
            par2[j] = pc if below else par[j]
            ub = min(ub, as_bits(h))
        lo, lo2 = lo2, lo
        hi, hi2 = hi2, hi
        par, par2 = par2, par
        if overlap:                       # rare: settle the overlaps on direct sums
            for j in range(n):
                if par[j] == pc or not lo[j] <= hi[j]:
                    continue              # just taken from cur, or in the tree
                sj = sv + sq[j]
                e = tl * sj + floor
                a = sj - two * row[j]
                if a - e <= hi[j] and a + e >= lo[j]:
                    if lo[j] < hi[j]:
                        lo[j] = hi[j] = sq_l2(x, int(par[j]), j)
                    d = sq_l2(x, cur, j)
                    checked += 2
                    if d < lo[j]:
                        lo[j] = hi[j] = d
                        par[j] = pc
            ub = smallest(hi, n, bits)
        # The next vertex: only intervals starting at or below u can hold the
        # minimum -- usually one, else direct sums decide.
        ubits[0] = ub
        u = ufloat[0]
        count = np.int32(0)
        first = np.int32(n)
        for j in range(n):
            near = lo[j] <= u
            count += np.int32(1) if near else np.int32(0)
            first = min(first, np.int32(j) if near else np.int32(n))
        cur = first
        if count > 1:
            best = np.inf
            cur = n
            for j in range(n):
                if lo[j] <= u:
                    if lo[j] < hi[j]:
                        lo[j] = hi[j] = sq_l2(x, int(par[j]), j)
                        checked += 1
                    if lo[j] < best:      # ties: the lowest index, seen first
                        best = lo[j]
                        cur = j
        if checked > limit:
            return -1
        edges[step, 0] = int(par[cur])
        edges[step, 1] = cur
    return checked



@jit
def centre(x, xc, sq):
    """xc = x minus its column means (rounded to x's dtype: a mere shift), and the squared
    norms of xc's rows, accumulated in float64; one pass over x for each."""
    n, d = x.shape
    mean = np.zeros(d)
    for i in range(n):
        for k in range(d):
            mean[k] += x[i, k]
    m = (mean / n).astype(x.dtype)
    for i in range(n):
        s = 0.0
        for k in range(d):
            t = x[i, k] - m[k]
            xc[i, k] = t
            s += t * t
        sq[i] = s


@jit
def edge_length(x, b, i, j, l1):
    """The l1 or l2 length of edge (i, j) of cloud b of x (B, N, D), summed in float64 (for
    float32 points: exact differences, no overflow or underflow at any scale)."""
    s = 0.0
    if l1:
        for k in range(x.shape[2]):
            s += abs(np.float64(x[b, i, k]) - np.float64(x[b, j, k]))
        return s
    for k in range(x.shape[2]):
        t = np.float64(x[b, i, k]) - np.float64(x[b, j, k])
        s += t * t
    return np.sqrt(s)


@jit
def sorted_lengths(x, edges, l1, lengths, sorted_edges):
    """The lengths of the edges (B, M, 2) of the clouds x (B, N, D), rounded to x's dtype and
    ascending per cloud (stable: equal lengths keep their order), into lengths (B, M), and
    the edges in that order into sorted_edges (B, M, 2)."""
    for b in range(x.shape[0]):
        for k in range(edges.shape[1]):
            lengths[b, k] = edge_length(x, b, edges[b, k, 0], edges[b, k, 1], l1)
        order = np.argsort(lengths[b], kind="mergesort")
        lengths[b] = lengths[b][order]
        for k in range(edges.shape[1]):
            sorted_edges[b, k, 0] = edges[b, order[k], 0]
            sorted_edges[b, k, 1] = edges[b, order[k], 1]


@jit
def length_grads(x, edges, lengths, g, l1, grad):
    """grad (B, N, D) += the gradient of sum_k g[b, k] * length(edges[b, k]) with respect to
    x, given the lengths: sign(x_i - x_j) (l1) or (x_i - x_j) / length (l2) times g, added at
    i and subtracted at j; 0 where the two points coincide (torch's subgradient)."""
    for b in range(x.shape[0]):
        for k in range(edges.shape[1]):
            i, j = edges[b, k, 0], edges[b, k, 1]
            w = np.float64(g[b, k])
            if l1:
                for c in range(x.shape[2]):
                    step = w * np.sign(np.float64(x[b, i, c]) - np.float64(x[b, j, c]))
                    grad[b, i, c] += step
                    grad[b, j, c] -= step
            elif lengths[b, k] > 0:
                w = w / np.float64(lengths[b, k])
                for c in range(x.shape[2]):
                    step = w * (np.float64(x[b, i, c]) - np.float64(x[b, j, c]))
                    grad[b, i, c] += step
                    grad[b, j, c] -= step
