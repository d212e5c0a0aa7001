"""Input and parameter checks of the whole package: one place for the error messages.

* tensors for the topology code (:func:`check_float_tensor`, :func:`check_finite`,
  :func:`metric_to_p`);
* codes for the neighbour count and :class:`corel.scoring.detector.CorelDetector`
  (:func:`as_float_tensor`, :func:`check_finite_codes`, :func:`check_n_branches`,
  :func:`check_radius`);
* the detectors' parameters (:func:`check_int`, :func:`check_float`, :func:`check_choice`,
  :func:`check_milestones`, :func:`check_contamination`, :func:`as_device`);
* the baselines' inputs (:func:`check_images`, :func:`check_vectors`), through scikit-learn's
  ``check_array`` so that sparse, complex, NaN and empty inputs get its messages.

A parameter error names the owner, the parameter, the rule and the value.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
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
    if x.device.type == "meta":
        raise ValueError(f"'{name}' is a meta tensor (a shape without values); persistence needs the points' "
                         f"values: create it on 'cpu' or 'cuda'.")
    check_finite(x, name)
    return x


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise with the count and the first positions of NaN / infinite entries."""
    # Fast path: a NaN or an infinity makes the sum non-finite (a finite sum proves every
    # entry finite); only a non-finite sum (possibly a mere overflow) needs the full mask.
    if x.numel() == 0:
        return
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and not x.is_neg():
        with np.errstate(all="ignore"):                         # NumPy: 3x less per-call cost
            if math.isfinite(x.detach().numpy().sum()):
                return
    elif bool(torch.isfinite(x.detach().sum())):
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


def check_choice(value, name: str, choices: Iterable[str], owner: str | None = None) -> str:
    """``value`` if it is one of ``choices``; the message names ``owner`` when given."""
    choices = tuple(choices)
    if value not in choices:
        if owner is None:
            raise ValueError(f"The '{name}' parameter must be one of {list(choices)}. Got {value!r} instead.")
        raise ValueError(f"The '{name}' parameter of {owner} must be one of {sorted(choices)}. "
                         f"Got {value!r} instead.")
    return value


def check_int(value, name: str, owner: str, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"The '{name}' parameter of {owner} must be an int >= {low}. Got {value!r} instead.")


def check_float(value, name: str, owner: str, low: float = 0.0, high: float = math.inf,
                low_open: bool = True, high_open: bool = False) -> None:
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
          and (value > low if low_open else value >= low) and (value < high if high_open else value <= high))
    if not ok:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"The '{name}' parameter of {owner} must be a float in {lo}{low}, {high}{hi}. "
                         f"Got {value!r} instead.")


def check_milestones(value, name: str, owner: str) -> None:
    if not isinstance(value, (tuple, list)) or not all(
            isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 1 for m in value):
        raise ValueError(f"The '{name}' parameter of {owner} must be a tuple of epoch numbers >= 1, e.g. (50,). "
                         f"Got {value!r} instead.")


def check_contamination(value, owner: str) -> None:
    """The expected share of training outliers, in (0, 0.5]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < value <= 0.5):
        raise ValueError(f"The 'contamination' parameter of {owner} must be a float in (0, 0.5]. "
                         f"Got {value!r} instead.")


def as_device(device, owner: str) -> torch.device:
    """``torch.device(device)``, with a message naming the owner when it is not a device."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"The 'device' parameter of {owner} must name a torch device such as "
                         f"'cpu' or 'cuda:0'. Got {device!r} instead.") from err


# --------------------------------------------------------------------------------------------
# Codes: the neighbour count and CorelDetector
# --------------------------------------------------------------------------------------------

def as_float_tensor(a, name: str) -> torch.Tensor:
    """``a`` (tensor or numeric array) as a real float tensor: float16/bfloat16 to float32,
    integers to float64 (exact up to 2**53); bool, complex and non-numeric arrays raise."""
    if isinstance(a, torch.Tensor):
        t = a
    else:
        arr = np.asarray(a)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"'{name}' must be a torch.Tensor or a numeric array; got {type(a).__name__} "
                            f"of dtype {arr.dtype}.")
        t = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"'{name}' must be real numbers; got dtype {t.dtype}.")
    if not t.is_floating_point():
        t = t.to(torch.float64)          # integer codes: float64 holds them exactly up to 2**53
    elif t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t


