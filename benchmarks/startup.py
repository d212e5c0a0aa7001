"""Start-up: how long `corel score`, `corel evaluate` and an argument error take before their work,
against ``python -c "import torch"`` timed in the same run (alternated, wall seconds, medians).

Each command is stopped by the first thing it checks once its modules are imported and its model
is loaded: ``corel score`` by a missing inlier folder (after the shipped model is loaded), ``corel
evaluate`` by a missing checkpoint, the argument error by an unknown option. The target: at most
``import torch`` + 0.3 s.

    python benchmarks/startup.py --out benchmarks/startup.md
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import cpu_name, versions  # noqa: E402

TARGET_S = 0.3


def commands() -> dict[str, list[str]]:
    corel = [shutil.which("corel") or "corel"]
    missing = "/nonexistent-corel-startup-check"
    return {
        "import torch": [sys.executable, "-c", "import torch"],
        "corel score (model loaded)": [*corel, "score", "--model", "cifar10-contrastive", "--inliers", missing,
                                       "--images", missing],
        "corel evaluate": [*corel, "evaluate", f"{missing}/model.pt"],
        "argument error": [*corel, "score", "--no-such-option"],
    }


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the child) of one run of ``cmd``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="rounds; each runs every command once, in turn")
    ap.add_argument("--out", help="also write the Markdown table here")
    args = ap.parse_args(argv)
    cmds = commands()
    walls, cpus = {name: [] for name in cmds}, {name: [] for name in cmds}
    for name, cmd in cmds.items():           # warm the file cache once
        timed(cmd)
    for _ in range(args.rounds):
        for name, cmd in cmds.items():
            w, c = timed(cmd)
            walls[name].append(w)
            cpus[name].append(c)
    base_wall, base_cpu = statistics.median(walls["import torch"]), statistics.median(cpus["import torch"])
    lines = ["# Start-up: seconds before a command's work", "",
             "Command: `python benchmarks/startup.py --out benchmarks/startup.md`  ",
             f"Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC  ",
             f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs, OMP_NUM_THREADS=1; "
             f"{versions(['torch', 'scikit-learn', 'numpy'])}  ",
             f"Load average before: {', '.join(f'{v:.2f}' for v in os.getloadavg())}", "",
             f"Medians of {args.rounds} rounds (the commands alternated in each round): wall seconds, and CPU "
             f"seconds of the process (user + system; steadier than wall time on a loaded machine). Over "
             f"torch: the median minus `import torch`'s; target at most {TARGET_S} s.", "",
             "| command | wall s | CPU s | wall over torch s | CPU over torch s | within target (CPU) |",
             "|---|---|---|---|---|---|"]
    for name in cmds:
        w, c = statistics.median(walls[name]), statistics.median(cpus[name])
        first = name == "import torch"
        over_w = "" if first else f"{w - base_wall:+.2f}"
        over_c = "" if first else f"{c - base_cpu:+.2f}"
        ok = "" if first else ("yes" if c - base_cpu <= TARGET_S else "no")
        lines.append(f"| {name} | {w:.2f} | {c:.2f} | {over_w} | {over_c} | {ok} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
