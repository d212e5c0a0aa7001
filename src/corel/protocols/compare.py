"""`corel compare`: COREL beside the baselines and the published numbers, class by class.

For each chosen method and each class c of the evaluation set, a detector is trained on
inliers of class c and scores the whole test split (one vs rest, ``sklearn.metrics.
roc_auc_score``, x 100). One table (Markdown, CSV, JSON) and one grouped-bar plot result.

Who gets which training data
----------------------------
* ``corel``, ``plain-ae``, ``plain-ae-hindsight``: COREL's protocol (Hofer et al., ICML 2019): the
  autoencoder is trained once without labels (``--checkpoint`` with lambda = 20,
  ``--plain-checkpoint`` with lambda = 0); per class, n training images are drawn ``draws``
  times and counted against. ``plain-ae-hindsight`` reports the best radius of a grid *chosen
  on the test set* (an oracle; labelled so).
* every other baseline, ``train_size="full"`` (default): the whole training split of the class,
  as each baseline's paper does (the paper's comparison); ``train_size="n"``: the same n images
  as COREL's draw d (d < ``baseline_draws``), the fair low-data comparison.
* ``ocsvm-codes`` / ``kde-codes`` work on the latent codes of ``--checkpoint`` (COREL's
  encoder); the other baselines on pixels.

Profiles
--------
``full`` are the papers' settings (a GPU's work: GEOM's WRN-16-8 alone needs days per class
on a CPU); ``cpu`` shortens the deep methods' training so that all ten CIFAR-10 classes fit in
about 3.6 CPU-hours (2 hours on 2 cores; see ``PROFILES``; the table states each method's
epochs); ``smoke`` is for tests only. ``overrides`` (``--set geom.depth=10``) change any detector parameter.

Resuming
--------
Every finished (method, class) cell is written to ``out_dir/cells/<method>/<class>.json``
(with its scores in a ``.npz`` beside it) and skipped when the command runs again with the same
settings; a cell made with other settings raises instead of being mixed into the table.
``--table-only`` (``table_only=True``) trains nothing and writes the table of the finished
cells, the others marked "not run" (a mean over fewer classes says how many, e.g. "(6/10)").
"""
from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_file, atomic_write_text
from .._cells import load_cell, store_cell
from ..baselines import (DAGMMDetector, DeepSVDDDetector, DivergedError, DSEBMDetector, GeomDetector,
                        KDEDetector, OCSVMDetector)
from ..baselines.plain_ae import radius_grid
from ..scoring.metrics import auroc_percent
from .oneclass import HINDSIGHT_LABEL, problem_draws
from .published import FAMILY, PLAIN_AE_RANGE, published

__all__ = ["CompareSpec", "compare", "METHODS", "PROFILES", "PUBLISHED_BASELINES", "format_compare_table",
           "NOVELTY_PROTOCOLS"]

# The protocols of corel.protocols.problems that compare runs (never-trained needs an encoder per half).
NOVELTY_PROTOCOLS = ("standard", "pool-without")

log = logging.getLogger("corel.protocols.compare")

# ----------------------------------------------------------------------------- the methods

# Mean AUROC x 100 as each baseline's own paper reports it (CIFAR-10; GEOM
# also on the CIFAR-100 superclasses). Text as published; "~65" and "62-65" are ranges there.
PUBLISHED_BASELINES = {
    "cifar10": {"plain-ae": f"{PLAIN_AE_RANGE[0]:g}-{PLAIN_AE_RANGE[1]:g}",
                "plain-ae-hindsight": f"{PLAIN_AE_RANGE[0]:g}-{PLAIN_AE_RANGE[1]:g}",
                "ocsvm-pixels": "62-65", "kde-pixels": "~65", "dagmm": "53.1", "dsebm": "60.9",
                "deep-svdd": "64.8", "geom": "86.0"},
    "cifar20": {"geom": "78.7"},
}


@dataclass(frozen=True)
class Method:
    """One column of the comparison."""

    title: str
    kind: str                    # "count" (COREL's protocol on a checkpoint), "pixels" or "codes"
    factory: type | None = None  # the detector class (pixels / codes)
    defaults: dict = field(default_factory=dict)   # fixed parameters of this variant


METHODS = {
    "corel": Method("COREL (lambda=20)", "count"),
    "corel-beyond": Method("COREL, beyond the paper (its recipe and scorer)", "count"),
    "plain-ae": Method("plain AE (lambda=0), r=2", "count"),
    "plain-ae-hindsight": Method("plain AE (lambda=0), best r on test set", "count"),
    "ocsvm-pixels": Method("OC-SVM, pixels", "pixels", OCSVMDetector),
    "ocsvm-codes": Method("OC-SVM, COREL codes", "codes", OCSVMDetector, {"preprocess": "none"}),
    "kde-pixels": Method("KDE, pixels", "pixels", KDEDetector),
    "kde-codes": Method("KDE, COREL codes", "codes", KDEDetector, {"preprocess": "none"}),
    "deep-svdd": Method("Deep SVDD, one-class", "pixels", DeepSVDDDetector, {"objective": "one-class"}),
    "deep-svdd-soft": Method("Deep SVDD, soft-boundary", "pixels", DeepSVDDDetector,
                             {"objective": "soft-boundary"}),
    "dsebm": Method("DSEBM", "pixels", DSEBMDetector),
    "dagmm": Method("DAGMM", "pixels", DAGMMDetector),
    "geom": Method("GEOM (ADT)", "pixels", GeomDetector),
}