def check_finite_codes(t: torch.Tensor, name: str) -> None:
    """Raise with the count and the first positions of NaN / infinite codes."""
    if t.numel() == 0:
        return
    lo, hi = torch.aminmax(t)                        # one pass; NaN and inf show up in the extremes
    if math.isfinite(float(lo)) and math.isfinite(float(hi)):
        return
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        n_nan = int(torch.isnan(t).sum())
        where = bad.nonzero()[:3].tolist()
        raise ValueError(f"'{name}' contains {int(bad.sum())} non-finite values ({n_nan} NaN), first at "
                         f"indices {where}. NaN codes usually mean the encoder diverged; check the checkpoint.")


def check_n_branches(n_branches, dim: int, owner: str) -> None:
    """An int >= 1 dividing the latent size ``dim``."""
    if isinstance(n_branches, bool) or not isinstance(n_branches, (int, np.integer)) or n_branches < 1:
        raise ValueError(f"The 'n_branches' parameter of {owner} must be an int >= 1. Got {n_branches!r} instead.")
    if dim % n_branches:
        divisors = [d for d in range(1, dim + 1) if dim % d == 0]
        raise ValueError(f"The latent size D={dim} is not divisible by n_branches={n_branches}; "
                         f"choose n_branches among the divisors of {dim}: {divisors}.")


def check_radius(radius, owner: str) -> None:
    """A finite float > 0."""
    if (isinstance(radius, bool) or not isinstance(radius, (int, float, np.floating, np.integer))
            or not math.isfinite(radius) or radius <= 0):
        raise ValueError(f"The 'radius' parameter of {owner} must be a finite float > 0. Got {radius!r} instead.")


# --------------------------------------------------------------------------------------------
# The baselines' inputs
# --------------------------------------------------------------------------------------------

def check_images(X, owner: str) -> torch.Tensor:
    """``X`` as a float32 CPU tensor (N, C, H, W) in [0, 1]: uint8 images are divided by 255.

    Floats are taken as they are (expected in [0, 1], as ``ImageSet.float_images()`` gives).
    Arrays go through scikit-learn's ``check_array`` first, so sparse, complex, NaN / infinite
    and empty inputs raise its messages; then anything but 4 axes raises.
    """
    if isinstance(X, torch.Tensor):
        x = X.detach().cpu()
    else:
        from sklearn.utils.validation import check_array      # scikit-learn only where it is needed
        arr = check_array(X, accept_sparse=False, dtype="numeric", allow_nd=True, ensure_min_samples=0,
                          ensure_all_finite=True, input_name="X")
        if not (np.issubdtype(arr.dtype, np.number)):
            raise TypeError(f"{owner} expects images as a numeric array or tensor of shape (N, C, H, W); "
                            f"got {type(X).__name__} of dtype {arr.dtype}.")
        arr = np.ascontiguousarray(arr)
        x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if x.dim() != 4:
        raise ValueError(f"{owner} expects images of shape (N, C, H, W); got shape {tuple(x.shape)}. "
                         f"A single image needs a batch axis: x[None].")
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    elif x.is_floating_point():
        x = x.float()
    else:
        raise TypeError(f"{owner} expects uint8 images (0..255) or floats in [0, 1]; got dtype {x.dtype}.")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{owner} got images with {int((~torch.isfinite(x)).sum())} NaN or infinite values.")
    return x.contiguous()


def check_vectors(X, owner: str) -> np.ndarray:
    """``X`` (N, ...) as a float64 (N, D) array; more than 2 axes are flattened (images: pixels).

    uint8 input (images) is divided by 255. Sparse input raises scikit-learn's one-line error
    (densify it with ``X.toarray()``), as do complex, NaN / infinite and 1-D input.
    """
    import scipy.sparse as sp
    from sklearn.utils.validation import check_array

    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if sp.issparse(X):
        check_array(X, accept_sparse=False, input_name="X")         # raises: dense data is required
    arr = np.asarray(X)
    if arr.ndim > 2:
        arr = arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:])))
    if arr.dtype == np.uint8:
        arr = arr / 255.0
    return check_array(arr, dtype=np.float64, ensure_min_samples=0, input_name="X")
