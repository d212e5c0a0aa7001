"""End-to-end jobs: evaluate a checkpoint with the paper's protocol, reproduce a paper setting,
and the quick-start demo. Each hands plain values to the modules that do the work.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .codes import checkpoint_digest
from .published import published

__all__ = ["EvalSpec", "evaluate_checkpoint", "evaluate_never_trained", "protocol_name", "protocol_codes", "format_demo_table", "reproduce", "demo", "format_table", "PROFILES"]


@dataclass
class EvalSpec:
    """What `corel evaluate` needs besides the checkpoint."""

    dataset: str = "cifar10-jpeg"     # evaluation set (a corel.data name)
    data_root: str | None = None
    ns: tuple = (120,)                 # inliers drawn per class (paper: 120; also 80, 500)
    draws: int = 5                     # fresh draws per class (paper: 5)
    radius: float = 2.0                # closed l1 ball per branch (paper: eta = 2)
    seed: int = 0
    batch_size: int = 1000             # images per encoder call
    device: str | None = None
    progress: bool = True              # progress bars while encoding
    scorer: object = None              # a corel.scoring.scorer.Scorer; None = the paper's count at ``radius``
    tta: str = "off"                   # test-time views (corel.scoring.views.TTA_MODES): "flips" also scores the images
                                       # mirrored, "flips-shifts" mirrored and shifted by 2 pixels; inliers join in
                                       # every view, a query's score is the sum over its views (True = "flips")
    protocol: str = "test"             # "test" (the paper's) or "validation": inliers from the training
                                       # split minus a hold-out, the hold-out scored (needs the model's
                                       # own --holdout, so that it never trained on those images)
    novelty: str = "standard"          # corel.protocols.problems.PROTOCOLS: which outliers, which pool
    rotations: int = 3                 # pool-without: left-out sets per class


def evaluate_checkpoint(checkpoint, spec: EvalSpec, out_dir, trained_on: str | None = None,
                        cache_dir=None) -> list[dict]:
    """Run the one-class protocol for every n of ``spec`` with the model of ``checkpoint``.

    Writes ``out_dir/n<N>/`` (per-class tables, summary.json, AUROC bars, ROC curves) and
    returns the summaries. Codes are cached in ``cache_dir`` (default ``out_dir/codes/``) under
    the checkpoint's digest (see :mod:`corel.protocols.codes`).
    """
    from .. import plots
    from .oneclass import evaluate_one_class, write_results
    from ..training.checkpoints import load_checkpoint, load_model

    out = Path(out_dir)
    ck = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    n_branches = ck["model_args"]["n_branches"]
    if spec.scorer is not None and spec.scorer.pool_rule == "fused":   # where this model's stack is cut
        from ..training.models import stack_split
        spec = replace(spec, scorer=replace(spec.scorer, fuse_at=stack_split(ck["model_name"], ck["model_args"])))
        spec.scorer.fused_parts(n_branches)    # a model that is no stack of two: one line, before any work
    cache = cache_dir or out / "codes"
    train_codes, train_y, test_codes, test_y, classes = protocol_codes(checkpoint, model, ck, spec, cache)
    from ..scoring.views import tta_views
    extra_views = tta_views(spec.tta)[1:]                                  # the first is "identity"
    encoded = [protocol_codes(checkpoint, model, ck, spec, cache, view=v) for v in extra_views]
    views = dict(train_views=[e[0] for e in encoded], test_views=[e[2] for e in encoded])
    trained_on = trained_on or ck["config"].get("dataset", "?")
    lam = float(ck["config"].get("lam", 20.0))
    summaries = []
    problems = _problems(spec, ck, classes, train_y)
    for n in spec.ns:
        t0 = time.perf_counter()
        if problems is None or not _knn_sum(spec):
            # the paper's loop; in a novelty protocol each class on its problems' queries (no pool to draw)
            res = evaluate_one_class(train_codes, train_y, test_codes, test_y, n=n, draws=spec.draws,
                                     radius=spec.radius, n_branches=n_branches, seed=spec.seed,
                                     class_names=classes, device=spec.device, scorer=spec.scorer,
                                     problems=None if spec.novelty == "standard" else problems, **views)
        else:
            res = _run_problems(train_codes, train_y, test_codes, test_y, problems, spec, n, n_branches, classes,
                                **views)
        pub = published(trained_on, spec.dataset, n, lam)
        meta = {"dataset": spec.dataset, "checkpoint": str(checkpoint), "checkpoint_sha256": checkpoint_digest(checkpoint),
                "protocol": protocol_name(spec.protocol, spec.novelty), "novelty": spec.novelty,
                "trained_on": trained_on, "trained_classes": _trained_classes(ck, classes), "lam": lam,
                "pool": _pool_description(spec),
                "scorer": spec.scorer.describe() if spec.scorer is not None else "count (the paper)",
                "tta": ", ".join(extra_views) or None,
                "published_mean_auroc": (pub[0] if pub and spec.protocol == "test" and spec.scorer is None
                                         and not extra_views and spec.novelty == "standard" else None),
                "seconds": round(time.perf_counter() - t0, 2)}
        if spec.novelty == "pool-without":
            meta["rotations"] = spec.rotations
        sub = out / f"n{n}"
        write_results(res, sub, meta, save_scores=res.scores_draw0 is not None)
        plots.plot_auroc_bars(res, sub / "auroc_per_class.png")
        if res.scores_draw0 is not None:
            plots.plot_roc_curves(res.test_labels, res.scores_draw0, res.class_names, sub / "roc_curves.png",
                                  classes=res.classes)
        else:   # a folder reused from a protocol that scored every query: its scores are not these settings'
            for stale in ("scores_draw0.npz", "roc_curves.png"):
                (sub / stale).unlink(missing_ok=True)
        summaries.append(json.loads((sub / "summary.json").read_text()))
    return summaries


def evaluate_never_trained(checkpoints, spec: EvalSpec, out_dir, halves=None, cache_dir=None) -> list[dict]:
    """The never-trained protocol: two models trained on complementary halves of the classes.

    Each model scores each class it trained on against the classes it never saw (its pool: the
    unlabelled training images of its own classes); ``out_dir/model-<half>/`` holds each model's
    results, ``out_dir/n<N>/`` all classes together. ``halves``: a file naming the halves (see
    :func:`corel.protocols.problems.read_halves`) that the models' ``--train-classes`` must match.
    """
    import numpy as np
    from ..training.checkpoints import load_checkpoint
    from .oneclass import OneClassResult, write_results
    from .problems import read_halves
    if len(checkpoints) != 2:
        raise ValueError(f"--novelty never-trained takes the two half-class models; got {len(checkpoints)}.")
    trained = [_trained_classes(load_checkpoint(c), None) for c in checkpoints]
    for c, names in zip(checkpoints, trained):
        if not names:
            raise ValueError(f"{c} trained on every class; the never-trained protocol needs models trained with "
                             f"--train-classes on complementary halves.")
    if set(trained[0]) & set(trained[1]):
        raise ValueError(f"The two models both trained on {sorted(set(trained[0]) & set(trained[1]))}: their "
                         f"--train-classes must be disjoint halves.")
    if halves is not None:
        named = read_halves(halves, sorted(set(trained[0]) | set(trained[1])))
        if sorted(map(sorted, named.values())) != sorted(map(sorted, trained)):
            raise ValueError(f"The models trained on {trained[0]} and {trained[1]}, but {halves} names the halves "
                             f"{list(named['A'])} and {list(named['B'])}.")
    out = Path(out_dir)
    parts = []
    for tag, ckpt in zip("AB", checkpoints):
        parts.append(evaluate_checkpoint(ckpt, spec, out / f"model-{tag}",
                                         cache_dir=cache_dir or out / "codes"))
    summaries = []
    for i, n in enumerate(spec.ns):
        rows = [r for tag in "AB" for r in json.loads((out / f"model-{tag}" / f"n{n}" / "per_class.json").read_text())]
        auroc = np.array([[r[f"draw_{d}"] for d in range(spec.draws)] for r in rows])
        first = parts[0][i]
        res = OneClassResult(class_names=tuple(r["class"] for r in rows), classes=np.arange(len(rows)), auroc=auroc,
                             n=int(n), draws=spec.draws, radius=float(spec.radius), n_branches=first["n_branches"],
                             seed=spec.seed, test_labels=np.zeros(first["n_test"], dtype=np.int64), scores_draw0=None)
        meta = {k: first[k] for k in ("dataset", "protocol", "novelty", "trained_on", "lam", "scorer", "tta", "pool")}
        meta.update(checkpoint=[str(c) for c in checkpoints], trained_classes=trained,
                    checkpoint_sha256=[p[i]["checkpoint_sha256"] for p in parts], published_mean_auroc=None,
                    seconds=round(sum(p[i]["seconds"] for p in parts), 2))
        write_results(res, out / f"n{n}", meta, save_scores=False)
        summaries.append(json.loads((out / f"n{n}" / "summary.json").read_text()))
    return summaries


def protocol_name(split_protocol: str, novelty: str) -> str:
    """The ``protocol`` field of a summary: "test" / "validation" for the standard protocol, else with
    the novelty protocol appended ("test-pool-without", "validation-never-trained")."""
    return split_protocol if novelty == "standard" else f"{split_protocol}-{novelty}"


def _trained_classes(ck: dict, classes) -> list | None:
    names = [c.strip() for c in str(ck["config"].get("train_classes", "") or "").split(",") if c.strip()]
    return names or None


def _pool_description(spec: EvalSpec) -> str | None:
    scorer = spec.scorer
    if scorer is None or not getattr(scorer, "reference", 0):
        return None
    if spec.novelty == "standard":
        return f"{scorer.reference} unlabelled training images of every class (drawn once)"
    if spec.novelty == "pool-without":
        return (f"{scorer.reference} unlabelled training images, equally from the inlier class and the other "
                f"classes that are not the outliers (the outlier classes are never in the pool)")
    return f"{scorer.reference} unlabelled training images, equally from the classes the encoder trained on"


def _problems(spec: EvalSpec, ck: dict, classes, train_y):
    """The problem list of the protocol, or None for the paper's loop (count and other non-knn scorers)."""
    from .problems import PROTOCOLS, never_trained_problems, pool_without_problems, standard_problems
    if spec.novelty not in PROTOCOLS:
        raise ValueError(f"Unknown novelty protocol {spec.novelty!r}; choose one of {list(PROTOCOLS)}.")
    labels = sorted(set(torch.as_tensor(train_y).tolist()))
    if spec.novelty == "standard":
        return standard_problems(labels) if _knn_sum(spec) else None
    if spec.scorer is not None and spec.scorer.reference:
        from ..scoring.pool_rules import rule_of
        rule_of(spec.scorer)   # a pool needs the protocols' knn loop: a one-line error for other scorers
    if spec.novelty == "pool-without":
        return pool_without_problems(labels, spec.rotations)
    trained = _trained_classes(ck, classes)
    if not trained:
        raise ValueError("The never-trained protocol needs a model trained on some classes only "
                         "(corel train --train-classes ...); this one trained on every class.")
    return never_trained_problems([list(classes).index(c) for c in trained], labels)


