"""Prototype (session 7): knn distance to the inliers against the distance to an unlabelled pool.

A query in a dense part of image space (a dog among many animals) is close to anything, cats
included; the knn scorer reads that as normal for "cat". Dividing by the query's distance to an
unlabelled pool of training images (no labels: the images the encoder was trained on) asks
instead "closer to the cats than to images in general?", a density ratio p(x | class) / p(x).
Variants, per branch b with d_b the mean l1 distance to the k = 5 nearest (views added):
  diff   -sum_b (d_b(q, inliers) - d_b(q, pool))
  ratio  -sum_b log(d_b(q, inliers) / d_b(q, pool))
Validation protocol (the 5,000 held-out training images scored, inliers drawn as corel.protocols.oneclass
draws them from the other 45,000; the pool: M of those 45,000 drawn once, labels unused).

    python scripts/prototypes/pool_ratio.py results/cifar10-beyond/models/ctr300-rec01-t01 [n] [draws] [M]
"""
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from corel.training.checkpoints import load_checkpoint, load_model
from corel.protocols.oneclass import draw_rng
from corel.protocols.jobs import EvalSpec, protocol_codes
from corel.scoring.scorer import Scorer
from corel.scoring.views import tta_views

torch.set_num_threads(1)
run = Path(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 120
draws = int(sys.argv[3]) if len(sys.argv) > 3 else 5
M = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
path = run / "model.pt"
ck, model = load_checkpoint(path), load_model(path)
B = ck["model_args"]["n_branches"]
spec = EvalSpec(dataset="cifar10-jpeg", data_root="../shared/data/cifar10-jpeg", protocol="validation", progress=False)
views = tta_views("flips-shifts")
codes = [protocol_codes(path, model, ck, spec, run / "codes", view=v) for v in views]
y_tr, y_te = np.asarray(codes[0][1]), np.asarray(codes[0][3])
classes = list(codes[0][4])
tr = [c[0].double() for c in codes]
te = [c[2].double() for c in codes]
w = tr[0].shape[1] // B
knn = Scorer(kind="knn", k=5)


def per_branch(queries, inliers):
    """(B, Q): each branch's mean l1 distance of the queries to their 5 nearest inliers."""
    return torch.stack([-knn.score(queries[:, b * w:(b + 1) * w], inliers[:, b * w:(b + 1) * w], 1)
                        for b in range(B)])


t0 = time.perf_counter()
pool_idx = np.random.default_rng(12345).choice(len(y_tr), size=M, replace=False)
pool = tr[0][pool_idx]                                                      # identity view only
d_pool = [per_branch(q, pool) for q in te]                                  # per query view (B, Q)
print(f"pool of {M}: {time.perf_counter() - t0:.0f} s", flush=True)

VARIANTS = ("knn (corel)", "diff", "ratio")
auc = {v: np.zeros((len(classes), draws)) for v in VARIANTS}
for ci, c in enumerate(np.unique(y_tr)):
    members = np.flatnonzero(y_tr == c)
    pos = y_te == c
    for d in range(draws):
        pick = members[draw_rng(0, ci, d).choice(len(members), size=n, replace=False)]
        inl = torch.cat([t[pick] for t in tr])
        d_in = [per_branch(q, inl) for q in te]
        scores = {"knn (corel)": -sum(x.sum(0) for x in d_in),
                  "diff": -sum((x - p).sum(0) for x, p in zip(d_in, d_pool)),
                  "ratio": -sum(torch.log(x / p.clamp_min(1e-12)).sum(0) for x, p in zip(d_in, d_pool))}
        for v, s in scores.items():
            auc[v][ci, d] = 100 * roc_auc_score(pos, s.numpy())
    print(f"{classes[ci]}: " + ", ".join(f"{v} {auc[v][ci].mean():.2f}" for v in VARIANTS),
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
print(f"\n{run.name}, validation, n = {n}, {draws} draws, flips-shifts, pool {M}; mean AUROC x 100 (worst class):")
for v in VARIANTS:
    m = auc[v].mean(1)
    print(f"  {v:14s} {m.mean():.2f}  ({classes[int(m.argmin())]} {m.min():.1f})")
