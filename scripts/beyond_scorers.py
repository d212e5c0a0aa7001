"""Score trained models with every label-free scorer of corel.scoring.scorer, on one protocol.

The validation protocol (``--protocol validation``, the default) needs models trained with
``--holdout``: inliers are drawn from the training split minus the hold-out, the hold-out is
scored one vs rest. This is where scorers and recipes are chosen; the test split is used once
per chosen configuration (``--protocol test``).

    python scripts/beyond_scorers.py RUN_DIR [RUN_DIR ...] --data-root ../shared/data/cifar10-jpeg \
        --out results/cifar10-beyond/validation_scorers.md

Each RUN_DIR holds a ``model.pt``. Writes a Markdown table (and a CSV beside it): one row per
(model, scorer, n) with the mean AUROC x 100 over classes, the std over draws averaged over
classes, and the worst class.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import torch

from corel.training.checkpoints import load_checkpoint, load_model
from corel.protocols.oneclass import evaluate_one_class
from corel.protocols.jobs import EvalSpec, protocol_codes
from corel.scoring.scorer import Scorer
from corel.scoring.views import tta_views

SCORERS = {
    "count r=2 (paper)": Scorer(),
    "count r=auto q.25": Scorer(radius="auto", radius_quantile=0.25),
    "count r=auto q.5": Scorer(radius="auto", radius_quantile=0.5),
    "count r=auto q.75": Scorer(radius="auto", radius_quantile=0.75),
    "soft r=2": Scorer(kind="soft"),
    "soft r=auto q.5": Scorer(kind="soft", radius="auto"),
    "soft r=auto q.5 median": Scorer(kind="soft", radius="auto", aggregate="median"),
    "knn mean k=1": Scorer(kind="knn", k=1),
    "knn mean k=2": Scorer(kind="knn", k=2),
    "knn mean k=3": Scorer(kind="knn", k=3),
    "knn mean k=5": Scorer(kind="knn", k=5),
    "knn mean k=10": Scorer(kind="knn", k=10),
    "knn mean k=20": Scorer(kind="knn", k=20),
    "knn kth k=5": Scorer(kind="knn", k=5, k_stat="kth"),
    "knn mean k=5 max": Scorer(kind="knn", k=5, aggregate="max"),
    "knn mean k=5 median": Scorer(kind="knn", k=5, aggregate="median"),
    "knn ratio k=5 ref=2000": Scorer(kind="knn", k=5, reference=2000),
    "knn ratio k=5 ref=8000": Scorer(kind="knn", k=5, reference=8000),
    "knn ratio k=5 ref=20000": Scorer(kind="knn", k=5, reference=20000),
    "knn ratio k=10 ref=8000": Scorer(kind="knn", k=10, reference=8000),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="training run folders (each with model.pt), or checkpoint files")
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--dataset", default="cifar10-jpeg")
    ap.add_argument("--protocol", default="validation", choices=["validation", "test"])
    ap.add_argument("--n", default="120", help="comma-separated inlier counts")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--scorers", default="all", help="semicolon-separated names of SCORERS, or all")
    ap.add_argument("--tta", default="off,flips",
                    help="comma-separated test-time modes of corel.scoring.views.TTA_MODES (off, flips, flips-shifts; "
                         "'on' = flips, 'both' = off,flips): inliers in every view, a query's scores summed")
    ap.add_argument("--out", required=True, help="Markdown table to write (a .csv goes beside it)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = list(SCORERS) if args.scorers == "all" else [s.strip() for s in args.scorers.split(";")]
    ns = [int(v) for v in args.n.split(",")]
    rows = []
    modes = [m.strip() for m in {"on": "flips", "both": "off,flips"}.get(args.tta, args.tta).split(",")]
    for mode in modes:
        tta_views(mode)
    for run in args.runs:
        path = Path(run) / "model.pt" if Path(run).is_dir() else Path(run)
        label = Path(run).name if Path(run).is_dir() else f"{path.parent.parent.name}/{path.name}"
        ck, model = load_checkpoint(path), load_model(path)
        spec = EvalSpec(dataset=args.dataset, data_root=args.data_root, protocol=args.protocol, progress=False)
        tr, tr_y, te, te_y, classes = protocol_codes(path, model, ck, spec, path.parent / "codes")
        extra = {v: protocol_codes(path, model, ck, spec, path.parent / "codes", view=v)
                 for mode in modes for v in tta_views(mode)[1:]}
        for name in names:
            for n in ns:
                for mode in modes:
                    t0 = time.perf_counter()
                    names_ = tta_views(mode)[1:]
                    views = dict(train_views=[extra[v][0] for v in names_], test_views=[extra[v][2] for v in names_])
                    res = evaluate_one_class(tr, tr_y, te, te_y, n=n, draws=args.draws, class_names=classes,
                                             n_branches=ck["model_args"]["n_branches"], scorer=SCORERS[name], **views)
                    worst = min(zip(res.per_class_mean, res.class_names))
                    rows.append({"model": label, "scorer": name + {"off": "", "flips": " +flip"}.get(mode, f" +{mode}"), "n": n,
                                 "mean": round(res.mean, 2), "std": round(res.std, 2),
                                 "worst_class": f"{worst[1]} {worst[0]:.1f}",
                                 "seconds": round(time.perf_counter() - t0, 1)})
                    print(rows[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [f"Protocol: {args.protocol}; {args.draws} draws; mean AUROC x 100 over classes (std over draws, "
             f"averaged over classes); worst class.", "",
             "| model | scorer | n | mean | std | worst class |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['scorer']} | {r['n']} | {r['mean']:.2f} | {r['std']:.2f} | {r['worst_class']} |"
              for r in rows]
    out.write_text("\n".join(lines) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
