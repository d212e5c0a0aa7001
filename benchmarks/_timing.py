"""Shared by the benchmark scripts: paired timing (two functions called alternately, f g g f
..., in one process, so both see the same phase of a machine whose speed drifts) and the
machine description printed beside every table."""
from __future__ import annotations

import platform
import time


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def versions(packages) -> str:
    """``"torch 2.13.0, numpy ..."`` for the installed ones of ``packages``."""
    from importlib.metadata import PackageNotFoundError, version
    out = []
    for pkg in packages:
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def alternate(f, g, min_pairs: int, budget: float, max_pairs: int, cap: float = float("inf")):
    """Process CPU times of f and of g, one list each, from calls alternated until at least
    ``min_pairs`` pairs are done and ``budget`` wall seconds spent (at most ``max_pairs``
    pairs, never past ``cap`` seconds)."""
    tf, tg, spent = [], [], 0.0

    def timed(h):
        t = time.process_time()
        h()
        return time.process_time() - t
    while (len(tf) < min_pairs or spent < budget) and len(tf) < max_pairs and spent < cap:
        t_wall = time.perf_counter()
        if len(tf) % 2:
            b, a = timed(g), timed(f)
        else:
            a, b = timed(f), timed(g)
        tf.append(a)
        tg.append(b)
        spent += time.perf_counter() - t_wall
    return tf, tg


def emit(text: str, out=None) -> None:
    """Print a benchmark's report and, with ``out``, write it there too."""
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)
