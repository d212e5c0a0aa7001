"""Zero-dimensional Vietoris-Rips persistence of point clouds, differentiable, batched.

Every point is born at 0; the N-1 finite death times are the edge lengths of a minimum
spanning tree (MST) of the complete graph on the points, and one class never dies.

The work is split in two, as in torch-topological:

* *which* edges: Prim's algorithm on detached inputs, returning integer indices. On the CPU
  the fused kernels of :mod:`corel.topology._prim_numba` (each distance computed once, in the step that
  consumes it, never stored: O(N*D) memory); for l2 with many coordinates (D >= 64-96), Prim on
  one symmetric matrix product whose rounding is bounded, every doubtful comparison settled
  on direct sums (the same tree, up to 2.6x faster; one N x N matrix). Without Numba, and on
  CUDA, Prim runs on a distance matrix (:func:`mst_edges`; NumPy on the CPU, where its per-call overhead is ~5x
  lower than torch's, torch on CUDA); that matrix (:func:`_selection_matrix`) is built in
  cache-sized row blocks and only has to order the edges: squared l2 distances, no sqrt.
* :func:`edge_lengths` -- *how long*: the death values recomputed from the points along the
  N-1 edges, so autograd sees O(N*D) work and no N x N matrix. Each death is the distance
  between two points, so its gradient is the gradient of that distance, as in torchph. For
  l1 and l2 on the CPU one Numba call computes, sorts and differentiates them
  (:class:`_SortedLengths`): at N = 100 the per-call cost of a dozen torch operations and
  autograd nodes was larger than the spanning tree's.

Both hold over the whole floating-point range: l_p sums for a general p are scaled per pair
by the largest coordinate difference (as in hypot), and l2 clouds whose extent would over-
or underflow the squared sums are rescaled by a power of two for the selection (exact: the
same tree), their deaths recomputed scaled where torch's unscaled norm would be off.

:func:`vr_persistence_0d` puts the two together; :mod:`corel.topology.torchph` has drop-in
replacements for ``torchph.pershom``'s functions, in
dimensions 0 and 1 (dimension 1: :mod:`corel.topology.h1`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from . import _prim_numba
from .._validation import check_float_tensor, metric_to_p

__all__ = ["Persistence0", "mst_edges", "edge_lengths", "pairwise_distances",
           "vr_persistence_0d"]


@dataclass(frozen=True)
class Persistence0:
    """The 0-dimensional Vietoris-Rips diagram of one cloud or a batch of clouds.

    Attributes
    ----------
    deaths : Tensor, shape (..., N-1)
        The finite death times (the MST edge lengths), ascending along the last axis,
        differentiable with respect to the input. All births are 0.
    edges : LongTensor, shape (..., N-1, 2)
        ``edges[..., k, :] = (i, j)``: the spanning-tree edge whose length is ``deaths[..., k]``
        (``i`` already in the tree when ``j`` joined; at ties the first index wins).
    threshold : float or None
        Edges longer than this were not added: their deaths are not finite (see ``finite``)
        and the components they would have merged stay essential.
    """

    deaths: torch.Tensor
    edges: torch.Tensor
    threshold: float | None = None

    @property
    def finite(self) -> torch.Tensor:
        """Bool mask (..., N-1): True where the death is finite (edge length <= threshold)."""
        if self.threshold is None:
            return torch.ones_like(self.deaths, dtype=torch.bool)
        return self.deaths.detach() <= self.threshold

    @property
    def n_essential(self) -> torch.Tensor:
        """Number of essential classes (never dying components) per cloud, shape (...)."""
        return 1 + (~self.finite).sum(-1)

    def diagram(self) -> torch.Tensor:
        """The finite (birth, death) pairs of a single cloud as an (m, 2) tensor."""
        if self.deaths.dim() != 1:
            raise ValueError("diagram() needs the result of a single cloud; index the batch first, "
                             f"e.g. result[0]. Got deaths of shape {tuple(self.deaths.shape)}.")
        d = self.deaths[self.finite]
        return torch.stack([torch.zeros_like(d), d], dim=1)

    def __getitem__(self, index) -> "Persistence0":
        """Index the batch dimensions: ``result[3]`` is the 4th cloud's diagram."""
        return Persistence0(self.deaths[index], self.edges[index], self.threshold)


# ----------------------------------------------------------------------------- distances
# Elements per row block of the selection matrix: large enough that torch's per-op overhead
# (3 ops per coordinate and block) is small, small enough for the temporaries to stay in cache.
_BLOCK = 1 << 20
# Up to this many points per cloud torch.cdist is faster (3*D small ops cost more than its
# per-pair overhead). It rounds each pair alone, so batched and single clouds still agree.
_CDIST_MAX_N = 256
# Below this many N*N*D per cloud torch.cdist beats the ~15 ops of the float64 product.
_GEMM_MIN_WORK = 1 << 18
# The largest finite float32 and float64, by item size.
_FMAX = {4: float(np.finfo(np.float32).max), 8: float(np.finfo(np.float64).max)}


