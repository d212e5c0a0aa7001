"""`corel score`: which of these images are unlike my examples? COREL on a user's own image files.

A trained model (``model.pt``) and about a hundred example images (the *inliers*) make a
:class:`corel.scoring.detector.CorelDetector`; every image of a folder, zip or file list is then scored
against them, streamed in batches (read, encode, score, write rows): memory does not grow with
the number of images scored.

Output: a CSV with one row per image, ``path, score, count, verdict, reason``:

* ``score``: **higher = more novel** (PyOD's convention): minus CorelDetector's normality
  (``-score_samples``). With the paper's scorer (``count``) it is minus the neighbour count.
* ``count``: the paper's neighbour count, inliers within the l1 ball of the radius, summed
  over the branches (higher = more normal), whatever the scorer.
* ``verdict``: ``novel`` when ``score > threshold``, else ``normal``; ``unreadable`` for a file
  that could not be read or decoded, whose ``reason`` says why (its score and count are empty).

The threshold comes from the inliers alone: the ``1 - contamination`` quantile of their
leave-one-out scores (each inlier scored against the others), so about a ``contamination``
share of images like the inliers is flagged; or a given ``threshold``. A JSON summary beside the
CSV (same name, ``.json``) records which, with the settings, counts and the most and least
novel images as thumbnails; :mod:`corel.apps.report` turns it into an HTML page.
"""
from __future__ import annotations

import base64
import csv
import heapq
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_write_text
from .._digest import file_sha256
from ..data.base import DataError
from ..data.imagefiles import ConversionStats, open_images, read_batches, thumbnail_png
from .report import SUMMARY_KIND, check_report_target, default_report_path, summary_path

__all__ = ["ScoreOptions", "model_input", "fit_detector", "load_detector", "score_images", "run_score",
           "summary_path", "format_summary", "is_detector_file", "SUMMARY_KIND"]

DIRECTION = ("score: higher = more novel (PyOD's convention), minus CorelDetector's normality; "
             "count: the paper's neighbour count (higher = more normal)")


@dataclass
class ScoreOptions:
    """Everything `corel score` takes besides the paths."""

    scorer: str = "knn-mean"           # count | soft | knn-mean | knn-kth (see corel.scoring.scorer)
    radius: float | str = 2.0          # l1 ball radius per branch, or "auto"
    radius_quantile: float = 0.5
    k: int = 5
    aggregate: str = "sum"
    tta: str | None = None             # test-time views (corel.scoring.views.TTA_MODES), fixed when the detector is fitted;
                                       # None: DEFAULT_TTA when fitting, the detector file's own when loading
    reference: str | None = None       # unlabelled images (folder, zip, list) the knn distances are divided by
    pool_rule: str | None = None       # how the pool enters: clip (safe when it lacks the novelty), ratio, or fused
                                       # (a stack of two encoders); None: fused for such a stack, clip otherwise
    pool: bool = True                  # without --reference: a shipped model's own pool (corel.named.pool_codes)
    contamination: float | None = None  # None: 0.1 when fitting (as CorelDetector), the detector file's own when loading
    threshold: float | None = None     # a given threshold on the score (overrides contamination)
    batch_size: int = 256              # images read and encoded at once
    device: str | None = None
    progress: bool = True
    n_thumbnails: int = 12             # most and least novel images shown in the summary / report


DEFAULT_TTA = "flips-shifts"  # the views that paid on CIFAR-10's validation hold-out (results/cifar10-beyond)
DEFAULT_CONTAMINATION = 0.1   # CorelDetector's default too: one default for the CLI and the API


def model_input(model_name: str, model_args: dict, config: dict | None = None) -> tuple[int, int]:
    """(image_size, channels) a trained model expects, from its checkpoint's model_args and config."""
    config = config or {}
    if model_name in ("conv", "stack") and model_args.get("image_size") and model_args.get("in_channels"):
        return int(model_args["image_size"]), int(model_args["in_channels"])
    size = config.get("image_size")
    in_dim = model_args.get("in_dim")
    if size and in_dim and in_dim % (size * size) == 0 and in_dim // (size * size) in (1, 3):
        return int(size), in_dim // (size * size)
    raise ValueError(f"The model ({model_name!r}, in_dim={in_dim}) does not take square images: corel score needs "
                     f"an image model (train one with `corel train --model conv`).")


