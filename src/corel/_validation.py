"""Input checks shared by the public functions: one place for the error messages."""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch

# Names a user may pass as ``metric``; values are the p of the l_p norm.
METRICS = {"l1": 1.0, "manhattan": 1.0, "cityblock": 1.0, "l2": 2.0, "euclidean": 2.0,
           "linf": math.inf, "chebyshev": math.inf}


def metric_to_p(metric, owner: str = "metric") -> float:
    """Turn a metric name or a number p >= 1 into the p of an l_p norm."""
    if isinstance(metric, bool):
        raise TypeError(f"The '{owner}' parameter must be a metric name or a number p >= 1. Got {metric!r}.")
    if isinstance(metric, str):
        key = metric.lower()
        if key.startswith("l") and key[1:].replace(".", "", 1).isdigit():
            return metric_to_p(float(key[1:]), owner)
        if key not in METRICS:
            raise ValueError(
                f"The '{owner}' parameter must be one of {sorted(METRICS)} or a number p >= 1 "
                f"(also 'l3', 'l1.5', ...). Got {metric!r} instead.")
        return METRICS[key]
    if isinstance(metric, (int, float)):
        p = float(metric)
        if not (p >= 1.0):
            raise ValueError(
                f"The '{owner}' parameter as a number must be p >= 1 (p < 1 is not a metric). "
                f"Got {metric!r} instead.")
        return p
    raise TypeError(f"The '{owner}' parameter must be a metric name or a number p >= 1. Got {type(metric).__name__}.")


def check_float_tensor(x, name: str, min_dim: int) -> torch.Tensor:
    """A real floating tensor with at least ``min_dim`` dimensions and only finite values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"'{name}' must be a torch.Tensor; got {type(x).__name__}. "
                        f"Convert with torch.as_tensor(x, dtype=torch.float32).")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"'{name}' must have a real floating dtype (float16/32/64, bfloat16); "
                        f"got {x.dtype}. Convert with x.float() or x.double().")
    if x.dim() < min_dim:
        raise ValueError(f"'{name}' must have at least {min_dim} dimensions; got shape {tuple(x.shape)}.")
    check_finite(x, name)
    return x


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise with the count and the first positions of NaN / infinite entries."""
    # Fast path: a NaN or an infinity makes the sum non-finite (a finite sum proves every
    # entry finite); only a non-finite sum (possibly a mere overflow) needs the full mask.
    if x.numel() == 0 or bool(torch.isfinite(x.detach().sum())):
        return
    bad = ~torch.isfinite(x.detach())
    if bool(bad.any()):
        where = bad.nonzero()[:5].tolist()
        n_nan = int(torch.isnan(x.detach()).sum())
        raise ValueError(
            f"'{name}' contains {int(bad.sum())} non-finite values ({n_nan} NaN, "
            f"{int(bad.sum()) - n_nan} infinite), first at indices {where}. "
            f"Remove or impute them before computing persistence.")


def check_positive(value, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0) or not math.isfinite(value):
        raise ValueError(f"The '{name}' parameter of {owner} must be a finite float > 0. Got {value!r} instead.")
    return float(value)


def check_choice(value, name: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"The '{name}' parameter must be one of {list(choices)}. Got {value!r} instead.")
    return value
