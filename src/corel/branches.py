"""The latent code as the connectivity loss sees it: ``n_branches`` consecutive equal slices.

One cut for training (the loss), scoring (per-branch distances) and the pool rules, so that a
branch means the same coordinates everywhere.
"""
from __future__ import annotations

import torch

__all__ = ["split_branches"]


def split_branches(z: torch.Tensor, n_branches: int) -> torch.Tensor:
    """Cut (N, D) codes into ``n_branches`` equal slices: (n_branches, N, D / n_branches), a view."""
    n, d = z.shape
    if d % n_branches:
        raise ValueError(f"The latent size D={d} is not divisible by n_branches={n_branches}; "
                         f"choose n_branches among the divisors of {d}.")
    return z.reshape(n, n_branches, d // n_branches).transpose(0, 1)
