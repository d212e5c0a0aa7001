"""End-to-end jobs: evaluate a checkpoint with the paper's protocol, reproduce a paper setting,
and the quick-start demo. Each hands plain values to the modules that do the work.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .published import published

__all__ = ["EvalSpec", "evaluate_checkpoint", "reproduce", "demo", "format_table", "PROFILES"]


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


def _encode_split(model, spec: EvalSpec, split: str, image_size: int, cache: Path | None):
    from .data import load_dataset
    from .encode import encode_images
    data = load_dataset(spec.dataset, split=split, root=spec.data_root, image_size=image_size)
    if cache is not None and cache.exists():
        saved = torch.load(cache, weights_only=True)
        if saved["labels"].shape == data.labels.shape and torch.equal(saved["labels"], data.labels):
            return saved["codes"], data.labels, data.classes
    codes = encode_images(model, data.images, spec.batch_size, spec.device, desc=f"encoding {split}")
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"codes": codes, "labels": data.labels}, cache)
    return codes, data.labels, data.classes


def evaluate_checkpoint(checkpoint, spec: EvalSpec, out_dir, trained_on: str | None = None) -> list[dict]:
    """Run the one-class protocol for every n of ``spec`` with the model of ``checkpoint``.

    Writes ``out_dir/n<N>/`` (per-class tables, summary.json, AUROC bars, ROC curves) and
    returns the summaries. Codes are cached in ``out_dir/codes_<split>.pt``.
    """
    from . import plots
    from .evaluate import evaluate_one_class, write_results
    from .training import load_checkpoint, load_model

    out = Path(out_dir)
    ck = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    n_branches = ck["model_args"]["n_branches"]
    image_size = ck["model_args"].get("image_size", ck["config"].get("image_size", 32))
    train_codes, train_y, classes = _encode_split(model, spec, "train", image_size, out / "codes_train.pt")
    test_codes, test_y, _ = _encode_split(model, spec, "test", image_size, out / "codes_test.pt")
    trained_on = trained_on or ck["config"].get("dataset", "?")
    lam = float(ck["config"].get("lam", 20.0))
    summaries = []
    for n in spec.ns:
        t0 = time.perf_counter()
        res = evaluate_one_class(train_codes, train_y, test_codes, test_y, n=n, draws=spec.draws,
                                 radius=spec.radius, n_branches=n_branches, seed=spec.seed,
                                 class_names=classes, device=spec.device)
        pub = published(trained_on, spec.dataset, n, lam)
        meta = {"dataset": spec.dataset, "checkpoint": str(checkpoint), "trained_on": trained_on, "lam": lam,
                "published_mean_auroc": pub[0] if pub else None, "seconds": round(time.perf_counter() - t0, 2)}
        sub = out / f"n{n}"
        write_results(res, sub, meta)
        plots.plot_auroc_bars(res, sub / "auroc_per_class.png")
        plots.plot_roc_curves(res.test_labels, res.scores_draw0, res.class_names, sub / "roc_curves.png",
                              classes=res.classes)
        summaries.append(json.loads((sub / "summary.json").read_text()))
    return summaries


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
              threads: int = 0) -> list[dict]:
    """Train (or load ``checkpoint``) and evaluate a named setting of the paper; returns summaries."""
    from .training import TrainConfig, train
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting {setting!r}; choose one of {sorted(SETTINGS)}.")
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; choose one of {sorted(PROFILES)}.")
    train_set, eval_set = SETTINGS[setting]
    out = Path(out_dir)
    if checkpoint is None:
        cfg = TrainConfig.from_dict(dict(dataset=train_set, data_root=data_root, lam=float(lam), seed=seed,
                                         out_dir=str(out / "train"), threads=threads, **PROFILES[profile]))
        checkpoint = train(cfg)
    if profile == "quick":
        draws = min(draws, 2)
    spec = EvalSpec(dataset=eval_set, data_root=eval_root if eval_root is not None else data_root,
                    ns=tuple(ns), draws=draws, seed=seed)
    return evaluate_checkpoint(checkpoint, spec, out / "eval", trained_on=train_set)


# ----------------------------------------------------------------------------- quick-start demo
def demo(out_dir, epochs: int = 30, n: int = 100, draws: int = 5, seed: int = 0, threads: int = 0) -> list[dict]:
    """The quick start's main job on scikit-learn's digits (ships with the install, no download).

    Trains the paper's autoencoder (1 channel, 32 x 32, 16 x 10) with lambda = 20 and, for
    contrast, with lambda = 0, then runs the one-class protocol on the digits test split.
    """
    from .training import TrainConfig, train
    out = Path(out_dir)
    summaries = []
    for lam in (20.0, 0.0):
        tag = f"lam{lam:g}"
        cfg = TrainConfig.from_dict(dict(dataset="digits", lam=lam, epochs=epochs, seed=seed, threads=threads,
                                         out_dir=str(out / tag / "train"), progress_bar=True, hist_batches=5))
        ckpt = train(cfg)
        spec = EvalSpec(dataset="digits", ns=(n,), draws=draws, seed=seed)
        summaries += evaluate_checkpoint(ckpt, spec, out / tag / "eval", trained_on="digits")
    return summaries
