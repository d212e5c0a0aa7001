"""Every pool scoring rule of corel.scoring.pool_rules in the standard and the pool-without protocols, on one model.

Usage: python scripts/unseen_scorers.py MODEL [MODEL_B] --protocol validation|test [--tta flips-shifts]
       [--n 120] [--draws 5] [--rotations 3] [--reference 8000] [--never-trained] [--data-root DIR]
       [--cache DIR] [--with MODEL2 [MODEL2_B]] [--third MODEL3 [MODEL3_B]] --out FILE.json [--out-dir DIR]

Writes FILE.json (per rule and protocol: mean, per class, per problem and draw), with --out-dir the
per-class tables and ``summary.json`` of each rule and protocol (``DIR/<protocol>/<rule>/n<N>/``, the
files `corel evaluate` writes, ``protocol`` named as there), and prints a Markdown table. One pass
computes the distances every rule shares; `corel evaluate --novelty ... --scorer knn-mean [--reference
M --pool-rule ratio|clip]` gives each rule's numbers alone (the same core). The choice among the rules
is made on ``--protocol validation`` only. ``--never-trained`` takes the two half-class models.
``--with`` adds a second encoder per model (the same images' codes side by side, its branches after
the first's): every rule then sees both, and the fused rules of ``pool_rules.pair_rules`` standardise
and add each encoder's own rule. ``--third`` adds a third (C, after B; ``pool_rules.trio_rules``).
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
    ap.add_argument("model", nargs="+")
    ap.add_argument("--protocol", choices=("validation", "test"), required=True)
    ap.add_argument("--dataset", default="cifar10-jpeg")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--tta", default="flips-shifts")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--rotations", type=int, default=3)
    ap.add_argument("--reference", type=int, default=8000)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--cache", default="runs/codes")
    ap.add_argument("--never-trained", action="store_true",
                    help="score the model's --train-classes against the classes it never saw (pool: its classes)")
    ap.add_argument("--with", dest="partners", nargs="+", default=None,
                    help="a second encoder for each model, whose codes join the first's (fused rules)")
    ap.add_argument("--third", nargs="+", default=None,
                    help="with --with: a third encoder for each model (another seed of the first's recipe), "
                         "whose codes follow the second's (the rules of pool_rules.trio_rules)")
    ap.add_argument("--variants", action="store_true", help="also the variants of corel.scoring.pool_rules.VARIANTS")
    ap.add_argument("--out", required=True)
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args(argv)

    import torch
    from corel.training.checkpoints import load_checkpoint, load_model
    from corel.protocols.codes import checkpoint_digest
    from corel.protocols.oneclass import write_results
    from corel.protocols.jobs import EvalSpec, protocol_codes, protocol_name
    from corel.scoring.pool_rules import RULES, VARIANTS, pair_rules, trio_rules
    from corel.protocols.problems import never_trained_problems, pool_without_problems, run_problems, standard_problems
    from corel.scoring.views import tta_views
    rules = {**RULES, **VARIANTS} if args.variants else dict(RULES)
    if args.partners is not None and len(args.partners) != len(args.model):
        ap.error(f"--with needs one encoder per model ({len(args.model)}); got {len(args.partners)}.")
    if args.third is not None and (args.partners is None or len(args.third) != len(args.model)):
        ap.error(f"--third needs --with and one encoder per model ({len(args.model)}).")

    torch.set_num_threads(1)
    out = {"model": args.model, "with": args.partners, "protocol": args.protocol, "tta": args.tta, "n": args.n, "draws": args.draws,
           "reference": args.reference, "k": args.k, "results": {}}
    merged = {}
    spec = EvalSpec(dataset=args.dataset, data_root=args.data_root, protocol=args.protocol, progress=False)

    def codes_of(path):
        ck, model = load_checkpoint(path), load_model(path)
        return ck, [protocol_codes(path, model, ck, spec, args.cache, view=v) for v in tta_views(args.tta)]

    for i, model_path in enumerate(args.model):
        ck, coded = codes_of(model_path)
        n_branches = ck["model_args"]["n_branches"]
        if args.partners:
            ck2, coded2 = codes_of(args.partners[i])
            coded = _side_by_side(coded, coded2)
            sizes = (n_branches, ck2["model_args"]["n_branches"])
            if args.third:
                ck3, coded3 = codes_of(args.third[i])
                coded = _side_by_side(coded, coded3)
                sizes = (*sizes, ck3["model_args"]["n_branches"])
            n_branches = sum(sizes)
            rules = {**rules, **(trio_rules(sizes) if args.third else pair_rules(sizes))}
        pool, pool_y, query, query_y, names = coded[0]
        classes = sorted(set(np.asarray(pool_y).tolist()))
        if args.never_trained:
            trained = [names.index(c) for c in ck["config"]["train_classes"].split(",")]
            sets = {"never-trained": never_trained_problems(trained, classes)}
        else:
            sets = {"standard": standard_problems(classes),
                    "pool-without": pool_without_problems(classes, args.rotations)}
        for label, problems in sets.items():
            t0 = time.perf_counter()
            res = run_problems(pool, pool_y, query, query_y, problems, rules, n=args.n, draws=args.draws,
                               n_branches=n_branches, k=args.k, reference=args.reference,
                               pool_views=[c[0] for c in coded[1:]], query_views=[c[2] for c in coded[1:]],
                               progress=lambda m: print(f"  {label}: {m}", file=sys.stderr, flush=True))
            slot = out["results"].setdefault(label, {"problems": [], "seconds": 0.0})
            slot["problems"] += [[p.inlier, list(p.outliers), list(p.pool), p.rotation] for p in problems]
            slot["seconds"] = round(slot["seconds"] + time.perf_counter() - t0, 1)
            for rule in rules:
                r = slot.setdefault(rule, {"per_class": {}, "auroc": []})
                r["per_class"].update({names[c]: v for c, v in res.per_class(rule).items()})
                r["auroc"] += res.auroc[rule].tolist()
                r["mean"] = float(np.mean(list(r["per_class"].values())))
                one = res.one_class_result(rule, names, query_y, n=args.n, draws=args.draws, seed=0,
                                           n_branches=n_branches)
                merged.setdefault((label, rule), []).append((one, model_path, ck))
    if args.out_dir:
        for (label, rule), parts in merged.items():
            _write(parts, label, rule, args, Path(args.out_dir), write_results, protocol_name, checkpoint_digest)
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


def _side_by_side(coded, coded2):
    """Per view, the two encoders' codes of the same images joined along the code dimension."""
    out = []
    for (p1, py1, q1, qy1, names), (p2, py2, q2, qy2, _) in zip(coded, coded2):
        if not (np.array_equal(np.asarray(py1), np.asarray(py2)) and np.array_equal(np.asarray(qy1), np.asarray(qy2))):
            raise ValueError("--with: the two encoders' codes are not of the same images; give encoders trained "
                             "with the same --holdout and classes.")
        out.append((np.concatenate([np.asarray(p1), np.asarray(p2)], 1), py1,
                    np.concatenate([np.asarray(q1), np.asarray(q2)], 1), qy1, names))
    return out