def _warn_default(message: str) -> None:
    warnings.warn(message, stacklevel=3)


# ----------------------------------------------------------------------------- encoding
@torch.no_grad()
def _encode(model, images: torch.Tensor, device) -> torch.Tensor:
    x = images.to(device).float().div_(255.0)
    return model.encode(x).detach()


def _encode_views(model, images: torch.Tensor, device, views) -> list[torch.Tensor]:
    """The codes of ``images`` in each test-time view (one (B, D) tensor per view)."""
    from ..scoring.views import apply_view
    return [_encode(model, apply_view(images, v), device) for v in views]


def _progress(total: int, desc: str, enabled: bool):
    from .._progress import progress_bar
    return progress_bar(total=total, desc=desc, unit="img", enabled=enabled, leave=False, dynamic_ncols=True)


def _device(opts: ScoreOptions) -> torch.device:
    from .._validation import as_device
    return as_device(opts.device, "corel score") if opts.device is not None else torch.device("cpu")


# ----------------------------------------------------------------------------- fitting
@dataclass
class FolderDetector:
    """What ``corel score`` scores with: an encoder, a :class:`corel.scoring.fitted.FittedScorer` and
    :class:`corel.scoring.detector.CorelDetector`'s parameters. Built without scikit-learn (a fast start);
    :meth:`to_detector` gives the CorelDetector that ``--save-detector`` writes."""

    encoder: torch.nn.Module
    fitted: object                      # corel.scoring.fitted.FittedScorer
    params: dict                        # scorer, radius, radius_quantile, k, aggregate, pool_rule
    tta: str
    contamination: float
    batch_size: int
    device: torch.device
    meta: dict
    encoder_spec: tuple | None

    @classmethod
    def from_detector(cls, det) -> FolderDetector:
        params = {k: getattr(det, k) for k in ("scorer", "radius", "radius_quantile", "k", "aggregate", "pool_rule")}
        return cls(encoder=det.encoder, fitted=det.fitted_scorer(), params=params, tta=det.tta,
                   contamination=float(det.contamination), batch_size=int(det.batch_size),
                   device=det.inlier_codes_.device, meta=dict(det.meta_), encoder_spec=det.encoder_spec_)

    def to_detector(self):
        from ..scoring.detector import CorelDetector
        det = CorelDetector.from_fitted(self.fitted, contamination=self.contamination, encoder=self.encoder,
                                        tta=self.tta, batch_size=self.batch_size, device=self.device, **self.params)
        det.meta_, det.encoder_spec_ = dict(self.meta), self.encoder_spec
        return det


