"""Training time per epoch of run folders, from their Lightning metrics (logs/version_*/metrics.csv).

    python scripts/epoch_times.py results/cifar10-beyond/models/*

One line per run: epochs logged, min / median / total seconds per epoch (wall clock, as measured
by the run itself; a resumed run's versions are read together, an epoch rerun after a kill
counts once, its last time).
"""
from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path


def epoch_times(run: Path) -> dict[int, float]:
    times: dict[int, float] = {}
    for metrics in sorted(run.glob("logs/version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1])):
        with open(metrics, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("epoch_time_s"):
                    times[int(row["epoch"])] = float(row["epoch_time_s"])
    return times


def main(argv=None) -> int:
    runs = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    print("| run | epochs | min s | median s | total min |")
    print("|---|---|---|---|---|")
    for run in runs:
        t = epoch_times(run)
        if t:
            v = list(t.values())
            print(f"| {run.name} | {len(v)} | {min(v):.0f} | {statistics.median(v):.0f} | {sum(v) / 60:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