def pairwise_distances(x: torch.Tensor, p: float) -> torch.Tensor:
    """All l_p distances of a batch of clouds, shape (..., N, D) -> (..., N, N).

    Used on detached points to *select* the MST edges (see :func:`_selection_matrix`). l2 is
    never computed with torch.cdist's float32 matrix-multiply mode: its error on d^2 is
    ~eps * |x|^2, so in a multi-scale cloud (fine structure far from the centre, e.g. two
    distant clusters) it reorders short edges and picks a tree whose deaths are off by far
    more than rounding.
    Half precision is computed in float32 (torch.cdist has no float16/bfloat16 CPU kernel).
    Correct over the whole floating-point range: l2 sums on a cloud rescaled by a power of two
    where its extent would over- or underflow them (:func:`_l2_in_range`), general p sums
    scaled per pair (:func:`_lp_matrix`).
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    scale = None
    if p == 2.0:
        x, scale = _l2_in_range(x)
    dist, squared = _selection_matrix(x, p)
    if squared:
        dist.sqrt_()
    if scale is not None:                    # undo the power of two: exact
        dist = (dist.double() / scale[..., None, None]).to(dist.dtype)
    return dist


def _l2_scales(ext: np.ndarray, fmax: float, d: int) -> np.ndarray | None:
    """Powers of two, one per cloud (float64, the shape of ``ext``), that bring the clouds'
    extents into the range where squared l2 sums are safe -- or None where all already are.

    ``ext``: a cloud's largest coordinate range (max - min over its points), ``fmax``: the
    largest finite number of the dtype the sums run in. A sum of D squares is at most
    D * ext^2; it must stay below fmax / 16, hence ext <= high. Below low = 2^-(emax/4)
    (2.3e-10 in float32) the squares of the short edges turn subnormal and lose precision
    (below ~1e-19 in float32 they vanish). A cloud outside [low, high] is scaled to an
    extent just below high: the widest room for its short edges (:func:`_l2_rescale`).
    """
    low, high = l2_safe_range(fmax, d)
    ok = ((ext >= low) & (ext <= high)) | (ext == 0)
    if ok.all():
        return None
    with np.errstate(divide="ignore"):
        k = math.log2(high) - np.ceil(np.log2(ext))                   # ext * 2^k <= high
    k = np.where(ok, 0.0, np.clip(k, -1021, 1021))                    # (float64 powers)
    return np.ldexp(1.0, k.astype(np.int32))


@functools.lru_cache(maxsize=None)
def l2_safe_range(fmax: float, d: int) -> tuple[float, float]:
    """(low, high) of :func:`_l2_scales`, powers of two."""
    emax = math.frexp(fmax)[1]                                        # 128 float32, 1024 float64
    return 2.0 ** -(emax // 4), 2.0 ** (math.frexp(math.sqrt(fmax / (16 * max(d, 1))))[1] - 1)


def _l2_rescale(x: torch.Tensor, scales: np.ndarray) -> torch.Tensor:
    """Clouds (..., N, D) times their powers of two ``scales`` (...), computed in float64 and
    exact, so every squared distance is scaled exactly: the same tree (short of coordinates
    that turn subnormal). First each coordinate whose values all lie within a factor 2 of
    each other is shifted by its min (or max, if negative): exact (Sterbenz), the differences
    unchanged, and afterwards every |coordinate| is at most 2 * ext -- a coordinate constant
    far from zero cannot overflow when the cloud is scaled up."""
    y = x.double()
    lo, hi = torch.aminmax(y, dim=-2, keepdim=True)
    shift = torch.where((lo > 0) & (hi <= 2 * lo), lo,
                        torch.where((hi < 0) & (lo >= 2 * hi), hi, torch.zeros_like(lo)))
    s = torch.as_tensor(np.asarray(scales, dtype=np.float64), device=x.device)
    return ((y - shift) * s[..., None, None]).to(x.dtype)


def _l2_in_range(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Clouds (..., N, D) float32/float64 rescaled by :func:`_l2_rescale` where
    :func:`_l2_scales` asks for it, and the (...) scales; ``x`` itself and None where no
    cloud needs it (a min and a max over the points decide)."""
    if x.numel() == 0:
        return x, None
    lo, hi = torch.aminmax(x, dim=-2)
    ext = (hi.double() - lo.double()).amax(-1)
    s = _l2_scales(ext.cpu().numpy(), torch.finfo(x.dtype).max, x.shape[-1])
    if s is None:
        return x, None
    return _l2_rescale(x, s), torch.as_tensor(np.asarray(s, dtype=np.float64), device=x.device)


