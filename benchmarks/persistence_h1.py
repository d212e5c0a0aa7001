"""1-dimensional Vietoris-Rips persistence: corel against torch-topological, ripser and
giotto-ph, forward and forward+backward with max_dimension = 1, in one run.

Every measurement runs in a fresh subprocess (one per case and method), so that the peak
memory of one call can be read from the kernel:

* time: median over the calls of the process CPU time (all threads, user + system) and of
  the wall-clock time. A tiny input warms each method up (imports, Numba's cached kernels);
  the first call on the full-size input is timed but left out of the median when further
  calls were made: at least ``--repeats`` more (one at N >= 1000), more for fast calls
  (until 0.5 s is spent, at most 50).
* peak memory: the resident set's high-water mark during that first call minus the resident
  set just before it (``VmHWM - VmRSS`` from /proc/self/status, the mark reset through
  /proc/self/clear_refs): every allocation (torch, NumPy, C++, Numba) is seen.

What each method computes, float32 Gaussian clouds, l2:

* corel: ``vr_persistence_1d(x, "l2")`` -- the distance matrix (detached), Prim's tree for
  dimension 0, the H1 kernel for dimension 1, every birth and death recomputed from the
  points along its edge. One call for a batch (``n_threads`` 1, or 2 where the case says so).
* torch-topological: ``VietorisRipsComplex(dim=1, p=2)`` -- ``torch.cdist``, giotto-ph's
  ``ripser_parallel(..., return_generators=True)`` on the matrix (one thread), the
  differentiable gather from the matrix; a batch is looped over in Python (its own loop).
* ripser (``ripser(x, maxdim=1)``) and giotto-ph (``ripser_parallel(x, maxdim=1,
  return_generators=True, n_threads=1)``): the points, their own distance computation;
  not differentiable, forward only.

Forward+backward: the loss sum(H0 deaths) + sum(H1 deaths - births), then backward.

A check pass (one more subprocess per single-cloud case) compares corel's H1 diagram with
giotto-ph's (bottleneck distance, both float32) and the float32 gradient of that loss with
the float64 one (same points), for corel and for torch-topological.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/persistence_h1.py --out benchmarks/persistence_h1.md
    python benchmarks/persistence_h1.py --sizes 100 --dims 2 --no-batch --no-memory
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
from _timing import cpu_name, emit, versions  # benchmarks/_timing.py, beside this script

PACKAGES = ("torch", "numpy", "numba", "ripser", "giotto-ph", "gudhi", "torch-topological")   # whose versions the tables name

METHODS = ["corel", "torch-topological", "ripser", "giotto-ph"]
ANCHORS = ["torch-topological", "ripser", "giotto-ph"]
DIFFERENTIABLE = {"corel", "corel (2 threads)", "torch-topological"}


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


def _make(method: str):
    """(forward, forward_backward or None); each takes a float32 cloud (N, D) or a batch
    (B, N, D)."""
    import torch

    def per_cloud(f):
        return lambda x: [f(c) for c in x] if x.dim() == 3 else f(x)

    if method.startswith("corel"):
        from corel.topology.h1 import vr_persistence_1d
        threads = 2 if "2 threads" in method else 1

        def fwd(x):
            return vr_persistence_1d(x, "l2", n_threads=threads)

        def fb(x):
            x = x.detach().requires_grad_(True)
            h0, h1 = fwd(x)
            (h0.deaths.sum() + h1.persistence.sum()).backward()
        return fwd, fb
    if method == "torch-topological":
        from torch_topological.nn import VietorisRipsComplex
        vr = VietorisRipsComplex(dim=1, p=2)

        def loss(x):
            total = 0
            for info in (vr(x) if x.dim() == 3 else [vr(x)]):
                h0, h1 = info[0].diagram, info[1].diagram
                total = total + h0[:, 1].sum() + (h1[:, 1] - h1[:, 0]).sum()
            return total

        def fb(x):
            loss(x.detach().requires_grad_(True)).backward()
        return vr, fb
    if method == "ripser":
        from ripser import ripser
        return per_cloud(lambda c: ripser(c.numpy(), maxdim=1)["dgms"]), None
    if method == "giotto-ph":
        from gph import ripser_parallel
        return per_cloud(lambda c: ripser_parallel(c.numpy(), maxdim=1, return_generators=True,
                                                   n_threads=1)["dgms"]), None
    raise ValueError(f"unknown method {method!r}")


def worker(spec: dict) -> None:
    import torch
    torch.set_num_threads(1)
    if spec["method"] == "check":
        return check(spec)
    gen = torch.Generator().manual_seed(0)
    shape = spec["shape"]
    x = torch.randn(*shape, generator=gen)
    tiny = torch.randn(*shape[:-2], min(shape[-2], 30), shape[-1], generator=gen)
    fwd, fb = _make(spec["method"])
    repeats = 1 if shape[-2] >= 1000 else spec["repeats"]
    for mode, f in (("fwd", fwd), ("fb", fb)):
        if f is None:
            continue
        f(tiny)
        can_reset = _reset_peak()
        base_kb, hwm0 = _status_kb("VmRSS"), _status_kb("VmHWM")
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        f(x)
        walls, cpus = [time.perf_counter() - t_wall], [time.process_time() - t_cpu]
        peak_kb = _status_kb("VmHWM") - (base_kb if can_reset else hwm0)
        spent = walls[0]
        while (len(walls) <= repeats or spent < 0.5) and len(walls) <= 50 and spent + walls[-1] < spec["cap"]:
            t_wall, t_cpu = time.perf_counter(), time.process_time()
            f(x)
            walls.append(time.perf_counter() - t_wall)
            cpus.append(time.process_time() - t_cpu)
            spent += walls[-1]
        keep = slice(1, None) if len(walls) > 1 else slice(None)
        print(json.dumps({"mode": mode, "wall": statistics.median(walls[keep]), "cpu": statistics.median(cpus[keep]),
                          "calls": len(walls), "peak_mb": max(peak_kb, 0) / 1024}), flush=True)


def check(spec: dict) -> None:
    """Bottleneck distance between corel's and giotto-ph's H1 diagrams, and the float32
    gradient's max error relative to the float64 one, corel and torch-topological."""
    import gudhi
    import numpy as np
    import torch
    from gph import ripser_parallel
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*spec["shape"], generator=gen)
    corel_fwd, corel_fb = _make("corel")
    tt_fwd, _ = _make("torch-topological")
    ours = corel_fwd(x)[1].diagram().numpy().astype(np.float64)
    theirs = ripser_parallel(x.numpy(), maxdim=1, n_threads=1)["dgms"][1].astype(np.float64)
    theirs = theirs[theirs[:, 1] > theirs[:, 0]]
    scale = float(np.ptp(x.numpy(), axis=0).max())
    result = {"mode": "check", "bottleneck": float(gudhi.bottleneck_distance(ours, theirs)) / scale,
              "pairs": len(ours), "pairs_giotto": len(theirs)}

    def grad(method, dtype):
        y = x.to(dtype).detach().clone().requires_grad_(True)
        if method == "corel":
            h0, h1 = corel_fwd(y)
            (h0.deaths.sum() + h1.persistence.sum()).backward()
        else:
            info = tt_fwd(y)
            h0, h1 = info[0].diagram, info[1].diagram
            (h0[:, 1].sum() + (h1[:, 1] - h1[:, 0]).sum()).backward()
        return y.grad.double()
    for method in ("corel", "torch-topological"):
        g32, g64 = grad(method, torch.float32), grad(method, torch.float64)
        result[method] = float((g32 - g64).abs().max() / g64.abs().max())
    print(json.dumps(result), flush=True)


