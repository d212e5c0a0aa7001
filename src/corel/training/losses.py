"""The connectivity loss of COREL and the reconstruction loss it is paired with."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..branches import split_branches
from .._validation import check_float_tensor, check_positive, metric_to_p
from ..topology.h0 import vr_persistence_0d

__all__ = ["ConnectivityLoss", "DeathStats", "death_stats", "split_branches", "reconstruction_l1", "nt_xent"]


@dataclass(frozen=True)
class DeathStats:
    """Per-branch death-time statistics of one batch, each a detached tensor of shape (branches,).

    ``min`` is the paper's alpha, ``mean`` its epsilon, ``max`` its beta.
    """

    min: torch.Tensor
    mean: torch.Tensor
    max: torch.Tensor

    def as_dict(self, prefix: str = "death") -> dict[str, float]:
        """Scalars for a logger: the mean over branches of each statistic, and their extremes."""
        return {f"{prefix}_min": float(self.min.min()), f"{prefix}_mean": float(self.mean.mean()),
                f"{prefix}_max": float(self.max.max())}


def death_stats(deaths: torch.Tensor) -> DeathStats:
    """Statistics over the last axis of a (..., N-1) death tensor."""
    d = deaths.detach()
    return DeathStats(d.min(-1).values, d.mean(-1), d.max(-1).values)


class ConnectivityLoss(nn.Module):
    """COREL's connectivity loss: sum over 0-dim death times of ``|death - eta|``.

    The (B, D) latent batch is cut into ``n_branches`` slices of D / n_branches dims; each
    branch gets its own Vietoris-Rips persistence (its own MST), its loss is summed over its
    B - 1 death times, and the branch losses are averaged.

    Parameters
    ----------
    eta : float > 0
        The target death time (the paper: 2.0).
    metric : str or float
        The l_p metric ("l1" in the paper).
    n_branches : int >= 1
        Number of independent latent branches (the paper: 16 of 10 dims).

    Attributes
    ----------
    last_stats : DeathStats or None
        Per-branch min / mean / max death time of the last forward call (for logging).

    Examples
    --------
    >>> loss_fn = ConnectivityLoss(eta=2.0, metric="l1", n_branches=16)
    >>> loss = loss_fn(torch.randn(100, 160))
    >>> loss_fn.last_stats.mean.shape
    torch.Size([16])
    """

    def __init__(self, eta: float = 2.0, metric="l1", n_branches: int = 1):
        super().__init__()
        self.eta = check_positive(eta, "eta", "ConnectivityLoss")
        self.p = metric_to_p(metric)
        self.metric = metric
        if isinstance(n_branches, bool) or not isinstance(n_branches, int) or n_branches < 1:
            raise ValueError(f"The 'n_branches' parameter of ConnectivityLoss must be an int >= 1. "
                             f"Got {n_branches!r} instead.")
        self.n_branches = n_branches
        self.last_stats: DeathStats | None = None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = check_float_tensor(z, "z", min_dim=2)
        if z.dim() != 2:
            raise ValueError(f"ConnectivityLoss expects a (batch, latent_dim) tensor; got shape "
                             f"{tuple(z.shape)}. Flatten the latent code first: z.flatten(1).")
        if z.shape[0] < 2:
            raise ValueError(f"ConnectivityLoss needs a batch of at least 2 codes; got {z.shape[0]}.")
        deaths = vr_persistence_0d(split_branches(z, self.n_branches), self.p).deaths  # (branches, B-1)
        self.last_stats = death_stats(deaths)
        return (deaths - self.eta).abs().sum(-1).mean()

    def extra_repr(self) -> str:
        return f"eta={self.eta}, metric={self.metric!r}, n_branches={self.n_branches}"


def reconstruction_l1(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The paper's reconstruction loss: l1 error summed over all pixels, averaged over the batch."""
    if x_hat.shape != x.shape:
        raise ValueError(f"Reconstruction shape {tuple(x_hat.shape)} differs from input shape {tuple(x.shape)}.")
    return (x_hat - x).abs().flatten(1).sum(1).mean()


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """SimCLR's normalised temperature-scaled cross entropy for two views ``a``, ``b`` of a batch.

    Row i of ``a`` and row i of ``b`` are the positive pair; the other 2B - 2 rows are negatives.
    Cosine similarity, so the loss does not see the codes' scale (the connectivity loss sets it).
    """
    if a.shape != b.shape or a.dim() != 2 or a.shape[0] < 2:
        raise ValueError(f"nt_xent expects two (B, D) views with B >= 2; got {tuple(a.shape)} and {tuple(b.shape)}.")
    n = a.shape[0]
    z = torch.nn.functional.normalize(torch.cat([a, b]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return torch.nn.functional.cross_entropy(sim, target)
