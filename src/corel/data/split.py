"""The validation hold-out inside a training split: the same images for every run and seed.

Hyper-parameters beyond the paper are chosen on it: models are trained on the rest of the
training split, n inliers per class are drawn from the rest, and the held-out images are
scored one vs rest. The test split is never looked at while choosing.
"""
from __future__ import annotations

import torch

from .base import ImageSet

__all__ = ["holdout_split", "class_subset", "HOLDOUT_SEED"]

HOLDOUT_SEED = 20190609   # fixed and independent of the training seed: every run holds out the same images


def holdout_split(n_total: int, holdout: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, held_out) index tensors, both sorted: ``holdout`` images drawn uniformly at random."""
    if not 0 <= holdout < n_total:
        raise ValueError(f"Cannot hold out {holdout} of {n_total} training images; choose 0 <= holdout < "
                         f"{n_total} (e.g. --holdout 5000 for CIFAR-10).")
    perm = torch.randperm(n_total, generator=torch.Generator().manual_seed(HOLDOUT_SEED))
    return perm[holdout:].sort().values, perm[:holdout].sort().values


def class_subset(data: ImageSet, names) -> ImageSet:
    """The images of the classes ``names`` (labels and class list unchanged, so codes keep their labels).

    Labels only select the images here: the protocols of unseen novelty train an encoder on some
    classes and score others it never saw.
    """
    names = list(names)
    unknown = [c for c in names if c not in data.classes]
    if unknown:
        raise ValueError(f"Unknown class name(s) {unknown} for data set {data.name or '?'}; "
                         f"its classes are {list(data.classes)}.")
    keep = torch.isin(data.labels, torch.tensor([data.classes.index(c) for c in names]))
    if not bool(keep.any()):
        raise ValueError(f"No image of the classes {names} in data set {data.name or '?'}.")
    return data.subset(keep)
