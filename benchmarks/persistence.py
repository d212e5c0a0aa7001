"""0-dimensional Vietoris-Rips persistence: corel against ripser, giotto-ph, gudhi,
torch-topological and scipy's MST, with torch.cdist (the distance matrix alone) as a reference.

Every measurement runs in a fresh subprocess (one per case and method), so that a slow anchor
can be stopped at a time cap and the peak memory of one call can be read from the kernel:

* time: median over the repeats of the process CPU time (``time.process_time``: all threads,
  user + system) and of the wall-clock time. The first call on the full-size input is timed
  but left out of the median when further calls were made; a tiny input warms each method
  up before it. At least ``--repeats`` further calls, more for fast calls (until 1 s is
  spent, at most 200), none that would pass the cap ``--cap``.
* peak memory: the resident set's high-water mark during that first call minus the resident
  set just before it (``VmHWM - VmRSS`` from /proc/self/status, the mark reset through
  /proc/self/clear_refs). It sees every allocation (torch, NumPy, C++), unlike tracemalloc;
  the input cloud is allocated before and not counted.

What each method's forward includes:

* corel: ``vr_persistence_0d(x, metric)`` (its own distance computation, Prim, the deaths
  recomputed differentiably, sorted). Forward+backward adds ``sum |death - 2|`` and backward.
* torch-topological: ``VietorisRipsComplex(dim=0, p)`` (torch.cdist, then giotto-ph on the
  matrix, then the differentiable gather); the same loss for forward+backward.
* ripser, giotto-ph (``ripser_parallel``): the points with ``metric=...``, ``maxdim=0``; the
  distance computation is theirs and included.
* gudhi: l2 ``RipsComplex(points=x)``; l1 ``RipsComplex(distance_matrix=scipy cdist)``
  (the cdist included); then the 1-skeleton simplex tree and its persistence.
* scipy MST: ``scipy.spatial.distance.cdist`` (float64) then ``minimum_spanning_tree`` on the
  dense matrix and the sorted edge weights; the cdist is included.
* torch.cdist: ``torch.cdist(x, x, p)`` alone, default compute mode (matrix-multiply for l2),
  as a reference; forward+backward adds ``.sum().backward()``.
* cdist-exact (l2 only): the same with ``compute_mode="donot_use_mm_for_euclid_dist"``, the
  direct sums (for l1 torch.cdist has no other mode). The matrix-multiply mode rounds
  d^2 with an error ~eps * |x|^2, which picks wrong trees on multi-scale clouds; corel's
  distances are direct sums like these.

ripser, giotto-ph, gudhi and scipy are not differentiable: forward only. In the paper's
batched case (16 clouds of 100 points in 10 dims, l1) corel makes one batched call; every
other method loops over the 16 clouds (torch.cdist takes the batch).

    nice -n 5 python benchmarks/persistence.py --out benchmarks/persistence.md
    python benchmarks/persistence.py --quick
    python benchmarks/persistence.py --sizes 1000 --dims 10 --metrics l1 --methods corel,ripser
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from _timing import alternate, cpu_name, versions   # benchmarks/_timing.py, beside this script

PACKAGES = ("torch", "numpy", "scipy", "ripser", "giotto-ph", "gudhi", "torch-topological")   # whose versions the tables name

METHODS = ["corel", "torch.cdist", "cdist-exact", "ripser", "giotto-ph", "gudhi", "torch-topological", "scipy-mst"]
ANCHORS = ["ripser", "giotto-ph", "gudhi", "torch-topological", "scipy-mst"]
DIFFERENTIABLE = {"corel", "torch.cdist", "cdist-exact", "torch-topological"}
PAPER = "paper 16x100x10"
ETA = 2.0                                  # the loss sum |death - eta| of the paper


# ----------------------------------------------------------------------------- worker side
def _status_kb(key: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _make(method: str, metric: str, threads: int):
    """(forward, forward_backward or None) of one method; each takes a float32 torch cloud
    (N, D) or, for the paper's case, (16, N, D)."""
    import numpy as np
    import torch
    p = {"l1": 1.0, "l2": 2.0}[metric]
    sk = {"l1": "manhattan", "l2": "euclidean"}[metric]

    def per_cloud(f):                      # loop a single-cloud method over a batch
        return lambda x: [f(c) for c in x] if x.dim() == 3 else f(x)

    def loss(deaths_list):
        return sum((d - ETA).abs().sum() for d in deaths_list) / len(deaths_list)

    if method == "corel":
        from corel.topology.h0 import vr_persistence_0d

        def fwd(x):
            return vr_persistence_0d(x, metric).deaths

        def fb(x):
            x = x.detach().requires_grad_(True)
            (vr_persistence_0d(x, metric).deaths - ETA).abs().sum(-1).mean().backward()
        return fwd, fb
    if method == "torch.cdist":
        def fwd(x):
            return torch.cdist(x, x, p=p)

        def fb(x):
            x = x.detach().requires_grad_(True)
            torch.cdist(x, x, p=p).sum().backward()
        return fwd, fb
    if method == "cdist-exact":
        def fwd(x):
            return torch.cdist(x, x, p=p, compute_mode="donot_use_mm_for_euclid_dist")

        def fb(x):
            x = x.detach().requires_grad_(True)
            fwd(x).sum().backward()
        return fwd, fb
    if method == "torch-topological":
        from torch_topological.nn import VietorisRipsComplex
        vr = VietorisRipsComplex(dim=0, p=p)

        def deaths(c):
            return vr(c)[0].diagram[:, 1]

        def fb(x):
            x = x.detach().requires_grad_(True)
            clouds = list(x) if x.dim() == 3 else [x]
            loss([deaths(c) for c in clouds]).backward()
        return per_cloud(deaths), fb
    if method == "ripser":
        from ripser import ripser
        return per_cloud(lambda c: ripser(c.numpy(), maxdim=0, metric=sk)["dgms"][0]), None
    if method == "giotto-ph":
        from gph import ripser_parallel
        return per_cloud(lambda c: ripser_parallel(c.numpy(), maxdim=0, metric=sk,
                                                   n_threads=threads)["dgms"][0]), None
    if method == "gudhi":
        import gudhi
        from scipy.spatial.distance import cdist

        def one(c):
            c = c.numpy().astype(np.float64)
            rc = (gudhi.RipsComplex(points=c) if metric == "l2"
                  else gudhi.RipsComplex(distance_matrix=cdist(c, c, "cityblock")))
            tree = rc.create_simplex_tree(max_dimension=1)
            tree.compute_persistence(min_persistence=-1)
            return tree.persistence_intervals_in_dimension(0)
        return per_cloud(one), None
    if method == "scipy-mst":
        from scipy.sparse.csgraph import minimum_spanning_tree
        from scipy.spatial.distance import cdist

        def one(c):
            c = c.numpy()
            return np.sort(minimum_spanning_tree(cdist(c, c, {"l1": "cityblock", "l2": "euclidean"}[metric])).data)
        return per_cloud(one), None
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def worker(spec: dict) -> None:
    """Measure one (case, method); print one JSON line per mode as soon as it is done."""
    import torch
    torch.set_num_threads(spec["threads"])
    gen = torch.Generator().manual_seed(0)
    shape = spec["shape"]
    x = torch.randn(*shape, generator=gen)
    tiny = torch.randn(*shape[:-2], min(shape[-2], 50), shape[-1], generator=gen)
    fwd, fb = _make(spec["method"], spec["metric"], spec["threads"])
    for mode, f in (("fwd", fwd), ("fb", fb)):
        if f is None:
            continue
        f(tiny)                                                   # warm-up: lazy imports, pools
        can_reset = _reset_peak()
        base_kb = _status_kb("VmRSS")
        hwm0 = _status_kb("VmHWM")
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        f(x)
        walls, cpus = [time.perf_counter() - t_wall], [time.process_time() - t_cpu]
        peak_kb = _status_kb("VmHWM") - (base_kb if can_reset else hwm0)
        spent = walls[0]
        # At least `repeats` more calls, and fast calls until 1 s is spent (a steadier median
        # on a loaded machine); never past the cap.
        while (len(walls) <= spec["repeats"] or spent < 1.0) and len(walls) <= 200 \
                and spent + walls[-1] < spec["cap"]:
            t_wall, t_cpu = time.perf_counter(), time.process_time()
            f(x)
            walls.append(time.perf_counter() - t_wall)
            cpus.append(time.process_time() - t_cpu)
            spent += walls[-1]
        keep = slice(1, None) if len(walls) > 1 else slice(None)
        result = {"mode": mode, "wall": statistics.median(walls[keep]),
                  "cpu": statistics.median(cpus[keep]), "calls": len(walls),
                  "peak_mb": max(peak_kb, 0) / 1024, "peak_exact": can_reset}
        if spec.get("pair"):
            result.update(_paired(f, dict(zip(("fwd", "fb"), _make(spec["pair"], spec["metric"],
                                                                    spec["threads"])))[mode], x, spec))
        print(json.dumps(result), flush=True)
        if walls[0] > spec["cap"] and mode == "fwd" and fb is not None:
            print(json.dumps({"mode": "fb", "skipped": "skipped (forward > cap)"}), flush=True)
            break                                             # forward+backward is longer


