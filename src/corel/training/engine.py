"""Training COREL autoencoders on PyTorch Lightning: the config, the module, checkpoints.

Loss = reconstruction (l1, summed over pixels, averaged over the batch)
     + lam * ConnectivityLoss(eta, metric, n_branches) on the latent batch.

Multi-GPU / multi-node (DDP over W ranks): with ``conn_scope="rank"`` (the default) every
rank computes the connectivity loss on its *own* batch of ``batch_size`` codes, so the
persistence is that of a B-point cloud whatever the number of devices (the paper's B = 100 is
per rank). With ``conn_scope="global"`` the codes of all ranks are gathered with their gradients
(:func:`corel.training.distributed.gather_with_grad`) and every persistence is that of the B x W codes of
the step: W ranks of batch B then train the same model as one process of batch B x W (up to
float rounding in the gradient all-reduce). The effective batch for the optimiser is
``batch_size * world_size`` either way.

Rank-correct runs: files (``model.pt``, ``deaths_*.pt``, plots, ``death_stats.csv``, logs,
checkpoints) are written by rank 0 alone, atomically; epoch metrics are reduced over the ranks
(mean; the death-time min / max by min / max); every rank resumes from the same checkpoint,
which the ranks check with each other before any weight is loaded.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from .._atomic import atomic_torch_save, atomic_write_text
from .._progress import on_terminal
from .augment import augment
from .checkpoints import FORMAT_VERSION, CheckpointError, load_checkpoint, load_model
from . import distributed as dist_utils
from .config import TrainConfig, config_differences, model_kwargs
from .losses import ConnectivityLoss, nt_xent, reconstruction_l1, split_branches
from .models import build_model
from ..topology.h0 import vr_persistence_0d

__all__ = ["TrainConfig", "CorelModule", "train", "load_model", "load_checkpoint", "CheckpointError",
           "TrainingDiverged", "collect_deaths"]



class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


# ----------------------------------------------------------------------------- the module
import lightning.pytorch as pl  # noqa: E402  (kept below the pure helpers for readability)
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402
from lightning.pytorch.plugins.io import TorchCheckpointIO  # noqa: E402


class CorelModule(pl.LightningModule):
    """Wraps a plain autoencoder; one training step is a weighted sum of independent loss parts.

    ``rec_weight * reconstruction + lam * connectivity + contrastive * NT-Xent``. With the
    defaults (no augmentation, no noise, no contrastive term) this is the paper's step exactly.
    The reconstruction target is the (augmented) view the encoder saw, without the noise.
    """

    def __init__(self, model_name: str, model_args: dict, config: dict):
        super().__init__()
        self.save_hyperparameters()
        self.cfg = TrainConfig.from_dict(config)
        self.model = build_model(model_name, **model_args)
        # Convolutions train in the channels-last layout: oneDNN's (and cuDNN's) fastest, 1.27x
        # for the conv autoencoder's forward and backward in bfloat16 on the CPU, 1.08x in
        # float32 (benchmarks/training.md). The values are the same model's; only strides differ.
        self._channels_last = any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in self.model.modules())
        if self._channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.connectivity = ConnectivityLoss(self.cfg.eta, self.cfg.metric, self.cfg.n_branches)
        self.augmentations = self.cfg.augmentations()
        # SimCLR's projection head; used for the contrastive term only, not part of the exported model.
        # Its input: the last ``contrastive_branches`` branches (all when 0).
        k = self.cfg.contrastive_branches or self.cfg.n_branches
        self._head_from = self.model.latent_dim - k * (self.model.latent_dim // self.cfg.n_branches)
        self.head = (nn.Sequential(nn.Linear(self.model.latent_dim - self._head_from, 256), nn.ReLU(),
                                   nn.Linear(256, self.cfg.proj_dim))
                     if self.cfg.contrastive > 0 else None)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.cfg.lr, fused=True)
        if self.cfg.lr_schedule == "constant":
            return optimizer
        # The horizon is all epochs' steps (Lightning's estimate: epochs x this rank's batches per
        # epoch; --max-steps is not Lightning's max_steps), so a run stopped early by --max-steps
        # and resumed continues the very same schedule.
        horizon = max(1, self.trainer.estimated_stepping_batches)
        decay = lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, horizon) / horizon))  # noqa: E731
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def _step_generator(self, batch_idx: int) -> torch.Generator:
        # Augmentations and noise depend on (seed, epoch, batch, rank) only: resumed runs stay exact.
        key = ((self.cfg.seed * 1_000_003 + self.current_epoch) * 1_000_003 + batch_idx) * 1009 + self.global_rank
        return torch.Generator().manual_seed(key % (2 ** 63))

    def _view(self, x, gen):
        view = augment(x, self.augmentations, gen) if self.augmentations else x
        return view.contiguous(memory_format=torch.channels_last) if self._channels_last else view

    def _noisy(self, x, gen):
        if self.cfg.denoise == 0:
            return x
        return x + self.cfg.denoise * torch.randn(x.shape, generator=gen).to(x.device, x.dtype)

    def _codes_for_persistence(self, z: torch.Tensor) -> torch.Tensor:
        """This rank's codes, or with conn_scope 'global' the codes of all ranks (with gradients)."""
        return dist_utils.gather_with_grad(z) if self.cfg.conn_scope == "global" else z

    def training_step(self, batch, batch_idx):
        cfg = self.cfg
        x = batch[0]
        gen = self._step_generator(batch_idx) if (self.augmentations or cfg.denoise or cfg.contrastive) else None
        v1 = self._view(x, gen)
        x_hat, z = self.model(self._noisy(v1, gen))
        z2 = self.model.encode(self._noisy(self._view(x, gen), gen)) if cfg.contrastive > 0 else None
        # Under --precision bf16-mixed only the convolutions above ran in bfloat16 (the branch
        # layers keep float32 codes); the losses and the persistence are float32.
        with torch.autocast(x.device.type, enabled=False):
            return self._losses(x, v1, x_hat.float(), z, z2, batch_idx)

    def _losses(self, x, v1, x_hat, z, z2, batch_idx):
        cfg = self.cfg
        rec = reconstruction_l1(x_hat, v1)
        loss = cfg.rec_weight * rec
        if cfg.contrastive > 0:
            ctr = nt_xent(self.head(z[:, self._head_from:]), self.head(z2[:, self._head_from:]), cfg.temperature)
            loss = loss + cfg.contrastive * ctr
            self.log("ctr", ctr, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0], sync_dist=True)
        if cfg.lam > 0:
            conn = self.connectivity(self._codes_for_persistence(z))
            loss = loss + cfg.lam * conn
            stats = self.connectivity.last_stats
        else:
            # The plain AE does not need persistence: measure it only now and then, for the logs.
            conn, stats = None, None
            if batch_idx % 50 == 0:
                with torch.no_grad():
                    conn = self.connectivity(self._codes_for_persistence(z.detach()))
                stats = self.connectivity.last_stats
        # Under DDP every rank stops together (a rank raising alone would leave the others waiting
        # in the gradient all-reduce until gloo's / NCCL's timeout).
        finite = bool(torch.isfinite(loss))
        if not dist_utils.all_true(finite):
            value = "non-finite on another rank" if finite else loss.item()
            raise TrainingDiverged(
                f"The loss became {value} at epoch {self.current_epoch}, step {self.global_step} "
                f"(reconstruction {rec.item():.4g}). The last good checkpoint is kept in "
                f"{cfg.out_dir}/checkpoints; lower 'lr' or 'lam' and resume.")
        # sync_dist: the epoch values are the mean over all ranks' batches (a no-op in one process).
        self.log("loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=x.shape[0], sync_dist=True)
        self.log("rec", rec, on_step=False, on_epoch=True, batch_size=x.shape[0], sync_dist=True)
        if conn is not None:
            self.log("conn", conn, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0],
                     sync_dist=True)
        if stats is not None:
            self._epoch_stats.append(stats)
        return loss

    def on_train_epoch_start(self):
        self._epoch_stats = []
        self._epoch_summary = None
        self._epoch_t0 = time.perf_counter()

    @property
    def epoch_started(self) -> float:
        """``time.perf_counter()`` when this epoch began."""
        return self._epoch_t0

    def branch_summary(self):
        """Per-branch (min, mean, max) death time over this epoch's batches of all ranks, or None.

        Under DDP the ranks' values are reduced (min of the minima, mean of the means, max of the
        maxima; every rank has as many batches). A collective call: every rank calls it at the
        same point (BranchStatsWriter and on_train_epoch_end do); computed once per epoch.
        """
        if self._epoch_summary is None and self._epoch_stats:
            mins = torch.stack([s.min for s in self._epoch_stats]).min(0).values    # (branches,)
            means = torch.stack([s.mean for s in self._epoch_stats]).mean(0)
            maxs = torch.stack([s.max for s in self._epoch_stats]).max(0).values
            self._epoch_summary = tuple(t.cpu() for t in dist_utils.reduce_branch_stats(mins, means, maxs))
        return self._epoch_summary

    def on_train_epoch_end(self):
        summary = self.branch_summary()
        if summary is not None:
            # Already reduced over the ranks, so equal on every rank: Lightning's min / max over the
            # ranks return them bit for bit (a mean of W equal floats could round).
            self.log("death_min", summary[0].min(), sync_dist=True, reduce_fx="min")
            self.log("death_mean", summary[1].mean(), sync_dist=True, reduce_fx="max")
            self.log("death_max", summary[2].max(), sync_dist=True, reduce_fx="max")
        self.log("epoch_time_s", time.perf_counter() - self._epoch_t0, sync_dist=True)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], sync_dist=True)  # after the epoch's last step

    def on_save_checkpoint(self, checkpoint):
        checkpoint["corel"] = {"format_version": FORMAT_VERSION, "model_name": self.hparams.model_name,
                               "model_args": self.hparams.model_args, "config": self.hparams.config}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file, fsync, then rename: a killed run never leaves half a checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        atomic_torch_save(checkpoint, path)