def _knn_sum(spec: EvalSpec) -> bool:
    """Whether the novelty protocols' knn loop (corel.protocols.problems, CPU kernels) scores this spec."""
    return spec.scorer is not None and spec.scorer.kind == "knn" and spec.scorer.aggregate == "sum" \
        and str(spec.device or "cpu") == "cpu"


def _run_problems(train_codes, train_y, test_codes, test_y, problems, spec: EvalSpec, n: int, n_branches: int,
                  classes, train_views=(), test_views=()):
    """The protocol's problems through corel.protocols.problems, as a OneClassResult (rotations averaged per draw)."""
    from ..scoring.pool_rules import rule_of
    from .problems import run_problems
    res = run_problems(train_codes, train_y, test_codes, test_y, problems, {"rule": rule_of(spec.scorer)},
                       n=n, draws=spec.draws, seed=spec.seed, n_branches=n_branches, k=spec.scorer.k,
                       kth=spec.scorer.k_stat == "kth", reference=spec.scorer.reference,
                       pool_views=train_views, query_views=test_views)
    return res.one_class_result("rule", classes, test_y, n=n, draws=spec.draws, seed=spec.seed,
                                n_branches=n_branches, radius=spec.radius)


def protocol_codes(checkpoint, model, ck: dict, spec: EvalSpec, cache_dir, view: str = "identity"):
    """(inlier pool codes, their labels, scored codes, their labels, class names) of a protocol.

    "test": the paper's (inliers from the training split, the test split scored).
    "validation": inliers from the training split minus the model's hold-out, the hold-out scored.
    """
    from .codes import encode_split
    from ..data import holdout_split
    image_size = int(ck["model_args"].get("image_size", ck["config"].get("image_size", 32)))
    common = dict(model=model, image_size=image_size, batch_size=spec.batch_size, device=spec.device,
                  progress=spec.progress, view=view)
    train = encode_split(checkpoint, spec.dataset, "train", spec.data_root, cache_dir, **common)
    if spec.protocol == "test":
        test = encode_split(checkpoint, spec.dataset, "test", spec.data_root, cache_dir, **common)
        return train.codes, train.labels, test.codes, test.labels, train.classes
    if spec.protocol != "validation":
        raise ValueError(f"Unknown protocol {spec.protocol!r}; choose 'test' or 'validation'.")
    holdout = int(ck["config"].get("holdout", 0))
    if holdout < 1:
        raise ValueError(f"Checkpoint {checkpoint} was trained without a hold-out (--holdout 0): it has seen every "
                         f"training image, so the validation protocol would score training data. Train with "
                         f"--holdout 5000 (or evaluate with --protocol test).")
    kept, held = holdout_split(len(train.labels), holdout)
    return train.codes[kept], train.labels[kept], train.codes[held], train.labels[held], train.classes


