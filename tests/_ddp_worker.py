"""Programs that tests/test_ddp.py runs as separate processes (DDP ranks need their own process).

``python tests/_ddp_worker.py cli ARGS...``
    ``corel train ARGS...`` (corel.apps.cli.main) with a recorder: every value a rank logs, before
    Lightning reduces it, and the death-time statistics of each of its batches, go to
    ``OUT_DIR/rank<R>.json``. Lightning's DDP launcher restarts this same command for rank 1.

``python tests/_ddp_worker.py gather RANK WORLD PORT OUT``
    One rank of a plain gloo group (no Lightning: fast): the connectivity loss of the gathered
    codes (corel.training.distributed.gather_with_grad), its deaths and gradients; the checkpoint check
    with rank 0 resuming and the others not; the reduction of made-up death statistics. Saved to OUT.
"""
import json
import os
import sys

import torch


def run_cli(argv):
    import corel.training.losses as losses
    import corel.training.engine as training
    from corel.training import distributed
    from corel.apps.cli import main

    logged, stats = [], []
    real_log, real_forward = training.CorelModule.log, losses.ConnectivityLoss.forward

    def log(self, name, value, *args, **kwargs):
        logged.append({"name": name, "value": float(value), "epoch": int(self.current_epoch),
                       "step": int(self.global_step)})
        return real_log(self, name, value, *args, **kwargs)

    def forward(self, z):
        out = real_forward(self, z)
        s = self.last_stats
        stats.append({"min": s.min.tolist(), "mean": s.mean.tolist(), "max": s.max.tolist()})
        return out

    training.CorelModule.log = log
    losses.ConnectivityLoss.forward = forward
    status = main(argv)
    out_dir = argv[argv.index("--out-dir") + 1]
    with open(os.path.join(out_dir, f"rank{distributed.global_rank()}.json"), "w") as f:
        json.dump({"logged": logged, "stats": stats}, f)
    return status


def fake_batch_stats(rank, batch):
    """(min, mean, max) per branch of batch ``batch`` of rank ``rank``: distinct, known values."""
    base = torch.arange(4.0) + 10 * rank + batch
    return base, base * 2 + 0.25 * rank, base * 3 + 1


def run_gather(rank, world, port, out):
    import torch.distributed as dist
    from corel.training.distributed import gather_with_grad
    from corel.training.losses import ConnectivityLoss, split_branches
    from corel.topology.h0 import vr_persistence_0d

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    codes = torch.randn(world * 50, 20, dtype=torch.float64)              # the same 100 codes on every rank
    weight = torch.randn(20, 20, dtype=torch.float64, requires_grad=True)  # a shared "model": z = x @ weight
    own = codes[rank * 50:(rank + 1) * 50]
    z = (own @ weight).detach().requires_grad_(True)
    loss_fn = ConnectivityLoss(eta=2.0, metric="l1", n_branches=4)
    gathered = gather_with_grad(z)
    loss = loss_fn(gathered)
    loss.backward()
    # the parameter gradient as DDP leaves it: this rank's own, averaged over the ranks
    (own @ weight).backward(z.grad)
    weight_grad = weight.grad.clone()
    dist.all_reduce(weight_grad)
    weight_grad /= world
    deaths = vr_persistence_0d(split_branches(gathered.detach(), 4), "l1").deaths

    from corel.training.checkpoints import CheckpointError
    from corel.training.distributed import check_same_checkpoint, reduce_branch_stats
    try:   # what corel.training.engine.ResumeAgreement runs before any weight is loaded
        check_same_checkpoint({"file": "last.ckpt", "epoch": 0, "global_step": 12} if rank == 0 else None)
        agreement = "no error"
    except CheckpointError as err:
        agreement = str(err)
    # an epoch's per-branch death statistics over both ranks' batches, as CorelModule.branch_summary reduces them
    batches = [fake_batch_stats(rank, b) for b in range(3)]
    mins, means, maxs = (torch.stack([s[i] for s in batches]) for i in range(3))
    summary = reduce_branch_stats(mins.amin(0), means.mean(0), maxs.amax(0))
    from corel.training.distributed import all_true
    flags = (all_true(True), all_true(rank == 0))      # a non-finite loss on rank 1 stops rank 0 too
    torch.save({"loss": loss.detach(), "deaths": deaths, "code_grad": z.grad, "weight_grad": weight_grad,
                "agreement": agreement, "summary": summary, "all_true": flags}, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "cli":
        sys.exit(run_cli(sys.argv[2:]))
    if sys.argv[1] == "gather":
        run_gather(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        sys.exit(0)
    sys.exit(f"unknown command {sys.argv[1]!r}")