class BranchStatsWriter(Callback):
    """Per-branch death-time min / mean / max of every epoch in ``death_stats.csv``.

    Each write drops the rows of this epoch and later ones first and replaces the file
    atomically: an epoch rerun after a kill (its rows written, its checkpoint not) is never
    counted twice.
    """

    HEADER = ["epoch", "branch", "death_min", "death_mean", "death_max"]

    def __init__(self, path: Path):
        self.path = path

    def on_train_epoch_end(self, trainer, module):
        stats = module.branch_summary()
        if stats is None or trainer.global_rank != 0:
            return
        epoch = trainer.current_epoch
        rows = [r for r in self._rows() if int(r[0]) < epoch]
        rows += [[epoch, k, f"{a:.6f}", f"{m:.6f}", f"{b:.6f}"] for k, (a, m, b) in enumerate(zip(*stats))]
        buf = io.StringIO()
        csv.writer(buf).writerows([self.HEADER] + rows)
        atomic_write_text(self.path, buf.getvalue())

    def _rows(self) -> list[list[str]]:
        if not self.path.exists():
            return []
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        return [r for r in rows[1:] if r and r[0].isdigit()]


class StopAfterSteps(Callback):
    """``--max-steps``, counted here rather than by Lightning.

    Lightning treats a run with its own ``max_steps`` as step-based: resumed from a checkpoint
    written at an epoch's end, it re-enters that finished epoch and trains on the wrong batches.
    """

    def __init__(self, max_steps: int):
        self.max_steps = max_steps

    def _check(self, trainer):
        if 0 <= self.max_steps <= trainer.global_step:
            trainer.should_stop = True

    def on_train_start(self, trainer, pl_module):
        self._check(trainer)    # a resumed run may already be past the limit

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self._check(trainer)


