"""The test table of results/cifar10-beyond across training seeds, from the evaluation folders.

    python scripts/beyond_table.py "paper's recipe, count=test/paper-seed{0,1,2}-count" \
        "single model=test/ctr300-rec01-{e45,seed1,seed2}-knn5-fs" ...

Each argument is ``LABEL=FOLDER[;FOLDER...]`` (brace lists expand to one folder per training
seed; folders not evaluated yet are left out); every folder holds ``n<N>/summary.json`` of ``corel evaluate``. Per row and n: the mean
AUROC of each seed (mean over classes of the 5-draw means), their mean +- std over seeds, and
the worst class of the seed-averaged per-class means. ``--per-class N`` adds the seed-averaged
per-class table at n = N.
"""
from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path


def expand(pattern: str) -> list[str]:
    m = re.search(r"\{([^}]*)\}", pattern)
    if not m:
        return [pattern]
    return [p for alt in m.group(1).split(",") for p in expand(pattern[:m.start()] + alt + pattern[m.end():])]


def row(label: str, folders: list[str], ns) -> list[str]:
    cells = []
    for n in ns:
        sums = [json.loads((Path(f) / f"n{n}" / "summary.json").read_text()) for f in folders
                if (Path(f) / f"n{n}" / "summary.json").is_file()]
        if not sums:
            cells.append("-")
            continue
        means = [s["mean_auroc"] for s in sums]
        classes = sums[0]["per_class"]
        per_class = {c: statistics.mean(s["per_class"][c]["mean"] for s in sums) for c in classes}
        worst = min(per_class, key=per_class.get)
        spread = f" +- {statistics.stdev(means):.2f}" if len(means) > 1 else ""
        cells.append(f"{statistics.mean(means):.2f}{spread} ({', '.join(f'{m:.2f}' for m in means)}; "
                     f"worst {worst} {per_class[worst]:.1f})")
    found = sum((Path(f) / f"n{ns[1]}" / "summary.json").is_file() for f in folders)
    return [f"| {label} | {found} | " + " | ".join(cells) + " |"]


def per_class_rows(rows: list[tuple[str, list[str]]], n: int) -> list[str]:
    """Per-class AUROC at ``n``, averaged over the seeds found, one line per row."""
    out, classes = [], None
    for label, folders in rows:
        sums = [json.loads((Path(f) / f"n{n}" / "summary.json").read_text()) for f in folders
                if (Path(f) / f"n{n}" / "summary.json").is_file()]
        if not sums:
            continue
        classes = classes or list(sums[0]["per_class"])
        cells = [statistics.mean(s["per_class"][c]["mean"] for s in sums) for c in classes]
        out.append(f"| {label} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
    head = [f"| n = {n} | " + " | ".join(classes or []) + " |", "|---|" + "---|" * len(classes or [])]
    return head + out


def main(argv=None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    per_class = None
    if "--per-class" in args:
        i = args.index("--per-class")
        per_class = int(args[i + 1])
        del args[i:i + 2]
    ns = (10, 120, 500)
    rows = []
    for arg in args:
        label, _, spec = arg.rpartition("=")   # labels may hold "=", folders do not
        rows.append((label, [f for part in spec.split(";") for f in expand(part)]))
    print("| model and scorer | seeds | " + " | ".join(f"n = {n}" for n in ns) + " |")
    print("|---|---|" + "---|" * len(ns))
    for label, folders in rows:
        print("\n".join(row(label, folders, ns)))
    if per_class is not None:
        print()
        print("\n".join(per_class_rows(rows, per_class)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