def _selection_matrix(x: torch.Tensor, p: float) -> tuple[torch.Tensor, bool]:
    """A matrix in the order of the l_p distances, (..., N, D) -> (..., N, N), no autograd,
    and whether it holds squared l2 distances (same order, no sqrt pass) rather than distances.

    On the CPU, float32 l2 goes through a float64 matrix product when that is provably as
    accurate as float32 rounding (:func:`_sq_l2_gemm`). Otherwise: small clouds, other p, and
    CUDA use torch.cdist (l2 without its matrix-multiply mode); larger clouds on the CPU the
    exact coordinate-by-coordinate sums of :func:`_sum_coordinates`.
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    shape = x.shape
    if x.numel() == 0:                       # no clouds (or no coordinates: all distances 0)
        return x.new_zeros(*shape[:-1], shape[-2]), False
    if p not in (1.0, 2.0, math.inf):
        return _lp_matrix(x, p), False
    if x.device.type == "cpu" and p == 2.0 and x.dtype == torch.float32 \
            and shape[-2] ** 2 * shape[-1] >= _GEMM_MIN_WORK:
        out = _sq_l2_gemm(x.reshape(-1, *shape[-2:]))
        if out is not None:
            return out.reshape(*shape[:-1], shape[-2]), True
    if x.device.type != "cpu" or p == math.inf or shape[-2] <= _CDIST_MAX_N:
        # mirrored: the H1 kernel reads both halves and Prim compares entries of both, and nothing
        # promises that torch.cdist rounds d(i, j) and d(j, i) alike (its matrix-multiply mode does not)
        return _mirrored(torch.cdist(x, x, p=p, compute_mode="donot_use_mm_for_euclid_dist")), False
    out = _sum_coordinates(x.reshape(-1, *shape[-2:]), p)                 # (B, N, N)
    return out.reshape(*shape[:-1], shape[-2]), p == 2.0


def _lp_matrix(x: torch.Tensor, p: float) -> torch.Tensor:
    """l_p distances for a general p, (..., N, D) -> (..., N, N), each pair scaled by its
    largest coordinate difference m (torch.cdist's l_inf, exact): d = m * (sum_k (|t_k| /
    m)^p)^(1/p). torch.cdist sums |t|^p unscaled, which leaves the floating-point range
    (p = 50 in float32: 0 below |t| ~ 0.2, inf above ~ 6).

    Exactly symmetric by construction: the upper triangle is mirrored. The elementwise pow of a
    vectorised kernel and of its scalar tail can round one ulp apart, so M[i, j] and M[j, i]
    computed separately could differ, and the H1 kernel reads both halves."""
    m = torch.cdist(x, x, p=math.inf)
    scale = torch.where(m > 0, m, torch.ones_like(m))
    acc = torch.zeros_like(m)
    for k in range(x.shape[-1]):
        c = x[..., k]
        acc.add_((c[..., :, None] - c[..., None, :]).abs_().div_(scale).pow_(p))
    return _mirrored(acc.pow_(1.0 / p).mul_(m))


def _mirrored(d: torch.Tensor) -> torch.Tensor:
    """(..., N, N) with the lower triangle replaced by the upper one: exactly symmetric."""
    n = d.shape[-1]
    upper = torch.ones(n, n, dtype=torch.bool, device=d.device).triu_()
    return torch.where(upper, d, d.transpose(-1, -2))


def _sum_coordinates(x: torch.Tensor, p: float) -> torch.Tensor:
    """l1 distances or squared l2 distances, (B, N, D) -> (B, N, N), accumulated one
    coordinate at a time, ``sum_k |x_ik - x_jk|^p`` in the order k = 0..D-1: every entry is
    rounded the same way whatever the block, batch or thread count, so batched and single
    clouds give identical matrices. 1.5-3x faster than torch.cdist's l1 / exact l2 kernels
    (~10-200 ns per pair). Only the upper triangle is computed, row block by row block, and
    mirrored, so the matrix is exactly symmetric."""
    b, n, d = x.shape
    xt = x.transpose(1, 2).contiguous()                                   # (B, D, N)
    out = x.new_empty(b, n, n)
    rows = max(1, _BLOCK // (b * n))
    buf = x.new_empty(b * min(rows, n) * n)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        acc = out[:, r0:r1, r0:]                                          # (B, R, N - r0)
        tmp = buf[: acc.numel()].view(acc.shape)
        for k in range(d):
            dst = acc if k == 0 else tmp
            torch.sub(xt[:, k, None, r0:], x[:, r0:r1, k, None], out=dst)
            if p == 1.0:
                dst.abs_()
            else:
                dst.mul_(dst)
            if k:
                acc.add_(tmp)
        if r1 < n:
            out[:, r1:, r0:r1] = out[:, r0:r1, r1:].transpose(1, 2)       # lower triangle
    return out


def _sq_l2_gemm(x: torch.Tensor) -> torch.Tensor | None:
    """Squared l2 distances of float32 clouds, (B, N, D) -> (B, N, N) float32, as one float64
    matrix product per row block, [x, |x|^2, 1] . [-2x, 1, |x|^2] -- or None where that is
    not accurate enough.

    The float64 error on every entry is below err = (D + 7) * eps64 * 4 * R^2 (R: the largest
    distance to the centroid). If err <= eps32 * (smallest d^2 - err), every entry is within
    float32 rounding of the exact d^2 (in tests, bit-equal to the float64 exact sums rounded
    to float32): better than :func:`_sum_coordinates` in float32, and 1.3-7x faster. Clouds
    with duplicate points, or fine structure ~1e4 x smaller than their extent, fail the test
    and take the exact path.
    """
    b, n, d = x.shape
    xc = x.double()
    xc = xc - xc.mean(dim=1, keepdim=True)          # centring shrinks R, hence the error
    sq = (xc * xc).sum(-1, keepdim=True)            # (B, N, 1)
    one = torch.ones_like(sq)
    left, right = torch.cat([xc, sq, one], -1), torch.cat([-2 * xc, one, sq], -1)  # (B, N, D+2)
    err = (d + 7) * torch.finfo(torch.float64).eps * 4 * float(sq.max())
    out = x.new_empty(b, n, n)
    rows = max(1, _BLOCK // (b * n))
    smallest = math.inf
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        blk = torch.bmm(left[:, r0:r1], right[:, r0:].transpose(1, 2))  # (B, R, N - r0)
        blk[:, :, : r1 - r0].diagonal(dim1=1, dim2=2).fill_(math.inf)
        smallest = min(smallest, float(blk.min()))
        out[:, r0:r1, r0:] = blk
        if r1 < n:
            out[:, r1:, r0:r1] = out[:, r0:r1, r1:].transpose(1, 2)       # lower triangle
    if err > torch.finfo(torch.float32).eps * (smallest - err):
        return None
    out.diagonal(dim1=1, dim2=2).zero_()
    return out


def edge_lengths(x: torch.Tensor, edges: torch.Tensor, p: float, check: bool = True) -> torch.Tensor:
    """l_p lengths of the given edges, differentiable: (..., N, D), (..., M, 2) -> (..., M).

    Finite and accurate, values and gradients, over the whole floating-point range: a general
    p is summed scaled per edge; l2 takes torch's unscaled norm (it squares: in float32 inf
    beyond ~1.8e19, no precision left below ~1e-19) and redoes scaled the edges whose length
    lies outside the range where that is safe (duplicates, length 0, among them).

    ``check=False`` skips the l2 range check (~5-10 us), for clouds whose extents
    :func:`_l2_scales` found in range: no length can overflow there, and one below the check's
    floor (a near-duplicate pair, < 1e-18 apart in float32) is off by less than 1e-19, below
    the float32 resolution of any coordinate difference at that extent."""
    n, d = x.shape[-2:]
    flat = x.reshape(-1, d)                                               # (B*N, D)
    b = flat.shape[0] // n if n else 0
    e = edges.reshape(b, edges.shape[-2], 2)                              # (B, M, 2)
    if b > 1:                                  # row numbers in the flattened batch
        e = e + torch.arange(b, device=e.device)[:, None, None] * n
    # Two index_selects on the flattened points: ~3x cheaper than batched gathers.
    diff = flat.index_select(0, e[..., 0].reshape(-1)) - flat.index_select(0, e[..., 1].reshape(-1))
    if p == 1.0:
        length = diff.abs().sum(-1)               # 5-10x faster than vector_norm(ord=1)
    elif p == math.inf:
        length = torch.linalg.vector_norm(diff, ord=p, dim=-1)          # a max: exact
    elif p == 2.0:
        # 2x faster than the sum of squares and sqrt; at a duplicate point (length 0) its
        # gradient is 0, a valid subgradient (tested).
        length = torch.linalg.vector_norm(diff, dim=-1)
        if check and length.numel():
            # Below lo the squares may be subnormal (relative error up to D * 2^-150 / d^2 in
            # float32, < eps / 4 from lo on); inf: the sum overflowed. One check (~5 us).
            lo = _l2_floor(diff.dtype, d)
            small, large = torch.aminmax(length.detach())
            if not (small.item() >= lo and large.item() < math.inf):
                redo = ~((length.detach() >= lo) & (length.detach() < math.inf))
                idx = redo.nonzero().squeeze(-1)
                length = length.index_copy(0, idx, _scaled_norm(diff.index_select(0, idx), p))
    else:
        length = _scaled_norm(diff, p)
    return length.reshape(edges.shape[:-1])


@functools.lru_cache(maxsize=None)
def _l2_floor(dtype: torch.dtype, d: int) -> float:
    """The shortest l2 length torch's unscaled norm gets right to rounding, D coordinates."""
    return 2.0 * math.sqrt(torch.finfo(dtype).tiny * max(d, 1))


