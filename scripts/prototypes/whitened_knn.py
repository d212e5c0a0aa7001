"""Prototype: knn on codes whitened per branch by the unlabelled pool's covariance (label-free), validation.

python scripts/prototypes/whitened_knn.py MODEL   (codes from runs/codes; identity view only, n = 120, 5 draws)
"""
import sys

import numpy as np
import torch

from corel.training.checkpoints import load_checkpoint, load_model
from corel.protocols.jobs import EvalSpec, protocol_codes
from corel.scoring.pool_rules import RULES
from corel.protocols.problems import run_problems, standard_problems

torch.set_num_threads(1)
path = sys.argv[1]
ck, model = load_checkpoint(path), load_model(path)
spec = EvalSpec(dataset="cifar10-jpeg", data_root="../shared/data/cifar10-jpeg", protocol="validation", progress=False)
pool, pool_y, query, query_y, names = protocol_codes(path, model, ck, spec, "runs/codes")
B = ck["model_args"]["n_branches"]


def whiten(z, ref, shrink):
    out = []
    for b in range(B):
        sl = slice(b * z.shape[1] // B, (b + 1) * z.shape[1] // B)
        r = ref[:, sl].double()
        cov = torch.cov(r.T)
        cov = (1 - shrink) * cov + shrink * torch.eye(cov.shape[0], dtype=cov.dtype) * cov.diagonal().mean()
        e, v = torch.linalg.eigh(cov)
        w = v @ torch.diag(e.clamp_min(1e-12) ** -0.5) @ v.T
        out.append((z[:, sl].double() - r.mean(0)) @ w)
    return torch.cat(out, 1).float()


problems = standard_problems(sorted(set(pool_y.tolist())))
rows = [("raw", pool, query)]
for shrink in (0.0, 0.5):
    rows.append((f"whitened shrink {shrink}", whiten(pool, pool, shrink), whiten(query, pool, shrink)))
for name, p, q in rows:
    res = run_problems(p, pool_y, q, query_y, problems, {"knn": RULES["knn"]}, n=120, draws=5, n_branches=B,
                       reference=0)
    print(f"{name}: knn standard {res.mean('knn'):.2f}", flush=True)
