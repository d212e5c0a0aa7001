"""The two CPU Prim kernels for l2 side by side, to place corel's dispatch rule
(topology.h0._use_gram: the matrix-product Prim from D >= 128, or D >= 64 up to 512
points, for N >= 64 and up to a 256 MB matrix): the direct-sum kernel (prim_points, O(N*D)
memory) against the matrix-product kernel (prim_gram: torch's matrix product, then Prim on bounded
estimates), float32 Gaussian clouds, one thread, process CPU time, medians of calls
alternated between the two kernels after a warm-up call. Both build the same tree; the script checks that too.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/prim_kernels.py --out benchmarks/prim_kernels.md
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics

import numpy as np
import torch
from _timing import alternate, cpu_name   # benchmarks/_timing.py, beside this script

from corel.topology import _prim_numba
from corel.topology.h0 import _use_gram


def paired_ms(f, g, min_calls: int = 9, budget: float = 2.0) -> tuple[float, float, float]:
    """Medians of f's and g's CPU times, and of the per-pair ratios g / f, from alternated
    calls after a warm-up of each."""
    f(), g()
    tf, tg = alternate(f, g, min_calls, budget, 200)
    ratio = statistics.median(b / a for a, b in zip(tf, tg))
    return statistics.median(tf) * 1e3, statistics.median(tg) * 1e3, ratio


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="50,100,200,300,1000,2000,4000")
    ap.add_argument("--dims", default="16,32,64,96,160,256")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    lines = ["| N | D | direct sums (ms) | matrix product (ms) | product / direct (paired) | corel uses |",
             "|---|---|---|---|---|---|"]
    for n in map(int, args.sizes.split(",")):
        for d in map(int, args.dims.split(",")):
            x = rng.standard_normal((n, d)).astype(np.float32)
            direct = _prim_numba.prim_points(x[None], 2.0)[0]
            product = _prim_numba.prim_gram(x)
            assert product is not None and np.array_equal(direct, product), (n, d)
            a, b, ratio = paired_ms(lambda: _prim_numba.prim_points(x[None], 2.0),
                                    lambda: _prim_numba.prim_gram(x))
            uses = "product" if _use_gram((n, d), 4, 2.0) else "direct"
            lines.append(f"| {n} | {d} | {a:.3g} | {b:.3g} | {ratio:.2f} | {uses} |")
            print(lines[-1], flush=True)
    head = [f"Command: `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/prim_kernels.py "
            f"{' '.join(argv if argv is not None else os.sys.argv[1:])}`",
            "",
            f"Date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}. Machine: {os.cpu_count()} CPUs; "
            f"Python {platform.python_version()}, NumPy {np.__version__}, torch {torch.__version__}, "
            f"{cpu_name()}; load average at the end {'/'.join(f'{v:.2f}' for v in os.getloadavg())}. Process CPU time, median; "
            "the calls of the two kernels alternated, the ratio the median of per-pair ratios; "
            "the same trees from both kernels (checked).", ""]
    text = "\n".join(head + lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
