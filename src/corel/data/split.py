"""The validation hold-out inside a training split: the same images for every run and seed.

Hyper-parameters beyond the paper are chosen on it: models are trained on the rest of the
training split, n inliers per class are drawn from the rest, and the held-out images are
scored one vs rest. The test split is never looked at while choosing.
"""
from __future__ import annotations

import torch

__all__ = ["holdout_split", "HOLDOUT_SEED"]

HOLDOUT_SEED = 20190609   # fixed and independent of the training seed: every run holds out the same images


def holdout_split(n_total: int, holdout: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, held_out) index tensors, both sorted: ``holdout`` images drawn uniformly at random."""
    if not 0 <= holdout < n_total:
        raise ValueError(f"Cannot hold out {holdout} of {n_total} training images; choose 0 <= holdout < "
                         f"{n_total} (e.g. --holdout 5000 for CIFAR-10).")
    perm = torch.randperm(n_total, generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    return perm[holdout:].sort().values, perm[:holdout].sort().values
