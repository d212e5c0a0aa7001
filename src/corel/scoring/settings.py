"""How codes are scored, in words: the settings of :class:`corel.scoring.scorer.Scorer` as every
command and the API spell them, in one table.

The same names are ``corel evaluate`` / ``corel score`` flags (``--scorer knn-mean --k 5``),
``CorelDetector`` parameters (``scorer="knn-mean", k=5``), keys of a scorer string (``corel compare
--beyond-scorer knn-mean,k=5``) and ``corel score``'s options: :func:`scorer_fields` turns them into
the Scorer's fields. No torch here, so that the command line's parser reads this table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

__all__ = ["Setting", "SETTINGS", "SCORER_NAMES", "AGGREGATES", "POOL_RULES", "PAPER", "default_pool_rule", "scorer_fields",
           "parse_scorer_text", "parse_radius"]

SCORER_NAMES = ("count", "soft", "knn-mean", "knn-kth")
AGGREGATES = ("sum", "mean", "max", "median")
# How a reference pool enters a knn score (see corel.scoring.pool_rules): "ratio" divides by the distance to
# the pool everywhere; "clip" caps that distance at the inliers' own median distance to the pool, so a
# query farther from the pool than the inliers are is judged by its distance to the inliers alone;
# "fused" scores a stack of two encoders (corel stack): the first's knn distance plus the second's
# ratio, each standardised by the inliers' own scores.
POOL_RULES = ("ratio", "clip", "fused")


def default_pool_rule(stack_split: int) -> str:
    """The pool rule `corel score` and ``CorelDetector`` use unless told: ``fused`` for a stack of two
    encoders (``stack_split``: the first one's branches, 0 for one encoder), else ``clip``; both
    safe when the pool lacks the novelty (``results/novelty-unseen``)."""
    return "fused" if stack_split else "clip"


def parse_radius(text) -> float | str:
    """A radius > 0, or ``"auto"`` (read off the inliers' death times)."""
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number > 0 or 'auto'; got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"expected a number > 0 or 'auto'; got {text!r}")
    return value


@dataclass(frozen=True)
class Setting:
    """One scoring setting: its name (flag, parameter and key), the paper's value, how text reads."""

    name: str
    default: object
    parse: Callable
    help: str
    choices: tuple | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS = (
    Setting("scorer", "count", str, "per-branch normality: the paper's count in the l1 ball, a soft (Laplace) "
            "count, or minus the mean / k-th l1 distance to the k nearest inliers", SCORER_NAMES),
    Setting("radius", 2.0, parse_radius, "l1 ball radius per branch (eta) of count and soft, or 'auto' (a quantile "
            "of the inliers' own death times)"),
    Setting("radius_quantile", 0.5, float, "with radius auto: the quantile of the inliers' death times"),
    Setting("k", 5, int, "neighbours of the knn scorers"),
    Setting("aggregate", "sum", str, "how branch scores are combined (the paper: sum)", AGGREGATES),
    Setting("pool_rule", "ratio", str, "with a reference pool: ratio divides by the distance to the pool "
            "everywhere (sharpest when the pool holds the novelty's kind, blind when it does not); clip caps that "
            "distance at the inliers' median, so an image far from the pool is judged by its distance to the "
            "inliers alone (safe when the pool lacks the novelty); fused, for a stack of two encoders: the first "
            "one's knn distance plus the second one's ratio, each standardised by the inliers' own scores", POOL_RULES),
)
PAPER = {s.name: s.default for s in SETTINGS}      # the paper's score: the count at radius 2, summed


def scorer_fields(scorer: str = "count", radius=2.0, radius_quantile: float = 0.5, k: int = 5,
                  aggregate: str = "sum", pool_rule: str = "ratio", reference: int = 0, fuse_at: int = 0) -> dict:
    """The :class:`~corel.scoring.scorer.Scorer` fields of the settings in words (``reference``: the
    pool's size, 0 without one; ``fuse_at``: the first encoder's branches, for ``fused``); the Scorer
    checks their values."""
    if scorer not in SCORER_NAMES:
        raise ValueError(f"Unknown scorer {scorer!r}; choose one of {list(SCORER_NAMES)}.")
    kind, _, k_stat = scorer.partition("-")
    return {"kind": kind, "radius": parse_radius(radius), "radius_quantile": float(radius_quantile), "k": k,
            "k_stat": k_stat or "mean", "aggregate": aggregate, "reference": reference, "pool_rule": pool_rule,
            "fuse_at": fuse_at}


def parse_scorer_text(text: str) -> dict:
    """``"knn-mean,k=5,aggregate=sum"`` -> settings in words (the first part is the scorer; ``reference=M``:
    a pool of M codes)."""
    first, *pairs = [t.strip() for t in text.split(",") if t.strip()] or ["count"]
    by_name = {s.name: s for s in SETTINGS} | {"reference": Setting("reference", 0, int, "pool size")}
    words = {"scorer": first}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or key not in by_name or key == "scorer":
            raise ValueError(f"A scorer string is SCORER[,key=value...] with keys {list(by_name)[1:]}; got {pair!r}.")
        try:
            words[key] = by_name[key].parse(value)
        except ValueError as err:
            raise ValueError(f"{key}: {err}") from None
    return words
