"""One self-contained HTML page for a run folder: `corel report RUN_DIR` and the ``--report`` options.

Kinds of folder (:func:`detect_kind`), each with what a person wants to see:

* **train** (``corel train``'s out_dir: ``logs/version_*/metrics.csv``, ``death_histogram.png``,
  ``model.pt``): loss curves, death-time statistics per epoch, the death-time histogram, the
  configuration;
* **evaluate** (``n*/summary.json`` with ``per_class.json``, ``auroc_per_class.png``,
  ``roc_curves.png``): per n, the per-class AUROC table beside the published mean, the bars and
  the ROC curves;
* **compare** (``compare.json``, ``compare.png``): every method's per-class AUROC and mean beside
  the published numbers;
* **score** (``corel score``'s CSV and its JSON summary): the most and least novel images as
  thumbnails with their scores, the score histogram with the threshold.

The page is rendered from jinja2 templates (``corel/templates``); every image is embedded as a
base64 PNG and a Content-Security-Policy forbids any other load, so the file opens offline and
can be mailed as it is. Figures that do not exist as PNGs yet are drawn with matplotlib.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._atomic import atomic_write_text

__all__ = ["KINDS", "check_report_target", "detect_kind", "render_report", "write_report"]

KINDS = ("train", "evaluate", "compare", "score")
SUMMARY_KIND = "corel-score"      # the "kind" of the JSON summary `corel score` writes beside its CSV
_TEMPLATES = Path(__file__).with_name("templates")


# ----------------------------------------------------------------------------- detection
def detect_kind(path) -> tuple[str, Path]:
    """(kind, the file or folder to read) of ``path``; a one-line ValueError when it is none of :data:`KINDS`."""
    p = Path(os.fspath(path))
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist (expected a run folder of corel train, evaluate, compare or "
                                f"score).")
    if p.is_file():
        summary = _score_summary_for(p)
        if summary is not None:
            return "score", summary
        if p.name == "compare.json":
            return "compare", p.parent
        if p.name == "summary.json":
            return "evaluate", p.parent
        if p.name == "model.pt" or p.name == "metrics.csv":
            return "train", p.parent if p.name == "model.pt" else p.parents[2]
        raise ValueError(f"{p} is not a corel result file (a scores CSV or JSON of corel score, compare.json, "
                         f"summary.json or model.pt); pass its folder instead.")
    if (p / "compare.json").is_file():
        return "compare", p
    if _metrics_files(p) or (p / "death_histogram.png").is_file():
        return "train", p
    if _evaluation_dirs(p):
        return "evaluate", p
    summaries = sorted(q for q in p.glob("*.json") if _score_summary_for(q) is not None)
    if summaries:
        return "score", summaries[0]
    raise ValueError(f"{p} is not a corel run folder: found no logs/version_*/metrics.csv or death_histogram.png "
                     f"(train), no n*/summary.json (evaluate), no compare.json (compare) and no scores JSON "
                     f"(score).")


def summary_path(csv_path) -> Path:
    """The JSON summary written beside a scores CSV: ``scores.csv`` -> ``scores.json``."""
    p = Path(csv_path)
    return p.with_suffix(".json") if p.suffix.lower() == ".csv" else p.with_name(p.name + ".json")


def _score_summary_for(p: Path) -> Path | None:
    """The score summary JSON that ``p`` is (or, for a scores CSV, that lies beside it), else None."""
    cand = summary_path(p) if p.suffix.lower() == ".csv" else p
    if cand.suffix.lower() != ".json" or not cand.is_file():
        return None
    try:
        with open(cand, encoding="utf-8") as f:
            head = f.read(200)
        if SUMMARY_KIND not in head:
            return None
        data = json.loads(cand.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cand if isinstance(data, dict) and data.get("kind") == SUMMARY_KIND else None


def _metrics_files(run: Path) -> list[Path]:
    files = [p for p in (run / "logs").glob("version_*/metrics.csv")] if (run / "logs").is_dir() else []
    return sorted(files, key=lambda p: _version_number(p.parent.name))


def _version_number(name: str) -> int:
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) if m else -1


def _evaluation_dirs(root: Path) -> list[Path]:
    """Folders holding summary.json + per_class.json: root itself, its n*/ folders, or deeper (demo runs)."""
    def ok(d: Path) -> bool:
        return (d / "summary.json").is_file() and (d / "per_class.json").is_file()
    if ok(root):
        return [root]
    found = [d for d in root.glob("n*") if d.is_dir() and ok(d)]
    if not found:
        found = [p.parent for p in root.glob("**/summary.json") if ok(p.parent)][:60]
    return sorted(found, key=lambda d: (str(d.parent), _version_number(d.name), str(d)))


# ----------------------------------------------------------------------------- rendering helpers
def _env():
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
                              autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def _png_src(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figure_of_png(data: bytes, alt: str, caption: str = "") -> dict:
    from PIL import Image
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
        if img.format != "PNG":                  # embed PNG only (one data type in the CSP)
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            data = buf.getvalue()
    return {"src": _png_src(data), "alt": alt, "caption": caption, "width": w, "height": h}


def _figure_of_file(path: Path, alt: str, caption: str = "") -> dict | None:
    try:
        return _figure_of_png(path.read_bytes(), alt, caption)
    except (OSError, ValueError):
        return None


def _figure_of_mpl(fig, alt: str, caption: str = "") -> dict:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return _figure_of_png(buf.getvalue(), alt, caption)


def _new_figure(width: float, height: float, ncols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")      # no pyplot: no global state
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols)
    return fig, (axes if ncols > 1 else [axes])


def _page(template: str, heading: str, subtitle: str, source: str, **context) -> str:
    from .. import __version__ as version
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _env().get_template(template).render(title=heading, heading=heading, subtitle=subtitle, version=version,
                                                created=created, source=source, **context)


def _value_text(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_value_text(x) for x in v)
    return "" if v is None else str(v)


def _floats(row: dict, key: str) -> float | None:
    v = row.get(key, "")
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ----------------------------------------------------------------------------- train
def _train_context(run: Path) -> tuple[str, str, dict]:
    epochs: dict[int, dict] = {}
    steps: dict[int, float] = {}
    for path in _metrics_files(run):              # later versions (resumed runs) override earlier epochs
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                ep = _floats(row, "epoch")
                step = _floats(row, "step")
                if _floats(row, "loss_step") is not None and step is not None:
                    steps[int(step)] = _floats(row, "loss_step")
                if ep is not None and _floats(row, "loss_epoch") is not None:
                    epochs[int(ep)] = {k: _floats(row, k) for k in row}
    config = _train_config(run)
    eta = config.get("eta", 2.0)
    lam = config.get("lam")
    loss_figure = death_figure = None
    ep = sorted(epochs)
    if ep:
        fig, (ax,) = _new_figure(7.0, 3.6)
        if steps:
            s = sorted(steps)
            ax.plot(_step_epochs(s, epochs), [steps[k] for k in s], color="0.75", lw=0.8, label="loss (logged steps)")
        for key, label, color in (("loss_epoch", "total loss", "C0"), ("rec", "reconstruction", "C1"),
                                  ("conn", "connectivity", "C2")):
            ys = [epochs[e].get(key) for e in ep]
            if any(y is not None for y in ys):
                ax.plot([e + 1 for e in ep], [np.nan if y is None else y for y in ys], "o-", ms=3, color=color,
                        label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (epoch mean)")
        if all(v is None or v > 0 for e in ep for v in (epochs[e].get("loss_epoch"),)):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        cap = ("Epoch means of the training loss and its parts; grey: the loss at the logged steps. "
               + (f"Total = reconstruction + {lam:g} x connectivity." if isinstance(lam, (int, float)) else ""))
        loss_figure = _figure_of_mpl(fig, "loss curves", cap)
        if any(epochs[e].get("death_mean") is not None for e in ep):
            fig, (ax,) = _new_figure(7.0, 3.2)
            for key, label, style in (("death_min", "min", "--"), ("death_mean", "mean", "-"),
                                      ("death_max", "max", ":")):
                ys = [epochs[e].get(key) for e in ep]
                ax.plot([e + 1 for e in ep], [np.nan if y is None else y for y in ys], style, marker="o", ms=3,
                        color="C3", label=f"death time {label}")
            if isinstance(eta, (int, float)):
                ax.axhline(eta, color="k", lw=1, alpha=0.6, label=f"eta = {eta:g}")
            ax.set_xlabel("epoch")
            ax.set_ylabel("0-dim death time (l1)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
            death_figure = _figure_of_mpl(fig, "death times per epoch",
                                          "Death times of the batches' codes per epoch (min, mean, max over the "
                                          "branches and batches); the connectivity loss pulls them to eta.")
    histogram = None
    if (run / "death_histogram.png").is_file():
        histogram = _figure_of_file(run / "death_histogram.png", "death-time histogram",
                                    "Death-time histogram of the codes at the start and the end of training.")
    last = epochs[ep[-1]] if ep else {}
    times = [epochs[e].get("epoch_time_s") for e in ep if epochs[e].get("epoch_time_s") is not None]
    context = {
        "epochs": len(ep), "final_loss": last.get("loss_epoch"), "final_death": last.get("death_mean"), "eta": eta,
        "train_time": _duration(sum(times)) if times else None,
        "loss_figure": loss_figure, "death_figure": death_figure, "histogram": histogram,
        "config": [(k, _value_text(v)) for k, v in sorted(config.items())],
    }
    name = config.get("dataset", "?")
    return "train.html", f"Training run: {run.name}", f"{run} · data set {name}", context


def _step_epochs(steps: list[int], epochs: dict[int, dict]) -> list[float]:
    """Each logged step's place on the epoch axis (epoch e, 0-based, ends at e + 1), from the epochs' last steps."""
    ends = sorted((int(row["step"]), e) for e, row in epochs.items() if row.get("step") is not None)
    if not ends:
        return [float(s) for s in steps]
    out = []
    for s in steps:
        j = next((i for i, (end, _) in enumerate(ends) if end >= s), len(ends) - 1)
        end, e = ends[j]
        prev = ends[j - 1][0] if j else -1
        span = max(1, end - prev)
        out.append(e + (s - prev) / span)
    return out


def _train_config(run: Path) -> dict:
    for path in reversed(_metrics_files(run)):
        hp = path.with_name("hparams.yaml")
        if hp.is_file():
            import yaml
            try:
                data = yaml.safe_load(hp.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError:
                continue
            cfg = data.get("config") if isinstance(data, dict) else None
            if isinstance(cfg, dict):
                return cfg
    if (run / "model.pt").is_file():
        from ..training.checkpoints import CheckpointError, load_checkpoint
        try:
            return dict(load_checkpoint(run / "model.pt").get("config") or {})
        except CheckpointError:
            return {}
    return {}


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else (f"{m} min {s:02d} s" if m else f"{s} s")


# ----------------------------------------------------------------------------- evaluate
def _evaluate_context(root: Path) -> tuple[str, str, dict]:
    sections = []
    for d in _evaluation_dirs(root):
        summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        rows = json.loads((d / "per_class.json").read_text(encoding="utf-8"))
        draw_cols = sorted((k for k in (rows[0] if rows else {}) if k.startswith("draw_")),
                           key=_version_number)
        pub = summary.get("published_mean_auroc")
        figures = [f for f in (
            _figure_of_file(d / "auroc_per_class.png", "AUROC per class",
                            "Mean AUROC per class over the draws, with the std as error bars."),
            _figure_of_file(d / "roc_curves.png", "ROC curves", "ROC curves of the first draw, one per class."),
        ) if f is not None]
        rel = d.relative_to(root) if d != root else Path(d.name)
        keys = ("dataset", "trained_on", "lam", "scorer", "radius", "n_branches", "protocol", "n_test", "seed",
                "checkpoint", "checkpoint_sha256", "seconds")
        sections.append({
            "title": f"{rel} · n = {summary.get('n')} · {summary.get('dataset', '')}",
            "mean": float(summary["mean_auroc"]), "std": float(summary.get("std_auroc", 0.0)),
            "published": pub, "published_text": f"{pub:.2f}" if isinstance(pub, (int, float)) else "–",
            "n": summary.get("n"), "draws": summary.get("draws"), "draw_cols": [c.replace("_", " ") for c in draw_cols],
            "rows": [{"name": r["class"], "mean": float(r["mean"]), "std": float(r["std"]),
                      "draws": [float(r[c]) for c in draw_cols]} for r in rows],
            "figures": figures,
            "settings": [(k, _value_text(summary[k])) for k in keys if k in summary],
        })
    first = json.loads((_evaluation_dirs(root)[0] / "summary.json").read_text(encoding="utf-8"))
    sub = f"{root} · model trained on {first.get('trained_on', '?')}, evaluated on {first.get('dataset', '?')}"
    return "evaluate.html", f"One-class evaluation: {root.name}", sub, {"sections": sections}


# ----------------------------------------------------------------------------- compare
def _compare_context(root: Path) -> tuple[str, str, dict]:
    table = json.loads((root / "compare.json").read_text(encoding="utf-8"))
    classes = list(table.get("classes", []))
    rows = []
    for r in table.get("rows", []):
        per = r.get("per_class", {}) or {}
        cells = [f"{per[c]:.2f}" if isinstance(per.get(c), (int, float)) else (r.get("status", {}) or {}).get(c, "–")
                 for c in classes]
        mean = r.get("mean")
        rows.append({"title": r.get("title", r.get("method")), "cells": cells,
                     "mean": f"{mean:.2f}" if isinstance(mean, (int, float)) else "–",
                     "published": r.get("published") or "–", "training": r.get("training", ""),
                     "seconds": f"{r['seconds']:.0f}" if isinstance(r.get("seconds"), (int, float)) else ""})
    notes = [f"{r.get('title')}: {n}" for r in table.get("rows", []) for n in (r.get("notes") or [])]
    figures = [f for f in (_figure_of_file(root / "compare.png", "mean AUROC per method",
                                           "Mean AUROC per method beside the published numbers."),) if f]
    keys = ("dataset", "profile", "train_size", "n", "draws", "seed", "image_size", "n_test")
    settings = [(k, _value_text(table[k])) for k in keys if k in table]
    sub = f"{root} · {table.get('dataset', '?')}, profile {table.get('profile', '?')}"
    return "compare.html", f"COREL beside the baselines: {root.name}", sub, {
        "classes": classes, "rows": rows, "notes": notes, "figures": figures, "settings": settings}


# ----------------------------------------------------------------------------- score
def _score_context(summary_file: Path) -> tuple[str, str, dict]:
    s = json.loads(summary_file.read_text(encoding="utf-8"))
    csv_path = summary_file.with_name(s.get("csv", summary_file.stem + ".csv"))
    scores = _read_scores(csv_path)
    thr = float(s["threshold"])

    def card(it):
        return {"src": _png_src(base64.b64decode(it["png_base64"])) if it.get("png_base64") else None,
                "path": it["path"], "score_text": f"score {_num(it['score'])}", "count": it.get("count", ""),
                "verdict": "novel" if it["score"] > thr else "normal"}

    histogram = None
    inl = np.asarray(s.get("inlier_loo_scores") or [], dtype=np.float64)
    if len(scores):
        fig, (ax,) = _new_figure(7.5, 3.6)
        both = np.concatenate([scores, inl]) if len(inl) else scores
        edges = np.histogram_bin_edges(both, bins=min(60, max(10, int(np.sqrt(len(both))))))
        ax.hist(scores, bins=edges, weights=np.full(len(scores), 1 / len(scores)), color="C0", alpha=0.75,
                label=f"scored images ({len(scores)})")
        if len(inl):
            ax.hist(inl, bins=edges, weights=np.full(len(inl), 1 / len(inl)), histtype="step", lw=1.6, color="C2",
                    label=f"inliers, leave-one-out ({len(inl)})")
        ax.axvline(thr, color="C3", lw=1.8, ls="--", label=f"threshold {_num(thr)}")
        ax.set_xlabel("score (higher = more novel)")
        ax.set_ylabel("share of images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        histogram = _figure_of_mpl(fig, "score histogram",
                                   "Scores of the scored images and the inliers' leave-one-out scores (each inlier "
                                   "against the others); images right of the dashed line are flagged novel.")
    det = s.get("detector", {})
    settings = [("model", s.get("model")), ("detector file", s.get("detector_file")), ("inliers", s.get("inliers")),
                ("images", s.get("images")), ("scores CSV", str(csv_path)), ("scorer", s.get("scorer")),
                ("n_branches", det.get("n_branches")), ("radius", det.get("radius")),
                ("model input", f"{s.get('image_size')}x{s.get('image_size')}, {s.get('channels')} channel(s)"),
                ("threshold", f"{_num(thr)} ({s.get('threshold_source')})"), ("seconds (scoring)", s.get("seconds"))]
    warnings_ = list(s.get("inlier_conversions") or []) + list(s.get("conversions") or [])
    if s.get("inlier_failures"):
        warnings_.append(f"{len(s['inlier_failures'])} inlier images could not be read and were left out "
                         f"(first: {s['inlier_failures'][0]['path']}: {s['inlier_failures'][0]['reason']}).")
    rows, n_flagged, n_thumbs = _all_rows(csv_path, thr)
    context = {"s": s, "most": [card(i) for i in s.get("most_novel", [])], "rows": rows, "n_flagged": n_flagged,
               "n_thumbs": n_thumbs, "show_count": det.get("scorer") == "count", "inline_script": True,
               "least": [card(i) for i in s.get("least_novel", [])], "histogram": histogram,
               "unreadable": s.get("unreadable", []), "warnings": warnings_,
               "settings": [(k, _value_text(v)) for k, v in settings if v is not None]}
    return "score.html", f"Novelty scores: {Path(str(s.get('images', ''))).name or summary_file.stem}", \
        f"{s.get('images')} against {s.get('n_inliers')} inliers · {s.get('scorer')}", context


MAX_THUMBNAILS = 300   # flagged images shown as thumbnails in the table (the page stays a few MB)


def _all_rows(csv_path: Path, thr: float) -> tuple[list[dict], int, int]:
    """Every scored row of the CSV, most novel first, with a thumbnail for the most novel flagged ones."""
    from ..data.imagefiles import thumbnail_png
    if not csv_path.is_file():
        return [], 0, 0
    with open(csv_path, newline="", encoding="utf-8") as f:
        scored = [(float(r["score"]), r["path"]) for r in csv.DictReader(f) if r.get("score")]
    scored.sort(key=lambda t: -t[0])
    rows, n_flagged, n_thumbs = [], 0, 0
    for rank, (score, path) in enumerate(scored, start=1):
        novel = score > thr
        n_flagged += novel
        src = None
        if novel and n_thumbs < MAX_THUMBNAILS:
            data = _file_bytes(path)
            if data is not None:
                try:
                    src, n_thumbs = _png_src(thumbnail_png(data, 96)), n_thumbs + 1
                except Exception:   # a file changed since it was scored: the row stays, without a picture
                    src = None
        rows.append({"rank": rank, "score": f"{score:.6g}", "score_text": _num(score), "path": path,
                     "verdict": "novel" if novel else "normal", "src": src})
    return rows, n_flagged, n_thumbs


def _file_bytes(path: str) -> bytes | None:
    """The bytes of a scored file (``archive.zip:member`` for zip members), or None if it is gone."""
    try:
        if Path(path).is_file():
            return Path(path).read_bytes()
        zip_path, sep, member = path.partition(".zip:")
        if sep and Path(zip_path + ".zip").is_file():
            import zipfile
            with zipfile.ZipFile(zip_path + ".zip") as zf:
                return zf.read(member)
    except (OSError, KeyError, ValueError):
        pass
    return None


def _read_scores(csv_path: Path) -> np.ndarray:
    if not csv_path.is_file():
        return np.zeros(0)
    with open(csv_path, newline="", encoding="utf-8") as f:
        return np.fromiter((float(r["score"]) for r in csv.DictReader(f) if r.get("score")), dtype=np.float64)


def _num(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.4g}"


# ----------------------------------------------------------------------------- entry points
_BUILDERS = {"train": _train_context, "evaluate": _evaluate_context, "compare": _compare_context,
             "score": _score_context}


def render_report(path, kind: str | None = None, out=None) -> str:
    """The HTML page of a run folder (or a score summary / CSV) as a string; ``out``, where it will be
    written, lets the page name its source relative to itself (so a copied tree keeps its pages)."""
    found, where = detect_kind(path)
    if kind is not None and kind != found:
        raise ValueError(f"{path} looks like a {found} folder, not {kind}.")
    template, heading, subtitle, context = _BUILDERS[found](where)
    return _page(template, heading, subtitle, _source_tag(where, out), **context)


def default_report_path(path) -> Path:
    """Where ``corel report PATH`` writes without ``--out``: ``report.html`` in the folder of PATH."""
    p = Path(os.fspath(path))
    return (p if p.is_dir() else p.parent) / "report.html"


def write_report(path, out=None, kind: str | None = None) -> Path:
    """Write :func:`render_report`'s page to ``out`` (default: ``report.html`` in the run folder); returns its path."""
    out = default_report_path(path) if out is None or str(out) == "" else Path(os.fspath(out))
    check_report_target(out, detect_kind(path)[1])
    atomic_write_text(out, render_report(path, kind, out))
    return out


