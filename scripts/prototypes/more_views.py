"""Prototype (session 6): which sets of test-time views pay, on the validation protocol
(the 5,000 held-out training images, inliers from the other 45,000, 5 draws, knn k = 5 summed
over branches, views' scores added), through corel's own evaluate_one_class and views.

    python scripts/prototypes/more_views.py results/cifar10-beyond/models/ctr300-rec01-e45 [n]
"""
import sys
import time

import numpy as np
import torch

from corel.training.checkpoints import load_model
from corel.data import holdout_split, load_dataset
from corel.training.encode import encode_images
from corel.protocols.oneclass import evaluate_one_class
from corel.scoring.scorer import parse_scorer
from corel.scoring.views import apply_view

torch.set_num_threads(1)
model = load_model(f"{sys.argv[1]}/model.pt")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 120
data = load_dataset("cifar10-jpeg", split="train", root="../shared/data/cifar10-jpeg", image_size=32)
kept, held = holdout_split(len(data), 5000)
y = np.asarray(data.labels)
codes = {}


def code(view):
    if view not in codes:
        codes[view] = encode_images(model, apply_view(data.images, view), 1000, None, progress=False)
    return codes[view]


SETS = {
    "flips-shifts (6, the mode)": ["identity", "hflip", "shift(2,2)", "hflip+shift(2,2)", "shift(-2,-2)",
                                   "hflip+shift(-2,-2)"],
    "10: + the other diagonal": ["identity", "hflip", "shift(2,2)", "hflip+shift(2,2)", "shift(-2,-2)",
                                 "hflip+shift(-2,-2)", "shift(2,-2)", "hflip+shift(2,-2)", "shift(-2,2)",
                                 "hflip+shift(-2,2)"],
    "6 with shifts of 1": ["identity", "hflip", "shift(1,1)", "hflip+shift(1,1)", "shift(-1,-1)", "hflip+shift(-1,-1)"],
    "6 with shifts of 3": ["identity", "hflip", "shift(3,3)", "hflip+shift(3,3)", "shift(-3,-3)", "hflip+shift(-3,-3)"],
    "10: shifts of 2 and 4 (diagonal)": ["identity", "hflip", "shift(2,2)", "hflip+shift(2,2)", "shift(-2,-2)",
                                         "hflip+shift(-2,-2)", "shift(4,4)", "hflip+shift(4,4)", "shift(-4,-4)",
                                         "hflip+shift(-4,-4)"],
}
scorer = parse_scorer("knn-mean", k=5)
for label, views in SETS.items():
    t0 = time.time()
    tr = [code(v)[kept] for v in views]
    te = [code(v)[held] for v in views]
    res = evaluate_one_class(tr[0], y[kept], te[0], y[held], n=n, draws=5, n_branches=16, scorer=scorer,
                             train_views=tr[1:], test_views=te[1:],
                             class_names=data.classes)
    per = res.per_class_mean
    worst = int(per.argmin())
    print(f"{label:36s} mean {res.mean:.2f} worst {data.classes[worst]} {per[worst]:.1f} | "
          + " ".join(f"{v:.1f}" for v in per) + f" ({time.time() - t0:.0f}s)", flush=True)
