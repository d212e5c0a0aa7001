"""Training throughput: the connectivity loss's cost, float32 against bfloat16, this code against an earlier one.

Images per second of Lightning training steps (data loading from the in-memory uint8 images,
float conversion, augmentation, forward, backward, Adam) on the real CIFAR-10 JPEG copy, B = 100,
16 x 10. Each run is its own process (so a run may use another source tree, given with
--baseline-src); the settings are run alternately, so that a drifting machine load hits them
alike, and the ratio of each pair of neighbouring runs is reported beside the best runs.

    python benchmarks/training.py --compare lambda --steps 150        # paper's step, lambda 0 vs 20
    python benchmarks/training.py --compare precision --steps 150     # contrastive recipe, 32 vs bf16
    python benchmarks/training.py --compare threads --steps 150       # 1 vs 2 threads vs 2 DDP processes
    git archive REV src | tar -x -C /tmp/base                         # an earlier tree, then:
    python benchmarks/training.py --compare speed --baseline-src /tmp/base/src --steps 150

Targets: the connectivity loss adds at most 10% to the paper's step; the contrastive recipe's
step at least 1.5x faster than before on one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Each comparison: (label, TrainConfig keys, torch threads or None for --threads, source: "now" or "baseline").
COMPARISONS = {
    "lambda": [("paper, lambda 0", {"lam": 0.0}, None, "now"), ("paper, lambda 20", {"lam": 20.0}, None, "now")],
    "precision": [("contrastive, 32-true", {"recipe": "contrastive"}, None, "now"),
                  ("contrastive, bf16-mixed", {"recipe": "contrastive", "precision": "bf16-mixed"}, None, "now")],
    "threads": [("contrastive, 1 process x 1 thread", {"recipe": "contrastive"}, 1, "now"),
                ("contrastive, 1 process x 2 threads", {"recipe": "contrastive"}, 2, "now"),
                ("contrastive, 2 DDP processes x 1 thread", {"recipe": "contrastive", "devices": "2"}, 1, "now")],
    "speed": [("contrastive, baseline tree, 32-true", {"recipe": "contrastive"}, None, "baseline"),
              ("contrastive, this tree, 32-true", {"recipe": "contrastive"}, None, "now"),
              ("contrastive, this tree, bf16-mixed", {"recipe": "contrastive", "precision": "bf16-mixed"}, None,
               "now")],
}


def worker(job: dict) -> float | None:
    """One timed run: images / s (over all ranks) of ``job['steps']`` steps after ``job['warmup']``; None on
    ranks other than 0 (DDP: Lightning starts them by running this script again)."""
    import torch
    torch.set_num_threads(job["threads"])
    import lightning.pytorch as pl
    from corel.data import load_dataset
    from corel.training.engine import CorelModule, TrainConfig, _EpochLoader, model_kwargs

    data = load_dataset("cifar10-jpeg", split="train", root=job["data_root"])
    steps, warmup = job["steps"], job["warmup"]
    cfg = TrainConfig.from_dict({**job["keys"], "dataset": "cifar10-jpeg", "max_steps": steps + warmup,
                                 "progress_bar": False})
    name, args = model_kwargs(cfg, 3, 3 * 32 * 32)
    pl.seed_everything(0, verbose=False)
    module = CorelModule(name, args, cfg.to_dict())
    times = {}

    class Timer(pl.Callback):
        def on_train_batch_start(self, trainer, module, batch, idx):
            if trainer.global_step == warmup:
                times["t0"] = time.perf_counter()

        def on_train_end(self, trainer, module):
            times["t1"] = time.perf_counter()
    extra = {"precision": cfg.precision} if "precision" in job["keys"] else {}   # a baseline tree may predate it
    devices = int(job["keys"].get("devices", 1))
    if devices > 1:
        extra["strategy"] = "ddp"
    trainer = pl.Trainer(max_steps=steps + warmup, accelerator="cpu", devices=devices, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         use_distributed_sampler=False, callbacks=[Timer()], **extra)
    trainer.fit(module, train_dataloaders=_EpochLoader(data, cfg).build(trainer))
    if trainer.global_rank != 0:
        return None
    return devices * steps * cfg.batch_size / (times["t1"] - times["t0"])


def _run(job: dict, src: str | None) -> float:
    env = dict(os.environ, OMP_NUM_THREADS=str(job["threads"]), PYTHONWARNINGS="ignore")
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", choices=sorted(COMPARISONS), default="lambda")
    ap.add_argument("--steps", type=int, default=150, help="timed steps per run (after warm-up)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads where the comparison does not set them")
    ap.add_argument("--repeats", type=int, default=3, help="alternate the settings this many times")
    ap.add_argument("--data-root", default=None, help="the CIFAR-10 JPEG folder (default: the loader's own)")
    ap.add_argument("--baseline-src", default=None, help="--compare speed: the src/ folder of the earlier tree")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        value = worker(json.loads(args.worker))
        if value is not None:
            print(value)
        return 0
    settings = COMPARISONS[args.compare]
    if any(where == "baseline" for *_, where in settings) and not args.baseline_src:
        ap.error("--compare speed needs --baseline-src (the src/ folder of the earlier tree)")
    results: list[list[float]] = [[] for _ in settings]
    for _ in range(args.repeats):          # alternate, so drifting machine load hits all alike
        for k, (_, keys, threads, where) in enumerate(settings):
            job = {"keys": keys, "threads": threads or args.threads, "steps": args.steps, "warmup": args.warmup,
                   "data_root": args.data_root}
            results[k].append(_run(job, args.baseline_src if where == "baseline" else str(Path(__file__).parents[1] / "src")))
    from _timing import cpu_name   # benchmarks/_timing.py, beside this script
    import torch
    load = "/".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs, torch {torch.__version__}, load average at the end {load}")
    print(f"data: CIFAR-10 JPEG train split, 50,000 images; {args.steps} timed steps of B=100 per run after "
          f"{args.warmup}, {args.repeats} runs per setting, alternating, each in its own process\n")
    print("| setting | images/s (best) | all runs | step time (ms, best) | speed relative to the first (best) "
          "| paired ratio (median) |")
    print("|---|---|---|---|---|---|")
    base = results[0]
    for (label, *_), v in zip(settings, results):
        paired = statistics.median(b / a for a, b in zip(base, v))
        print(f"| {label} | {max(v):.0f} | {', '.join(f'{x:.0f}' for x in v)} | {100e3 / max(v):.1f} | "
              f"{max(v) / max(base):.3f}x | {paired:.3f}x |")
    if args.compare == "lambda":
        overhead = max(base) / max(results[1]) - 1
        print(f"\nconnectivity loss overhead per step: {100 * overhead:+.1f}% (target: <= +10%)")
    elif args.compare == "speed":
        print(f"\nthis tree with bf16-mixed against the baseline tree in float32 (best runs): "
              f"{max(results[2]) / max(base):.2f}x (target: >= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
