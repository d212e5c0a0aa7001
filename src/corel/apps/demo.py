"""`corel demo`: what corel is for, on CIFAR-10 images that ship with the install, in about a minute.

The encoders were trained once, without labels, on CIFAR-10's training split (``corel models``).
Each class in turn is the "normal" one: 100 of its images are the only examples given, and the
other images of the sample (the rest of that class and every other class) are scored. The sample
(``cifar10-test-sample.zip``, 150 images per class) is a seeded draw from CIFAR-10's *test* split,
which no shipped encoder saw. Beside corel's best model, the same protocol runs on raw pixels, with
the paper's model and score, and with the encoder trained on TinyImageNet (no CIFAR-10 image at all),
so the table shows what the learned representation buys.

Then ``corel score`` runs on one class as a user would run it on their folders (inliers and
images written out as JPEG folders), and writes its HTML report.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

__all__ = ["SAMPLE", "METHODS", "run_demo", "format_demo"]

SAMPLE = "cifar10-test-sample.zip"
N_INLIERS = 100


@dataclass(frozen=True)
class Method:
    """One row of the demo's table: an encoder (None: raw pixels) and how its codes are scored."""

    label: str
    model: str | None
    scorer: str            # corel.scoring.scorer.parse_scorer's kind
    tta: str
    pool: bool = False
    pool_rule: str = "clip"  # how the shipped pool enters (fused: a stack of two encoders)


METHODS = (
    Method("raw pixels, knn (no model)", None, "knn-mean", "off"),
    Method("the paper's COREL: cifar10-paper, count at radius 2", "cifar10-paper", "count", "off"),
    Method("corel's default: cifar10-contrastive, knn, 6 views", "cifar10-contrastive", "knn-mean", "flips-shifts"),
    Method("  + its shipped pool of training codes (clipped)", "cifar10-contrastive", "knn-mean", "flips-shifts",
           pool=True),
    Method("corel's best: cifar10-pair (two wide encoders), fused with its shipped pool", "cifar10-pair", "knn-mean",
           "flips-shifts", pool=True, pool_rule="fused"),
    Method("never saw CIFAR-10: tinyimagenet-contrastive, knn, 6 views", "tinyimagenet-contrastive", "knn-mean",
           "flips-shifts"),
)


def sample_path() -> Path:
    return Path(str(resources.files("corel.named").joinpath(SAMPLE)))


def _read_sample():
    """uint8 images (N, 3, 32, 32), class index per image, class names, the zip's member names."""
    from ..data.imagefiles import read_all
    images, shown, _ = read_all(sample_path(), image_size=32, channels=3)
    names = [n.rsplit(".zip:", 1)[-1] for n in shown]       # "<class>/<file>.jpg" inside the zip
    classes = sorted({n.split("/")[0] for n in names})
    labels = np.array([classes.index(n.split("/")[0]) for n in names])
    return images, labels, classes, names


def _codes(method: Method, images: torch.Tensor) -> tuple[torch.Tensor, int, int, int]:
    """(codes of every image in each view, view-major; n_branches; number of views; the first encoder's
    branches when the model is a stack of two, else 0)."""
    from ..scoring.views import apply_view, tta_views
    views = tta_views(method.tta)
    if method.model is None:
        return images.reshape(len(images), -1).double() / 255.0, 1, 1, 0
    from ..named import load_model
    from ..training.models import encoder_stack_split
    model = load_model(method.model)
    with torch.no_grad():
        codes = [model.encode(apply_view(images, v).float().div_(255.0)) for v in views]
    return torch.cat(codes), int(model.n_branches), len(views), encoder_stack_split(model)


def _class_auroc(method: Method, codes, n_branches, n_views, split, labels, rng_seed: int) -> np.ndarray:
    """AUROC x 100 per class: N_INLIERS of the class are the inliers, the rest of the sample the queries."""
    from ..scoring.fitted import FittedScorer
    from ..scoring.metrics import auroc_percent
    from ..named import pool_codes
    from ..scoring.scorer import parse_scorer
    n = len(labels)
    by_view = codes.reshape(n_views, n, -1)
    pool = pool_codes(method.model) if method.pool else None
    scorer = parse_scorer(method.scorer, "2.0", 0.5, 5, "sum", 0 if pool is None else len(pool), method.pool_rule,
                          split if method.pool_rule == "fused" else 0)
    out = []
    for c in range(labels.max() + 1):
        members = np.flatnonzero(labels == c)
        inliers = np.random.default_rng(rng_seed + c).choice(members, N_INLIERS, replace=False)
        queries = np.setdiff1d(np.arange(n), inliers)
        fitted = FittedScorer.fit(scorer, n_branches, by_view[:, inliers].reshape(-1, codes.shape[1]), n_views,
                                  pool, owner="corel demo")
        normality = sum(fitted.normality(by_view[v, queries]) for v in range(n_views))
        out.append(auroc_percent(labels[queries] != c, -normality))
    return np.array(out)


