"""torchph's API (``corel.vr_persistence_l1``, ``corel.vr_persistence``): dimensions 0 and 1 in the
nested-list structure torchph returns, so that code written for ``torchph.pershom`` runs unchanged."""
from __future__ import annotations

import torch

from .h0 import vr_persistence_0d
from .h1 import vr_persistence_1d

__all__ = ["vr_persistence_l1", "vr_persistence"]


def vr_persistence_l1(point_cloud: torch.Tensor, max_dimension: int, max_ball_diameter: float = 0.0):
    """Drop-in replacement for ``torchph.pershom.vr_persistence_l1`` (dimensions 0 and 1).

    Returns ``[[non_essential_dim0, ...], [essential_dim0, ...]]``, one entry per dimension
    up to ``max_dimension``, as torchph does: ``non_essential_dimK`` is an (m, 2) tensor of
    ``(birth, death)`` rows with zero-length pairs dropped, ``essential_dimK`` a (k, 1) tensor
    of the births of the classes that never die (in dimension 0 the one component, plus
    those split by ``max_ball_diameter``; in dimension 1 the loops whose filling triangles are
    longer than it). ``max_ball_diameter`` > 0 leaves longer edges out; 0 means no limit.
    Unlike torchph it runs on the CPU too and needs no compiled extension.

    ``max_dimension=1`` gives the 1-dimensional persistence of the Vietoris-Rips filtration
    with its triangles, as Ripser's ``maxdim=1`` and gudhi do (loops born at an edge, dead at
    a triangle; :func:`corel.topology.h1.vr_persistence_1d`). torchph builds its complex
    only up to simplices of dimension ``max_dimension``, so with 1 it has no triangles and
    reports every cycle as essential; its real loops need ``max_dimension=2`` there.
    """
    return _torchph_structure(point_cloud, max_dimension, max_ball_diameter, precomputed=False)


def vr_persistence(distance_matrix: torch.Tensor, max_dimension: int, max_ball_diameter: float = 0.0):
    """Drop-in replacement for ``torchph.pershom.vr_persistence`` on a distance matrix
    (dimensions 0 and 1; see :func:`vr_persistence_l1`)."""
    return _torchph_structure(distance_matrix, max_dimension, max_ball_diameter, precomputed=True)


def _torchph_structure(x, max_dimension, max_ball_diameter, precomputed):
    if isinstance(max_dimension, bool) or not isinstance(max_dimension, int) or max_dimension < 0:
        raise ValueError(f"'max_dimension' must be an int >= 0. Got {max_dimension!r}.")
    if max_dimension > 1:
        raise NotImplementedError(
            f"corel computes persistence in dimensions 0 and 1; got max_dimension={max_dimension}. "
            "Use max_dimension=0 or 1, or giotto-ph / ripser for higher dimensions.")
    if isinstance(x, torch.Tensor) and x.dim() != 2:
        raise ValueError(f"torchph's API takes a single cloud of shape (N, D) (or an (N, N) matrix); "
                         f"got shape {tuple(x.shape)}. For batches use corel.vr_persistence_0d "
                         f"(or corel.topology.h1.vr_persistence_1d for dimension 1).")
    if max_dimension == 1:
        res, h1 = vr_persistence_1d(x, "l1", precomputed=precomputed, threshold=max_ball_diameter,
                                    n_threads=1)
    else:
        res = vr_persistence_0d(x, "l1", precomputed=precomputed, threshold=max_ball_diameter)
    keep = res.finite & (res.deaths.detach() > 0)
    d = res.deaths[keep]
    non_essential = [torch.stack([torch.zeros_like(d), d], dim=1)]
    essential = [torch.zeros(int(res.n_essential), 1, dtype=d.dtype, device=d.device)]
    if max_dimension == 1:
        keep = h1.deaths.detach() > h1.births.detach()
        non_essential.append(torch.stack([h1.births[keep], h1.deaths[keep]], dim=1))
        essential.append(h1.essential_births[: int(h1.n_essential)].unsqueeze(1))
    return [non_essential, essential]