class EpochEndCheckpoint(ModelCheckpoint):
    """Checkpoints at complete epochs only: an epoch cut short by ``--max-steps`` is not saved, so
    a resume redoes that epoch from its start and ends with an uninterrupted run's weights (the
    batches of an epoch depend on the epoch only, not on where a run stopped)."""

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.fit_loop.epoch_loop.batch_progress.current.ready < trainer.num_training_batches:
            if trainer.global_rank == 0:
                print(f"stopped after {trainer.global_step} steps (--max-steps), inside epoch "
                      f"{trainer.current_epoch + 1}: the checkpoint keeps the last complete epoch")
            return
        super().on_train_epoch_end(trainer, pl_module)


class ResumeAgreement(Callback):
    """Every rank resumes from the same checkpoint, or the run stops before any weight is loaded.

    Each rank chooses its checkpoint itself (ranks started by torchrun or SLURM read the folder
    independently); in ``setup`` (process group up, nothing restored yet) the ranks compare their
    choices, and only then does rank 0 move a corrupt ``last.ckpt`` aside: moving it earlier would
    let a rank that starts later find no ``last.ckpt`` and start afresh.
    """

    def __init__(self, resume_from: str | None, corrupt_last: Path | None):
        self.resume_from, self.corrupt_last = resume_from, corrupt_last

    def setup(self, trainer, pl_module, stage):
        dist_utils.check_same_checkpoint(_checkpoint_identity(self.resume_from))
        if self.corrupt_last is not None and trainer.global_rank == 0 and self.corrupt_last.exists():
            # Moved aside (not deleted), so that Lightning writes a fresh last.ckpt rather than last-v1.ckpt.
            os.replace(self.corrupt_last, self.corrupt_last.with_name("last.ckpt.corrupt"))


