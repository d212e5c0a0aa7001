"""Training throughput: the connectivity loss's cost, and the contrastive recipe in float32 against bfloat16.

Images per second of Lightning training steps (data loading from the in-memory uint8 images,
float conversion, augmentation, forward, backward, Adam) on the real CIFAR-10 JPEG copy, B = 100,
16 x 10. Settings are run alternately, so that a drifting machine load hits them alike; the ratio
of each pair of neighbouring runs is reported beside the best runs.

    python benchmarks/training.py --compare lambda --steps 150 --threads 1      # paper's step, lambda 0 vs 20
    python benchmarks/training.py --compare precision --steps 150 --threads 1   # contrastive recipe, 32 vs bf16
    python benchmarks/training.py --compare threads --steps 150                 # contrastive recipe, 1 vs 2 threads

Targets: the connectivity loss adds at most 10% to the paper's step; the contrastive recipe's
step at least 1.5x faster than float32 on one thread.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from _timing import cpu_name  # benchmarks/_timing.py, beside this script

# Each comparison: (label, TrainConfig keys, torch threads or None for --threads).
COMPARISONS = {
    "lambda": [("paper, lambda 0", {"lam": 0.0}, None), ("paper, lambda 20", {"lam": 20.0}, None)],
    "precision": [("contrastive, 32-true", {"recipe": "contrastive"}, None),
                  ("contrastive, bf16-mixed", {"recipe": "contrastive", "precision": "bf16-mixed"}, None)],
    "threads": [("contrastive, 1 thread", {"recipe": "contrastive"}, 1),
                ("contrastive, 2 threads", {"recipe": "contrastive"}, 2)],
}


class _Timer:
    """Lightning callback: wall time from the first to the last training batch, skipping warm-up."""

    def __init__(self, warmup: int):
        import lightning.pytorch as pl

        class Cb(pl.Callback):
            def on_train_batch_start(cb, trainer, module, batch, idx):
                if trainer.global_step == warmup:
                    self.t0 = time.perf_counter()

            def on_train_end(cb, trainer, module):
                self.t1 = time.perf_counter()
        self.callback = Cb()
        self.t0 = self.t1 = None


def run(keys: dict, data, steps: int, warmup: int, accelerator: str) -> float:
    import lightning.pytorch as pl
    from corel.training.engine import CorelModule, TrainConfig, _EpochLoader, model_kwargs

    cfg = TrainConfig.from_dict({**keys, "dataset": "cifar10-jpeg", "max_steps": steps + warmup,
                                 "progress_bar": False})
    name, args = model_kwargs(cfg, 3, 3 * 32 * 32)
    pl.seed_everything(0, verbose=False)
    module = CorelModule(name, args, cfg.to_dict())
    timer = _Timer(warmup)
    trainer = pl.Trainer(max_steps=steps + warmup, accelerator=accelerator, devices=1, logger=False,
                         precision=cfg.precision, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, use_distributed_sampler=False, callbacks=[timer.callback])
    trainer.fit(module, train_dataloaders=_EpochLoader(data, cfg).build(trainer))
    return steps * cfg.batch_size / (timer.t1 - timer.t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", choices=sorted(COMPARISONS), default="lambda")
    ap.add_argument("--steps", type=int, default=150, help="timed steps per run (after warm-up)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="torch threads where the comparison does not set them")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--repeats", type=int, default=3, help="alternate the settings this many times")
    ap.add_argument("--data-root", default=None, help="the CIFAR-10 JPEG folder (default: the loader's own)")
    args = ap.parse_args(argv)
    from corel.data import load_dataset

    t = time.perf_counter()
    data = load_dataset("cifar10-jpeg", split="train", root=args.data_root)
    load_s = time.perf_counter() - t
    settings = COMPARISONS[args.compare]
    results: list[list[float]] = [[] for _ in settings]
    for _ in range(args.repeats):          # alternate, so drifting machine load hits all alike
        for k, (_, keys, threads) in enumerate(settings):
            torch.set_num_threads(threads or args.threads)
            results[k].append(run(keys, data, args.steps, args.warmup, args.accelerator))
    torch.set_num_threads(args.threads)
    print(f"machine: {cpu_name()}, torch {torch.__version__}, accelerator {args.accelerator}")
    print(f"data: CIFAR-10 JPEG train split, 50,000 images, loaded in {load_s:.1f} s (decoded once, cached)")
    print(f"{args.steps} timed steps of B=100 per run, {args.repeats} runs per setting, alternating\n")
    print("| setting | images/s (best) | all runs | step time (ms, best) | speed relative to the first (best) "
          "| paired ratio (median) |")
    print("|---|---|---|---|---|---|")
    base = results[0]
    for (label, _, _), v in zip(settings, results):
        paired = statistics.median(b / a for a, b in zip(base, v))
        print(f"| {label} | {max(v):.0f} | {', '.join(f'{x:.0f}' for x in v)} | {100e3 / max(v):.1f} | "
              f"{max(v) / max(base):.3f}x | {paired:.3f}x |")
    if args.compare == "lambda":
        overhead = max(base) / max(results[1]) - 1
        print(f"\nconnectivity loss overhead per step: {100 * overhead:+.1f}% (target: <= +10%)")
    elif args.compare == "precision":
        print(f"\nbf16-mixed speed-up (best runs): {max(results[1]) / max(base):.2f}x (target: >= 1.5x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