def _scaled_norm(diff: torch.Tensor, p: float) -> torch.Tensor:
    """l_p norms of the rows of ``diff`` (E, D), each row divided by its largest |entry| m
    first: m * |diff / m|_p, with every term in [0, 1] and the sum in [1, D], so the value
    and its gradient stay finite and accurate at any scale. m is a constant to autograd (the
    norm is homogeneous: the gradient is exactly that of |diff|_p); a zero row gives 0 and
    gradient 0."""
    m = diff.detach().abs().amax(-1, keepdim=True)
    scale = torch.where((m > 0) & (m < math.inf), m, torch.ones_like(m))
    return m.squeeze(-1) * torch.linalg.vector_norm(diff / scale, ord=p, dim=-1)


# ----------------------------------------------------------------------------- which edges
def point_mst_edges(x: torch.Tensor, p: float) -> tuple[torch.Tensor, bool]:
    """MST edges of detached clouds (..., N, D) -> (..., N-1, 2): on the CPU the fused Numba
    Prim (each distance computed once, never stored), else Prim on a selection matrix.
    l2 runs on clouds rescaled by a power of two where their extent would over- or underflow
    the squared sums (:func:`_l2_scales`; exact, the same tree). Also returns whether every
    cloud was in that range as it is (always True for other p)."""
    n = x.shape[-2]
    if x.shape[:-2].numel() == 0:                                        # no clouds
        return torch.zeros(*x.shape[:-2], n - 1, 2, dtype=torch.long, device=x.device), True
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    if x.device.type == "cpu" and _prim_numba.available():
        edges, outside = _numba_mst(x.reshape(-1, *x.shape[-2:]).numpy(), p)
        return torch.from_numpy(edges).reshape(*x.shape[:-2], n - 1, 2), not outside
    scale = None
    if p == 2.0:
        x, scale = _l2_in_range(x)
    return _mst_edges(_selection_matrix(x, p)[0], nonnegative=True, owned=True), scale is None