def format_table(summaries: list[dict]) -> str:
    """A Markdown table: ours beside the published number, one row per (data set, n)."""
    lines = ["| trained on | evaluated on | lambda | n | ours (mean +- std) | published |",
             "|---|---|---|---|---|---|"]
    for s in summaries:
        pub = s.get("published_mean_auroc")
        lines.append(f"| {s.get('trained_on')} | {s.get('dataset')} | {s.get('lam', '')} | {s['n']} | "
                     f"{s['mean_auroc']:.2f} +- {s['std_auroc']:.2f} | {pub if pub is not None else '-'} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- reproduce
# Training overrides per profile. "quick" finishes in minutes on a 2-core CPU; "full" is the paper.
PROFILES = {
    "quick": dict(epochs=2, max_steps=400),
    "full": dict(),
}
SETTINGS = {  # name -> (training data set, evaluation data set)
    "cifar10": ("cifar10-jpeg", "cifar10-jpeg"),
    "cifar10-pickle": ("cifar10", "cifar10"),
    "cifar100-on-cifar10": ("cifar100", "cifar10"),
}


def reproduce(setting: str, profile: str, out_dir, data_root: str | None = None, eval_root: str | None = None,
              checkpoint: str | None = None, lam: float = 20.0, ns=(120,), draws: int = 5, seed: int = 0,
              threads: int = 0, progress: bool = True) -> list[dict]:
    """Train (or load ``checkpoint``) and evaluate a named setting of the paper; returns summaries."""
    from ..training.engine import TrainConfig, train
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting {setting!r}; choose one of {sorted(SETTINGS)}.")
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; choose one of {sorted(PROFILES)}.")
    train_set, eval_set = SETTINGS[setting]
    out = Path(out_dir)
    if checkpoint is None:
        cfg = TrainConfig.from_dict(dict(dataset=train_set, data_root=data_root, lam=float(lam), seed=seed,
                                         out_dir=str(out / "train"), threads=threads, progress_bar=progress,
                                         **PROFILES[profile]))
        checkpoint = train(cfg)
    if profile == "quick":
        draws = min(draws, 2)
    spec = EvalSpec(dataset=eval_set, data_root=eval_root if eval_root is not None else data_root,
                    ns=tuple(ns), draws=draws, seed=seed, progress=progress)
    return evaluate_checkpoint(checkpoint, spec, out / "eval", trained_on=train_set)


# ----------------------------------------------------------------------------- quick-start demo
DEMO_RADII = (0.5, 1.0, 2.0, 4.0, 8.0)


def demo(out_dir, epochs: int = 30, n: int = 100, draws: int = 5, seed: int = 0, threads: int = 0,
         radii=DEMO_RADII, progress: bool = True) -> list[dict]:
    """The quick start's main job on scikit-learn's digits (ships with the install, no download).

    Trains the paper's autoencoder (1 channel, 32 x 32, 16 x 10) with lambda = 20 and, for
    contrast, with lambda = 0, then runs the one-class protocol on the digits test split at
    several radii (folders ``lam20`` and ``lam0``, with ``-seedS`` for a seed S other than 0):
    what the connectivity loss buys is a radius that works without tuning (its
    death times sit at eta), not a higher peak. Summaries carry ``radius`` and ``median_death``.
    """
    from ..training.engine import TrainConfig, train
    out = Path(out_dir)
    summaries = []
    for lam in (20.0, 0.0):
        # Each seed its own folders: another seed is another model, never a resume of this one's.
        tag = f"lam{lam:g}" + (f"-seed{seed}" if seed else "")
        cfg = TrainConfig.from_dict(dict(dataset="digits", lam=lam, epochs=epochs, seed=seed, threads=threads,
                                         out_dir=str(out / tag / "train"), progress_bar=progress, hist_batches=5))
        ckpt = train(cfg)
        deaths = torch.load(out / tag / "train" / "deaths_end.pt", weights_only=True)
        spread = [float(deaths.quantile(q)) for q in (0.1, 0.5, 0.9)]
        for r in radii:
            spec = EvalSpec(dataset="digits", ns=(n,), draws=draws, seed=seed, radius=float(r), progress=progress)
            for summary in evaluate_checkpoint(ckpt, spec, out / tag / "eval" / f"radius{r:g}", trained_on="digits",
                                               cache_dir=out / tag / "eval" / "codes"):
                summaries.append({**summary, "median_death": spread[1], "death_10_90": (spread[0], spread[2])})
    return summaries


def format_demo_table(summaries: list[dict]) -> str:
    """Both models' AUROC at every radius, their median death time, and how to read it."""
    if not summaries:
        return "(no results)"
    radii = sorted({s["radius"] for s in summaries})
    lines = ["| model | death time: median (10-90 %) | " + " | ".join(f"r = {r:g}" for r in radii) + " |",
             "|---|---|" + "---|" * len(radii)]
    for lam in sorted({s["lam"] for s in summaries}, reverse=True):
        rows = {s["radius"]: s for s in summaries if s["lam"] == lam}
        name = f"COREL (lambda = {lam:g})" if lam > 0 else "plain autoencoder (lambda = 0)"
        first = next(iter(rows.values()))
        lo, hi = first.get("death_10_90", (math.nan, math.nan))
        cells = [f"{rows[r]['mean_auroc']:.1f}" if r in rows else "-" for r in radii]
        lines.append(f"| {name} | {first['median_death']:.2f} ({lo:.2f}-{hi:.2f}) | " + " | ".join(cells) + " |")
    lines += ["", _how_to_read(summaries)]
    return "\n".join(lines)


def _how_to_read(summaries: list[dict]) -> str:
    """One paragraph under the demo table, written from the numbers it explains."""
    def best(lam):
        rows = [s for s in summaries if s["lam"] == lam]
        top = max(rows, key=lambda s: s["mean_auroc"])
        return rows[0]["median_death"], top["radius"], top["mean_auroc"]
    n = summaries[0]["n"]
    d_c, r_c, a_c = best(max(s["lam"] for s in summaries))
    d_p, r_p, a_p = best(0.0)
    near = abs(d_p - 2.0) < 0.75
    return (f"Mean one-class AUROC x 100 on the digits test split, n = {n} inliers per class. How to read it: the "
            f"connectivity loss sets COREL's nearest-neighbour distances (median death time {d_c:.2f}) to eta = 2, "
            f"so the count at radius 2 is meant to work without tuning (its best radius here: {r_c:g}, {a_c:.1f}). "
            f"The plain autoencoder's scale (median death time {d_p:.2f}) is set by nothing but its training; "
            + (f"on digits it happens to lie near eta, so it scores {'as well or better' if a_p >= a_c - 0.5 else 'well'} "
               f"here (best {a_p:.1f} at radius "
               f"{r_p:g}). That is luck, not design: on CIFAR-10 the plain autoencoder's death times also have a "
               f"median near 2 but spread from 0.25 to 7, and it scores 57.0 against COREL's 75.9 at radius 2 "
               f"(README, Results)."
               if near else
               f"its best radius here is {r_p:g} ({a_p:.1f}), which a one-class user could only find with labels."))