_SOURCE_META = re.compile(r'<meta name="corel-source" content="([^"]*)">')


def _source_tag(source, out=None) -> str:
    """What a page records of its source: the path relative to the page's folder (absolute without one)."""
    source = Path(os.fspath(source)).resolve()
    if out is None:
        return str(source)
    try:
        return os.path.relpath(source, Path(os.fspath(out)).resolve().parent)
    except ValueError:          # another drive
        return str(source)


def check_report_target(out, source) -> None:
    """Refuse to replace a file at ``out`` unless it is corel's report of the same ``source`` (the run
    folder or score summary the page is rendered from, as its ``corel-source`` tag records)."""
    out = Path(os.fspath(out))
    if not out.exists():
        return
    try:
        with open(out, encoding="utf-8", errors="replace") as f:
            found = _SOURCE_META.search(f.read(4096))
    except OSError as e:
        raise FileExistsError(f"{out} exists and cannot be read ({e.strerror}); pass another report path.") from None
    if found is None:
        raise FileExistsError(f"{out} exists and is not a corel report that names its source (another file, or a "
                              f"page of an earlier corel); pass another report path, or move it away first.")
    recorded = html.unescape(found.group(1))
    if (out.resolve().parent / recorded).resolve() != Path(os.fspath(source)).resolve():
        raise FileExistsError(f"{out} is the report of another run ({recorded}); pass another report path, or "
                              f"delete it to replace it.")
