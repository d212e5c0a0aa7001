"""What corel needs from torch.distributed: ranks, reductions, and a gather that keeps gradients.

Every function works unchanged in a single process (no process group): the rank is 0, a
reduction returns its input, a gather returns the local tensor. Nothing here imports Lightning.

Gradients through :func:`gather_with_grad` follow ``torch.distributed.nn.functional.all_gather``
(and Lightning's ``self.all_gather(..., sync_grads=True)``): the gradient reaching a rank's own
rows is the **sum** over ranks of the gradients of their (identical) losses. DDP then averages
the parameter gradients over the W ranks, so a loss computed by every rank on the gathered
codes trains exactly as one process computing it once on all the codes:
``(1/W) * sum_r W * dL/dz_r * dz_r/dtheta = dL/dtheta``.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["is_distributed", "world_size", "global_rank", "is_rank_zero", "gather_with_grad", "all_reduce",
           "all_true", "all_gather_objects", "reduce_branch_stats", "check_same_checkpoint", "parse_shard", "env_shard"]


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def global_rank() -> int:
    """This process's rank: the process group's, else the one Lightning set for this run, else the
    launcher's environment (torchrun's RANK, SLURM's SLURM_PROCID), else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    try:  # Lightning sets this when a Trainer is built, from its cluster environment
        from lightning.fabric.utilities.rank_zero import rank_zero_only
        return int(getattr(rank_zero_only, "rank", 0) or 0)
    except ImportError:  # pragma: no cover - Lightning is a dependency
        pass
    for key in ("RANK", "SLURM_PROCID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


def is_rank_zero() -> bool:
    """True in the one process that writes files and prints (all processes outside DDP)."""
    return global_rank() == 0


class _GatherWithGrad(torch.autograd.Function):
    """all_gather forward; backward sums the gradients of every rank and keeps this rank's rows.

    Written with all_reduce (which every backend has) rather than reduce_scatter / all_to_all,
    which gloo lacks or emulates; the codes are small (B x D floats), so the extra traffic of
    reducing the whole gathered gradient is nothing next to the model's gradient all-reduce.
    """

    @staticmethod
    def forward(ctx, tensor):
        tensor = tensor.contiguous()
        ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """The rows of every rank's ``tensor``, concatenated in rank order: (W x B, ...).

    Differentiable (see the module docstring for the gradient's scale); every rank must pass a
    tensor of the same shape. Outside a process group: ``tensor`` itself.
    """
    if not is_distributed():
        return tensor
    if not tensor.requires_grad:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)
    return _GatherWithGrad.apply(tensor)


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """A reduced copy of ``tensor`` over all ranks: op in sum, mean, min, max (gloo has no AVG)."""
    if not is_distributed():
        return tensor
    ops = {"sum": dist.ReduceOp.SUM, "mean": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}
    if op not in ops:
        raise ValueError(f"Unknown reduction {op!r}; choose one of {sorted(ops)}.")
    out = tensor.detach().clone().contiguous()
    dist.all_reduce(out, op=ops[op])
    return out / dist.get_world_size() if op == "mean" else out


def all_true(flag: bool) -> bool:
    """True when ``flag`` is true on every rank (collective: every rank calls it)."""
    if not is_distributed():
        return bool(flag)
    return bool(all_reduce(torch.tensor([1.0 if flag else 0.0]), "min")[0] > 0)


def all_gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` (picklable objects); ``[obj]`` in one process."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def reduce_branch_stats(mins: torch.Tensor, means: torch.Tensor, maxs: torch.Tensor):
    """Per-branch death-time statistics of all ranks: the min of the minima, the mean of the means
    (every rank has as many batches), the max of the maxima. Collective: every rank calls it."""
    return all_reduce(mins, "min"), all_reduce(means, "mean"), all_reduce(maxs, "max")


def check_same_checkpoint(identity) -> None:
    """Raise on every rank unless all ranks pass the same ``identity`` (None: no checkpoint, a fresh
    start; else a dict such as {"file", "epoch", "global_step"}). Collective."""
    choices = all_gather_objects(identity)
    if any(c != choices[0] for c in choices):
        def show(c):
            return "no checkpoint" if c is None else f"{c.get('file')} at step {c.get('global_step')}"
        listed = "; ".join(f"rank {r}: {show(c)}" for r, c in enumerate(choices))
        from .checkpoints import CheckpointError
        raise CheckpointError(f"The ranks would resume from different checkpoints ({listed}). Every node must "
                              f"see the same --out-dir (a folder on a file system shared by all nodes).")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/K"`` (part I of K, counted from 0) -> (I, K); None or "" -> (0, 1)."""
    if text is None or str(text).strip() == "":
        return 0, 1
    index, sep, count = str(text).partition("/")
    try:
        i, k = int(index), int(count)
    except ValueError:
        i, k = -1, 0
    if not sep or k < 1 or not 0 <= i < k:
        raise ValueError(f"A shard is written I/K with 0 <= I < K (part I of K, from 0), e.g. 0/4; got {text!r}.")
    return i, k


def env_shard() -> tuple[int, int]:
    """(rank, world size) from a launcher's environment (torchrun: RANK / WORLD_SIZE; SLURM:
    SLURM_PROCID / SLURM_NTASKS); (0, 1) outside one."""
    for rank_key, size_key in (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS")):
        rank, size = os.environ.get(rank_key, ""), os.environ.get(size_key, "")
        if rank.isdigit() and size.isdigit() and int(size) >= 1:
            return int(rank), int(size)
    return 0, 1
