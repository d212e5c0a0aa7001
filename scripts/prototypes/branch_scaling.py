"""Prototype (session 7): does putting the branches on one scale help the knn scorer?

The knn scorer adds the 16 branches' mean l1 distances to the 5 nearest inliers; a loose branch
(large distances everywhere) weighs more in that sum than a tight one. Here each branch's
distance is divided by its typical distance among the inliers themselves (the mean of their
leave-one-image-out knn distances in that branch; all views of one image left out together), or
standardised by the mean and std of those. Validation protocol (the 5,000 held-out training
images, inliers from the other 45,000, the draws of corel.protocols.oneclass.draw_rng), flips-shifts views.

    python scripts/prototypes/branch_scaling.py results/cifar10-beyond/models/ctr300-rec01-t01 [n] [draws]
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
path = run / "model.pt"
ck, model = load_checkpoint(path), load_model(path)
B = ck["model_args"]["n_branches"]
spec = EvalSpec(dataset="cifar10-jpeg", data_root="../shared/data/cifar10-jpeg", protocol="validation", progress=False)
views = tta_views("flips-shifts")
codes = [protocol_codes(path, model, ck, spec, run / "codes", view=v) for v in views]
y_tr, y_te, classes = np.asarray(codes[0][1]), np.asarray(codes[0][3]), list(codes[0][4])
tr = [c[0].double() for c in codes]
te = [c[2].double() for c in codes]
w = tr[0].shape[1] // B
knn = Scorer(kind="knn", k=5)


def per_branch(queries, inliers):
    """(B, Q): each branch's mean l1 distance of the queries to their 5 nearest inliers."""
    return torch.stack([-knn.score(queries[:, b * w:(b + 1) * w], inliers[:, b * w:(b + 1) * w], 1)
                        for b in range(B)])


def loo_per_branch(inliers, groups):
    """(B, m): each inlier's distance to its 5 nearest inliers of other images, per branch."""
    return torch.stack([-knn.score_leave_one_out(inliers[:, b * w:(b + 1) * w], 1, groups=groups)
                        for b in range(B)])


VARIANTS = ("sum (corel's knn)", "divided by the inliers' mean", "standardised")
auc = {v: np.zeros((len(classes), draws)) for v in VARIANTS}
t0 = time.perf_counter()
for ci, c in enumerate(np.unique(y_tr)):      # labels in sorted order, as corel.protocols.oneclass draws them
    members = np.flatnonzero(y_tr == c)
    pos = y_te == c
    for d in range(draws):
        pick = members[draw_rng(0, ci, d).choice(len(members), size=n, replace=False)]
        inl = torch.cat([t[pick] for t in tr])                                   # (n x views, D)
        groups = torch.arange(n).repeat(len(views))
        loo = loo_per_branch(inl, groups)                                        # (B, n x views)
        mu, sd = loo.mean(1, keepdim=True), loo.std(1, keepdim=True)
        dist = sum(per_branch(q, inl) for q in te)                               # (B, Q), views added
        nv = len(views)
        scores = {VARIANTS[0]: -dist.sum(0), VARIANTS[1]: -(dist / mu).sum(0),
                  VARIANTS[2]: -((dist / nv - mu) / sd).sum(0)}
        for v, s in scores.items():
            auc[v][ci, d] = 100 * roc_auc_score(pos, s.numpy())
    print(f"{classes[ci]}: " + ", ".join(f"{v} {auc[v][ci].mean():.2f}" for v in VARIANTS),
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
print(f"\n{run.name}, validation, n = {n}, {draws} draws, flips-shifts; mean AUROC x 100 (worst class):")
for v in VARIANTS:
    m = auc[v].mean(1)
    print(f"  {v:32s} {m.mean():.2f}  ({classes[int(m.argmin())]} {m.min():.1f})")
