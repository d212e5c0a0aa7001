"""The paper's ablations (Hofer et al., ICML 2019): lambda x branches, the radius, the sample size.

* ``lambda``: one autoencoder per (lambda, branches x dims) cell, trained with
  :func:`corel.training.engine.train` on ``dataset`` and evaluated with the one-class protocol on
  ``eval_dataset`` (n = 120, radius 2). The paper trains on CIFAR-100 and evaluates on CIFAR-10.
* ``radius`` and ``samples``: one trained checkpoint, its codes encoded once, evaluated at each
  radius (n = 120) and each inlier sample size n (radius 2).

Resumable: each finished cell is one JSON file under ``out_dir/cells/<sweep>/`` holding its
settings and result; a rerun skips it (and raises if its settings differ, rather than mixing
two experiments). An interrupted training resumes from its last epoch checkpoint. The tables
(``ablation.md``) and plots show the published numbers beside ours.
"""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .._cells import load_cell, store_cell
from .published import ABLATION, RADIUS, SAMPLE_SIZE

__all__ = ["LAMBDAS", "PUBLISHED_CONFIGS", "FULL_CONFIGS", "RADII", "SAMPLE_SIZES", "SWEEPS", "AblationSpec",
           "run_lambda_grid", "run_radius_sweep", "run_sample_size_sweep", "run_ablation", "format_tables",
           "parse_configs", "parse_numbers", "spec_from_args"]

LAMBDAS = (0.0, 1.0, 10.0, 20.0, 40.0)
PUBLISHED_CONFIGS = ((16, 10), (32, 10), (8, 20), (32, 5), (1, 160))       # the rows the paper reports
FULL_CONFIGS = tuple((b, d) for b in (32, 16, 8) for d in (20, 10, 5)) + ((1, 160),)
RADII = (0.5, 1.0, 1.5, 2.0, 2.25, 3.0, 5.0)
SAMPLE_SIZES = (10, 50, 80, 100, 120, 250, 500, 5000)
SWEEPS = ("lambda", "radius", "samples")
# --quick: a few optimiser steps per cell and 2 draws, to check a setup end to end.
QUICK_TRAIN = {"max_steps": 50}
QUICK_DRAWS = 2


@dataclass
class AblationSpec:
    """Everything the ablation needs besides the output folder."""

    dataset: str = "cifar100"             # autoencoder training set (the paper's ablation: CIFAR-100)
    data_root: str | None = None
    eval_dataset: str = "cifar10"         # one-class evaluation set (the paper: CIFAR-10)
    eval_root: str | None = None
    lams: tuple = LAMBDAS
    configs: tuple = PUBLISHED_CONFIGS    # (branches, dims per branch)
    radii: tuple = RADII
    sample_sizes: tuple = SAMPLE_SIZES
    n: int = 120                          # inliers per class for the lambda grid and the radius sweep
    radius: float = 2.0                   # ball radius for the lambda grid and the sample-size sweep
    draws: int = 5
    seed: int = 0
    epochs: int = 50
    quick: bool = False
    train_overrides: dict = field(default_factory=dict)   # further TrainConfig keys (image_size, channels, ...)
    encode_batch_size: int = 1000
    device: str | None = None
    threads: int = 0

    @property
    def n_draws(self) -> int:
        return min(self.draws, QUICK_DRAWS) if self.quick else self.draws

    def validate(self) -> "AblationSpec":
        if self.draws < 1 or self.n < 1 or self.epochs < 1:
            raise ValueError(f"draws, n and epochs must be >= 1; got draws={self.draws}, n={self.n}, "
                             f"epochs={self.epochs}.")
        if not self.radius > 0 or any(not r > 0 for r in self.radii):
            raise ValueError(f"Radii must be > 0; got radius={self.radius}, radii={self.radii}.")
        if any(int(n) < 1 for n in self.sample_sizes):
            raise ValueError(f"Sample sizes must be >= 1; got {self.sample_sizes}.")
        if any(lam < 0 for lam in self.lams):
            raise ValueError(f"lambda values must be >= 0; got {self.lams}.")
        clash = sorted(set(self.train_overrides) & {"dataset", "data_root", "lam", "n_branches", "branch_dim",
                                                     "epochs", "seed", "out_dir"})
        if clash:
            raise ValueError(f"train_overrides may not set {clash}: the ablation sets them per cell.")
        return self


def parse_configs(text: str) -> tuple:
    """``"16x10,32x5"`` -> ((16, 10), (32, 5))."""
    out = []
    for item in text.split(","):
        item = item.strip().lower()
        if not item:
            continue
        parts = item.split("x")
        if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ValueError(f"A configuration is BRANCHESxDIMS with positive integers, like 16x10; got {item!r}.")
        out.append((int(parts[0]), int(parts[1])))
    if not out:
        raise ValueError(f"No branches x dims configuration in {text!r}.")
    return tuple(out)