def _paired(f, g, x, spec: dict) -> dict:
    """CPU-time ratio f / g from calls alternated in one process: the median of the
    per-pair ratios, insensitive to the slow and fast phases of a shared machine that
    separate the measurements of two workers."""
    g(x)                                                          # warm-up of the partner
    tf, tg = alternate(lambda: f(x), lambda: g(x), spec["repeats"], 1.0, 100, spec["cap"])
    return {"paired_cpu": statistics.median(a / b for a, b in zip(tf, tg)), "paired_calls": len(tf)}


# ----------------------------------------------------------------------------- parent side
def skip_reason(method: str, n: int, d: int, metric: str) -> str | None:
    """Anchors that cannot finish in reasonable time or memory at this size."""
    if method == "cdist-exact" and metric != "l2":
        return "= torch.cdist"
    if method == "gudhi" and n >= 10000:
        return "skipped (simplex tree of N^2/2 = 5e7 edges: several GB)"
    return None


def measure(method: str, case: str, shape: tuple, metric: str, args, pair: str | None = None) -> dict:
    """Run one worker; returns {mode: result dict or a string saying why there is none}.
    ``pair``: a second method also timed in alternation with this one (see _paired)."""
    spec = {"method": method, "shape": list(shape), "metric": metric, "threads": args.threads,
            "repeats": args.repeats, "cap": args.cap, "pair": pair}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads))
    proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    budget = 60 + args.cap * (2 if method in DIFFERENTIABLE else 1) * (2 if pair else 1) + 30
    try:
        out, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    res = {}
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            res[r["mode"]] = r.get("skipped", r)
    for mode in ("fwd", "fb"):
        if mode == "fb" and method not in DIFFERENTIABLE:
            res[mode] = "n/a"
        elif mode not in res:
            res[mode] = f">{args.cap:.0f} s (cap)" if proc.returncode in (-9, None) or not err.strip() \
                else "failed: " + err.strip().splitlines()[-1][:80]
    return res