# ----------------------------------------------------------------------------- parent side
def measure(method: str, shape: tuple, args) -> dict:
    spec = {"method": method, "shape": list(shape), "repeats": args.repeats, "cap": args.cap}
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60 + 3 * args.cap)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    res = {}
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            res[r["mode"]] = r
    modes = ("check",) if method == "check" else ("fwd", "fb")
    for mode in modes:
        if mode == "fb" and method not in DIFFERENTIABLE:
            res[mode] = "n/a"
        elif mode not in res:
            res[mode] = "failed: " + (err.strip().splitlines() or ["no output"])[-1][:100]
    return res


def fmt_time(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def table(rows: list[dict], clock: str, methods: list[str]) -> list[str]:
    head = ["case", "mode"] + methods + ["torch-topological / corel"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], "fwd+bwd" if r["mode"] == "fb" else "fwd"]
        for m in methods:
            v = r.get(m)
            cells.append(fmt_time(v[clock]) if isinstance(v, dict) else (v or ""))
        c, t = r.get("corel"), r.get("torch-topological")
        cells.append(f"{t[clock] / c[clock]:.2f}x" if isinstance(c, dict) and isinstance(t, dict) else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def memory_table(rows: list[dict], methods: list[str]) -> list[str]:
    head = ["case", "mode"] + methods
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], "fwd+bwd" if r["mode"] == "fb" else "fwd"]
        cells += [f"{r[m]['peak_mb']:.0f} MB" if isinstance(r.get(m), dict) else "" for m in methods]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def targets(rows: list[dict], checks: list[dict], clock: str) -> list[str]:
    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"
    out = []
    speed = [(r["torch-topological"][clock] / r["corel"][clock], r["case"], r["mode"]) for r in rows
             if r["kind"] == "single" and isinstance(r.get("corel"), dict) and isinstance(r.get("torch-topological"), dict)]
    if speed:
        w = min(speed)
        out.append(f"- forward+backward (and forward) no slower than torch-topological at every N and D: "
                   f"{verdict(w[0] >= 1)} (smallest speed-up {w[0]:.2f}x, {w[1]} {'fwd+bwd' if w[2] == 'fb' else 'fwd'}; "
                   f"fwd+bwd rows {min(s for s in speed if s[2] == 'fb')[0]:.2f}x to "
                   f"{max(s for s in speed if s[2] == 'fb')[0]:.2f}x)")
    for r in rows:
        if r["kind"] == "batch" and r["mode"] == "fb" and isinstance(r.get("torch-topological"), dict):
            # Threads save wall-clock time, not CPU time: the 2-thread column is read on the wall clock.
            for m, clk in (("corel", clock), ("corel (2 threads)", "wall")):
                if isinstance(r.get(m), dict):
                    s = r["torch-topological"][clk] / r[m][clk]
                    out.append(f"- {r['case']} forward+backward at least 3x faster than looping torch-topological, "
                               f"{m}, {'CPU time' if clk == 'cpu' else 'wall-clock'}: {verdict(s >= 3)} ({s:.1f}x)")
    for r in rows:
        if r["kind"] == "memory" and isinstance(r.get("corel"), dict) and isinstance(r.get("torch-topological"), dict):
            a, b = r["corel"]["peak_mb"], r["torch-topological"]["peak_mb"]
            out.append(f"- memory {r['case']} {'fwd+bwd' if r['mode'] == 'fb' else 'fwd'} no more than torch-topological: "
                       f"{verdict(a <= b)} ({a:.0f} MB vs {b:.0f} MB)")
    if checks:
        bn = max(c["bottleneck"] for c in checks)
        g = max(c["corel"] for c in checks)
        out.append(f"- H1 diagrams equal to giotto-ph's: bottleneck distance at most {bn:.1e} of the cloud's extent "
                   f"(float32 rounding), pair counts {'equal' if all(c['pairs'] == c['pairs_giotto'] for c in checks) else 'differ'}")
        out.append(f"- float32 gradient within 1e-4 (relative, max norm) of float64: {verdict(g <= 1e-4)} "
                   f"(worst {g:.1e}; torch-topological's worst {max(c['torch-topological'] for c in checks):.1e})")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,500,1000", help="comma-separated N")
    ap.add_argument("--dims", default="2,10,160", help="comma-separated D")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset of " + ",".join(METHODS))
    ap.add_argument("--no-batch", action="store_true", help="skip the batched cases (16 clouds of 100 points)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory cases (N = 2000)")
    ap.add_argument("--no-check", action="store_true", help="skip the check pass")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls after the first (1 at N >= 1000)")
    ap.add_argument("--cap", type=float, default=30.0, help="seconds per method and mode")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="clock of the main table")
    ap.add_argument("--out", help="also write the markdown report to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    methods = [m for m in args.methods.split(",") if m]
    cases = [(f"N={n} D={d}", (n, d), "single") for n in map(int, args.sizes.split(","))
             for d in map(int, args.dims.split(","))]
    if not args.no_batch:
        cases += [(f"batch 16x100 D={d}", (16, 100, d), "batch") for d in (2, 10)]
    if not args.no_memory:
        cases += [(f"N=2000 D={d}", (2000, d), "memory") for d in (2, 10)]

    load0 = os.getloadavg()
    started = datetime.datetime.now().astimezone()
    rows, checks = [], []
    for case, shape, kind in cases:
        row_methods = methods if kind == "single" else (
            [m for m in ("corel", "corel (2 threads)", "torch-topological") if m.split(" ")[0] in methods]
            if kind == "batch" else [m for m in ("corel", "torch-topological") if m in methods])
        fwd_row = {"case": case, "mode": "fwd", "kind": kind}
        fb_row = {"case": case, "mode": "fb", "kind": kind}
        for m in row_methods:
            res = measure(m, shape, args)
            fwd_row[m], fb_row[m] = res["fwd"], res["fb"]
            shown = fmt_time(res["fwd"]["cpu"]) if isinstance(res["fwd"], dict) else res["fwd"]
            print(f"# {case:20s} {m:18s} fwd {shown}", file=sys.stderr, flush=True)
        rows += [fwd_row, fb_row]
        if kind == "single" and not args.no_check:
            c = measure("check", shape, args)["check"]
            if isinstance(c, dict):
                checks.append({"case": case, **c})
            print(f"# {case:20s} check {c}", file=sys.stderr, flush=True)
    load1 = os.getloadavg()

    all_methods = methods + (["corel (2 threads)"] if not args.no_batch else [])
    report = [
        "Command: `" + " ".join(["python", "benchmarks/persistence_h1.py"] + (argv if argv is not None else sys.argv[1:])) + "`",
        "",
        f"Date: {started:%Y-%m-%d %H:%M %Z} to {datetime.datetime.now().astimezone():%H:%M}. "
        f"Machine: {os.cpu_count()} CPUs, {cpu_name()}; Python {platform.python_version()}, {versions(PACKAGES)}.",
        f"Load average (1/5/15 min) at the start {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, "
        f"at the end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}. One thread per method (torch, OpenMP, BLAS, "
        f"giotto-ph, corel's n_threads) except the column \"corel (2 threads)\" (n_threads=2). "
        f"Repeats: median of at least {args.repeats} calls after the first (1 at N >= 1000; more, up to 0.5 s, "
        f"for fast calls).",
        "",
        f"Time ({'process CPU time' if args.clock == 'cpu' else 'wall-clock'}, median); float32 Gaussian clouds, l2, "
        "max_dimension 1 (H0 and H1):",
        "",
        *table(rows, args.clock, all_methods),
        "",
        f"Time ({'wall-clock' if args.clock == 'cpu' else 'process CPU time'}, median), same runs:",
        "",
        *table(rows, "wall" if args.clock == "cpu" else "cpu", all_methods),
        "",
        "Peak memory of one call (resident-set high-water mark above the level before the call):",
        "",
        *memory_table(rows, all_methods),
        "",
    ]
    if checks:
        report += ["Checks (float32 clouds of the single cases): bottleneck distance between corel's and "
                   "giotto-ph's H1 diagrams over the cloud's extent; max |g32 - g64| / max |g64| of the "
                   "gradient of the loss above.", "",
                   "| case | H1 pairs (corel / giotto-ph) | bottleneck / extent | corel float32 grad error | "
                   "torch-topological float32 grad error |", "|---|---|---|---|---|"]
        report += [f"| {c['case']} | {c['pairs']} / {c['pairs_giotto']} | {c['bottleneck']:.1e} | {c['corel']:.1e} | "
                   f"{c['torch-topological']:.1e} |" for c in checks]
        report.append("")
    report += ["Targets:", "", *targets(rows, checks, args.clock), ""]
    emit("\n".join(report), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