def _checkpoint_identity(path: str | None) -> dict | None:
    """What the ranks compare: the checkpoint's file name and training progress (not its full path,
    which may differ between nodes that mount one shared folder at different places)."""
    if path is None:
        return None
    raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {"file": Path(path).name, "epoch": int(raw.get("epoch", -1)), "global_step": int(raw.get("global_step", -1))}


# ----------------------------------------------------------------------------- the run
def train(cfg: TrainConfig, resume: bool = True) -> Path:
    """Train (or resume) a run; returns the path of the exported final model ``model.pt``.

    Checkpoints go to ``out_dir/checkpoints/last.ckpt`` after every epoch (atomically); when it
    exists and ``resume`` is true, training continues from it and, with the same seed, ends
    with the same weights as an uninterrupted run.

    Under DDP every rank calls this and gets the path back; only rank 0 writes files and prints
    (:func:`corel.training.distributed.is_rank_zero` tells a caller which process it is in).
    """
    from ._quiet import quiet_lightning
    from ..data import load_dataset

    quiet_lightning()
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    data = load_dataset(cfg.dataset, split="train", root=cfg.data_root, image_size=cfg.image_size)
    if cfg.holdout:
        from ..data import holdout_split
        data = data.subset(holdout_split(len(data), cfg.holdout)[0])
    if cfg.train_class_names():
        from ..data import class_subset
        data = class_subset(data, cfg.train_class_names())
    name, args = model_kwargs(cfg, data.n_channels, data.n_channels * cfg.image_size ** 2)
    module = CorelModule(name, args, cfg.to_dict())
    resume_from, corrupt_last, notice = _resume_point(ckpt_dir, name, args, cfg) if resume else (None, None, None)

    loader = _EpochLoader(data, cfg)
    # A bar redraws with carriage returns: only for a terminal. A log gets one plain line per epoch.
    bar = cfg.progress_bar and on_terminal()
    trainer = pl.Trainer(
        max_epochs=cfg.epochs, accelerator=cfg.accelerator, precision=cfg.precision,
        devices=_parse_devices(cfg.devices), strategy=cfg.strategy, num_nodes=cfg.num_nodes,
        default_root_dir=str(out), deterministic="warn", use_distributed_sampler=False,
        # A new version folder per (re)start: Lightning would delete a resumed run's earlier metrics.
        logger=[pl.loggers.CSVLogger(str(out), name="logs"),
                pl.loggers.TensorBoardLogger(str(out), name="tensorboard")],
        # save_top_k=1 without a monitor keeps the newest epoch file; Lightning writes last.ckpt only
        # when it has just saved a top-k checkpoint, so top_k=0 would never checkpoint mid-run.
        callbacks=[EpochEndCheckpoint(dirpath=str(ckpt_dir), filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                                   save_last=True, save_top_k=1, every_n_epochs=1,
                                   # always last.ckpt, never last-v1.ckpt: a run folder copied or
                                   # moved elsewhere and resumed there must keep resuming from it
                                   enable_version_counter=False),
                   BranchStatsWriter(out / "death_stats.csv"), ResumeAgreement(resume_from, corrupt_last),
                   StopAfterSteps(cfg.max_steps)] + ([] if bar else [EpochLines(cfg.epochs)]),
        plugins=[AtomicCheckpointIO()], enable_progress_bar=bar, log_every_n_steps=min(50, max(1, len(data) // cfg.batch_size)),
        enable_model_summary=False)

    # Lightning's interval is in steps of one rank: W ranks share an epoch's batches.
    trainer.log_every_n_steps = min(50, max(1, len(data) // (cfg.batch_size * trainer.world_size)))
    # A fixed random subset: data sets stored class by class would give single-class batches.
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.seed))
    # The histograms' batches hold as many codes as one persistence of the loss: B, or B x W when global.
    hist_cfg = cfg if cfg.conn_scope == "rank" else dataclasses.replace(cfg, batch_size=cfg.batch_size * trainer.world_size)
    hist_x = data.float_images(pick[:cfg.hist_batches * hist_cfg.batch_size])
    if trainer.global_rank == 0:
        if notice:
            print(notice)
        if resume_from is None:
            out.mkdir(parents=True, exist_ok=True)
            atomic_torch_save(collect_deaths(module.model, hist_x, hist_cfg), out / "deaths_start.pt")
    trainer.fit(module, train_dataloaders=loader.build(trainer), ckpt_path=resume_from)

    final = out / "model.pt"
    if trainer.global_rank == 0:
        export_model(module, final)
        after = collect_deaths(module.model, hist_x, hist_cfg)
        atomic_torch_save(after, out / "deaths_end.pt")
        before_path = out / "deaths_start.pt"
        before = torch.load(before_path, weights_only=True) if before_path.exists() else None
        from .. import plots  # matplotlib only when needed
        plots.plot_death_histogram(before, after, cfg.eta, out / "death_histogram.png")
    return final


class EpochLines(pl.Callback):
    """One plain line per epoch on stdout (rank 0): losses, death times, seconds. For logs, where a
    progress bar would write thousands of carriage-return updates."""

    _KEYS = (("loss", "loss_epoch"), ("rec", "rec"), ("conn", "conn"), ("ctr", "ctr"))

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Callbacks run before the module's own hook: the death times and seconds are read off the
        # module (branch_summary is a collective call, so every rank makes it), not the logged metrics.
        summary = pl_module.branch_summary()
        if trainer.global_rank != 0:
            return
        m = trainer.callback_metrics
        parts = [f"{label} {float(m[key]):.4g}" for label, key in self._KEYS if key in m]
        if summary is not None:
            parts.append(f"death min / mean / max {float(summary[0].min()):.3g} / {float(summary[1].mean()):.3g} / "
                         f"{float(summary[2].max()):.3g}")
        seconds = time.perf_counter() - pl_module.epoch_started
        print(f"epoch {trainer.current_epoch + 1}/{self.epochs}: " + ", ".join(parts) + f", {seconds:.0f} s",
              flush=True)


class _EpochLoader:
    """A DataLoader whose shuffling depends only on (seed, epoch, rank): resumable and DDP-ready."""

    def __init__(self, data, cfg: TrainConfig):
        self.data, self.cfg = data, cfg

    def build(self, trainer) -> DataLoader:
        from torch.utils.data import TensorDataset
        ds = TensorDataset(self.data.images, self.data.labels)
        sampler = DistributedSampler(ds, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=True,
                                     seed=self.cfg.seed, drop_last=True)
        return DataLoader(ds, batch_size=self.cfg.batch_size, sampler=sampler, drop_last=True,
                          num_workers=self.cfg.num_workers, collate_fn=_to_float_batch)


def _to_float_batch(items):
    images = torch.stack([i[0] for i in items]).float().div_(255.0)
    labels = torch.stack([i[1] for i in items])
    return images, labels


def _parse_devices(devices: str):
    if devices == "auto":
        return "auto"
    if "," in devices:
        return [int(d) for d in devices.split(",") if d]
    return int(devices)


@torch.no_grad()
def collect_deaths(model, images: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Death times of the codes of ``images`` in batches of ``cfg.batch_size``, per branch, flat."""
    model.eval()
    out = []
    for start in range(0, len(images) - cfg.batch_size + 1, cfg.batch_size):
        z = model.encode(images[start:start + cfg.batch_size])
        out.append(vr_persistence_0d(split_branches(z, cfg.n_branches), cfg.metric).deaths.flatten())
    model.train()
    return torch.cat(out) if out else torch.zeros(0)


# ----------------------------------------------------------------------------- checkpoints
def export_model(module: CorelModule, path: Path) -> None:
    """Save what rebuilds the model alone: its name, constructor arguments, config, weights."""
    payload = {"format_version": FORMAT_VERSION, "model_name": module.hparams.model_name,
               "model_args": module.hparams.model_args, "config": module.hparams.config,
               "state_dict": module.model.state_dict()}
    atomic_torch_save(payload, path)   # a temporary file of this process: safe if a misconfigured rank writes too


def _resume_point(ckpt_dir: Path, name: str, args: dict, cfg: TrainConfig):
    """``(checkpoint to resume from or None, corrupt last.ckpt or None, notice or None)``;
    refuses a checkpoint of other settings.

    A corrupt ``last.ckpt`` (a kill while it was copied, a full disk) falls back to the newest
    readable ``epochNNN.ckpt`` beside it, with a notice; it is moved aside (to
    ``last.ckpt.corrupt``) only once every rank has chosen (see :class:`ResumeAgreement`). This
    function changes no file, so every rank may call it, in any order.
    """
    last = ckpt_dir / "last.ckpt"
    if not last.exists():
        return None, None, None
    corrupt, notice = None, None
    try:
        ck = load_checkpoint(last)
        chosen = last
    except CheckpointError as err:
        chosen, ck = _newest_epoch_checkpoint(ckpt_dir)
        if chosen is None:
            raise CheckpointError(f"{err} Start afresh with --no-resume, or choose another --out-dir.") from None
        corrupt = last
        notice = (f"notice: {last} is unreadable (kept as last.ckpt.corrupt); resuming from {chosen}, "
                  f"the newest intact epoch checkpoint.")
    _check_same_run(chosen, ck, name, args, cfg)
    return str(chosen), corrupt, notice


def _newest_epoch_checkpoint(ckpt_dir: Path):
    for path in sorted(ckpt_dir.glob("epoch*.ckpt"), reverse=True):
        try:
            return path, load_checkpoint(path)
        except CheckpointError:
            continue
    return None, None


def _check_same_run(path: Path, ck: dict, name: str, args: dict, cfg: TrainConfig) -> None:
    """Resuming is only sound when every setting that changes the result is the checkpoint's."""
    ways_out = "Start afresh there with --no-resume, or choose another --out-dir."
    if ck["model_name"] != name or ck["model_args"] != args:
        raise CheckpointError(
            f"{path} holds a {ck['model_name']} model with {ck['model_args']}, but this run builds {name} with "
            f"{args}. {ways_out}")
    diffs = config_differences(ck.get("config", {}), cfg.to_dict())
    if diffs:
        listed = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in diffs.items())
        raise CheckpointError(f"{path} was trained with other settings ({listed}); resuming would mix two "
                              f"trainings. {ways_out}")
