"""Throughput of COREL's count score against scikit-learn trees and plain torch.cdist counting.

Scores test codes against the inlier codes of every class of one draw of the one-class protocol
(docs/method.md, section 5): per branch, the number of inliers in the closed l1 ball of radius 2,
summed over 16 branches of 10 dims.

    python benchmarks/scoring.py                      # both scales, all methods
    python benchmarks/scoring.py --scales cifar10 --out benchmarks/scoring.md

Scales: CIFAR-10 (10 classes x 120 inliers, 10,000 test codes) and ImageNet (1000 x 120,
50,000 test codes). At ImageNet scale every method is timed on the first ``--imagenet-queries``
test codes and extrapolated linearly to 50,000 (the work is exactly linear in the number of
queries): the fixed cost (a run with one test code: tree construction, per-call and set-up
overheads) counts once, the rest scales.

Methods (each in a fresh subprocess, so peak memory is its own):
  corel           corel.scoring.detector.count_neighbors, all classes in one call (exact, chunked).
  cdist-batched   per branch, torch.cdist(p=1) of a query chunk against all C*n inliers, then
                  ``<= r`` and a sum over each class's n (the obvious vectorised torch code).
  cdist-loop      per class and branch, (torch.cdist(queries, inliers, p=1) <= r).sum(1).
  kdtree/balltree per class and branch, sklearn.neighbors.{KD,Ball}Tree(metric="manhattan")
                  .query_radius(queries, r, count_only=True) (single-threaded in scikit-learn).

Codes: Gaussian classes (centres N(0, 0.25), spread N(0, 1) per dim), scaled so that the mean
0-dim death time (mean MST edge, l1) of batches of 100 codes of one branch is 2.0, which is what
the connectivity loss enforces (eta = 2). Deterministic (seed 0).

Peak memory: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the worker process (Linux: KiB,
the high-water mark of its resident set, so it includes the interpreter, torch and the data).
A worker that only builds the data gives the baseline; "extra" is the method's peak above it.
Throughput: test-code x inlier pairs (each 16 branch distances of 10 dims) per wall-clock
second; torch runs with ``--threads`` intra-op threads (default 1), scikit-learn's query_radius
with one; the CPU-seconds column is given too.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

SCALES = {"cifar10": {"classes": 10, "n": 120, "queries": 10_000},
          "imagenet": {"classes": 1000, "n": 120, "queries": 50_000}}
BRANCHES, WIDTH, RADIUS, BATCH = 16, 10, 2.0, 100
METHODS = ["corel", "cdist-batched", "cdist-loop", "kdtree", "balltree"]


def code_scale(seed: int = 0) -> float:
    """Factor that makes the mean MST edge (l1) of batches of 100 unit-scale codes equal 2."""
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(seed)
    means = []
    for _ in range(20):
        centres = rng.normal(size=(10, WIDTH)) * 0.5
        z = centres[rng.integers(0, 10, BATCH)] + rng.normal(size=(BATCH, WIDTH))
        means.append(minimum_spanning_tree(cdist(z, z, "cityblock")).data.mean())
    return 2.0 / float(np.mean(means))


def make_codes(scale: str, n_queries: int, factor: float):
    """Inliers (C, n, D) and the first n_queries test codes (Q, D), float32, deterministic.

    Generated in float32 in place, so the data's own peak memory is little more than its size.
    """
    cfg = SCALES[scale]
    rng = np.random.default_rng(0)
    dim = BRANCHES * WIDTH
    centres = rng.standard_normal((cfg["classes"], dim), dtype=np.float32) * 0.5
    inliers = rng.standard_normal((cfg["classes"], cfg["n"], dim), dtype=np.float32)
    inliers += centres[:, None, :]
    inliers *= factor
    labels = rng.integers(0, cfg["classes"], cfg["queries"])[:n_queries]
    queries = rng.standard_normal((n_queries, dim), dtype=np.float32)
    queries += centres[labels]
    queries *= factor
    return queries, inliers


# ---- the methods: each returns counts (C, Q) int64 --------------------------------------------

def run_corel(q, x):
    import torch

    from corel.scoring.detector import count_neighbors
    return count_neighbors(torch.from_numpy(q), torch.from_numpy(x), BRANCHES, RADIUS).numpy()


def run_cdist_batched(q, x, chunk: int = 256):
    import torch

    qt, xt = torch.from_numpy(q), torch.from_numpy(x)
    c, n, _ = xt.shape
    out = torch.zeros(c, qt.shape[0], dtype=torch.int64)
    xb = xt.view(c * n, BRANCHES, WIDTH)
    qb = qt.view(-1, BRANCHES, WIDTH)
    for s in range(0, qt.shape[0], chunk):
        for b in range(BRANCHES):
            d = torch.cdist(qb[s:s + chunk, b], xb[:, b], p=1)                     # (k, C * n)
            out[:, s:s + chunk] += (d <= RADIUS).view(-1, c, n).sum(-1).T
    return out.numpy()


def run_cdist_loop(q, x):
    import torch

    qt, xt = torch.from_numpy(q), torch.from_numpy(x)
    c, n, _ = xt.shape
    qb = qt.view(-1, BRANCHES, WIDTH)
    xb = xt.view(c, n, BRANCHES, WIDTH)
    out = torch.zeros(c, qt.shape[0], dtype=torch.int64)
    for ci in range(c):
        for b in range(BRANCHES):
            out[ci] += (torch.cdist(qb[:, b], xb[ci, :, b], p=1) <= RADIUS).sum(1)
    return out.numpy()


def run_tree(q, x, kind: str):
    from sklearn.neighbors import BallTree, KDTree

    cls = KDTree if kind == "kdtree" else BallTree
    c, n, _ = x.shape
    qb = q.astype(np.float64).reshape(-1, BRANCHES, WIDTH)
    xb = x.astype(np.float64).reshape(c, n, BRANCHES, WIDTH)
    trees = [[cls(xb[ci, :, b], metric="manhattan") for b in range(BRANCHES)] for ci in range(c)]
    out = np.zeros((c, q.shape[0]), dtype=np.int64)
    for ci in range(c):
        for b in range(BRANCHES):
            out[ci] += trees[ci][b].query_radius(np.ascontiguousarray(qb[:, b]), RADIUS, count_only=True)
    return out


RUNNERS = {"corel": run_corel, "cdist-batched": run_cdist_batched, "cdist-loop": run_cdist_loop,
           "kdtree": lambda q, x: run_tree(q, x, "kdtree"), "balltree": lambda q, x: run_tree(q, x, "balltree")}


def worker(method: str, scale: str, n_queries: int, factor: float, check: int, threads: int) -> dict:
    import sklearn.neighbors  # noqa: F401  (imports outside the timed region)
    import torch

    import corel.scoring.detector  # noqa: F401
    torch.set_num_threads(threads)
    q, x = make_codes(scale, n_queries, factor)
    info = {"method": method, "scale": scale, "queries_timed": n_queries}
    if method != "none":
        RUNNERS[method](q[:8], x[:1])                                   # warm-up: lazy initialisation
        t0, p0 = time.perf_counter(), time.process_time()
        RUNNERS[method](q[:1], x)                                       # the fixed cost: one test code
        fixed, fixed_cpu = time.perf_counter() - t0, time.process_time() - p0
        t0, p0 = time.perf_counter(), time.process_time()
        counts = RUNNERS[method](q, x)
        total, total_cpu = time.perf_counter() - t0, time.process_time() - p0
        info.update(fixed_s=fixed, fixed_cpu_s=fixed_cpu, timed_s=total, timed_cpu_s=total_cpu,
                    mean_score=float(counts.mean()),
                    first_counts=counts[:, :check].ravel()[:4096].tolist())
    info["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return info


# ---- the driver ----------------------------------------------------------------------------------

def run_worker(method, scale, n_queries, factor, check, threads, timeout):
    cmd = [sys.executable, __file__, "--worker", method, scale, str(n_queries), repr(factor), str(check),
           str(threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"worker {method} {scale} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine(threads: int) -> str:
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import sklearn
    import torch
    return (f"{cpu}, {os.cpu_count()} logical CPUs; torch {torch.__version__} with {threads} intra-op "
            f"thread(s) in the workers, scikit-learn {sklearn.__version__}, Python {platform.python_version()}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scales", nargs="+", default=list(SCALES), choices=list(SCALES))
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--imagenet-queries", type=int, default=500,
                    help="test codes timed at ImageNet scale (then extrapolated to 50,000)")
    ap.add_argument("--tree-queries", type=int, default=None,
                    help="test codes timed for the trees (default: as the others); extrapolated")
    ap.add_argument("--out", default=None, help="also write the report (Markdown) here")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads in the workers (default 1: scikit-learn's query_radius is "
                         "single-threaded, and on an oversubscribed machine torch's spinning thread pool "
                         "makes multi-threaded timings meaningless)")
    ap.add_argument("--worker", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        method, scale, nq, factor, check, threads = args.worker
        print(json.dumps(worker(method, scale, int(nq), float(factor), int(check), int(threads))))
        return 0

    factor = code_scale()
    started = datetime.datetime.now().astimezone()
    load_before = os.getloadavg()
    lines = []
    for scale in args.scales:
        cfg = SCALES[scale]
        full_q = cfg["queries"]
        timed_q = min(full_q, args.imagenet_queries) if scale == "imagenet" else full_q
        check = min(timed_q, 200)
        pairs_full = full_q * cfg["classes"] * cfg["n"]
        base = run_worker("none", scale, timed_q, factor, check, args.threads, args.timeout)
        rows = {}
        for method in args.methods:
            nq = timed_q
            if method in ("kdtree", "balltree") and args.tree_queries:
                nq = max(check, min(timed_q, args.tree_queries))
            r = run_worker(method, scale, nq, factor, check, args.threads, args.timeout)
            r["scale_factor"] = full_q / nq
            # Linear model: fixed cost (the 1-code run) + per-code cost from the timed run.
            for key in ("s", "cpu_s"):
                t, f = r[f"timed_{key}"], r[f"fixed_{key}"]
                r[f"total_{key}"] = t if nq >= full_q else t + max(t - f, 0.0) * (full_q - nq) / (nq - 1)
            rows[method] = r
            print(f"{scale:9s} {method:14s} {nq:6d} queries timed: {r['timed_s']:8.2f} s (fixed {r['fixed_s']:.2f} s)",
                  file=sys.stderr, flush=True)
        ref = rows.get("corel")
        extrap = any(r["scale_factor"] > 1 for r in rows.values())
        lines += [f"### {scale}: {cfg['classes']} classes x {cfg['n']} inliers x {full_q:,} test codes x "
                  f"{BRANCHES} branches of {WIDTH} dims (radius {RADIUS:g})", ""]
        if extrap:
            lines += [f"Timed on the first {timed_q:,} test codes (trees: see column) and **extrapolated** "
                      f"linearly to {full_q:,}: time = t(timed) + (t(timed) - t(1 code)) x "
                      f"(codes left) / (timed - 1), so fixed costs (tree construction, per-call and "
                      f"set-up overheads) are counted once.", ""]
        lines += ["| method | test codes timed | wall s (all codes) | CPU s (all codes) | Mpairs/s (wall) | "
                  "Mpairs per CPU-s | corel x faster (CPU) | corel x faster (wall) | peak RSS (MiB) | "
                  "extra over data (MiB) | same counts as corel |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for method, r in rows.items():
            same = "-" if method == "corel" or ref is None else (
                "yes" if r["first_counts"] == ref["first_counts"] else
                f"no ({sum(a != b for a, b in zip(r['first_counts'], ref['first_counts']))} of "
                f"{len(r['first_counts'])} differ)")
            cpu_x = wall_x = "-"
            if method != "corel" and ref is not None:
                cpu_x = f"{r['total_cpu_s'] / ref['total_cpu_s']:.2f}"
                wall_x = f"{r['total_s'] / ref['total_s']:.2f}"
            ext = " (extrap.)" if r["scale_factor"] > 1 else ""
            lines.append(f"| {method} | {r['queries_timed']:,} | {r['total_s']:.1f}{ext} | {r['total_cpu_s']:.1f}{ext} | "
                         f"{pairs_full / r['total_s'] / 1e6:.1f} | {pairs_full / max(r['total_cpu_s'], 1e-9) / 1e6:.1f} | "
                         f"{cpu_x} | {wall_x} | {r['maxrss_mib']:.0f} | {r['maxrss_mib'] - base['maxrss_mib']:.0f} | "
                         f"{same} |")
        lines += ["", f"Data only (baseline worker): peak RSS {base['maxrss_mib']:.0f} MiB. Mean score "
                      f"(sanity): {ref['mean_score']:.2f} of {BRANCHES * cfg['n']}." if ref else "", ""]
        if scale == "imagenet" and ref:
            lines += [f"The full ImageNet call also holds its (1000, 50,000) int64 output: "
                      f"{1000 * 50_000 * 8 / 2**20:.0f} MiB on top of the measured peak.", ""]
    load_after = os.getloadavg()
    header = [
        "# Scoring throughput", "",
        f"Command: `python benchmarks/{os.path.basename(__file__)} {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"Date: {started:%Y-%m-%d %H:%M %Z}",
        f"Machine: {machine(args.threads)}",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{v:.2f}' for v in load_before)}; after: "
        f"{', '.join(f'{v:.2f}' for v in load_after)}. The machine is shared (other agents' jobs and a "
        f"training run compete for the 2 cores), so wall-clock numbers are pessimistic and noisy. Every "
        f"method runs single-threaded, so CPU seconds measure the work and are the robust comparison; "
        f"read the CPU ratio first.",
        f"Codes scaled by {factor:.4f} (mean 0-dim death time of 100-code batches = 2.0).",
        "Pairs = test codes x inlier codes (each: 16 l1 distances over 10 dims). \"corel x faster\": "
        "the method's time over corel's. \"same counts\": the counts of the first 200 test codes (the first "
        "4096 (class, code) entries) agree exactly.",
        "",
    ]
    report = "\n".join(header + lines)
    print(report)
    if args.out:
        with open(args.out, "w") as f:
            f.write(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
