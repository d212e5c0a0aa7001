"""Training throughput of the paper's configuration, lambda = 0 against lambda = 20.

Images per second of Lightning training steps (data loading from the in-memory uint8 images,
float conversion, forward, backward, Adam) on the real CIFAR-10 JPEG copy, B = 100, 16 x 10.
The target: the connectivity loss adds at most 10% to a training step.

    python benchmarks/training.py --steps 200 --threads 1
    python benchmarks/training.py --full            # one whole epoch (500 steps) per setting
"""
from __future__ import annotations

import argparse
import time

import torch
from _timing import cpu_name  # benchmarks/_timing.py, beside this script


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


def run(lam: float, data, steps: int, warmup: int, accelerator: str) -> float:
    import lightning.pytorch as pl
    from corel.training.engine import CorelModule, TrainConfig, _EpochLoader, model_kwargs

    cfg = TrainConfig(dataset="cifar10-jpeg", lam=lam, max_steps=steps + warmup, progress_bar=False)
    name, args = model_kwargs(cfg, 3, 3 * 32 * 32)
    pl.seed_everything(0, verbose=False)
    module = CorelModule(name, args, cfg.to_dict())
    timer = _Timer(warmup)
    trainer = pl.Trainer(max_steps=steps + warmup, accelerator=accelerator, devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         use_distributed_sampler=False, callbacks=[timer.callback])
    trainer.fit(module, train_dataloaders=_EpochLoader(data, cfg).build(trainer))
    return steps * cfg.batch_size / (timer.t1 - timer.t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200, help="timed steps per setting (after warm-up)")
    ap.add_argument("--full", action="store_true", help="time one whole epoch (500 steps)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--accelerator", default="cpu")
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two settings this many times")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from corel.data import load_dataset

    t = time.perf_counter()
    data = load_dataset("cifar10-jpeg", split="train")
    load_s = time.perf_counter() - t
    steps = 500 - args.warmup if args.full else args.steps
    results = {0.0: [], 20.0: []}
    for _ in range(args.repeats):          # alternate, so drifting machine load hits both alike
        for lam in results:
            results[lam].append(run(lam, data, steps, args.warmup, args.accelerator))
    best = {lam: max(v) for lam, v in results.items()}
    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"accelerator {args.accelerator}")
    print(f"data: CIFAR-10 JPEG train split, 50,000 images, loaded in {load_s:.1f} s (decoded once, cached)")
    print(f"{steps} timed steps of B=100 per run, best of {args.repeats} alternating runs\n")
    print("| lambda | images/s (best) | all runs | step time (ms) | relative to lambda=0 |")
    print("|---|---|---|---|---|")
    for lam, v in results.items():
        print(f"| {lam:g} | {best[lam]:.0f} | {', '.join(f'{x:.0f}' for x in v)} | {100e3 / best[lam]:.1f} | "
              f"{best[0.0] / best[lam]:.3f}x time |")
    overhead = best[0.0] / best[20.0] - 1
    print(f"\nconnectivity loss overhead per step: {100 * overhead:+.1f}% (target: <= +10%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