def _numba_mst(flat: np.ndarray, p: float) -> tuple[np.ndarray, bool]:
    """:func:`point_mst_edges` of clouds (B, N, D) float32/float64 on the CPU with Numba:
    (B, N-1, 2) edges, and whether any l2 cloud had to be rescaled."""
    outside = 0
    if p == 2.0:
        fmax = _FMAX[flat.dtype.itemsize]
        ext, outside = _prim_numba.extents(flat, *l2_safe_range(fmax, flat.shape[-1]))
        if outside:                                                      # rare
            scales = _l2_scales(ext, fmax, flat.shape[-1])
            flat = _l2_rescale(torch.from_numpy(flat), scales).numpy()
    if _use_gram(flat.shape, flat.dtype.itemsize, p):
        if len(flat) == 1:
            return _gram_or_points(flat[0])[None], bool(outside)
        return np.stack([_gram_or_points(cloud) for cloud in flat]), bool(outside)
    return _prim_numba.prim_points(flat, p), bool(outside)


# The matrix-product Prim (l2 only) pays from about 64 coordinates on for clouds of up to
# ~500 points and from 128 on for larger ones (measured: benchmarks/prim_kernels.md; at
# N = 100, D = 160 it takes half the time of the direct sums), for clouds large enough to
# amortise the product's call, and while its N x N matrix stays below _GRAM_MAX_BYTES
# (beyond it the O(N*D)-memory kernel is used).
_GRAM_MIN_D = 128
_GRAM_MIN_D_SMALL, _GRAM_SMALL_N = 64, 512
_GRAM_MIN_N = 64
_GRAM_MAX_BYTES = 256 << 20


def _use_gram(shape: tuple, itemsize: int, p: float) -> bool:
    n, d = shape[-2:]
    min_d = _GRAM_MIN_D_SMALL if n <= _GRAM_SMALL_N else _GRAM_MIN_D
    return p == 2.0 and d >= min_d and _GRAM_MIN_N <= n and n * n * itemsize <= _GRAM_MAX_BYTES


