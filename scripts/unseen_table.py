"""Tables of scripts/unseen_scorers.py outputs: each rule in each protocol, mean +- std over the given models.

Usage: python scripts/unseen_table.py FILE.json [FILE.json ...] [--rules knn,ratio,clip] [--knn-of A.json,B.json,...]
       [--knn-rule knnA]

Per protocol: the mean AUROC x 100 over classes, as mean +- sample std (ddof 1, as beyond_table.py) over the files (training
seeds), the worst class (per-class means over the files), and against knn the largest per-class
loss (knn's per-class mean minus the rule's, over the files' per-class means). ``--knn-of``: take that
knn from other files (one per FILE, e.g. the first encoder alone where FILE scores two encoders);
``--knn-rule``: the rule that plays knn's part (``knnA``: the first of two encoders' knn).
"""
from __future__ import annotations

import json
import sys

import numpy as np


def main(argv: list[str]) -> int:
    rules = None
    if "--rules" in argv:
        i = argv.index("--rules")
        rules, argv = argv[i + 1].split(","), argv[:i] + argv[i + 2:]
    knn_runs = None
    if "--knn-of" in argv:
        i = argv.index("--knn-of")
        knn_runs, argv = [json.loads(open(p).read()) for p in argv[i + 1].split(",")], argv[:i] + argv[i + 2:]
    base = "knn"
    if "--knn-rule" in argv:
        i = argv.index("--knn-rule")
        base, argv = argv[i + 1], argv[:i] + argv[i + 2:]
    runs = [json.loads(open(p).read()) for p in argv]
    if knn_runs is not None and len(knn_runs) != len(runs):
        raise SystemExit(f"--knn-of needs one file per FILE ({len(runs)}); got {len(knn_runs)}.")
    protocols = list(runs[0]["results"])
    names = rules or [r for r in runs[0]["results"][protocols[0]] if r not in ("problems", "seconds")]
    print(f"{len(runs)} model(s): " + ", ".join(str(r["model"]) + (f" with {r['with']}" if r.get("with") else "") for r in runs))
    print(f"protocol split: {runs[0]['protocol']}, n = {runs[0]['n']}, {runs[0]['draws']} draws, views "
          f"{runs[0]['tta']}, pool M = {runs[0]['reference']}\n")
    head = " | ".join(f"{p} | worst | vs knn" for p in protocols)
    print(f"| rule | {head} |")
    print("|---|" + "---|---|---|" * len(protocols))
    for rule in names:
        cells = []
        for p in protocols:
            means = [r["results"][p][rule]["mean"] for r in runs]
            per_class = {c: np.mean([r["results"][p][rule]["per_class"][c] for r in runs])
                         for c in runs[0]["results"][p][rule]["per_class"]}
            knn = {c: np.mean([r["results"][p][base]["per_class"][c] for r in (knn_runs or runs)]) for c in per_class}
            worst = min(per_class, key=per_class.get)
            loss = max(knn[c] - per_class[c] for c in per_class)
            spread = f" +- {np.std(means, ddof=1):.2f}" if len(runs) > 1 else ""
            cells.append(f"{np.mean(means):.2f}{spread} | {worst} {per_class[worst]:.1f} | {-loss:+.2f}")
        print(f"| {rule} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