@dataclass(frozen=True)
class Plan:
    """How a profile runs one method: detector parameters, caps on training / test images."""

    params: dict = field(default_factory=dict)
    max_train: int | None = None     # "full" training: a seeded random subset of at most this many
    max_test: int | None = None      # a stratified seeded subset of the test split


_CPU_SVDD = dict(ae_epochs=5, ae_milestones=(), epochs=5, milestones=())
PROFILES = {
    # The papers' settings (see each detector's docstring); a GPU's work. One thread of our
    # 2-core CPU would need per class about 4 h for each Deep SVDD variant, 1.5 h for DSEBM,
    # 1 h for DAGMM and 76 h for GEOM's WRN-16-8.
    "full": {},
    # The deep methods' schedules truncated (same learning rates and batch sizes); GEOM with a
    # WRN-10-1, one epoch over 1000 training images x 72 transformations, scored on 2000
    # stratified test images. CPU time of one thread per CIFAR-10 class (measured per image):
    # OC-SVM / KDE on pixels ~1 min each (mostly the PCA), each Deep SVDD variant ~5 min, DSEBM
    # ~2.5 min, DAGMM ~2 min, GEOM ~6 min, COREL and the codes methods seconds: ~22 min per
    # class, ~3.6 h for the 10 classes (two processes with --threads 1 on disjoint --methods
    # halve the wall time on 2 cores; a last run without --methods restriction writes the table).
    "cpu": {
        "deep-svdd": Plan(_CPU_SVDD),
        "deep-svdd-soft": Plan(dict(_CPU_SVDD, warm_up_epochs=1)),
        "dsebm": Plan(dict(epochs=5)),
        "dagmm": Plan(dict(epochs=5)),
        "geom": Plan(dict(depth=10, widen_factor=1, epochs=1), max_train=1000, max_test=2000),
    },
    # Seconds on tiny data; for tests and trying the command out, not for numbers.
    "smoke": {
        "kde-pixels": Plan(dict(cv=2)), "kde-codes": Plan(dict(cv=2)),
        "deep-svdd": Plan(dict(ae_epochs=1, epochs=1, ae_milestones=(), milestones=(), channels=(4, 8, 16),
                               batch_size=64)),
        "deep-svdd-soft": Plan(dict(ae_epochs=1, epochs=2, ae_milestones=(), milestones=(), channels=(4, 8, 16),
                                    batch_size=64, warm_up_epochs=1)),
        "dsebm": Plan(dict(epochs=1, width=8, rep_dim=32, batch_size=64)),
        "dagmm": Plan(dict(epochs=1, width=8, batch_size=64)),
        "geom": Plan(dict(depth=10, widen_factor=1, epochs=1, batch_size=128), max_train=16, max_test=60),
    },
}


# ----------------------------------------------------------------------------- the spec

@dataclass
class CompareSpec:
    """What `corel compare` runs."""

    dataset: str = "cifar10-jpeg"          # evaluation set (a corel.data name)
    data_root: str | None = None
    methods: tuple = None                  # names in METHODS, table order; None: all but corel-beyond
                                           # (which is added when beyond_checkpoint is given)
    profile: str = "cpu"                   # "cpu", "full" or "smoke"
    classes: tuple | None = None           # class names or indices; None: all
    train_size: str = "full"               # baselines on the whole class ("full") or COREL's n inliers ("n")
    n: int = 120                           # COREL's inliers per class and draw (paper: 120)
    draws: int = 5                         # COREL's draws per class (paper: 5)
    baseline_draws: int = 1                # with train_size="n": baseline fits on draws 0..k-1
    radius: float = 2.0                    # COREL's ball radius (paper: 2)
    checkpoint: str | None = None          # COREL autoencoder (lambda=20): corel, *-codes
    plain_checkpoint: str | None = None    # lambda=0 autoencoder: plain-ae, plain-ae-hindsight
    beyond_checkpoint: str | None = None   # a model of another recipe: corel-beyond
    beyond_scorer: dict | None = None      # corel.scoring.scorer.Scorer fields for corel-beyond (None: the count)
    beyond_tta: str = "off"                # corel-beyond's test-time views (corel.scoring.views.TTA_MODES; True =
                                           # "flips"): inliers join in every view, a query's views' scores added
    image_size: int = 32                   # images resized to this side (the protocol: 32)
    seed: int = 0
    device: str | None = None
    threads: int = 0                       # torch.set_num_threads (0: leave)
    overrides: tuple = ()                  # "method.param=value" strings
    table_only: bool = False               # compute nothing: the table of the finished cells
    novelty: str = "standard"              # "standard" (every other class, the pool holds all) or "pool-without"
    rotations: int = 3                     # pool-without: left-out class sets per class