def parse_numbers(text: str, kind=float, name: str = "values") -> tuple:
    """``"0,1,10"`` -> (0.0, 1.0, 10.0) (or ints with ``kind=int``)."""
    try:
        values = tuple(kind(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{name} must be comma-separated {kind.__name__}s like 0,1,10; got {text!r}.") from None
    if not values:
        raise ValueError(f"{name} is empty: {text!r}.")
    return values


def spec_from_args(args, train_overrides: dict) -> tuple[AblationSpec, tuple]:
    """The spec and the sweeps of ``corel ablate``'s parsed arguments (strings parsed here)."""
    sweeps = tuple(s.strip() for s in args.sweeps.split(",") if s.strip())
    configs = parse_configs(args.configs) if args.configs else (PUBLISHED_CONFIGS if args.grid == "published"
                                                                 else FULL_CONFIGS)
    spec = AblationSpec(dataset=args.dataset, data_root=args.data_root, eval_dataset=args.eval_dataset,
                        eval_root=args.eval_root, lams=parse_numbers(args.lams, float, "--lams"), configs=configs,
                        radii=parse_numbers(args.radii, float, "--radii"),
                        sample_sizes=parse_numbers(args.sample_sizes, int, "--sample-sizes"), n=args.n,
                        radius=args.radius, draws=args.draws, seed=args.seed, epochs=args.epochs, quick=args.quick,
                        train_overrides=dict(train_overrides), device=args.device, threads=args.threads)
    return spec.validate(), sweeps


# ----------------------------------------------------------------------------- cells on disk
def _cell(path: Path, settings: dict, compute) -> dict:
    """Load a finished cell, or compute and store it atomically. Settings must match."""
    saved = load_cell(path, settings)
    if saved is not None:
        return {**saved, "resumed": True}
    result = {"settings": json.loads(json.dumps(settings, default=str)), **compute()}
    store_cell(path, result)
    return {**result, "resumed": False}


def _codes_for(checkpoint, spec: AblationSpec, cache_dir: Path):
    """Codes of the evaluation set's train and test splits with the model of ``checkpoint`` (cached)."""
    from .jobs import EvalSpec, protocol_codes
    from ..training.checkpoints import load_checkpoint, load_model

    ck = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    es = EvalSpec(dataset=spec.eval_dataset, data_root=spec.eval_root, batch_size=spec.encode_batch_size,
                  device=spec.device)
    tr, tr_y, te, te_y, classes = protocol_codes(checkpoint, model, ck, es, cache_dir)
    return {"train": tr, "train_y": tr_y, "test": te, "test_y": te_y, "classes": classes,
            "n_branches": ck["model_args"]["n_branches"]}


def _one_class(codes: dict, spec: AblationSpec, n: int, radius: float) -> dict:
    from .oneclass import evaluate_one_class
    t0 = time.perf_counter()
    res = evaluate_one_class(codes["train"], codes["train_y"], codes["test"], codes["test_y"], n=n,
                             draws=spec.n_draws, radius=radius, n_branches=codes["n_branches"], seed=spec.seed,
                             class_names=codes["classes"], device=spec.device)
    return {"mean_auroc": res.mean, "std_auroc": res.std, "per_class": res.per_class(),
            "eval_seconds": round(time.perf_counter() - t0, 2)}


def _eval_settings(spec: AblationSpec) -> dict:
    return {"eval_dataset": spec.eval_dataset, "eval_root": spec.eval_root, "draws": spec.n_draws, "seed": spec.seed}


# ----------------------------------------------------------------------------- the sweeps
def _cell_name(lam: float, branches: int, dims: int) -> str:
    return f"lam{lam:g}_{branches}x{dims}"


def run_lambda_grid(spec: AblationSpec, out_dir) -> list[dict]:
    """Train and evaluate every (lambda, branches x dims) cell not already finished."""
    from ..training.checkpoints import load_checkpoint
    from ..training.config import TrainConfig
    from ..training.engine import train

    spec.validate()
    out = Path(out_dir)
    cells = []
    for branches, dims in spec.configs:
        for lam in spec.lams:
            name = _cell_name(lam, branches, dims)
            train_dir = out / "train" / name
            values = {**spec.train_overrides, "dataset": spec.dataset, "data_root": spec.data_root, "lam": float(lam),
                      "n_branches": branches, "branch_dim": dims, "epochs": spec.epochs, "seed": spec.seed,
                      "out_dir": str(train_dir), "threads": spec.threads,
                      **(QUICK_TRAIN if spec.quick else {})}
            settings = {"sweep": "lambda", "lam": float(lam), "branches": branches, "dims": dims,
                        "train": {k: v for k, v in values.items() if k not in ("out_dir", "threads")},
                        "n": spec.n, "radius": spec.radius, **_eval_settings(spec)}

            def compute(values=values, train_dir=train_dir):
                cfg = TrainConfig.from_dict(values)
                t0 = time.perf_counter()
                model_path = train_dir / "model.pt"
                if not (model_path.exists() and _same_run(load_checkpoint(model_path)["config"], cfg.to_dict())):
                    model_path = train(cfg)
                seconds = round(time.perf_counter() - t0, 2)
                codes = _codes_for(model_path, spec, train_dir)
                return {"checkpoint": str(model_path), "train_seconds": seconds,
                        **_one_class(codes, spec, spec.n, spec.radius)}

            cell = _cell(out / "cells" / "lambda" / f"{name}.json", settings, compute)
            cell["published"] = ABLATION.get((branches, dims), {}).get(_as_key(lam))
            cells.append(cell)
    return cells


# Engine options that do not change what is learnt: a finished model is reused across them.
_ENGINE_KEYS = {"threads", "progress_bar", "num_workers", "accelerator", "devices", "strategy", "num_nodes"}


def _same_run(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k not in _ENGINE_KEYS} == {k: v for k, v in b.items() if k not in _ENGINE_KEYS}


def _as_key(lam: float):
    return int(lam) if float(lam).is_integer() else lam


def default_checkpoint(spec: AblationSpec, out_dir) -> Path:
    """The lambda grid's model used by the sweeps when no checkpoint is given: lambda = 20 (or the
    largest lambda of the grid) with the first branches x dims configuration."""
    lam = 20.0 if 20.0 in [float(v) for v in spec.lams] else max(spec.lams)
    branches, dims = spec.configs[0]
    return Path(out_dir) / "train" / _cell_name(lam, branches, dims) / "model.pt"


def _sweep_codes(checkpoint, spec: AblationSpec, out: Path):
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist. Pass --checkpoint, or run the lambda sweep first "
                                f"(its lambda=20 cell of the first configuration is the default).")
    # The cells' settings name the checkpoint by this short SHA-1 (kept for the committed results);
    # the codes cache keys by the full SHA-256 itself.
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
    return digest, _codes_for(path, spec, out / "codes")


def run_radius_sweep(checkpoint, spec: AblationSpec, out_dir) -> list[dict]:
    """Evaluate ``checkpoint`` at each radius of ``spec.radii`` (n = ``spec.n``)."""
    spec.validate()
    out = Path(out_dir)
    digest, codes = _sweep_codes(checkpoint, spec, out)
    cells = []
    for r in spec.radii:
        settings = {"sweep": "radius", "radius": float(r), "n": spec.n, "checkpoint_sha1": digest,
                    **_eval_settings(spec)}
        cell = _cell(out / "cells" / "radius" / f"r{r:g}.json", settings,
                     lambda r=r: {"checkpoint": str(checkpoint), **_one_class(codes, spec, spec.n, float(r))})
        cell["published"] = RADIUS.get(float(r))
        cells.append(cell)
    return cells


def run_sample_size_sweep(checkpoint, spec: AblationSpec, out_dir) -> list[dict]:
    """Evaluate ``checkpoint`` at each inlier sample size of ``spec.sample_sizes`` (radius ``spec.radius``).

    Sizes larger than the smallest class's training split cannot be drawn without replacement;
    they are skipped with a warning and listed with ``"skipped"`` in the result.
    """
    spec.validate()
    out = Path(out_dir)
    digest, codes = _sweep_codes(checkpoint, spec, out)
    smallest = int(np.unique(np.asarray(codes["train_y"]), return_counts=True)[1].min())
    cells = []
    for n in spec.sample_sizes:
        n = int(n)
        if n > smallest:
            warnings.warn(f"Sample size n={n} skipped: the smallest class of {spec.eval_dataset} has only "
                          f"{smallest} training images.", stacklevel=2)
            cells.append({"settings": {"sweep": "samples", "n": n}, "skipped": f"class size {smallest} < n",
                          "published": SAMPLE_SIZE.get(n)})
            continue
        settings = {"sweep": "samples", "n": n, "radius": spec.radius, "checkpoint_sha1": digest,
                    **_eval_settings(spec)}
        cell = _cell(out / "cells" / "samples" / f"n{n}.json", settings,
                     lambda n=n: {"checkpoint": str(checkpoint), **_one_class(codes, spec, n, spec.radius)})
        cell["published"] = SAMPLE_SIZE.get(n)
        cells.append(cell)
    return cells


def run_ablation(spec: AblationSpec, out_dir, sweeps=SWEEPS, checkpoint=None) -> dict:
    """Run the chosen sweeps (lambda first: its model is the sweeps' default), write tables and plots.

    Returns
    -------
    dict ``{sweep: [cell, ...]}``, plus ``"tables"`` (the Markdown text) and ``"paths"``.
    Files: ``ablation.md``, ``ablation.json`` and ``ablation_<sweep>.png`` in ``out_dir``.
    """
    spec.validate()
    unknown = sorted(set(sweeps) - set(SWEEPS))
    if unknown or not sweeps:
        raise ValueError(f"Unknown sweep(s) {unknown}; choose among {list(SWEEPS)}.")
    out = Path(out_dir)
    results: dict = {}
    if "lambda" in sweeps:
        results["lambda"] = run_lambda_grid(spec, out)
    ckpt = checkpoint if checkpoint is not None else default_checkpoint(spec, out)
    if "radius" in sweeps:
        results["radius"] = run_radius_sweep(ckpt, spec, out)
    if "samples" in sweeps:
        results["samples"] = run_sample_size_sweep(ckpt, spec, out)
    text = format_tables(results, spec)
    paths = _write(results, spec, text, out)
    return {**results, "tables": text, "paths": paths}


# ----------------------------------------------------------------------------- tables and plots
def format_tables(results: dict, spec: AblationSpec) -> str:
    """Markdown tables of the finished cells, ours (mean +- std over draws) beside the paper."""
    head = (f"AE trained on {spec.dataset}, evaluated on {spec.eval_dataset}; mean AUROC x 100 over classes, "
            f"{spec.n_draws} draws{' (quick profile)' if spec.quick else ''}. Paper: AE on CIFAR-100, evaluated on "
            f"CIFAR-10.")
    parts = [head]
    if "lambda" in results:
        cells = {(c["settings"]["branches"], c["settings"]["dims"], c["settings"]["lam"]): c for c in results["lambda"]}
        lams = list(spec.lams)
        parts += ["", f"### lambda x branches (n = {spec.n}, radius {spec.radius:g}): ours (paper)", "",
                  "| branches x dims | " + " | ".join(f"lambda={v:g}" for v in lams) + " |",
                  "|---|" + "---|" * len(lams)]
        for b, d in spec.configs:
            row = []
            for lam in lams:
                c = cells.get((b, d, float(lam)))
                pub = ABLATION.get((b, d), {}).get(_as_key(lam))
                ours = f"{c['mean_auroc']:.2f} +- {c['std_auroc']:.2f}" if c else "-"
                row.append(f"{ours} ({pub:.2f})" if pub is not None else ours)
            parts.append(f"| {b}x{d} | " + " | ".join(row) + " |")
    for sweep, label, key in (("radius", "radius", "radius"), ("samples", "n", "n")):
        if sweep not in results:
            continue
        fixed = f"n = {spec.n}" if sweep == "radius" else f"radius {spec.radius:g}"
        parts += ["", f"### {label} sweep ({fixed})", "", f"| {label} | ours | paper |", "|---|---|---|"]
        for c in results[sweep]:
            pub = c.get("published")
            ours = f"skipped ({c['skipped']})" if "skipped" in c else f"{c['mean_auroc']:.2f} +- {c['std_auroc']:.2f}"
            parts.append(f"| {c['settings'][key]:g} | {ours} | {pub if pub is not None else '-'} |")
    return "\n".join(parts) + "\n"


def _write(results: dict, spec: AblationSpec, text: str, out: Path) -> dict:
    from .. import plots
    out.mkdir(parents=True, exist_ok=True)
    paths = {"tables": out / "ablation.md", "json": out / "ablation.json"}
    paths["tables"].write_text(text)
    paths["json"].write_text(json.dumps({"spec": asdict(spec), **results}, indent=2, default=str) + "\n")
    if results.get("lambda"):
        ours: dict = {}
        for c in results["lambda"]:
            s = c["settings"]
            ours.setdefault((s["branches"], s["dims"]), {})[s["lam"]] = c["mean_auroc"]
        pub = {k: {float(lam): v for lam, v in ABLATION[k].items()} for k in spec.configs if k in ABLATION}
        paths["lambda_plot"] = plots.plot_lambda_ablation(ours, pub, out / "ablation_lambda.png",
                                                          title=f"lambda x branches ({spec.dataset} -> "
                                                                f"{spec.eval_dataset})")
    for sweep, key, xlabel, logx, pub in (("radius", "radius", "radius (l1 ball per branch)", False, RADIUS),
                                          ("samples", "n", "inliers per class n", True, SAMPLE_SIZE)):
        done = [c for c in results.get(sweep, []) if "skipped" not in c]
        if done:
            ours = {c["settings"][key]: (c["mean_auroc"], c["std_auroc"]) for c in done}
            paths[f"{sweep}_plot"] = plots.plot_sweep(ours, pub, out / f"ablation_{sweep}.png", xlabel=xlabel,
                                                      logx=logx, title=f"{sweep} sweep ({spec.eval_dataset})")
    return paths
