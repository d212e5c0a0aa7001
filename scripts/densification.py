"""Densification measured on trained codes (docs/method.md, section 7), for one checkpoint.

    python scripts/densification.py results/cifar10-ae/model.pt --n-codes 2000 \
        --out results/cifar10-densification

Encodes ``n_codes`` random training images, measures per-batch death statistics (alpha, epsilon,
beta) over batches of b = 100 and, with beta the largest death seen, counts for every code the
other codes within beta in each branch against the theorem's bound N - b + 1.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    from corel.data import load_dataset
    from corel.training.encode import encode_images
    from corel.apps.theory import batch_death_stats, densification_check
    from corel.training.checkpoints import load_checkpoint, load_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--dataset", default="cifar10-jpeg")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--n-codes", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/densification")
    args = ap.parse_args(argv)

    ck = load_checkpoint(args.checkpoint)
    n_branches = ck["model_args"]["n_branches"]
    data = load_dataset(args.dataset, split="train", root=args.data_root)
    pick = np.random.default_rng(args.seed).choice(len(data), size=args.n_codes, replace=False)
    codes = encode_images(load_model(args.checkpoint), data.images[torch.as_tensor(pick)])
    stats = batch_death_stats(codes, args.batch_size, n_branches, "l1", seed=args.seed)
    beta = float(np.max(stats.beta))                     # the largest death over sampled batches
    dens = densification_check(codes, beta, args.batch_size, n_branches, "l1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"checkpoint": args.checkpoint, "dataset": args.dataset, "n_codes": args.n_codes,
               "batch_size": args.batch_size, "seed": args.seed, "beta_max_sampled": beta,
               "per_branch_fraction_satisfied": dens.fraction_satisfied.tolist(),
               "per_branch_median_count": dens.median_count.tolist(), **dens.summary()}
    (out / "densification.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(dens.summary(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