def run_demo(out_dir, report_class: str = "ship", seed: int = 0, progress: bool = True) -> dict:
    """Run the table and the one-class report; write ``demo.json``, ``demo.md`` and ``report.html``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    images, labels, classes, names = _read_sample()
    if report_class not in classes:
        raise ValueError(f"--report-class must be one of the sample's classes {classes}; got {report_class!r}.")
    rows, encoded = [], {}
    for method in METHODS:
        if progress:
            print(f"  {method.label.strip()} ...", flush=True)
        key = (method.model, method.tta)          # rows differing only in the scorer share their codes
        if key not in encoded:
            encoded[key] = _codes(method, images)
        codes, n_branches, n_views, split = encoded[key]
        auroc = _class_auroc(method, codes, n_branches, n_views, split, labels, seed)
        rows.append({"method": method.label.strip(), "model": method.model, "scorer": method.scorer,
                     "tta": method.tta, "pool": method.pool, "auroc": dict(zip(classes, auroc.round(2).tolist())),
                     "mean_auroc": float(auroc.mean())})
    report = _score_one_class(out, images, labels, classes, names, report_class, seed)
    result = {"kind": "corel-demo", "sample": SAMPLE, "n_per_class": int(np.bincount(labels).min()),
              "n_inliers": N_INLIERS, "seed": seed,
              "protocol": "each class in turn: 100 sample images are the inliers, every other image of the "
                          "sample a query (AUROC x 100, one draw)",
              "evaluated_on": "CIFAR-10 test split (the shipped sample)", "trained_on": "CIFAR-10 training split",
              "rows": rows, "report": report, "seconds": round(time.perf_counter() - t0, 1)}
    (out / "demo.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    (out / "demo.md").write_text(format_demo(result) + "\n", encoding="utf-8")
    return result


def _score_one_class(out: Path, images, labels, classes, names, cls: str, seed: int) -> dict:
    """`corel score` with the default settings on one class, its inliers and queries as JPEG folders."""
    from .score import ScoreOptions, run_score
    c = classes.index(cls)
    members = np.flatnonzero(labels == c)
    inliers = set(np.random.default_rng(seed + c).choice(members, N_INLIERS, replace=False).tolist())
    folders = {"inliers": out / cls / "inliers", "images": out / cls / "images"}
    for folder in folders.values():      # written afresh: another seed draws other inliers
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    with zipfile.ZipFile(sample_path()) as z:
        for i, name in enumerate(names):
            folder = folders["inliers" if i in inliers else "images"]
            (folder / name.replace("/", "-")).write_bytes(z.read(name))
    csv = out / cls / "scores.csv"
    summary = run_score(_named("cifar10-pair"), inliers=str(folders["inliers"]), images=str(folders["images"]),
                        out=str(csv), report=str(out / "report.html"), opts=ScoreOptions(progress=False))
    flagged = _flagged_by_class(csv)
    return {"class": cls, "command": f"corel score --model cifar10-pair --inliers {folders['inliers']} "
                                     f"--images {folders['images']} --out {csv} --report {out / 'report.html'}",
            "n_scored": summary["n_scored"], "n_novel": summary["n_novel"], "flagged_by_class": flagged,
            "report": os.fspath(out / "report.html")}


def _named(name: str) -> str:
    from ..named import resolve
    return str(resolve(name))


def _flagged_by_class(csv_path: Path) -> dict:
    import csv
    counts: dict[str, list[int]] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cls = Path(row["path"]).name.split("-")[0]
            seen = counts.setdefault(cls, [0, 0])
            seen[0] += row["verdict"] == "novel"
            seen[1] += 1
    return {k: {"flagged": v[0], "of": v[1]} for k, v in sorted(counts.items())}


def format_demo(result: dict) -> str:
    """The table `corel demo` prints (Markdown), with the setting of its numbers."""
    classes = list(result["rows"][0]["auroc"])
    lines = [f"One-class AUROC x 100 on {result['evaluated_on']}: {result['n_inliers']} images of a class are "
             f"the only examples, the other {result['n_per_class'] * len(classes) - result['n_inliers']} images of "
             f"the sample are scored. Encoders trained once, without labels, on the {result['trained_on']}.", "",
             "| method | mean | " + " | ".join(classes) + " |", "|---|---|" + "---|" * len(classes)]
    for row in result["rows"]:
        lines.append(f"| {row['method']} | **{row['mean_auroc']:.1f}** | "
                     + " | ".join(f"{row['auroc'][c]:.1f}" for c in classes) + " |")
    rep = result["report"]
    own = rep["flagged_by_class"].get(rep["class"], {"flagged": 0, "of": 0})
    others = [v for k, v in rep["flagged_by_class"].items() if k != rep["class"]]
    lines += ["", f"`corel score` with its defaults on '{rep['class']}' ({rep['n_scored']} images): flagged "
                  f"{own['flagged']} of {own['of']} {rep['class']} images and "
                  f"{sum(v['flagged'] for v in others)} of {sum(v['of'] for v in others)} others as novel.",
              f"Report: {rep['report']}", f"The same on your folders: {rep['command']}"]
    return "\n".join(lines)