def default_methods(beyond_checkpoint=None) -> tuple:
    """Every method; corel-beyond only when its checkpoint is given."""
    return tuple(m for m in METHODS if m != "corel-beyond" or beyond_checkpoint is not None)


def _check_spec(spec: CompareSpec) -> tuple[list[str], dict]:
    if isinstance(spec.methods, str):
        raise TypeError("CompareSpec.methods must be a sequence of method names, not a string.")
    methods = list(dict.fromkeys(default_methods(spec.beyond_checkpoint) if spec.methods is None else spec.methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"Unknown method(s) {unknown or '(none given)'}; choose among {list(METHODS)} (or 'all').")
    if spec.profile not in PROFILES:
        raise ValueError(f"Unknown profile {spec.profile!r}; choose one of {sorted(PROFILES)}.")
    if spec.train_size not in ("full", "n"):
        raise ValueError(f"train_size must be 'full' (the whole training split of a class, as the baselines' "
                         f"papers) or 'n' (COREL's n inliers); got {spec.train_size!r}.")
    for name in ("n", "draws", "baseline_draws", "image_size"):
        v = getattr(spec, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be an int >= 1; got {v!r}.")
    if spec.novelty not in NOVELTY_PROTOCOLS:
        raise ValueError(f"Unknown novelty protocol {spec.novelty!r} for `corel compare`; choose one of "
                         f"{list(NOVELTY_PROTOCOLS)} (never-trained needs two encoders: `corel evaluate --novelty "
                         f"never-trained`).")
    if isinstance(spec.rotations, bool) or not isinstance(spec.rotations, int) or spec.rotations < 1:
        raise ValueError(f"--rotations must be an int >= 1; got {spec.rotations!r}.")
    if not (isinstance(spec.radius, (int, float)) and math.isfinite(spec.radius) and spec.radius > 0):
        raise ValueError(f"--radius must be a finite number > 0; got {spec.radius!r}.")
    needs = {"checkpoint": [m for m in methods if m == "corel" or METHODS[m].kind == "codes"],
             "plain_checkpoint": [m for m in methods if m.startswith("plain-ae")],
             "beyond_checkpoint": [m for m in methods if m == "corel-beyond"]}
    from ..scoring.views import tta_views
    tta_views(spec.beyond_tta)              # an unknown mode is one line before anything runs
    if spec.beyond_scorer is not None:
        from ..scoring.scorer import Scorer
        try:
            Scorer(**spec.beyond_scorer)
        except TypeError as err:
            raise ValueError(f"--beyond-scorer: {err}; keys are radius, radius_quantile, k, aggregate.") from None
    for attr, which in needs.items():
        if which and getattr(spec, attr) is None:
            flag = "--" + attr.replace("_", "-")
            raise ValueError(f"Method(s) {which} need {flag} (a model.pt from `corel train"
                             f"{' --lam 0' if attr == 'plain_checkpoint' else ''}`); pass it or leave them out "
                             f"with --methods.")
    return methods, _parse_overrides(spec.overrides, methods)


def _parse_overrides(overrides, methods) -> dict:
    """``("geom.depth=10", ...)`` -> ``{"geom": {"depth": 10}}``, checked against the detector."""
    import yaml
    out: dict = {}
    for text in overrides:
        key, sep, raw = str(text).partition("=")
        method, dot, param = key.strip().partition(".")
        if not sep or not dot or not param:
            raise ValueError(f"An override must look like METHOD.PARAM=VALUE (e.g. geom.depth=10); got {text!r}.")
        if method not in METHODS:
            raise ValueError(f"Override {text!r} names unknown method {method!r}; choose among {list(METHODS)}.")
        factory = METHODS[method].factory
        if factory is None:
            raise ValueError(f"Method {method!r} has no detector parameters to override (use --radius, --n, "
                             f"--draws).")
        allowed = sorted(factory().get_params())
        if param not in allowed:
            raise ValueError(f"Override {text!r}: {factory.__name__} has no parameter {param!r}; "
                             f"its parameters are {allowed}.")
        value = yaml.safe_load(raw)
        out.setdefault(method, {})[param] = tuple(value) if isinstance(value, list) else value
    return out


# ----------------------------------------------------------------------------- running

def compare(spec: CompareSpec, out_dir) -> dict:
    """Run (or resume) the comparison; write the table and the plot; return the table as a dict.

    Files in ``out_dir``: ``compare.md``, ``compare.csv``, ``compare.json``, ``compare.png``,
    and ``cells/<method>/<class index>.json`` (+ ``.npz`` scores) per finished cell.
    """
    from ..data import load_dataset

    methods, overrides = _check_spec(spec)
    if spec.threads > 0:
        torch.set_num_threads(spec.threads)
    out = Path(out_dir)
    train = load_dataset(spec.dataset, "train", root=spec.data_root, image_size=spec.image_size)
    test = load_dataset(spec.dataset, "test", root=spec.data_root, image_size=spec.image_size)
    y_train, y_test = train.labels.numpy(), test.labels.numpy()
    classes = np.unique(np.concatenate([y_train, y_test]))
    names = [train.classes[int(c)] for c in classes]
    chosen = _select_classes(spec.classes, names)
    for ci in chosen:
        if not np.any(y_test == classes[ci]):
            raise ValueError(f"Class {names[ci]!r} has no test images, so its AUROC is undefined; leave it out.")

    ctx = _Context(spec, out, train, test, classes, names, overrides)
    done = reused = 0
    total = len(methods) * len(chosen)
    for method in methods:
        for ci in chosen:
            cell = ctx.cell_path(method, ci)
            fingerprint = ctx.fingerprint(method, ci)
            if not cell.exists() and spec.table_only:
                continue
            if load_cell(cell, fingerprint, key="fingerprint") is not None:
                reused += 1
                continue
            t0 = time.perf_counter()
            result = ctx.run_cell(method, ci)
            result.update(fingerprint=fingerprint, method=method, class_name=names[ci],
                          seconds=round(time.perf_counter() - t0, 2))
            store_cell(cell, result)
            done += 1
            value = "diverged" if result["status"] == "diverged" else f"{result['auroc']:.2f}"
            log.info("[%d/%d] %s, class %s: %s (%.0f s)", done + reused, total, method, names[ci], value,
                     result["seconds"])
    table = _assemble(ctx, methods, chosen)
    table.update(cells_computed=done, cells_reused=reused)
    _write_table(table, out)
    return table


def _select_classes(tokens, names) -> list[int]:
    if tokens is None:
        return list(range(len(names)))
    out = []
    for tok in tokens:
        t = str(tok).strip()
        if t in names:
            out.append(names.index(t))
        elif t.isdigit() and int(t) < len(names):
            out.append(int(t))
        else:
            raise ValueError(f"Unknown class {t!r}; give class names {names[:12]}{'...' if len(names) > 12 else ''} "
                             f"or indices 0..{len(names) - 1}.")
    if not out:
        raise ValueError("--classes selects no class.")
    return list(dict.fromkeys(out))


class _Context:
    """The data, codes and settings shared by the cells of one run."""

    def __init__(self, spec, out, train, test, classes, names, overrides):
        self.spec, self.out, self.train, self.test = spec, out, train, test
        self.classes, self.names, self.overrides = classes, names, overrides
        self.y_train, self.y_test = train.labels.numpy(), test.labels.numpy()
        self.members = [np.flatnonzero(self.y_train == c) for c in classes]
        self._codes: dict = {}
        self._digests: dict = {}
        self._models: dict = {}
        self._grid = None

    # ---- settings ---------------------------------------------------------------------------

    def plan(self, method: str) -> Plan:
        return PROFILES[self.spec.profile].get(method, Plan())

    def params(self, method: str) -> dict:
        m = METHODS[method]
        params = {**m.defaults, **self.plan(method).params, **self.overrides.get(method, {})}
        if m.factory is not None:
            accepted = m.factory().get_params()
            if "device" in accepted and self.spec.device is not None:
                params.setdefault("device", self.spec.device)
            params.setdefault("random_state", self.spec.seed)
        return params

    def fingerprint(self, method: str, ci: int) -> dict:
        s, m, plan = self.spec, METHODS[method], self.plan(method)
        fp = {"method": method, "dataset": s.dataset, "image_size": s.image_size, "class": self.names[ci],
              "seed": s.seed}
        if s.novelty != "standard":          # standard cells keep their earlier fingerprints
            fp.update(novelty=s.novelty, rotations=s.rotations)
        if m.kind == "count":
            ck = self.count_checkpoint(method)
            fp.update(checkpoint=os.fspath(ck), checkpoint_sha256=self.digest(ck), n=s.n, draws=s.draws,
                      radius=s.radius)
            if method == "corel-beyond":
                fp.update(scorer=self.beyond_scorer().as_dict(), tta=list(self.beyond_views()[1:]))
        else:
            params = {k: v for k, v in self.params(method).items() if k != "device"}   # where != what
            fp.update(params=_jsonable(params), train_size=s.train_size,
                      max_train=plan.max_train, max_test=plan.max_test)
            if s.train_size == "n":
                fp.update(n=s.n, baseline_draws=s.baseline_draws)
            if m.kind == "codes":
                fp.update(checkpoint=os.fspath(s.checkpoint), checkpoint_sha256=self.digest(s.checkpoint))
        return fp

    def count_checkpoint(self, method: str):
        s = self.spec
        return {"corel": s.checkpoint, "corel-beyond": s.beyond_checkpoint}.get(method, s.plain_checkpoint)

    def beyond_scorer(self):
        from ..scoring.scorer import Scorer
        return Scorer(**(self.spec.beyond_scorer or {}))

    def digest(self, checkpoint) -> str:
        """The checkpoint's content digest: a model retrained in place is another model."""
        key = os.fspath(checkpoint)
        if key not in self._digests:
            from .codes import checkpoint_digest
            self._digests[key] = checkpoint_digest(checkpoint)
        return self._digests[key]

    def cell_path(self, method: str, ci: int) -> Path:
        return self.out / "cells" / method / f"{ci:03d}.json"

    # ---- inputs -----------------------------------------------------------------------------

    def codes(self, which: str):
        """(train codes, test codes, n_branches, config) of ``checkpoint`` or ``plain_checkpoint``."""
        if which not in self._codes:
            from .codes import encode_split
            from ..training.checkpoints import load_checkpoint
            path = self.checkpoint_of(which)
            ck = load_checkpoint(path)
            size = ck["model_args"].get("image_size", ck.get("config", {}).get("image_size"))
            if size is not None and int(size) != self.spec.image_size:
                raise ValueError(f"Checkpoint {path} expects {size} x {size} images but --image-size is "
                                 f"{self.spec.image_size}; pass --image-size {size}.")
            model = self.model_of(which)
            out = [encode_split(path, self.spec.dataset, split, self.spec.data_root, self.out / "codes", model=model,
                                image_size=self.spec.image_size, device=self.spec.device, progress=False,
                                data=data).codes
                   for split, data in (("train", self.train), ("test", self.test))]
            self._codes[which] = (out[0], out[1], int(ck["model_args"]["n_branches"]), ck.get("config", {}))
        return self._codes[which]

    def checkpoint_of(self, which: str):
        """The checkpoint of ``which``: "corel", "beyond" or (anything else) the plain autoencoder."""
        return {"corel": self.spec.checkpoint, "beyond": self.spec.beyond_checkpoint}.get(
            which, self.spec.plain_checkpoint)

    def model_of(self, which: str):
        """The model of ``which``, read once for all its views."""
        if which not in self._models:
            from ..training.checkpoints import load_model
            self._models[which] = load_model(self.checkpoint_of(which))
        return self._models[which]

    def beyond_views(self) -> tuple:
        from ..scoring.views import tta_views
        return tta_views(self.spec.beyond_tta)

    def view_codes(self, which: str, view: str):
        """(train codes, test codes) of the images seen in ``view`` (test-time augmentation)."""
        key = f"{which}:{view}"
        if key not in self._codes:
            from .codes import encode_split
            path = self.checkpoint_of(which)
            model = self.model_of(which)
            self._codes[key] = tuple(
                encode_split(path, self.spec.dataset, split, self.spec.data_root, self.out / "codes", model=model,
                             image_size=self.spec.image_size, device=self.spec.device, progress=False, data=data,
                             view=view).codes
                for split, data in (("train", self.train), ("test", self.test)))
        return self._codes[key]

    def reference_terms(self, which: str, scorer, views: list) -> list:
        """Per view, the scorer's reference term of the test codes (None without a reference): the
        reference is drawn from the training codes as corel.protocols.oneclass draws it, once per comparison."""
        if not scorer.reference:
            return [None] * len(views)
        key = f"{which}:reference"
        if key not in self._codes:
            from .oneclass import reference_terms
            train_codes, _, n_branches, _ = self.codes(which)
            self._codes[key] = reference_terms(torch.as_tensor(train_codes), [torch.as_tensor(te) for _, te in views],
                                               scorer, self.spec.seed, n_branches)
        return self._codes[key]

    def draw(self, ci: int, d: int) -> np.ndarray:
        """Training indices of COREL's draw d of class ci (as corel.protocols.oneclass draws them)."""
        from .oneclass import draw_rng as _draw_rng
        idx = self.members[ci]
        if len(idx) < self.spec.n:
            raise ValueError(f"Class {self.names[ci]!r} has {len(idx)} training images, fewer than n={self.spec.n}; "
                             f"lower --n.")
        return idx[_draw_rng(self.spec.seed, ci, d).choice(len(idx), size=self.spec.n, replace=False)]

    def training_sets(self, method: str, ci: int) -> list[np.ndarray]:
        if self.spec.train_size == "n":
            return [self.draw(ci, d) for d in range(self.spec.baseline_draws)]
        idx = self.members[ci]
        cap = self.plan(method).max_train
        if cap is not None and len(idx) > cap:
            rng = np.random.default_rng(np.random.SeedSequence(self.spec.seed, spawn_key=(ci, 7919)))
            idx = np.sort(rng.choice(idx, size=cap, replace=False))
        return [idx]

    def test_index(self, method: str) -> np.ndarray:
        cap = self.plan(method).max_test
        if cap is None or cap >= len(self.y_test):
            return np.arange(len(self.y_test))
        from sklearn.model_selection import train_test_split
        keep, _ = train_test_split(np.arange(len(self.y_test)), train_size=cap, stratify=self.y_test,
                                   random_state=self.spec.seed)
        return np.sort(keep)

    # ---- the protocol -----------------------------------------------------------------------

    def problems(self, ci: int) -> list:
        """The problems of class ci (corel.protocols.problems): one (all other classes) in the standard
        protocol; in pool-without one per rotation, each with the outlier classes its pool lacks."""
        from .problems import pool_without_problems, standard_problems
        labels = [int(c) for c in self.classes]
        every = (pool_without_problems(labels, self.spec.rotations) if self.spec.novelty == "pool-without"
                 else standard_problems(labels))
        return [p for p in every if p.inlier == int(self.classes[ci])]

    def problem_auroc(self, ci: int, labels: np.ndarray, scores) -> float:
        """Mean AUROC x 100 over class ci's problems, each on its own queries, of scores of all ``labels``' images."""
        scores = np.asarray(scores)
        out = []
        for p in self.problems(ci):
            m = p.query_mask(labels)
            out.append(auroc_percent(labels[m] == p.inlier, scores[m]))
        return float(np.mean(out))

    # ---- one cell ---------------------------------------------------------------------------

    def run_cell(self, method: str, ci: int) -> dict:
        m = METHODS[method]
        if m.kind == "count":
            return self._count_cell(method, ci)
        test_idx = self.test_index(method)
        params = self.params(method)
        aurocs, extras, scores0 = [], {}, None
        for train_idx in self.training_sets(method, ci):
            if m.kind == "codes":
                train_codes, test_codes, _, _ = self.codes("corel")
                x_train, x_test = train_codes[train_idx], test_codes[test_idx]
            else:
                x_train = self.train.float_images(torch.as_tensor(train_idx))
                x_test = self.test.float_images(torch.as_tensor(test_idx))
            det = m.factory(**params)
            try:
                det.fit(x_train)
                scores = det.score_samples(x_test)
            except DivergedError as err:
                return {"status": "diverged", "auroc": None, "auroc_draws": [], "message": str(err),
                        "n_train": int(len(train_idx)), "n_test": int(len(test_idx))}
            aurocs.append(self.problem_auroc(ci, self.y_test[test_idx], scores))
            if scores0 is None:
                scores0 = scores
                extras = _fitted_extras(det)
        _save_scores(self.cell_path(method, ci), scores0, test_idx)
        return {"status": "ok", "auroc": float(np.mean(aurocs)), "auroc_draws": [float(a) for a in aurocs],
                "n_train": int(len(train_idx)), "n_test": int(len(test_idx)), **extras}

    def _count_cell(self, method: str, ci: int) -> dict:
        which = {"corel": "corel", "corel-beyond": "beyond"}.get(method, "plain")
        scorer = self.beyond_scorer() if method == "corel-beyond" else None
        train_codes, test_codes, n_branches, _ = self.codes(which)
        views = [(train_codes, test_codes)]
        if method == "corel-beyond":
            views += [self.view_codes(which, v) for v in self.beyond_views()[1:]]
        if scorer is not None and scorer.reference and (scorer.aggregate == "sum" or self.spec.novelty != "standard"):
            return self._pool_cell(ci, scorer, views, n_branches)     # as corel evaluate scores a pool
        terms = self.reference_terms(which, scorer, views) if scorer is not None else [None] * len(views)
        if method == "plain-ae-hindsight":
            if self._grid is None:
                self._grid = np.unique(np.append(radius_grid(train_codes, n_branches, seed=self.spec.seed), 2.0))
            radii = self._grid
        else:
            radii = np.array([self.spec.radius])
        self.draw(ci, 0)                   # a class with fewer than n training images: a one-line error
        train_views = [torch.as_tensor(tr) for tr, _ in views]
        queries = [torch.as_tensor(te) for _, te in views]
        runs = [problem_draws(self.problems(ci), self.classes, self.y_test, self.members, train_views, queries,
                              self.spec.n, self.spec.draws, self.spec.seed, n_branches, float(r), scorer, terms)
                for r in radii]          # the standard protocol: one problem, every query
        auroc = np.concatenate([a for _, a, _, _ in runs])                              # (radii, draws)
        scores0, scored = runs[0][2], runs[0][3]
        _save_scores(self.cell_path(method, ci), scores0, scored)
        # hindsight: the cell keeps every radius; the table picks the radius best on the mean over
        # classes, and the cell's own "auroc" is this class's best radius (both chosen on test labels)
        best = int(np.argmax(auroc.mean(1)))
        res = {"status": "ok", "auroc": float(auroc[best].mean()), "auroc_draws": auroc[best].tolist(),
               "auroc_std": float(auroc[best].std()), "n_train": self.spec.n, "n_test": int(len(self.y_test))}
        if method == "plain-ae-hindsight":
            res["radius"] = float(radii[best])
            res["auroc_by_radius"] = {repr(float(r)): float(a) for r, a in zip(radii, auroc.mean(1))}
        return res

    def _pool_cell(self, ci: int, scorer, views, n_branches: int) -> dict:
        """corel-beyond with a pool, through the loop `corel evaluate` scores pools with (corel.protocols.
        problems, every pool rule): the standard protocol's pool drawn from every class, pool-without's
        per rotation without its outlier classes."""
        from ..scoring.pool_rules import rule_of
        from .problems import run_problems
        res = run_problems(views[0][0], self.y_train, views[0][1], self.y_test, self.problems(ci),
                           {"rule": rule_of(scorer)}, n=self.spec.n, draws=self.spec.draws, seed=self.spec.seed,
                           n_branches=n_branches, k=scorer.k, kth=scorer.k_stat == "kth",
                           reference=scorer.reference, pool_views=[tr for tr, _ in views[1:]],
                           query_views=[te for _, te in views[1:]])
        auroc = res.auroc["rule"].mean(0)                                                # (draws,)
        return {"status": "ok", "auroc": float(auroc.mean()), "auroc_draws": auroc.tolist(),
                "auroc_std": float(auroc.std()), "n_train": self.spec.n, "n_test": int(len(self.y_test))}


def _fitted_extras(det) -> dict:
    extras = {}
    for attr in ("gamma_", "bandwidth_", "score_used_", "R_"):
        if hasattr(det, attr):
            extras[attr.rstrip("_")] = _jsonable(getattr(det, attr))
    pre = getattr(det, "preprocessor_", None)
    if pre is not None and pre.n_components is not None:
        extras["pca_components"] = pre.n_components
    return extras


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _save_scores(cell: Path, scores, test_idx) -> None:
    if scores is None:
        return
    with atomic_file(cell.with_suffix(".npz")) as f:
        np.savez_compressed(f, scores=np.asarray(scores, dtype=np.float32), test_index=np.asarray(test_idx))


# ----------------------------------------------------------------------------- the table

def _describe(ctx: _Context, method: str) -> str:
    s, plan = ctx.spec, ctx.plan(method)
    if METHODS[method].kind == "count":
        if method == "plain-ae-hindsight":
            return f"count, n={s.n}, {s.draws} draws, r chosen on the test set"
        if method == "corel-beyond":
            extra = ctx.beyond_views()[1:]
            tta = f", test-time views {' '.join(extra)}" if extra else ""
            return f"{ctx.beyond_scorer().describe()}{tta}, n={s.n}, {s.draws} draws"
        return f"count, r={s.radius:g}, n={s.n}, {s.draws} draws"
    p = {**METHODS[method].factory().get_params(), **ctx.params(method)}
    if p.get("preprocess") == "auto":   # what "auto" resolves to on compare's (N, C, H, W) images
        p["preprocess"] = "gcn-pca" if METHODS[method].kind == "pixels" else "standardize"
    text = {
        "OCSVMDetector": lambda: f"nu={p['nu']:g}, gamma={p['gamma']}, {p['preprocess']}",
        "KDEDetector": lambda: f"bandwidth {p['bandwidth']} ({p['cv']}-fold), {p['preprocess']}",
        "DeepSVDDDetector": lambda: f"AE {p['ae_epochs']} ep + {p['epochs']} ep, batch {p['batch_size']}",
        "DSEBMDetector": lambda: f"{p['epochs']} ep, batch {p['batch_size']}",
        "DAGMMDetector": lambda: f"{p['epochs']} ep, batch {p['batch_size']}",
        "GeomDetector": lambda: f"WRN-{p['depth']}-{p['widen_factor']}, {p['epochs']} ep x 72 transf.",
    }[METHODS[method].factory.__name__]()
    if s.train_size == "n":
        text += f"; n={s.n}" + (f", {s.baseline_draws} draws" if s.baseline_draws > 1 else "")
    elif plan.max_train is not None:
        text += f"; <= {plan.max_train} train/class"
    if plan.max_test is not None:
        text += f"; test: {plan.max_test} stratified"
    return text


def _published(ctx: _Context, method: str) -> str | None:
    family = FAMILY.get(ctx.spec.dataset)
    if method == "corel":
        from ..training.checkpoints import load_checkpoint
        config = load_checkpoint(ctx.spec.checkpoint).get("config", {})
        pub = published(str(config.get("dataset", "")), ctx.spec.dataset, ctx.spec.n,
                        float(config.get("lam", 20.0)))
        if pub is None:
            return None
        return f"{pub[0]:.2f}" + (f" +- {pub[1]:.2f}" if pub[1] is not None else "")
    return PUBLISHED_BASELINES.get(family, {}).get(method)


def _assemble(ctx: _Context, methods, chosen) -> dict:
    s = ctx.spec
    class_names = [ctx.names[ci] for ci in chosen]
    rows = []
    for method in methods:
        paths = {ctx.names[ci]: ctx.cell_path(method, ci) for ci in chosen}
        cells = {k: json.loads(p.read_text()) for k, p in paths.items() if p.exists()}
        title, notes = METHODS[method].title, []
        missing = [k for k in paths if k not in cells]
        if missing:
            notes.append(f"not run (yet) on {missing}")
        if method == "plain-ae-hindsight":
            radii = sorted({k for c in cells.values() for k in c.get("auroc_by_radius", {})}, key=float)
            if radii:
                means = [np.mean([c["auroc_by_radius"][r] for c in cells.values()]) for r in radii]
                best = radii[int(np.argmax(means))]
                values = {k: c["auroc_by_radius"][best] for k, c in cells.items()}
                title = f"plain AE (lambda=0), r={float(best):.3g}"
                notes.append(f"{HINDSIGHT_LABEL}: best mean over {len(radii)} radii")
            else:
                values = {}
        else:
            values = {k: (c["auroc"] if c["status"] == "ok" else None) for k, c in cells.items()}
        values = {k: values.get(k) for k in paths}
        status = {k: cells[k]["status"] if k in cells else "not run" for k in paths}
        ok = [v for v in values.values() if v is not None]
        diverged = [k for k, st in status.items() if st == "diverged"]
        if diverged:
            notes.append(f"diverged on {diverged}; mean over the other {len(ok)} classes")
        rows.append({"method": method, "title": title, "per_class": values, "status": status,
                     "mean": float(np.mean(ok)) if ok else None, "n_classes_in_mean": len(ok),
                     "published": _published(ctx, method) if s.novelty == "standard" else None,
                     "training": _describe(ctx, method),
                     "seconds": round(sum(c.get("seconds", 0.0) for c in cells.values()), 1), "notes": notes})
    return {"dataset": s.dataset, "novelty": s.novelty, "rotations": s.rotations if s.novelty != "standard" else None,
            "profile": s.profile, "train_size": s.train_size, "n": s.n, "draws": s.draws,
            "seed": s.seed, "image_size": s.image_size, "classes": class_names,
            "n_test": int(len(ctx.y_test)), "rows": rows}


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def _cell_text(row: dict, name: str) -> str:
    status = row["status"][name]
    return status if status in ("diverged", "not run") else _fmt(row["per_class"][name])


def format_compare_table(table: dict) -> str:
    """The Markdown table of :func:`compare`'s result (what ``compare.md`` holds)."""
    names = table["classes"]
    where = ("the whole training split of each class (as the baselines' papers)" if table["train_size"] == "full"
             else f"the same n={table['n']} inliers as COREL's draws")
    if table.get("novelty", "standard") == "pool-without":
        what = (f"protocol pool-without: each class against the (C - 1) // 2 other classes that its pool lacks, "
                f"{table['rotations']} rotations, mean AUROC over them; queries: the test images of the class and "
                f"of those classes")
    else:
        what = f"the standard protocol: one vs rest over {table['n_test']} test images"
    lines = [f"One-class AUROC x 100 on {table['dataset']} ({what}), "
             f"profile '{table['profile']}'. COREL: n={table['n']}, {table['draws']} draws; baselines trained on "
             f"{where}.", "",
             "| method | " + " | ".join(names) + " | mean | published | training | seconds |",
             "|---|" + "---|" * (len(names) + 4)]
    for r in table["rows"]:
        cells = [_cell_text(r, k) for k in names]
        mean = _fmt(r["mean"]) + ("" if r["n_classes_in_mean"] == len(names) or r["mean"] is None
                                  else f" ({r['n_classes_in_mean']}/{len(names)})")
        lines.append(f"| {r['title']} | " + " | ".join(cells) + f" | **{mean}** | {r['published'] or '-'} | "
                     f"{r['training']} | {r['seconds']:.0f} |")
    notes = [f"- {r['title']}: {n}" for r in table["rows"] for n in r["notes"]]
    pooled = [r["title"] for r in table["rows"] if "reference codes" in str(r.get("training", ""))]
    if pooled and table.get("novelty") == "pool-without":
        notes.append(f"- {', '.join(pooled)}: scored relative to an unlabelled pool of training images drawn without "
                     f"the outlier classes of each rotation: novelty of a kind the pool lacks.")
    elif pooled:   # the setting of a pooled number: its pool holds every kind of outlier scored here
        notes.append(f"- {', '.join(pooled)}: scored relative to an unlabelled pool of training images of every "
                     f"class, so the pool holds every kind of outlier of this protocol. A pool helps only against kinds "
                     f"of images it holds; `--novelty pool-without` (here and in `corel evaluate`) measures a pool that lacks them.")
    if notes:
        lines += ["", *notes]
    lines += ["", "Published: the mean AUROC over all classes of this data set as each method's paper reports it "
              "(COREL: Hofer et al., ICML 2019, the authors' result notebook). The baselines' papers tuned OC-SVM on test "
              "data; here no method sees test labels except the row marked as chosen on the test set."]
    return "\n".join(lines) + "\n"


def _write_table(table: dict, out: Path) -> None:
    from .. import plots
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.md", format_compare_table(table))
    atomic_write_text(out / "compare.json", json.dumps(table, indent=2) + "\n")
    names = table["classes"]
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["method", "title", *names, "mean", "published", "training", "seconds"])
    for r in table["rows"]:
        w.writerow([r["method"], r["title"], *[_cell_text(r, k) for k in names],
                    _fmt(r["mean"]), r["published"] or "", r["training"], r["seconds"]])
    atomic_write_text(out / "compare.csv", buf.getvalue())
    plots.plot_compare_bars(table, out / "compare.png")

