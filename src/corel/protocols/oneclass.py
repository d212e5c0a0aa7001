"""The one-class novelty-detection protocol of COREL (Hofer et al., ICML 2019), on codes.

It works on latent codes, not images, so it does not depend on the model code: encode the
training and test splits once, then call :func:`evaluate_one_class`. :func:`write_results`
turns the result into the per-class table (Markdown, CSV, JSON) and ``summary.json``.
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validation import as_float_tensor as _as_float_tensor
from .._validation import check_finite_codes as _check_finite
from .._validation import check_n_branches as _check_n_branches
from .._validation import check_radius as _check_radius
from ..scoring.counting import count_neighbors
from ..scoring.metrics import auroc_percent

__all__ = ["OneClassResult", "evaluate_one_class", "draw_loop", "CodeScoring", "class_draws", "problem_draws", "reference_terms", "write_results", "HindsightRadius", "hindsight_radius",
           "HINDSIGHT_LABEL"]

HINDSIGHT_LABEL = "radius chosen on the test set (oracle, optimistic)"


@dataclass(frozen=True)
class OneClassResult:
    """AUROCs (x 100) of the one-vs-rest problems, one row per class, one column per draw.

    Attributes
    ----------
    class_names : tuple of str, length C
    classes : ndarray, shape (C,)
        The label value of each class (sorted unique labels).
    auroc : ndarray of float, shape (C, draws)
        AUROC x 100 of class c's problem with the d-th draw of its n training codes.
    n, draws, radius, n_branches, seed : the protocol's settings.
    test_labels : ndarray, shape (Q,)
        The test labels the scores refer to.
    scores_draw0 : ndarray of int, shape (C, Q)
        Raw scores of every test code for each class's problem in draw 0 (for ROC curves).
    """

    class_names: tuple
    classes: np.ndarray
    auroc: np.ndarray
    n: int
    draws: int
    radius: float
    n_branches: int
    seed: int
    test_labels: np.ndarray
    scores_draw0: np.ndarray

    @property
    def per_class_mean(self) -> np.ndarray:
        """(C,) mean AUROC x 100 over the draws."""
        return self.auroc.mean(1)

    @property
    def per_class_std(self) -> np.ndarray:
        """(C,) population std (ddof=0, numpy's default) of the AUROC x 100 over the draws."""
        return self.auroc.std(1)

    @property
    def mean(self) -> float:
        """The headline number: the mean over classes of the per-class mean AUROC x 100."""
        return float(self.per_class_mean.mean())

    @property
    def std(self) -> float:
        """The paper's "+-": the per-class std over draws, averaged over classes."""
        return float(self.per_class_std.mean())

    def per_class(self) -> dict:
        """``{class name: {"mean": ..., "std": ...}}`` in class order."""
        return {name: {"mean": float(m), "std": float(s)}
                for name, m, s in zip(self.class_names, self.per_class_mean, self.per_class_std)}

    def __repr__(self) -> str:
        return (f"OneClassResult(mean_auroc={self.mean:.2f} +- {self.std:.2f}, classes={len(self.class_names)}, "
                f"n={self.n}, draws={self.draws}, radius={self.radius}, n_branches={self.n_branches})")


def evaluate_one_class(train_codes, train_labels, test_codes, test_labels, n: int = 120, draws: int = 5,
                       radius: float = 2.0, n_branches: int = 16, seed: int = 0, class_names=None,
                       *, device=None, chunk_size: int | None = None, scorer=None, train_views=(),
                       test_views=(), problems=None) -> OneClassResult:
    """Run COREL's one-class protocol on precomputed codes.

    For each draw and each class c: n training codes of class c are drawn uniformly without
    replacement, every test code is scored by :func:`corel.scoring.detector.count_neighbors` against them
    (all classes of a draw in one call), and the AUROC of class c vs the rest is
    ``sklearn.metrics.roc_auc_score`` (ties count one half) x 100.

    Parameters
    ----------
    train_codes : array or tensor, shape (N, D)
    train_labels : array, shape (N,)
        Any sortable labels; the classes are the sorted union of training and test labels.
    test_codes : array or tensor, shape (Q, D)
    test_labels : array, shape (Q,)
    n : int, default=120
        Training codes drawn per class and draw (the paper: 120; also 80 and 500).
    draws : int, default=5
        Independent draws per class.
    radius, n_branches : see :func:`corel.scoring.detector.count_neighbors`.
    seed : int, default=0
        Draw d of the class with index c uses ``np.random.default_rng(SeedSequence(seed,
        spawn_key=(c, d)))``, so a class's draws do not depend on the other classes or on
        ``draws``.
    class_names : sequence of str, optional
        One name per class in sorted label order; default ``str(label)``.
    device : str or torch.device, optional
        Where to count (default: CPU, or the device of ``test_codes`` if it is a tensor).
    chunk_size : int, optional
        Passed to :func:`count_neighbors`.
    scorer : corel.scoring.scorer.Scorer, optional
        Another label-free score than the paper's count (soft counts, k-NN distances, other
        branch aggregations, a radius read off the inliers); ``radius`` is then ignored. With
        ``scorer.reference = M``, the reference set is M codes drawn once (seeded, by
        :func:`reference_rng`) from the whole pool ``train_codes``, labels unused: unlabelled
        images of the kind the encoder was trained on, the same for every class and draw.
    train_views, test_views : sequences of codes, optional
        The same images' codes under other views (e.g. horizontal flips), row for row with
        ``train_codes`` / ``test_codes``: every drawn inlier joins in all its views (n x views
        inliers), and a test image's score is the sum of its views' scores (test-time
        augmentation, label-free).
    problems : list of corel.protocols.problems.Problem, optional
        Score each problem's inlier class against its outlier classes only (the novelty protocols
        for scorers without a pool: the count, knn); a class's AUROC per draw is the mean over its
        problems. Default: every class against all others.

    Returns
    -------
    OneClassResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> centers = np.array([[0.0] * 4, [20.0] * 4])
    >>> tr_y, te_y = np.repeat([0, 1], 50), np.repeat([0, 1], 20)
    >>> res = evaluate_one_class(centers[tr_y] + rng.normal(size=(100, 4)), tr_y,
    ...                          centers[te_y] + rng.normal(size=(40, 4)), te_y,
    ...                          n=10, draws=2, n_branches=2)
    >>> round(res.mean, 1)
    100.0
    """
    for value, name, low in ((n, "n", 1), (draws, "draws", 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"The '{name}' parameter of evaluate_one_class must be an int >= {low}. "
                             f"Got {value!r} instead.")
    _check_radius(radius, "evaluate_one_class")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"The 'seed' parameter of evaluate_one_class must be an int >= 0. Got {seed!r} instead.")

    dev = torch.device(device) if device is not None else (
        test_codes.device if isinstance(test_codes, torch.Tensor) else torch.device("cpu"))
    train = _codes(train_codes, "train_codes", dev)
    test = _codes(test_codes, "test_codes", dev)
    if train.shape[1] != test.shape[1]:
        raise ValueError(f"train_codes have latent_dim={train.shape[1]} but test_codes have {test.shape[1]}; "
                         f"encode both with the same model.")
    _check_n_branches(n_branches, train.shape[1], "evaluate_one_class")
    train_extra = [_codes(v, "train_views", dev) for v in train_views]
    test_extra = [_codes(v, "test_views", dev) for v in test_views]
    if any(v.shape != train.shape for v in train_extra) or any(v.shape != test.shape for v in test_extra):
        raise ValueError("Each view must hold the codes of the same images as train_codes / test_codes "
                         "(the same shape, row for row).")
    y_train = _labels(train_labels, "train_labels", train.shape[0])
    y_test = _labels(test_labels, "test_labels", test.shape[0])

    classes = np.unique(np.concatenate([y_train, y_test]))
    if len(classes) < 2:
        raise ValueError(f"The one-vs-rest protocol needs at least 2 classes; the labels hold only {classes.tolist()}.")
    order = np.argsort(y_train, kind="stable")                              # training indices by class
    starts = np.searchsorted(y_train[order], classes, side="left")
    ends = np.searchsorted(y_train[order], classes, side="right")
    members = [order[a:b] for a, b in zip(starts, ends)]                    # ascending within a class
    positives = y_test[None, :] == classes[:, None]                          # (C, Q)
    for c, idx, pos in zip(classes, members, positives):
        if len(idx) < n:
            raise ValueError(f"Class {_show(c)} has {len(idx)} training codes, fewer than n={n} to draw without "
                             f"replacement; lower n or drop the class.")
        if not pos.any():
            raise ValueError(f"Class {_show(c)} has no test samples, so its AUROC is undefined; drop the class.")
    if class_names is None:
        names = tuple(str(c) for c in classes)
    else:
        names = tuple(str(s) for s in class_names)
        if len(names) != len(classes):
            raise ValueError(f"class_names has {len(names)} names but the labels hold {len(classes)} classes "
                             f"({classes.tolist()[:10]}...); give one name per class in sorted label order.")

    if scorer is not None and scorer.radius != "auto":
        radius = float(scorer.radius)
    queries = [test] + test_extra
    if problems is not None:
        rows, auroc, _, _ = problem_draws(problems, classes, y_test, members, [train] + train_extra, queries, n,
                                          draws, seed, n_branches, radius, scorer, chunk_size=chunk_size)
        return OneClassResult(class_names=tuple(names[i] for i in rows), classes=classes[rows], auroc=auroc,
                              n=int(n), draws=int(draws), radius=float(radius), n_branches=int(n_branches),
                              seed=int(seed), test_labels=y_test, scores_draw0=None)
    terms = reference_terms(train, queries, scorer, seed, n_branches)
    auroc, scores0 = class_draws(members, [train] + train_extra, queries, positives, range(len(classes)), n, draws,
                                 seed, n_branches, radius, scorer, terms, chunk_size)
    return OneClassResult(class_names=names, classes=classes, auroc=auroc, n=int(n), draws=int(draws),
                          radius=float(radius), n_branches=int(n_branches), seed=int(seed),
                          test_labels=y_test, scores_draw0=scores0)


def reference_terms(train: torch.Tensor, queries: list, scorer, seed: int, n_branches: int) -> list:
    """Per query view, the scorer's reference term (None each without a pool): the pool is
    ``scorer.reference`` training codes drawn once by :func:`reference_rng`, labels unused."""
    if scorer is None or not scorer.reference:
        return [None] * len(queries)
    pick = reference_rng(seed).choice(train.shape[0], size=min(scorer.reference, train.shape[0]), replace=False)
    reference = train[torch.as_tensor(np.sort(pick), device=train.device)]
    return [scorer.reference_term(q, reference, n_branches) for q in queries]


def draw_loop(members, class_indices, n: int, draws: int, seed: int, scoring, problems_of=None,
              progress=None) -> tuple:
    """The protocol's one loop, for every command and protocol.

    Per draw: n inliers of each class in ``class_indices`` (``members[c]``: the pool indices of class
    c; :func:`draw_rng`, so class c's d-th draw depends on nothing else), ``scoring.prepare(picks)``
    once for the draw (``picks``: (classes, n) pool indices), then for each class's problems
    (``problems_of(c)``; default one, ``None``: the class against all other queries)
    ``scoring.score(state, i, problem)``: ``{name: (targets, values)}``, whose AUROC x 100
    (:func:`corel.scoring.metrics.auroc_percent`) is that problem's entry for the draw.

    ``progress``: called with a line after each draw.

    Returns (``jobs``: the (class position, problem) pairs in row order; ``{name: AUROC (jobs, draws)}``;
    ``{name: {row: draw-0 values}}``).
    """
    chosen = list(class_indices)
    jobs = [(i, p) for i, c in enumerate(chosen) for p in (problems_of(c) if problems_of else (None,))]
    auroc: dict = {}
    first: dict = {}
    for d in range(draws):
        picks = np.stack([members[c][draw_rng(seed, c, d).choice(len(members[c]), size=n, replace=False)]
                          for c in chosen])                                   # (classes, n)
        state = scoring.prepare(picks)
        for row, (i, p) in enumerate(jobs):
            for name, (targets, values) in scoring.score(state, i, p).items():
                auroc.setdefault(name, np.empty((len(jobs), draws)))[row, d] = auroc_percent(targets, values)
                if d == 0:
                    first.setdefault(name, {})[row] = values
        if progress:
            progress(f"draw {d + 1} of {draws} done")
    return jobs, auroc, first


class CodeScoring:
    """Scores of every query against each class's drawn inliers (in every view), views summed: the
    paper's count at ``radius``, or ``scorer`` with its pool terms ``terms`` (one per query view);
    normality, higher = more normal. A problem scores its own queries (:meth:`Problem.query_mask` of
    ``query_labels``); without one, class position i is scored against all others (``positives[i]``:
    which queries are of that class)."""

    def __init__(self, train_views: list, queries: list, n_branches: int, radius: float = 2.0, scorer=None,
                 terms=None, chunk_size=None, positives=None, query_labels=None):
        self.train_views, self.queries, self.n_branches = train_views, queries, n_branches
        self.radius, self.scorer, self.chunk_size = radius, scorer, chunk_size
        self.terms = [None] * len(queries) if terms is None else terms
        self.positives, self.query_labels = positives, query_labels

    def prepare(self, picks: np.ndarray) -> np.ndarray:
        idx = torch.as_tensor(picks, device=self.train_views[0].device)
        inliers = torch.cat([v[idx] for v in self.train_views], dim=1)        # (classes, n x views, D)
        if self.scorer is None or self.scorer.is_paper:
            r = self.radius if self.scorer is None else float(self.scorer.radius)
            scores = sum(count_neighbors(q, inliers, self.n_branches, r, self.chunk_size) for q in self.queries)
            return scores.cpu().numpy().astype(_score_dtype(self.n_branches * inliers.shape[1] * len(self.queries)))
        return sum(self.scorer.score(q, inliers, self.n_branches, reference_term=t)
                   for q, t in zip(self.queries, self.terms)).cpu().numpy()

    def score(self, scores: np.ndarray, i: int, problem) -> dict:
        if problem is None:
            return {"score": (self.positives[i], scores[i])}
        mask = problem.query_mask(self.query_labels)
        return {"score": (self.query_labels[mask] == problem.inlier, scores[i][mask])}


def class_draws(members, train_views: list, queries: list, positives: np.ndarray, class_indices, n: int, draws: int,
                seed: int, n_branches: int, radius: float = 2.0, scorer=None, terms=None, chunk_size=None):
    """:func:`draw_loop` for the classes ``class_indices``, each against all other queries, scored by
    :class:`CodeScoring` (the count at ``radius``, or ``scorer``). Returns (AUROC x 100, shape
    (classes, draws); the scores of draw 0, shape (classes, Q)). ``members[c]``: the training indices of
    class c; ``positives[c]``: which queries are of class c; ``terms``: :func:`reference_terms` of the queries."""
    chosen = list(class_indices)
    scoring = CodeScoring(train_views, queries, n_branches, radius, scorer, terms, chunk_size,
                          positives=[positives[c] for c in chosen])
    jobs, auroc, first = draw_loop(members, chosen, n, draws, seed, scoring)
    return auroc["score"], np.stack([first["score"][row] for row in range(len(jobs))])


def problem_draws(problems, classes, y_test, members, train_views, queries, n, draws, seed, n_branches,
                  radius=2.0, scorer=None, terms=None, chunk_size=None):
    """:func:`draw_loop` over ``problems``, each on its own queries (its inlier and outlier classes), scored by
    :class:`CodeScoring`; per inlier class, the mean over its problems. ``terms``: :func:`reference_terms` of all
    queries, where a pool holds every class (the standard protocol). Returns (class indices, AUROC x 100 of
    shape (classes, draws), the first problem's draw-0 scores, the query indices they belong to)."""
    if scorer is not None and scorer.reference and terms is None:
        raise ValueError("A scorer with a pool scores the novelty protocols through corel.protocols.problems."
                         "run_problems, which draws each problem's pool without its outlier classes.")
    index = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    for p in problems:
        unknown = [c for c in (p.inlier, *p.outliers) if c not in index]
        if unknown:
            raise ValueError(f"A problem names class label(s) {unknown} that the codes' labels do not hold.")
    by_class: dict[int, list] = {}
    for p in problems:
        by_class.setdefault(index[p.inlier], []).append(p)
    rows = sorted(by_class)
    scoring = CodeScoring(train_views, queries, n_branches, radius, scorer, terms, chunk_size, query_labels=y_test)
    jobs, auroc, first = draw_loop(members, rows, n, draws, seed, scoring, problems_of=by_class.get)
    per_class = np.stack([auroc["score"][[j for j, (i, _) in enumerate(jobs) if i == r]].mean(0)
                          for r in range(len(rows))])
    p0 = problems[0]
    row0 = next(j for j, (_, p) in enumerate(jobs) if p is p0)
    return rows, per_class, first["score"][row0], np.flatnonzero(p0.query_mask(y_test))


def draw_rng(seed: int, class_index: int, draw: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(class_index), int(draw))))