def fit_detector(model_path, inliers, opts: ScoreOptions, warn=_warn_default):
    """A :class:`FolderDetector` fitted on the images at ``inliers``; returns (det, info).

    ``info``: image_size, channels, the inlier source, how many were read and the unreadable
    ones (path, reason). No readable inlier is a one-line error.
    """
    from ..training.checkpoints import load_checkpoint, load_model
    from ..scoring.fitted import FittedScorer
    from ..scoring.scorer import parse_scorer
    ck = load_checkpoint(model_path)
    image_size, channels = model_input(ck["model_name"], ck["model_args"], ck.get("config"))
    device = _device(opts)
    model = load_model(model_path).to(device)
    from ..scoring.views import tta_views
    tta = DEFAULT_TTA if opts.tta is None else opts.tta
    views = tta_views(tta)
    codes, failed, stats, n_files = _encode_source(model, inliers, image_size, channels, opts, device, "inliers",
                                                   views)
    for line in stats.warnings("inlier images"):
        warn(line)
    if failed:
        path, reason = failed[0]
        warn(f"{len(failed)} of {n_files} inlier images could not be read and were left out "
             f"(first: {path}: {reason}); all are listed in the summary JSON.")
    if codes is None:
        raise DataError(f"No readable inlier image in {inliers} ({len(failed)} files, none could be decoded; "
                        f"first: {failed[0][0]}: {failed[0][1]}).")
    reference, pool_source = None, None
    if opts.reference is not None:
        reference, pool_source = _reference_codes(model, image_size, channels, opts, device, warn), str(opts.reference)
    elif opts.pool and opts.scorer.startswith("knn"):
        from ..named import pool_codes_for_file
        shipped = pool_codes_for_file(model_path)
        if shipped is not None:
            reference, pool_source = shipped[1].to(device), f"the pool shipped with {shipped[0]}"
    n_reference = 0 if reference is None else int(reference.shape[0])
    n_branches = int(ck["model_args"].get("n_branches", 1))
    contamination = DEFAULT_CONTAMINATION if opts.contamination is None else opts.contamination
    from ..scoring.settings import default_pool_rule
    from ..training.models import stack_split
    split = stack_split(ck["model_name"], ck["model_args"])
    pool_rule = opts.pool_rule or default_pool_rule(split)
    params = {"scorer": opts.scorer, "radius": opts.radius, "radius_quantile": opts.radius_quantile, "k": opts.k,
              "aggregate": opts.aggregate, "pool_rule": pool_rule}
    scorer = parse_scorer(opts.scorer, opts.radius, opts.radius_quantile, opts.k, opts.aggregate, n_reference,
                          pool_rule, split if pool_rule == "fused" else 0)
    fitted = FittedScorer.fit(scorer, n_branches, codes, len(views), reference, owner="corel score")
    meta = {"image_size": image_size, "channels": channels, "model": str(model_path),
            "inliers": str(inliers), "n_inliers": int(codes.shape[0]) // len(views),
            "trained_on": (ck.get("config") or {}).get("dataset"),
            "reference": pool_source, "n_reference": n_reference}
    det = FolderDetector(encoder=model, fitted=fitted, params=params, tta=tta, contamination=float(contamination),
                         batch_size=opts.batch_size, device=device, meta=meta,
                         encoder_spec=(ck["model_name"], dict(ck["model_args"])))
    info = {"image_size": image_size, "channels": channels, "inliers": str(inliers),
            "n_inliers": int(codes.shape[0]) // len(views), "n_reference": n_reference,
            "inlier_failures": [{"path": p, "reason": r} for p, r in failed],
            "conversions": stats.warnings("inlier images")}
    return det, info


def _reference_codes(model, image_size, channels, opts, device, warn):
    """Codes of the readable unlabelled images at ``opts.reference`` (their own view only)."""
    codes, failed, stats, _ = _encode_source(model, opts.reference, image_size, channels, opts, device, "reference")
    for line in stats.warnings("reference images"):
        warn(line)
    if failed:
        warn(f"{len(failed)} reference images could not be read and were left out (first: "
             f"{failed[0][0]}: {failed[0][1]}).")
    if codes is None:
        raise DataError(f"No readable reference image in {opts.reference}.")
    return codes


def _encode_source(model, path, image_size, channels, opts, device, desc, views=("identity",)):
    """Codes of every readable image at ``path`` in each view, view-major (None if none), the
    failures, the stats, the file count."""
    stats = ConversionStats(image_size, channels)
    parts, failed = [[] for _ in views], []
    with open_images(path) as source, _progress(len(source), f"encoding {desc}", opts.progress) as bar:
        n_files = len(source)
        for batch in read_batches(source, opts.batch_size, image_size, channels, stats):
            failed += [(n, r) for n, r in zip(batch.names, batch.reasons) if r is not None]
            if len(batch.images):
                for part, codes in zip(parts, _encode_views(model, batch.images, device, views)):
                    part.append(codes)
            bar.update(len(batch.names))
    return (torch.cat([c for part in parts for c in part]) if parts[0] else None), failed, stats, n_files


def load_detector(path, device=None):
    """A detector file written by ``corel score --save-detector`` (or ``CorelDetector.save(with_encoder=True)``)."""
    from ..scoring.detector import CorelDetector
    det = CorelDetector.load(path, device=device)     # scikit-learn is imported for detector files only
    if det.encoder is None:
        raise ValueError(f"Detector file {path} holds no encoder (saved without with_encoder=True); corel score "
                         f"needs one to read images. Fit again with `corel score MODEL --inliers ... "
                         f"--save-detector {path}`.")
    meta = det.meta_
    if "image_size" in meta and "channels" in meta:
        size = (int(meta["image_size"]), int(meta["channels"]))
    else:
        size = model_input(det.encoder_spec_[0], det.encoder_spec_[1], meta.get("config"))
    return FolderDetector.from_detector(det), size


def is_detector_file(path) -> bool:
    """Whether ``path`` holds a CorelDetector file (rather than a model checkpoint)."""
    try:
        state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception:
        return False
    return isinstance(state, dict) and state.get("format") == "corel.CorelDetector"