def fmt_time(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def table(rows: list[dict], clock: str, methods: list[str]) -> list[str]:
    head = ["case", "mode"] + methods + ["corel / fastest anchor", "corel / torch.cdist"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        times = {m: r[m][clock] for m in methods if isinstance(r.get(m), dict)}
        anchors = [times[m] for m in ANCHORS if m in times]
        best = min(anchors) if anchors else None
        cells = [r["case"], "fwd+bwd" if r["mode"] == "fb" else "fwd"]
        for m in methods:
            v = r.get(m)
            if isinstance(v, dict):
                cells.append(fmt_time(v[clock]) + (f" ({v[clock] / best:.2f}x)" if best else ""))
            else:
                cells.append(v or "")
        c = times.get("corel")
        cells.append(f"{c / best:.2f}" if c and best else "")
        paired = r["corel"].get("paired_cpu") if isinstance(r.get("corel"), dict) and clock == "cpu" else None
        cells.append((f"{c / times['torch.cdist']:.2f}" if c and "torch.cdist" in times else "")
                     + (f" (paired {paired:.2f})" if paired else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def memory_table(rows: list[dict], methods: list[str]) -> list[str]:
    head = ["case", "mode"] + methods
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], "fwd+bwd" if r["mode"] == "fb" else "fwd"]
        for m in methods:
            v = r.get(m)
            cells.append(f"{v['peak_mb']:.0f} MB" if isinstance(v, dict) else ("" if v is None else "-"))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets(rows: list[dict], clock: str) -> list[str]:
    """The issue's targets, each checked against the measured rows."""
    out = []
    worst, worst_big, worst_small, vs_cdist = [], [], [], []
    for r in rows:
        c = r.get("corel")
        if not isinstance(c, dict):
            continue
        anchors = [r[m][clock] for m in ANCHORS if isinstance(r.get(m), dict)]
        if anchors:
            ratio = c[clock] / min(anchors)
            worst.append((ratio, r["case"], r["mode"]))
            if r["n"] >= 1000:
                worst_big.append((ratio, r["case"], r["mode"]))
            if r["n"] <= 100:     # N = 100 clouds and the paper's batch of them
                worst_small.append((ratio, r["case"], r["mode"]))
        cd = r.get("torch.cdist")
        if r["n"] >= 1000 and not r["case"].startswith(PAPER) and isinstance(cd, dict):
            # The paired ratio where measured (CPU clock): both timed in one process.
            paired = c.get("paired_cpu") if clock == "cpu" else None
            vs_cdist.append((paired or c[clock] / cd[clock], r["case"], r["mode"]))

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"
    if worst:
        w = max(worst)
        out.append(f"- faster than every anchor everywhere: {verdict(w[0] < 1)} "
                   f"(worst corel / fastest anchor = {w[0]:.2f}, {w[1]} {w[2]})")
    if worst_big:
        w = max(worst_big)
        out.append(f"- at least 2x faster than every anchor at N >= 1000: {verdict(w[0] <= 0.5)} "
                   f"(worst {w[0]:.2f}, {w[1]} {w[2]})")
    if worst_small:
        w = max(worst_small)
        out.append(f"- at least 3x faster than every anchor at N = 100 (forward and forward+backward, the paper's "
                   f"batch included): {verdict(w[0] <= 1 / 3)} (worst {w[0]:.3f} = {1 / w[0]:.2f}x, {w[1]} {w[2]})")
    if vs_cdist:
        bad = [v for v in vs_cdist if v[0] > 1]
        w = max(vs_cdist)
        out.append(f"- no slower than torch.cdist at N >= 1000 (paired ratios): {verdict(not bad)} "
                   f"({len(vs_cdist) - len(bad)} of {len(vs_cdist)} rows; worst {w[0]:.2f}, {w[1]} {w[2]})")
    for r in rows:
        if r["case"].startswith(PAPER) and r["mode"] == "fb" and isinstance(r.get("corel"), dict) \
                and isinstance(r.get("torch-topological"), dict):
            s = r["torch-topological"][clock] / r["corel"][clock]
            out.append(f"- paper's batched case, forward+backward >= 10x faster than looping "
                       f"torch-topological: {verdict(s >= 10)} ({s:.1f}x)")
    for r in rows:
        if r["n"] >= 10000 and isinstance(r.get("corel"), dict):
            mb = r["corel"]["peak_mb"]
            matrix = r["n"] ** 2 * 4 / 2 ** 20
            out.append(f"- peak memory {r['case']} {r['mode']}: {mb:.0f} MB "
                       f"(one float32 matrix = {matrix:.0f} MB; limit 1.5 GB): {verdict(mb < 1536)}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,4000,10000", help="comma-separated N")
    ap.add_argument("--dims", default="10,160", help="comma-separated D")
    ap.add_argument("--metrics", default="l1,l2", help="comma-separated, from l1,l2")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    ap.add_argument("--no-paper", action="store_true", help="skip the paper's batched case")
    ap.add_argument("--repeats", type=int, default=5,
                    help="at least this many timed calls after the first (more for calls under 1 s)")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per method and mode")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch / OpenMP / BLAS / giotto-ph threads (default 1: see the README)")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="clock of the main table")
    ap.add_argument("--quick", action="store_true",
                    help="a short run: N in {100, 1000}, D = 10, 3 repeats, cap 20 s")
    ap.add_argument("--out", help="also write the markdown report to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    if args.quick:
        args.sizes, args.dims, args.repeats, args.cap = "100,1000", "10", 3, 20.0
    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; choose from {METHODS}")
    cases = [(f"N={n} D={d} {m}", (n, d), m, n) for n in map(int, args.sizes.split(","))
             for d in map(int, args.dims.split(",")) for m in args.metrics.split(",")]
    if not args.no_paper:
        cases.append((PAPER + " l1", (16, 100, 10), "l1", 100))

    load0 = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    rows = []
    for case, shape, metric, n in cases:
        fwd_row = {"case": case, "mode": "fwd", "n": n}
        fb_row = {"case": case, "mode": "fb", "n": n}
        for m in methods:
            reason = skip_reason(m, shape[-2], shape[-1], metric)
            pair = "torch.cdist" if m == "corel" and "torch.cdist" in methods and n >= 1000 else None
            res = {"fwd": reason, "fb": reason if m in DIFFERENTIABLE else "n/a"} if reason \
                else measure(m, case, shape, metric, args, pair)
            fwd_row[m], fb_row[m] = res["fwd"], res["fb"]
            shown = res["fwd"] if not isinstance(res["fwd"], dict) else fmt_time(res["fwd"][args.clock])
            print(f"# {case:24s} {m:18s} fwd {shown}", file=sys.stderr, flush=True)
        rows += [fwd_row, fb_row]
    load1 = os.getloadavg()

    report = [
        "Command: `" + " ".join(["python", "benchmarks/persistence.py"] + (argv if argv is not None else sys.argv[1:])) + "`",
        "",
        f"Date: {started:%Y-%m-%d %H:%M %Z} to {datetime.datetime.now().astimezone():%H:%M}. "
        f"Machine: {os.cpu_count()} CPUs, {cpu_name()}; Python {platform.python_version()}, "
        f"{versions(PACKAGES)}.",
        f"Load average (1/5/15 min) at the start {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
        f"at the end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}. Threads per method: {args.threads}. "
        f"Repeats: median of at least {args.repeats} calls after the first (more, up to 1 s, for fast calls), cap {args.cap:.0f} s per method and mode.",
        "",
        f"Time ({'process CPU time' if args.clock == 'cpu' else 'wall-clock'}, median); in brackets "
        "the ratio to the fastest anchor (ripser, giotto-ph, gudhi, torch-topological, scipy MST) "
        "of the row; torch.cdist is a reference, not an anchor. For N >= 1000 the corel worker "
        "also times corel and torch.cdist alternately in one process: \"paired\" is the median "
        "of those per-pair CPU-time ratios (the two columns come from separate workers, minutes "
        "apart, on a machine whose speed drifts by tens of per cent).",
        "",
        *table(rows, args.clock, methods),
        "",
        f"Time ({'wall-clock' if args.clock == 'cpu' else 'process CPU time'}, median), same runs:",
        "",
        *table(rows, "wall" if args.clock == "cpu" else "cpu", methods),
        "",
        "Peak memory of one call (resident-set high-water mark above the level before the call):",
        "",
        *memory_table(rows, methods),
        "",
        "Targets:",
        "",
        *targets(rows, args.clock),
        "",
    ]
    text = "\n".join(report)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:      # the raw rows
            json.dump({"argv": argv if argv is not None else sys.argv[1:], "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