def reference_rng(seed: int) -> np.random.Generator:
    """The generator of the unlabelled reference draw: its own stream, apart from every (class, draw)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(2**31 - 1,)))


def _score_dtype(max_score: int):
    return np.int16 if max_score <= np.iinfo(np.int16).max else np.int32 if max_score <= np.iinfo(np.int32).max \
        else np.int64


def _codes(a, name: str, device) -> torch.Tensor:
    t = _as_float_tensor(a, name)
    if t.dim() != 2:
        raise ValueError(f"'{name}' must be a 2-D (n_samples, latent_dim) array; got shape {tuple(t.shape)}.")
    if t.shape[0] == 0:
        raise ValueError(f"'{name}' is empty.")
    t = t.detach().to(device)
    _check_finite(t, name)
    return t


def _labels(a, name: str, length: int) -> np.ndarray:
    y = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if y.ndim != 1 or y.shape[0] != length:
        raise ValueError(f"'{name}' must be a 1-D array with one label per code ({length}); got shape {y.shape}.")
    return y


# --------------------------------------------------------------------------------------------
# Result files
# --------------------------------------------------------------------------------------------

def write_results(result: OneClassResult, out_dir, meta: dict | None = None, *, save_scores: bool = True) -> dict:
    """Write the per-class table and the summary of ``result`` into ``out_dir``.

    Files: ``per_class.md``, ``per_class.csv``, ``per_class.json`` (one row per class: mean,
    std and every draw, AUROC x 100), ``summary.json`` (``mean_auroc``, ``std_auroc``,
    ``per_class``, ``n``, ``draws``, ``radius``, ``n_branches``, ``seed``, ``n_classes``,
    ``n_test``, plus every key of ``meta``, e.g. dataset and checkpoint) and, with
    ``save_scores``, ``scores_draw0.npz`` (``scores`` (C, Q), ``test_labels``, ``classes``) for
    ROC curves.

    Returns
    -------
    dict mapping a short name ("markdown", "csv", "json", "summary", "scores") to its Path.
    """
    meta = dict(meta or {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draw_cols = [f"draw_{d}" for d in range(result.draws)]
    rows = [{"class": name, "mean": float(m), "std": float(s), **dict(zip(draw_cols, map(float, row)))}
            for name, m, s, row in zip(result.class_names, result.per_class_mean, result.per_class_std,
                                       result.auroc)]
    paths = {"markdown": out / "per_class.md", "csv": out / "per_class.csv", "json": out / "per_class.json",
             "summary": out / "summary.json"}

    header = ["class", "mean", "std", *draw_cols]
    scored = (f", scorer: {meta['scorer']}" if meta.get("scorer") else "") + \
        (f", test-time views: {meta['tta']}" if meta.get("tta") else "")   # which settings these numbers are of
    lines = [f"AUROC x 100, n={result.n}, {result.draws} draws, radius={result.radius:g}, "
             f"{result.n_branches} branches{scored}", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([r["class"]] + [f"{r[k]:.2f}" for k in header[1:]]) + " |" for r in rows]
    lines.append("| **mean** | **{:.2f}** | {:.2f} |".format(result.mean, result.std) + " |" * result.draws)
    paths["markdown"].write_text("\n".join(lines) + "\n")

    with open(paths["csv"], "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    paths["json"].write_text(json.dumps(rows, indent=2) + "\n")

    summary = {"mean_auroc": result.mean, "std_auroc": result.std, "per_class": result.per_class(),
               "n": result.n, "draws": result.draws, "radius": result.radius, "n_branches": result.n_branches,
               "seed": result.seed, "n_classes": len(result.class_names), "n_test": int(len(result.test_labels))}
    clash = sorted(set(summary) & set(meta))
    if clash:
        raise ValueError(f"meta keys {clash} would overwrite the computed summary fields; rename them.")
    summary.update(meta)
    paths["summary"].write_text(json.dumps(summary, indent=2, default=_json_default) + "\n")

    if save_scores:
        paths["scores"] = out / "scores_draw0.npz"
        labels = result.test_labels
        np.savez_compressed(paths["scores"], scores=result.scores_draw0,
                            test_labels=labels if labels.dtype != object else labels.astype(str),
                            classes=result.classes if result.classes.dtype != object else result.classes.astype(str),
                            class_names=np.asarray(result.class_names))
    return paths


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        v = float(obj)
        return v if math.isfinite(v) else str(v)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path, os.PathLike)):
        return os.fspath(obj)
    return str(obj)


def _show(label) -> str:
    """A label as a user wrote it: 2, 'cat' (not np.int64(2))."""
    return repr(label.item() if isinstance(label, np.generic) else label)


@dataclass(frozen=True)
class HindsightRadius:
    """AUROC x 100 per (radius, class), and the radius that maximises the mean over classes.

    ``best_radius`` was chosen with the test labels: an oracle (see ``label``).
    """

    radii: np.ndarray            # (R,)
    class_names: tuple           # (C,)
    auroc: np.ndarray            # (R, C) mean over draws
    label: str = HINDSIGHT_LABEL

    @property
    def mean_per_radius(self) -> np.ndarray:
        return self.auroc.mean(1)

    @property
    def best_index(self) -> int:
        return int(np.argmax(self.mean_per_radius))

    @property
    def best_radius(self) -> float:
        return float(self.radii[self.best_index])

    @property
    def best_mean(self) -> float:
        return float(self.mean_per_radius[self.best_index])

    @property
    def best_per_class(self) -> np.ndarray:
        return self.auroc[self.best_index]


def hindsight_radius(train_codes, train_labels, test_codes, test_labels, radii=None, n: int = 120,
                     draws: int = 5, n_branches: int = 16, seed: int = 0, class_names=None) -> HindsightRadius:
    """Run the one-class protocol at every radius; pick the best mean AUROC with the test labels.

    Parameters
    ----------
    train_codes, train_labels, test_codes, test_labels, n, draws, n_branches, seed, class_names
        As :func:`corel.protocols.oneclass.evaluate_one_class` (the same draws at every radius).
    radii : sequence of float, optional
        Default :func:`radius_grid` of the training codes, plus the paper's 2.0.

    Returns
    -------
    HindsightRadius
    """
    from ..baselines.plain_ae import radius_grid   # here: the baselines package imports scikit-learn
    if radii is None:
        radii = np.unique(np.append(radius_grid(train_codes, n_branches, seed=seed), 2.0))
    radii = np.asarray(radii, dtype=np.float64)
    if radii.ndim != 1 or len(radii) == 0:
        raise ValueError(f"'radii' must be a non-empty 1-D sequence of floats > 0; got {radii!r}.")
    rows, names = [], None
    for r in radii:
        res = evaluate_one_class(train_codes, train_labels, test_codes, test_labels, n=n, draws=draws,
                                 radius=float(r), n_branches=n_branches, seed=seed, class_names=class_names)
        rows.append(res.per_class_mean)
        names = res.class_names
    return HindsightRadius(radii=radii, class_names=names, auroc=np.stack(rows))
