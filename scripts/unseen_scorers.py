"""Every pool scoring rule of corel.pool_scoring in the standard and the pool-without protocols, on one model.

Usage: python scripts/unseen_scorers.py MODEL --protocol validation|test [--tta flips-shifts] [--n 120]
       [--draws 5] [--rotations 3] [--reference 8000] [--data-root DIR] [--cache DIR] --out FILE.json

Writes FILE.json (per rule and protocol: mean, per class, per problem and draw) and prints a
Markdown table. The choice among the rules is made on ``--protocol validation`` only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--protocol", choices=("validation", "test"), required=True)
    ap.add_argument("--dataset", default="cifar10-jpeg")
    ap.add_argument("--data-root", default="../shared/data/cifar10-jpeg")
    ap.add_argument("--tta", default="flips-shifts")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--rotations", type=int, default=3)
    ap.add_argument("--reference", type=int, default=8000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--cache", default="runs/codes")
    ap.add_argument("--never-trained", action="store_true",
                    help="score the model's --train-classes against the classes it never saw (pool: its classes)")
    ap.add_argument("--variants", action="store_true", help="also the variants of corel.pool_scoring.VARIANTS")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import torch
    from corel.checkpoints import load_checkpoint, load_model
    from corel.pipeline import EvalSpec, protocol_codes
    from corel.pool_scoring import RULES, VARIANTS
    rules = {**RULES, **VARIANTS} if args.variants else dict(RULES)
    from corel.protocols import never_trained_problems, pool_without_problems, run_problems, standard_problems
    from corel.views import tta_views

    torch.set_num_threads(1)
    ck, model = load_checkpoint(args.model), load_model(args.model)
    spec = EvalSpec(dataset=args.dataset, data_root=args.data_root, protocol=args.protocol, progress=False)
    views = tta_views(args.tta)
    coded = [protocol_codes(args.model, model, ck, spec, args.cache, view=v) for v in views]
    pool, pool_y, query, query_y, names = coded[0]
    classes = sorted(set(np.asarray(pool_y).tolist()))
    if args.never_trained:
        trained = [names.index(c) for c in ck["config"]["train_classes"].split(",")]
        sets = {"never-trained": never_trained_problems(trained, classes)}
    else:
        sets = {"standard": standard_problems(classes),
                "pool-without": pool_without_problems(classes, args.rotations)}
    out = {"model": args.model, "protocol": args.protocol, "tta": args.tta, "n": args.n, "draws": args.draws,
           "reference": args.reference, "k": args.k, "results": {}}
    for label, problems in sets.items():
        t0 = time.perf_counter()
        res = run_problems(pool, pool_y, query, query_y, problems, rules, n=args.n, draws=args.draws,
                           n_branches=ck["model_args"]["n_branches"], k=args.k, reference=args.reference,
                           pool_views=[c[0] for c in coded[1:]], query_views=[c[2] for c in coded[1:]],
                           progress=lambda m: print(f"  {label}: {m}", file=sys.stderr, flush=True))
        out["results"][label] = {
            rule: {"mean": res.mean(rule), "per_class": {names[c]: v for c, v in res.per_class(rule).items()},
                   "auroc": res.auroc[rule].tolist()} for rule in rules}
        out["results"][label]["problems"] = [[p.inlier, list(p.outliers), list(p.pool), p.rotation] for p in problems]
        out["results"][label]["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    labels = list(sets)
    print(f"{args.model}, {args.protocol}, n = {args.n}, {args.draws} draws, tta {args.tta}, pool M = {args.reference}")
    print("| rule | " + " | ".join(labels) + " | worst class (" + labels[-1] + ") |")
    print("|---|" + "---|" * (len(labels) + 1))
    for rule in rules:
        last = out["results"][labels[-1]][rule]["per_class"]
        worst = min(last, key=last.get)
        print(f"| {rule} | " + " | ".join(f"{out['results'][l][rule]['mean']:.2f}" for l in labels)
              + f" | {worst} {last[worst]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
