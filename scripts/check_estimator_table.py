"""Run scikit-learn's ``check_estimator`` on CorelDetector and every baseline; print the
Markdown table of the README's "scikit-learn compatibility" section.

Each detector's expected failures are the ones declared on its class, with their reasons
(``corel.scoring.detector_base.expected_failed_checks``); a check that fails without being declared
makes the script exit with status 1.

    OMP_NUM_THREADS=1 python scripts/check_estimator_table.py

The shallow detectors and CorelDetector run with their defaults (the defaults are what the
checks are about); the deep ones with tiny networks and one epoch (their image-only input
keeps scikit-learn's 2-D data out of fit anyway).
"""
from __future__ import annotations

import platform
import sys
import time
import warnings
from collections import Counter

import sklearn
from sklearn.utils.estimator_checks import check_estimator

from corel import CorelDetector
from corel.baselines import DAGMMDetector, DeepSVDDDetector, DSEBMDetector, GeomDetector, KDEDetector, OCSVMDetector
from corel.scoring.detector_base import expected_failed_checks

DETECTORS = {
    "CorelDetector(n_branches=1)": lambda: CorelDetector(n_branches=1),
    "OCSVMDetector()": OCSVMDetector,
    "KDEDetector()": KDEDetector,
    "DeepSVDDDetector (tiny)": lambda: DeepSVDDDetector(channels=(2, 2, 2), rep_dim=4, ae_epochs=1, epochs=1,
                                                        milestones=(), ae_milestones=(), batch_size=8),
    "DSEBMDetector (tiny)": lambda: DSEBMDetector(width=2, rep_dim=4, epochs=1, batch_size=8),
    "DAGMMDetector (tiny)": lambda: DAGMMDetector(width=2, epochs=1, batch_size=8),
    "GeomDetector (tiny)": lambda: GeomDetector(depth=10, widen_factor=1, epochs=1, batch_size=8),
}


def run(name: str) -> dict:
    est = DETECTORS[name]()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, expected_failed_checks=expected_failed_checks(est), on_fail=None,
                                  on_skip=None)
    status = Counter(r["status"] for r in results)
    return {"name": name, "results": results, "status": status, "seconds": time.perf_counter() - t0,
            "declared": expected_failed_checks(est)}


def _names(results, status) -> list[str]:
    return sorted({r["check_name"] for r in results if r["status"] == status})


def table(rows: list[dict]) -> str:
    reasons: dict[str, int] = {}
    out = ["| detector | checks run | passed | expected failures (declared) | skipped | failed |",
           "|---|---:|---:|---|---:|---:|"]
    for row in rows:
        s, res = row["status"], row["results"]
        xfail = _names(res, "xfail")
        by_reason: dict[str, list[str]] = {}
        for check in xfail:
            by_reason.setdefault(row["declared"][check], []).append(check)
        cells = []
        for reason, checks in by_reason.items():
            key = reasons.setdefault(reason, len(reasons) + 1)
            listed = ", ".join(f"`{c}`" for c in checks) if len(checks) <= 3 else f"{len(checks)} checks"
            cells.append(f"{listed} [{key}]")
        out.append(f"| {row['name']} | {len(res)} | {s['passed']} | {s['xfail']}: {'; '.join(cells) or '-'} | "
                   f"{s['skipped']} | {s['failed']} |")
    out.append("")
    for reason, key in reasons.items():
        checks = sorted({c for row in rows for c in _names(row["results"], "xfail") if row["declared"][c] == reason})
        out.append(f"[{key}] {reason} ({len(checks)} checks: {', '.join(f'`{c}`' for c in checks)})")
        out.append("")
    skipped = sorted({f"`{r['check_name']}` ({r['exception']})" for row in rows for r in row["results"]
                      if r["status"] == "skipped"})
    if skipped:
        out.append("Skipped by scikit-learn in this environment: " + "; ".join(skipped) + ".")
        out.append("")
    out.append(f"scikit-learn {sklearn.__version__}, Python {platform.python_version()}. \"checks run\" counts "
               f"check runs as `check_estimator` reports them (a few checks run twice, with different data).")
    return "\n".join(out)


def main() -> int:
    rows = [run(name) for name in DETECTORS]
    print(table(rows))
    failed = [(row["name"], r["check_name"], r["exception"]) for row in rows for r in row["results"]
              if r["status"] == "failed"]
    for name, check, err in failed:
        print(f"FAILED {name} {check}: {err!r}", file=sys.stderr)
    print(f"({sum(row['seconds'] for row in rows):.1f} s)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