def _gram_or_points(cloud: np.ndarray) -> np.ndarray:
    edges = _prim_numba.prim_gram(cloud)
    # None: the rounding bound left too many comparisons open (extreme multi-scale clouds).
    return edges if edges is not None else _prim_numba.prim_points(cloud[None], 2.0)[0]


def mst_edges(dist: torch.Tensor) -> torch.Tensor:
    """Edges of a minimum spanning tree of each complete graph, (..., N, N) -> (..., N-1, 2).

    Pure and deterministic: Prim's algorithm from vertex 0, the lowest index winning ties.
    The input is only read (no autograd) and must be symmetric, which callers check.
    """
    return _mst_edges(dist, nonnegative=False)


def _mst_edges(dist: torch.Tensor, nonnegative: bool, owned: bool = False) -> torch.Tensor:
    """:func:`mst_edges`. ``nonnegative``: no entry has its sign bit set (not even -0.0),
    which the CPU Prim needs; otherwise the matrix is checked and shifted. ``owned``: the
    matrix is scratch, the CPU Prim may overwrite it."""
    n = dist.shape[-1]
    if n < 2 or dist.shape[:-2].numel() == 0:
        return torch.zeros(*dist.shape[:-2], max(n - 1, 0), 2, dtype=torch.long, device=dist.device)
    flat = dist.detach().reshape(-1, *dist.shape[-2:])
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    if flat.device.type == "cpu" and _prim_numba.available():
        return torch.from_numpy(_prim_numba.prim_matrix(flat.contiguous().numpy())).reshape(*dist.shape[:-2], n - 1, 2)
    if flat.device.type == "cpu":
        if not nonnegative and bool(torch.signbit(flat).any()):
            # Negative weights or -0.0: a shift by the minimum keeps the minimum trees.
            flat, owned = flat - flat.min(), True
        edges = torch.from_numpy(_prim_numpy(flat.contiguous().numpy(), owned))
    else:
        edges = _prim_torch(flat)
    return edges.reshape(*dist.shape[:-2], n - 1, 2)


# The NumPy Prims mark tree vertices with NaN in `best`: `cand < nan` is False and
# minimum(nan, cand) is nan, so no separate "outside the tree" mask is needed in the loop.
# argmin runs on the bits of `best` as signed integers, where non-negative floats keep their
# order and a NaN sorts after +inf (a float argmin would pick the NaN).
def _prim_numpy(dist: np.ndarray, owned: bool = False) -> np.ndarray:
    """Prim on a (B, N, N) array of non-negative weights (no -0.0): (B, N-1, 2) edges.
    ``owned``: the array is scratch and may be overwritten."""
    b, n, _ = dist.shape
    if b == 1 or n > 512:        # one or large clouds: the 1-D loop, its O(N) ops dominate
        return np.stack([_prim_numpy_single(m) for m in dist])
    return _prim_numpy_batched(dist if owned else dist.copy())


def _prim_numpy_batched(dist: np.ndarray) -> np.ndarray:
    """Small clouds, one O(B*N) step per vertex for the whole batch; overwrites the diagonal.

    Python overhead (~1 us per NumPy call) dominates, so the loop makes 5 calls: a NaN
    diagonal marks each vertex as it joins (its own row sets best[j] = nan), and the parents
    are not tracked in the loop but read off the stacked `closer` masks (B*N*N bytes)."""
    b, n, _ = dist.shape
    np.einsum("bii->bi", dist)[...] = np.nan        # a writable view of the diagonals
    rows2d = dist.reshape(b * n, n)
    base = np.arange(b) * n                         # (B,) offset of each cloud's row 0
    best = dist[:, 0, :].copy()                     # (B, N) distance to the tree
    keys = best.view(np.int32 if best.itemsize == 4 else np.int64)
    cand = np.empty_like(best)
    closer = np.empty((n - 1, b, n), dtype=bool)    # closer[k]: improved by the k-th vertex
    joined = []
    for k in range(n - 1):
        j = keys.argmin(axis=1)                     # (B,)
        joined.append(j)
        rows2d.take(base + j, 0, out=cand, mode="clip")   # "clip": no bounds-check buffer
        np.less(cand, best, out=closer[k])
        np.minimum(best, cand, out=best)
    order = np.stack(joined, 1)                     # (B, N-1) vertices in the order they join
    parent = _parents(closer, order)
    return np.stack([np.take_along_axis(parent, order, 1), order], -1)


