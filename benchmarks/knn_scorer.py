"""The k-nearest-neighbour scorer (corel.scoring.scorer, knn mean k = 5, l1 per branch): corel's Numba
kernel against the torch code it replaced (torch.cdist(p=1) per branch, then topk).

One class and draw of the one-class protocol on CIFAR-10 with test-time views: 16 branches of
10 dims, queries = views x test codes, inliers = views x n. Paired timing (the two called
alternately in one process, one thread), CPU seconds; the scores are compared too.

    python benchmarks/knn_scorer.py --out benchmarks/knn_scorer.md
"""
from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _timing import alternate, cpu_name, emit, versions  # noqa: E402

from corel.scoring.scorer import Scorer  # noqa: E402

BRANCHES, WIDTH, K = 16, 10, 5
CASES = [("flips, n = 120", 2, 120), ("flips-shifts, n = 120", 6, 120), ("flips-shifts, n = 500", 6, 500)]


def reference(q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The torch path: per-branch cdist(p=1) and topk, summed over branches (chunked as the scorer was)."""
    qb = q.reshape(q.shape[0], BRANCHES, WIDTH).transpose(0, 1).double()
    xb = x.reshape(x.shape[0], BRANCHES, WIDTH).transpose(0, 1).double()
    per_q = max(1, 64 * 2**20 // (8 * BRANCHES * xb.shape[1]))
    parts = [torch.cdist(qb[:, a:a + per_q], xb, p=1).topk(K, dim=-1, largest=False).values.mean(-1)
             for a in range(0, qb.shape[1], per_q)]
    return -torch.cat(parts, 1).sum(0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=2000, help="test codes per view (the protocol: 10,000)")
    ap.add_argument("--budget", type=float, default=20.0, help="seconds of paired timing per case")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    scorer = Scorer(kind="knn", k=K)
    lines = [f"# knn scorer: Numba kernel vs torch.cdist + topk", "",
             f"Command: `python benchmarks/knn_scorer.py{' --out ' + args.out if args.out else ''}`  ",
             f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC  ",
             f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, 1 thread; {versions(['torch', 'numba'])}  ",
             f"Load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())}", "",
             f"Per case: {args.queries:,} test codes x views against n x views inliers, 16 x 10 dims, k = {K}. "
             f"Median CPU seconds over alternated pairs; 'x faster' = torch / corel; the protocol scores "
             f"10,000 test codes for 10 classes x 5 draws (50 such calls, x {10_000 // args.queries} the queries).",
             "", "| case | queries x inliers | torch s | corel s | x faster | max abs difference |",
             "|---|---|---|---|---|---|"]
    for name, views, n in CASES:
        q = torch.from_numpy(rng.normal(0, 1, (views * args.queries, BRANCHES * WIDTH)))
        x = torch.from_numpy(rng.normal(0, 1, (views * n, BRANCHES * WIDTH)))
        scorer.score(q[:8], x, BRANCHES)                                         # compile / load the kernel
        diff = float((scorer.score(q, x, BRANCHES) - reference(q, x)).abs().max())
        t_corel, t_torch = alternate(lambda: scorer.score(q, x, BRANCHES), lambda: reference(q, x),
                                     min_pairs=3, budget=args.budget, max_pairs=20)
        a, b = statistics.median(t_torch), statistics.median(t_corel)
        lines.append(f"| {name} | {q.shape[0]:,} x {x.shape[0]:,} | {a:.2f} | {b:.2f} | {a / b:.1f} | {diff:.1e} |")
        print(lines[-1], flush=True)
    emit("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