def _write(parts, label, rule, args, root, write_results, protocol_name, checkpoint_digest):
    """``root/<protocol>/<rule>/n<N>/``: the per-class tables and summary.json of one rule and protocol."""
    from corel.protocols.oneclass import OneClassResult
    results = [p[0] for p in parts]
    res = OneClassResult(class_names=sum((r.class_names for r in results), ()),
                         classes=np.concatenate([r.classes for r in results]),
                         auroc=np.concatenate([r.auroc for r in results]), n=args.n, draws=args.draws,
                         radius=2.0, n_branches=results[0].n_branches, seed=0, test_labels=results[0].test_labels,
                         scores_draw0=None)
    cks = [p[2] for p in parts]
    trained = [[c for c in str(ck["config"].get("train_classes", "")).split(",") if c] or None for ck in cks]
    pool = (None if rule in ("knn", "log-knn") else
            f"{args.reference} unlabelled training images" + ("" if label == "standard" else
                                                              ", the outlier classes never among them"))
    meta = {"dataset": args.dataset, "protocol": protocol_name(args.protocol, label), "novelty": label,
            "trained_on": cks[0]["config"].get("dataset"), "trained_classes": trained if len(parts) > 1 else trained[0],
            "checkpoint": [p[1] for p in parts] if len(parts) > 1 else parts[0][1],
            "checkpoint_sha256": [checkpoint_digest(p[1]) for p in parts] if len(parts) > 1 else checkpoint_digest(parts[0][1]),
            "scorer": f"pool rule {rule!r} of corel.scoring.pool_rules (knn: mean of {args.k} nearest l1, summed over branches)",
            "second_encoder": args.partners, "tta": args.tta, "pool": pool, "rotations": args.rotations if label == "pool-without" else None,
            "command": "python scripts/unseen_scorers.py " + " ".join(sys.argv[1:])}
    write_results(res, root / protocol_name(args.protocol, label) / rule / f"n{args.n}", meta, save_scores=False)


if __name__ == "__main__":
    sys.exit(main())
