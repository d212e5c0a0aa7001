"""Write the `corel score` example as PNG files: scikit-learn's digits as a user's own folders would be.

    python scripts/digits_pngs.py runs/digits-pngs

writes ``inliers/`` (100 zeros) and ``images/zeros/`` (70 other zeros) and ``images/others/``
(70 digits 1-9, drawn with ``--seed``), as 8 x 8 grey PNGs (sklearn's pixels scaled 0..16 -> 0..255),
and ``truth.csv`` (path, novel: 1 for a digit other than 0) to compute the AUROC of a scores CSV;
``--reference N`` also writes ``reference/``: N unlabelled digits of every class, none of them in
``inliers/`` or ``images/`` (for ``corel score --scorer knn-mean --reference``):

    python scripts/digits_pngs.py runs/digits-pngs --auroc runs/score/scores.csv
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def write_pngs(root: Path, seed: int = 0, n_inliers: int = 100, n_zeros: int = 70, n_others: int = 70,
               n_reference: int = 0) -> Path:
    from PIL import Image
    from sklearn.datasets import load_digits
    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    zeros = np.flatnonzero(bunch.target == 0)
    others = np.random.default_rng(seed).choice(np.flatnonzero(bunch.target != 0), n_others, replace=False)
    used = np.concatenate([zeros[:n_inliers + n_zeros], others])
    free = np.setdiff1d(np.arange(len(x)), used)
    reference = np.sort(np.random.default_rng(seed + 1).choice(free, min(n_reference, len(free)), replace=False))
    truth = []
    for sub, idx, novel in (("inliers", zeros[:n_inliers], None), ("images/zeros", zeros[n_inliers:n_inliers + n_zeros], 0),
                            ("images/others", np.sort(others), 1), ("reference", reference, None)):
        if len(idx) == 0:
            continue
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in idx:
            path = root / sub / f"{i:04d}.png"
            Image.fromarray(x[i]).save(path)
            if novel is not None:
                truth.append((path.relative_to(root).as_posix(), novel))
    with open(root / "truth.csv", "w", newline="") as f:
        csv.writer(f).writerows([("path", "novel"), *truth])
    return root


def auroc(scores_csv: Path, root: Path) -> float:
    """AUROC of the CSV's score (higher = more novel) against truth.csv, matched on the path's tail."""
    from sklearn.metrics import roc_auc_score
    truth = {row["path"]: int(row["novel"]) for row in csv.DictReader(open(root / "truth.csv"))}
    y, s = [], []
    for row in csv.DictReader(open(scores_csv)):
        key = next((k for k in truth if row["path"].replace("\\", "/").endswith(k)), None)
        if key is not None and row["score"]:
            y.append(truth[key])
            s.append(float(row["score"]))
    return float(roc_auc_score(y, s))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="output folder")
    ap.add_argument("--seed", type=int, default=0, help="which 70 other digits")
    ap.add_argument("--reference", type=int, default=0, metavar="N",
                    help="also write N unlabelled digits of every class to reference/ (disjoint from the rest)")
    ap.add_argument("--auroc", type=Path, default=None, metavar="SCORES_CSV",
                    help="print the AUROC of this scores CSV against the folder's truth.csv instead")
    args = ap.parse_args()
    if args.auroc is not None:
        print(f"AUROC {auroc(args.auroc, args.root):.4f} ({args.auroc} against {args.root / 'truth.csv'})")
        return
    write_pngs(args.root, args.seed, n_reference=args.reference)
    print(f"100 inliers in {args.root / 'inliers'}, 140 images to score in {args.root / 'images'}"
          + (f", {args.reference} unlabelled in {args.root / 'reference'}" if args.reference else ""))


if __name__ == "__main__":
    main()