# ----------------------------------------------------------------------------- scoring
def _scores_and_counts(det: FolderDetector, views: list[torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """(novelty scores, neighbour counts) of one batch, each summed over the codes of its views."""
    scores, counts = 0, 0
    for codes in views:
        normality = det.fitted.normality(codes.to(det.fitted.inlier_codes.device))
        scores = scores - normality
        counts = counts + det.fitted.neighbour_counts(codes.to(det.fitted.inlier_codes.device), normality)
    return scores, counts


def threshold_of(det, opts: ScoreOptions) -> tuple[float, str, float | None]:
    """(threshold on the score, how it was chosen, contamination used or None)."""
    if opts.threshold is not None:
        if not math.isfinite(opts.threshold):
            raise ValueError(f"--threshold must be a finite number; got {opts.threshold}.")
        return float(opts.threshold), f"given (--threshold {opts.threshold:g})", None
    c = float(det.contamination if opts.contamination is None else opts.contamination)
    if not 0.0 < c <= 0.5:
        raise ValueError(f"--contamination must lie in (0, 0.5]; got {c}.")
    loo = -np.asarray(det.fitted.training_scores, dtype=np.float64)        # inliers' leave-one-out novelty
    thr = float(np.percentile(loo, 100.0 * (1.0 - c)))
    return thr, (f"contamination {c:g}: the {100 * (1 - c):g}th percentile of the {len(loo)} inliers' "
                 f"leave-one-out scores"), c


def score_images(det, input_size: tuple[int, int], images, out_csv, opts: ScoreOptions,
                 warn=_warn_default) -> dict:
    """Score every image at ``images`` against the fitted ``det`` (encoder attached); write the CSV.

    Returns the summary (also written as JSON beside the CSV; see :func:`summary_path`).
    """
    from ..scoring.views import tta_views
    t0 = time.perf_counter()
    image_size, channels = input_size
    device = det.device
    model = det.encoder
    model.eval()
    thr, thr_source, contamination = threshold_of(det, opts)
    out_csv = Path(out_csv)
    run = {"model": det.meta.get("model"), "inliers": det.meta.get("inliers"), "images": str(images),
           "detector": _detector_params(det), "scorer": _describe(det), "threshold_source": thr_source}
    _check_out_is_free(out_csv, run)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_csv.with_name(out_csv.name + ".partial")
    stats = ConversionStats(image_size, channels)
    k = max(0, int(opts.n_thumbnails))
    most, least = [], []            # heaps of (key, seq, name, score, count, entry)
    n_files = n_scored = n_novel = n_failed = 0
    failures_shown = []
    seq = 0
    views = tta_views(det.tta)
    with open_images(images) as source, open(tmp, "w", newline="", encoding="utf-8") as f, \
            _progress(len(source), "scoring", opts.progress) as bar:
        n_files = len(source)
        writer = csv.writer(f)
        writer.writerow(["path", "score", "count", "verdict", "reason"])
        for batch in read_batches(source, opts.batch_size, image_size, channels, stats):
            if len(batch.images):
                scores, counts = _scores_and_counts(det, _encode_views(model, batch.images, device, views))
            else:
                scores, counts = np.zeros(0), np.zeros(0, dtype=np.int64)
            ok = iter(range(len(scores)))
            for name, reason, entry in zip(batch.names, batch.reasons, batch.entries):
                seq += 1
                if reason is not None:
                    n_failed += 1
                    if len(failures_shown) < 50:
                        failures_shown.append({"path": name, "reason": reason})
                    writer.writerow([name, "", "", "unreadable", reason])
                    continue
                j = next(ok)
                s, c = float(scores[j]), int(counts[j])
                novel = s > thr
                n_novel += novel
                n_scored += 1
                writer.writerow([name, _fmt(s), c, "novel" if novel else "normal", ""])
                if k:
                    _push(most, (s, -seq, name, s, c, entry), k)
                    _push(least, (-s, -seq, name, s, c, entry), k)
            f.flush()
            bar.update(len(batch.names))
    os.replace(tmp, out_csv)
    for line in stats.warnings("images"):
        warn(line)
    if n_failed:
        warn(f"{n_failed} of {n_files} images could not be read; they are in {out_csv} with verdict 'unreadable' "
             f"and the reason.")
    seconds = time.perf_counter() - t0
    summary = {
        "kind": SUMMARY_KIND, "version": 1,
        "csv": out_csv.name, "direction": DIRECTION,
        "n_files": n_files, "n_scored": n_scored, "n_unreadable": n_failed,
        "n_novel": int(n_novel), "threshold": thr, "contamination": contamination, **run,
        "image_size": image_size, "channels": channels, "conversions": stats.warnings("images"),
        "inlier_loo_scores": [float(v) for v in -np.asarray(det.fitted.training_scores, dtype=np.float64)],
        "n_inliers": int(len(det.fitted.training_scores)),
        "unreadable": failures_shown,
        "most_novel": _thumbs(most, reverse=True), "least_novel": _thumbs(least, reverse=True),
        "seconds": round(seconds, 3),
    }
    _write_json(summary_path(out_csv), summary)
    return summary


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else format(x, ".10g")


def _push(heap, item, k) -> None:
    if len(heap) < k:
        heapq.heappush(heap, item)
    elif item[:2] > heap[0][:2]:
        heapq.heapreplace(heap, item)


def _thumbs(heap, reverse: bool) -> list[dict]:
    out = []
    for key, _, name, s, c, entry in sorted(heap, key=lambda t: t[:2], reverse=reverse):
        try:
            png = base64.b64encode(thumbnail_png(entry.read())).decode("ascii")
        except Exception:                          # the file changed since it was scored
            png = None
        out.append({"path": name, "score": s, "count": c, "png_base64": png})
    return out


def _check_out_is_free(out_csv: Path, run: dict) -> None:
    """Refuse to overwrite the scores of another run: ``out_csv`` may be replaced only by the same
    command again (the same model, inliers, images and settings, as its summary JSON records)."""
    summary = summary_path(out_csv)
    if not out_csv.exists() and not summary.exists():
        return
    try:
        before = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = None
    if not isinstance(before, dict) or before.get("kind") != SUMMARY_KIND:
        there = out_csv if out_csv.exists() else summary
        raise FileExistsError(f"{there} exists and is not the output of corel score (no score summary "
                              f"{summary.name}); pass another --out, or move it away first.")
    now = json.loads(json.dumps(run))              # as the summary would record it
    changed = [key for key in now if before.get(key) != now[key]
               and not (key == "model" and _same_file_content(before.get(key), now[key]))]
    if changed:
        verb = "differ" if len(changed) > 1 else "differs"
        raise FileExistsError(f"{out_csv} holds the scores of another run (its {', '.join(changed)} {verb}); "
                              f"pass another --out, or delete {out_csv} and {summary.name} to replace them.")


def _check_detector_file_is_free(path: Path, det: FolderDetector) -> None:
    """Refuse to overwrite a file other than a detector of the same model, inliers, pool and settings."""
    if not path.exists():
        return
    if not is_detector_file(path):
        raise FileExistsError(f"{path} exists and is not a corel detector file; pass another --save-detector, "
                              f"or move it away first.")
    before = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    old_meta, old_params = before.get("meta") or {}, before.get("params") or {}
    changed = [key for key in ("model", "inliers", "reference") if old_meta.get(key) != det.meta.get(key)
               and not (key == "model" and _same_file_content(old_meta.get(key), det.meta.get(key)))]
    changed += [key for key, value in _detector_params(det).items() if _plain_value(old_params.get(key))
                != _plain_value(value)]
    if changed:
        verb = "differ" if len(changed) > 1 else "differs"
        raise FileExistsError(f"{path} holds another fitted detector (its {', '.join(changed)} {verb}); pass another "
                              f"--save-detector, or delete {path} to replace it.")


def _plain_value(v):
    """A saved parameter and a live one compare equal whatever their number type."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def _same_file_content(a, b) -> bool:
    """Whether two model paths hold the same bytes (a shipped model built into another cache folder)."""
    try:
        return Path(a).stat().st_size == Path(b).stat().st_size and file_sha256(a) == file_sha256(b)
    except (OSError, TypeError):
        return False


def _detector_params(det: FolderDetector) -> dict:
    return {"n_branches": det.fitted.n_branches, **{k: det.params[k] for k in ("radius", "scorer", "k", "aggregate",
                                                                                "radius_quantile")},
            "pool_rule": det.fitted.scorer.pool_rule, "contamination": det.contamination, "tta": det.tta}


def _describe(det: FolderDetector) -> str:
    from ..scoring.views import tta_views
    extra = tta_views(det.tta)[1:]
    return det.fitted.scorer.describe() + (f"; test-time views {', '.join(extra)} (scores summed)" if extra else "")


def _write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


# ----------------------------------------------------------------------------- the job
def run_score(model=None, *, detector=None, inliers=None, images=None, out="scores.csv", save_detector=None,
              report=None, opts: ScoreOptions | None = None, warn=_warn_default) -> dict:
    """`corel score`: fit on ``inliers`` with ``model`` (or load ``detector``), optionally save the
    detector, score ``images`` into ``out`` and write ``report`` (HTML). Returns a summary dict
    (``{"detector_file": ...}`` only, when there is nothing to score)."""
    opts = opts or ScoreOptions()
    if model is not None and detector is None and is_detector_file(model):
        model, detector = None, model
    if detector is not None and model is not None:
        raise ValueError("Pass either MODEL (with --inliers) or --detector, not both.")
    if detector is not None and opts.reference is not None:
        raise ValueError(f"--detector {detector} was fitted already (with its reference, if any); to use "
                         f"--reference fit again: corel score MODEL --inliers ... --reference ...")
    if opts.reference is not None and not opts.scorer.startswith("knn"):
        raise ValueError(f"--reference divides knn distances; add --scorer knn-mean (now --scorer {opts.scorer}).")
    if detector is not None and inliers is not None:
        raise ValueError(f"--detector {detector} already holds its inliers; to fit on other inliers pass "
                         f"the model: corel score MODEL --inliers {inliers} ...")
    if detector is None and model is None:
        raise ValueError("Pass MODEL (a model.pt from `corel train`) with --inliers, or --detector DET.pt.")
    if detector is None and inliers is None:
        raise ValueError("--inliers is required with MODEL: a folder, zip or file list of images of the normal "
                         "class (about a hundred is enough).")
    if images is None and save_detector is None:
        raise ValueError("Nothing to do: pass --images to score, and/or --save-detector to keep the fitted detector.")
    if report is not None and images is not None:      # before any work: a report in the way stops the run now
        report = default_report_path(summary_path(out)) if str(report) == "" else Path(report)
        check_report_target(report, summary_path(out))
    if detector is not None:
        det, size = load_detector(detector, device=opts.device)
        if opts.tta is not None and opts.tta != det.tta:
            raise ValueError(f"--detector {detector} was fitted with tta={det.tta!r}; its views are fixed when it "
                             f"is fitted. Drop --tta, or fit again: corel score MODEL --inliers ... --tta {opts.tta}.")
        fit_info = {"detector_file": str(detector)}
    else:
        det, fit_info = fit_detector(model, inliers, opts, warn)
        size = (fit_info["image_size"], fit_info["channels"])
    if save_detector is not None:
        _check_detector_file_is_free(Path(save_detector), det)
        Path(save_detector).parent.mkdir(parents=True, exist_ok=True)
        det.to_detector().save(save_detector, with_encoder=True, encoder_spec=det.encoder_spec, meta=det.meta)
    if images is None:
        return {"detector_file": str(save_detector), **fit_info}
    summary = score_images(det, size, images, out, opts, warn)
    summary.update({k: v for k, v in fit_info.items() if k not in ("image_size", "channels", "conversions")})
    summary["inlier_conversions"] = fit_info.get("conversions", [])
    if save_detector is not None:
        summary["detector_file"] = str(save_detector)
    _write_json(summary_path(out), summary)
    if report is not None:
        from .report import write_report
        summary["report"] = str(write_report(summary_path(out), report))
    return summary


def format_summary(summary: dict, out) -> str:
    """The lines `corel score` prints."""
    lines = [f"scored {summary['n_scored']} of {summary['n_files']} images: {summary['n_novel']} novel "
             f"(score > {summary['threshold']:.4g}; threshold from {summary['threshold_source']})"]
    if summary["n_unreadable"]:
        lines.append(f"{summary['n_unreadable']} unreadable (verdict 'unreadable', reason in the CSV)")
    lines.append(f"scores: {out} (higher = more novel); summary: {summary_path(out)}")
    if summary.get("detector_file"):
        lines.append(f"detector: {summary['detector_file']}")
    if summary.get("report"):
        lines.append(f"report: {summary['report']}")
    return "\n".join(lines)


def options_dict(opts: ScoreOptions) -> dict:
    return asdict(opts)
