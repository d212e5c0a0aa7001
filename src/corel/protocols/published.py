"""The published numbers of COREL (Hofer et al., ICML 2019, and the authors' result notebooks), to print beside ours.

Mean AUROC x 100 over classes, lambda = 20, 16 x 10 branches, radius 2, from the authors'
result notebook; std (over the 5 draws, averaged over classes) where it was published.
"""
from __future__ import annotations

# (autoencoder trained on, evaluated on, n) -> (mean, std or None)
ONE_CLASS = {
    ("cifar10", "cifar10", 120): (75.96, 0.65),
    ("cifar10", "cifar20", 120): (72.31, 0.81),
    ("cifar10", "cifar100", 120): (79.39, None),
    ("cifar10", "tinyimagenet", 120): (72.57, None),
    ("cifar10", "imagenet", 120): (72.24, 1.50),
    ("cifar10", "cifar10", 500): (78.05, None),
    ("cifar100", "cifar10", 120): (75.49, 0.59),
    ("cifar100", "cifar20", 120): (72.64, None),
    ("cifar100", "cifar100", 120): (79.83, None),
    ("cifar100", "tinyimagenet", 120): (72.23, None),
    ("cifar100", "imagenet", 120): (72.11, 1.51),
    ("tinyimagenet", "cifar10", 120): (74.42, None),
    ("tinyimagenet", "cifar20", 120): (71.67, None),
    ("tinyimagenet", "cifar100", 120): (78.76, None),
    ("tinyimagenet", "tinyimagenet", 120): (72.84, None),
    ("tinyimagenet", "imagenet", 120): (71.98, None),
}

# The plain autoencoder (lambda = 0): "stays near 50-57 whatever the radius".
PLAIN_AE_RANGE = (50.0, 57.0)

# Ablation, AE on CIFAR-100 evaluated on CIFAR-10, n = 120, radius 2: (branches, dims) -> {lambda: AUROC}
ABLATION = {
    (16, 10): {0: 54.67, 1: 70.92, 10: 75.45, 20: 76.00, 40: 74.76},
    (32, 10): {0: 53.32, 1: 70.59, 10: 76.73, 20: 76.27, 40: 75.33},
    (8, 20): {0: 50.51, 1: 69.74, 10: 73.90, 20: 74.58, 40: 71.10},
    (32, 5): {0: 54.02, 1: 69.98, 10: 72.25, 20: 73.89, 40: 74.45},
    (1, 160): {0: 50.00, 1: 64.49, 10: 64.54, 20: 63.30, 40: 63.13},
}
SAMPLE_SIZE = {10: 66.1, 50: 73.2, 120: 76.0, 500: 77.6, 5000: 78.1}
RADIUS = {0.5: 50.0, 1.0: 55.0, 1.5: 72.1, 2.0: 76.0, 2.25: 76.4, 3.0: 74.6, 5.0: 66.1}

# The data set families a loader name belongs to, for looking up the table above.
FAMILY = {"cifar10": "cifar10", "cifar10-jpeg": "cifar10", "cifar20": "cifar20", "cifar100": "cifar100",
          "tinyimagenet": "tinyimagenet", "imagenet": "imagenet"}


def published(trained_on: str, evaluated_on: str, n: int, lam: float = 20.0):
    """(mean, std) of the paper for this setting, or None when it was not published."""
    if lam != 20.0:
        return None
    key = (FAMILY.get(trained_on), FAMILY.get(evaluated_on), n)
    return ONE_CLASS.get(key)