def _parents(closer: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(N-1, B, N) masks, (B, N-1) join order -> (B, N) parents: a vertex's parent joined at
    the last step that brought it closer (the root 0 if none did)."""
    last = (closer.shape[0] - 1) - closer[::-1].argmax(0)                # (B, N)
    return np.where(closer.any(0), np.take_along_axis(order, np.maximum(last, 0), 1), 0)


def _prim_numpy_single(dist: np.ndarray) -> np.ndarray:
    """One cloud, (N, N) -> (N-1, 2). Up to 512 points the `closer` masks are kept (N*N
    bytes) and the parents read off them afterwards, one NumPy call less per step (-25% at
    N = 100); larger clouds update `parent` in the loop (it stops changing once a vertex
    joins), with O(N) memory."""
    n = dist.shape[0]
    best = dist[0].copy()
    best[0] = np.nan
    keys = best.view(np.int32 if best.itemsize == 4 else np.int64)
    track = n > 512
    parent = np.zeros(n, dtype=np.int64)
    closer = np.empty((1 if track else n - 1, n), dtype=bool)
    order = np.empty(n - 1, dtype=np.int64)
    argmin, less, minimum, copyto, nan = keys.argmin, np.less, np.minimum, np.copyto, np.nan
    for k in range(n - 1):
        j = int(argmin())
        order[k] = j
        best[j] = nan
        cand = dist[j]
        mask = closer[0 if track else k]
        less(cand, best, out=mask)
        minimum(best, cand, out=best)
        if track:
            copyto(parent, j, where=mask)
    if not track:
        parent = _parents(closer[:, None], order[None])[0]
    return np.stack([parent[order], order], -1)


def _prim_torch(dist: torch.Tensor) -> torch.Tensor:
    """Prim on a (B, N, N) tensor on any device, without host synchronisation in the loop."""
    b, n, _ = dist.shape
    dev = dist.device
    rows = torch.arange(b, device=dev)
    best = dist[:, 0, :].clone()
    best[:, 0] = math.inf
    parent = torch.zeros(b, n, dtype=torch.long, device=dev)
    outside = torch.ones(b, n, dtype=torch.bool, device=dev)
    outside[:, 0] = False
    edges = torch.empty(b, n - 1, 2, dtype=torch.long, device=dev)
    for k in range(n - 1):
        j = best.argmin(dim=1)                      # (B,)
        edges[:, k, 0] = parent[rows, j]
        edges[:, k, 1] = j
        outside[rows, j] = False
        best[rows, j] = math.inf
        cand = dist[rows, j]                        # (B, N)
        closer = (cand < best) & outside
        best = torch.where(closer, cand, best)
        parent = torch.where(closer, j[:, None], parent)
    return edges


# ----------------------------------------------------------------------------- public API
def vr_persistence_0d(x: torch.Tensor, metric="l1", *, precomputed: bool = False,
                      threshold: float | None = None) -> Persistence0:
    """0-dimensional Vietoris-Rips persistence of one or many point clouds.

    Parameters
    ----------
    x : Tensor, shape (N, D) or (..., N, D); or (..., N, N) with ``precomputed=True``
        Point clouds (any leading batch shape, e.g. 16 branches x 100 points x 10 dims in one
        call), or symmetric distance matrices. CPU or CUDA, any real floating dtype.
    metric : {"l1", "l2", "linf"} or float p >= 1
        The l_p metric on the points (ignored with ``precomputed=True``).
    precomputed : bool
        ``x`` holds distance matrices; deaths are gathered from it (gradients flow into it).
    threshold : float, optional
        torchph's ``max_ball_diameter``: edges longer than this do not count; their
        components stay essential. ``None`` (or 0, as in torchph) means no threshold.

    Returns
    -------
    Persistence0
        ``deaths`` (..., N-1) ascending and differentiable, ``edges`` (..., N-1, 2).

    Examples
    --------
    >>> z = torch.randn(16, 100, 10, requires_grad=True)
    >>> res = vr_persistence_0d(z, "l1")
    >>> (res.deaths - 2.0).abs().sum(-1).mean().backward()
    """
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0 \
                or math.isnan(threshold):
            raise ValueError(f"The 'threshold' parameter must be a float >= 0 or None. Got {threshold!r}.")
        threshold = None if threshold == 0 or math.isinf(threshold) else float(threshold)
    if precomputed:
        dist = check_distance_matrix(x)
        edges = mst_edges(dist)
        flat = dist.reshape(-1, *dist.shape[-2:])
        e = edges.reshape(flat.shape[0], edges.shape[-2], 2)
        deaths = flat[torch.arange(flat.shape[0], device=dist.device)[:, None], e[..., 0], e[..., 1]]
        deaths = deaths.reshape(edges.shape[:-1])
    else:
        p = metric_to_p(metric)
        x = _check_points(x)
        if _fused_lengths_apply(x, p):
            points = x.detach().reshape(-1, *x.shape[-2:]).contiguous().numpy()
            edges, outside = _numba_mst(points, p)
            if not (outside and x.dtype == torch.float64):
                deaths, edges = _SortedLengths.apply(x, points, edges, p)
                return Persistence0(deaths, edges, threshold)
            edges, in_range = torch.from_numpy(edges).reshape(*x.shape[:-2], -1, 2), False
        else:
            with torch.no_grad():
                edges, in_range = point_mst_edges(x.detach(), p)
        # (in_range holds for float32 sums: half inputs, selected in float32, are checked.)
        in_range = in_range and x.dtype in (torch.float32, torch.float64)
        deaths = edge_lengths(x, edges, p, check=not in_range)
    order = torch.sort(deaths.detach(), dim=-1, stable=True).indices
    deaths = torch.gather(deaths, -1, order)
    edges = torch.gather(edges, -2, order.unsqueeze(-1).expand(*order.shape, 2))
    return Persistence0(deaths, edges, threshold)


def _fused_lengths_apply(x: torch.Tensor, p: float) -> bool:
    """Whether :func:`_numba_mst` and :class:`_SortedLengths` do the work: l1 or l2 clouds,
    float32 or float64, on the CPU with Numba, at least one cloud."""
    return (p in (1.0, 2.0) and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and x.shape[:-2].numel() > 0 and _prim_numba.available())


class _SortedLengths(torch.autograd.Function):
    """Deaths and edges sorted by length: x (..., N, D) -> (..., N-1), (..., N-1, 2), given
    x's points as a (B, N, D) array and their MST edges (B, N-1, 2), in one Numba call each
    way, for l1 and l2 on the CPU.

    The values of :func:`edge_lengths` followed by a stable sort, up to rounding (the sums run
    in float64: float32 clouds need no range check), and the same gradients, at a fraction of
    the per-call cost: at N = 100 the dozen small torch ops and autograd nodes of that path
    took longer than Prim itself. Float64 clouds must be in the range of
    :func:`_l2_scales`. The backward is not differentiable again (``once_differentiable``)."""

    @staticmethod
    def forward(ctx, x, points, edges, p):
        lengths, order = _prim_numba.sorted_edge_lengths(points, edges, p)
        ctx.save_for_backward(x)
        # (a copy: the deaths returned share the array, and a caller may change them in place)
        ctx.points, ctx.p, ctx.sorted_edges, ctx.lengths = points, p, order, lengths.copy()
        # Shaped in NumPy: a tensor reshaped here would be a view, which autograd forbids to
        # change in place (the generic path's deaths allow it).
        shape = (*x.shape[:-2], order.shape[1])
        sorted_edges = torch.from_numpy(order.reshape(*shape, 2))
        ctx.mark_non_differentiable(sorted_edges)
        return torch.from_numpy(lengths.reshape(shape)), sorted_edges

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_deaths, _):
        x, = ctx.saved_tensors                  # (saved: autograd checks it was not modified)
        g = grad_deaths.reshape(ctx.sorted_edges.shape[:2]).contiguous().numpy()
        grad = _prim_numba.edge_length_grads(ctx.points, ctx.sorted_edges, ctx.lengths, g, ctx.p)
        return torch.from_numpy(grad).reshape(x.shape), None, None, None


def _check_points(x) -> torch.Tensor:
    x = check_float_tensor(x, "x", min_dim=2)
    if x.shape[-2] < 2:
        raise ValueError(f"Persistence needs at least 2 points per cloud; 'x' has shape {tuple(x.shape)} "
                         f"(..., N={x.shape[-2]}, D). For a single point, pass x[None] only if N >= 2.")
    if x.shape[-1] < 1:
        raise ValueError(f"Points must have at least 1 coordinate; 'x' has shape {tuple(x.shape)}.")
    return x


def check_distance_matrix(dist) -> torch.Tensor:
    dist = check_float_tensor(dist, "x (distance matrix)", min_dim=2)
    n = dist.shape[-1]
    if dist.shape[-2] != n:
        raise ValueError(f"A distance matrix must be square (..., N, N); got shape {tuple(dist.shape)}. "
                         f"Pass points with precomputed=False instead.")
    if n < 2:
        raise ValueError(f"Persistence needs at least 2 points; the distance matrix has N={n}.")
    d = dist.detach()
    tol = 1e-6 * float(d.abs().max()) if d.numel() else 0.0
    asym = float((d - d.transpose(-1, -2)).abs().max()) if d.numel() else 0.0
    if asym > tol:
        raise ValueError(f"The distance matrix must be symmetric; max |D - D^T| = {asym:.3g}. "
                         f"Symmetrise it with (D + D.transpose(-1, -2)) / 2.")
    if bool((d < 0).any()):
        raise ValueError(f"Distances must be >= 0; the matrix holds {int((d < 0).sum())} negative entries.")
    return dist
