"""Training COREL autoencoders on PyTorch Lightning: the config, the module, checkpoints.

Loss = reconstruction (l1, summed over pixels, averaged over the batch)
     + lam * ConnectivityLoss(eta, metric, n_branches) on the latent batch.

Multi-GPU / multi-node: with DDP every rank computes the connectivity loss on its *own*
batch of ``batch_size`` codes (the paper's B = 100 is per rank; no codes are gathered across
ranks), so the persistence is that of a B-point cloud whatever the number of devices. The
effective batch for the optimiser is ``batch_size * world_size``.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

from .losses import ConnectivityLoss, reconstruction_l1, split_branches
from .models import build_model
from .persistence import vr_persistence_0d

__all__ = ["TrainConfig", "CorelModule", "train", "load_model", "load_checkpoint", "CheckpointError",
           "TrainingDiverged", "collect_deaths"]

FORMAT_VERSION = 1


def _opt(default, help: str):
    """A config field with its help text (shown by `corel train --help`)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Everything a training run needs; the defaults are the paper's CIFAR-10 setting."""

    # data
    dataset: str = _opt("cifar10-jpeg", "data set name, one of corel.data.DATASETS")
    data_root: str | None = _opt(None, "folder or file of the data set (default: the loader's own)")
    image_size: int = _opt(32, "images are resized to this side (the protocol: 32)")
    # model
    model: str = _opt("conv", "'conv' (the paper's autoencoder) or 'mlp'")
    channels: list[int] = _opt([32, 64, 128], "encoder conv widths (paper: 32,64,128)")
    hidden: list[int] = _opt([10, 10], "hidden widths of the mlp model")
    n_branches: int = _opt(16, "latent branches; latent size = n_branches * branch_dim (paper: 16)")
    branch_dim: int = _opt(10, "dims per branch (paper: 10)")
    # loss
    lam: float = _opt(20.0, "weight lambda of the connectivity loss (paper: 20; 0 = plain autoencoder)")
    eta: float = _opt(2.0, "target death time eta (paper: 2)")
    metric: str = _opt("l1", "l_p metric of the persistence: l1, l2, linf or a number p (paper: l1)")
    # optimisation
    lr: float = _opt(1e-3, "Adam learning rate, no weight decay, no schedule (paper: 1e-3)")
    batch_size: int = _opt(100, "codes per persistence computation, per rank (paper: 100)")
    epochs: int = _opt(50, "training epochs (paper: 50)")
    max_steps: int = _opt(-1, "stop after this many optimiser steps (-1: no limit)")
    seed: int = _opt(0, "seeds the weights and the per-epoch shuffling")
    # engine
    out_dir: str = _opt("runs/train", "folder for checkpoints, logs and plots")
    accelerator: str = _opt("auto", "Lightning accelerator: cpu, gpu, auto")
    devices: str = _opt("auto", "Lightning devices: auto, a count (2) or a list (0,1)")
    strategy: str = _opt("auto", "Lightning strategy: auto, ddp, ddp_spawn, ...")
    num_nodes: int = _opt(1, "nodes for multi-node DDP")
    num_workers: int = _opt(0, "DataLoader workers (images are decoded once and kept in memory)")
    threads: int = _opt(0, "torch.set_num_threads (0: torch's default)")
    progress_bar: bool = _opt(True, "show a progress bar")
    hist_batches: int = _opt(10, "batches whose death times are plotted at the start and the end")

    def validate(self) -> "TrainConfig":
        hints = typing.get_type_hints(TrainConfig)
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), hints[f.name])
        for name in ("image_size", "n_branches", "branch_dim", "batch_size", "epochs", "num_nodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"Config key '{name}' must be >= 1; got {getattr(self, name)}.")
        if self.batch_size < 2:
            raise ValueError(f"Config key 'batch_size' must be >= 2 for persistence; got {self.batch_size}.")
        if self.lam < 0 or not math.isfinite(self.lam):
            raise ValueError(f"Config key 'lam' must be a finite float >= 0; got {self.lam}.")
        if not (self.eta > 0) or not math.isfinite(self.eta):
            raise ValueError(f"Config key 'eta' must be a finite float > 0; got {self.eta}.")
        if not (self.lr > 0):
            raise ValueError(f"Config key 'lr' must be > 0; got {self.lr}.")
        if self.model not in ("conv", "mlp"):
            raise ValueError(f"Config key 'model' must be 'conv' or 'mlp'; got {self.model!r}.")
        ConnectivityLoss(self.eta, self.metric, self.n_branches)  # validates metric
        return self

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown config key(s) {unknown}; valid keys are {sorted(known)}.")
        return cls(**values).validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_type(name, value, hint) -> None:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or (origin is not None and type(None) in args):
        if value is None:
            return
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if origin is list:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value):
            raise TypeError(f"Config key '{name}' must be a list of ints; got {value!r}.")
        return
    ok = {int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str),
          bool: lambda v: isinstance(v, bool)}[hint](value)
    if not ok:
        raise TypeError(f"Config key '{name}' must be of type {hint.__name__}; got {value!r} "
                        f"({type(value).__name__}).")


def model_kwargs(cfg: TrainConfig, in_channels: int, in_dim: int) -> tuple[str, dict]:
    """The model's registry name and constructor arguments for a config and a data set."""
    if cfg.model == "conv":
        return "conv", dict(in_channels=in_channels, image_size=cfg.image_size, channels=list(cfg.channels),
                            n_branches=cfg.n_branches, branch_dim=cfg.branch_dim)
    return "mlp", dict(in_dim=in_dim, hidden=list(cfg.hidden), latent_dim=cfg.n_branches * cfg.branch_dim,
                       n_branches=cfg.n_branches)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match the model."""


# ----------------------------------------------------------------------------- the module
import lightning.pytorch as pl  # noqa: E402  (kept below the pure helpers for readability)
from lightning.pytorch.callbacks import Callback, ModelCheckpoint  # noqa: E402
from lightning.pytorch.plugins.io import TorchCheckpointIO  # noqa: E402


class CorelModule(pl.LightningModule):
    """Wraps a plain autoencoder; one training step = reconstruction + lam * connectivity."""

    def __init__(self, model_name: str, model_args: dict, config: dict):
        super().__init__()
        self.save_hyperparameters()
        self.cfg = TrainConfig.from_dict(config)
        self.model = build_model(model_name, **model_args)
        self.connectivity = ConnectivityLoss(self.cfg.eta, self.cfg.metric, self.cfg.n_branches)

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.cfg.lr)

    def training_step(self, batch, batch_idx):
        x = batch[0]
        x_hat, z = self.model(x)
        rec = reconstruction_l1(x_hat, x)
        loss = rec
        if self.cfg.lam > 0:
            conn = self.connectivity(z)
            loss = rec + self.cfg.lam * conn
            stats = self.connectivity.last_stats
        else:
            # The plain AE does not need persistence: measure it only now and then, for the logs.
            conn, stats = None, None
            if batch_idx % 50 == 0:
                with torch.no_grad():
                    conn = self.connectivity(z.detach())
                stats = self.connectivity.last_stats
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"The loss became {loss.item()} at epoch {self.current_epoch}, step {self.global_step} "
                f"(reconstruction {rec.item():.4g}). The last good checkpoint is kept in "
                f"{self.cfg.out_dir}/checkpoints; lower 'lr' or 'lam' and resume.")
        self.log("loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        self.log("rec", rec, on_step=False, on_epoch=True, batch_size=x.shape[0])
        if conn is not None:
            self.log("conn", conn, on_step=False, on_epoch=True, prog_bar=True, batch_size=x.shape[0])
        if stats is not None:
            self._epoch_stats.append(stats)
        return loss

    def on_train_epoch_start(self):
        self._epoch_stats = []
        self._epoch_t0 = time.perf_counter()

    def branch_summary(self):
        """Per-branch (min, mean, max) death time over this epoch's batches, or None."""
        if not self._epoch_stats:
            return None
        mins = torch.stack([s.min for s in self._epoch_stats]).min(0).values    # (branches,)
        means = torch.stack([s.mean for s in self._epoch_stats]).mean(0)
        maxs = torch.stack([s.max for s in self._epoch_stats]).max(0).values
        return mins.cpu(), means.cpu(), maxs.cpu()

    def on_train_epoch_end(self):
        summary = self.branch_summary()
        if summary is not None:
            self.log("death_min", summary[0].min(), sync_dist=True)
            self.log("death_mean", summary[1].mean(), sync_dist=True)
            self.log("death_max", summary[2].max(), sync_dist=True)
        self.log("epoch_time_s", time.perf_counter() - self._epoch_t0)

    def on_save_checkpoint(self, checkpoint):
        checkpoint["corel"] = {"format_version": FORMAT_VERSION, "model_name": self.hparams.model_name,
                               "model_args": self.hparams.model_args, "config": self.hparams.config}


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file, fsync, then rename: a killed run never leaves half a checkpoint."""

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


class BranchStatsWriter(Callback):
    """Appends per-branch death-time min / mean / max of every epoch to ``death_stats.csv``."""

    def __init__(self, path: Path):
        self.path = path

    def on_train_epoch_end(self, trainer, module):
        stats = module.branch_summary()
        if stats is None or trainer.global_rank != 0:
            return
        new = not self.path.exists()
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["epoch", "branch", "death_min", "death_mean", "death_max"])
            for k, (a, m, b) in enumerate(zip(*stats)):
                w.writerow([trainer.current_epoch, k, f"{a:.6f}", f"{m:.6f}", f"{b:.6f}"])


# ----------------------------------------------------------------------------- the run
def train(cfg: TrainConfig, resume: bool = True) -> Path:
    """Train (or resume) a run; returns the path of the exported final model ``model.pt``.

    Checkpoints go to ``out_dir/checkpoints/last.ckpt`` after every epoch (atomically); when it
    exists and ``resume`` is true, training continues from it and, with the same seed, ends
    with the same weights as an uninterrupted run.
    """
    from .data import load_dataset

    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    data = load_dataset(cfg.dataset, split="train", root=cfg.data_root, image_size=cfg.image_size)
    name, args = model_kwargs(cfg, data.n_channels, data.n_channels * cfg.image_size ** 2)
    module = CorelModule(name, args, cfg.to_dict())
    resume_from = str(last) if resume and last.exists() else None
    if resume_from:
        _check_same_architecture(last, name, args)

    loader = _EpochLoader(data, cfg)
    trainer = pl.Trainer(
        max_epochs=cfg.epochs, max_steps=cfg.max_steps, accelerator=cfg.accelerator,
        devices=_parse_devices(cfg.devices), strategy=cfg.strategy, num_nodes=cfg.num_nodes,
        default_root_dir=str(out), deterministic="warn", use_distributed_sampler=False,
        # A new version folder per (re)start: Lightning would delete a resumed run's earlier metrics.
        logger=[pl.loggers.CSVLogger(str(out), name="logs"),
                pl.loggers.TensorBoardLogger(str(out), name="tensorboard")],
        # save_top_k=1 without a monitor keeps the newest epoch file; Lightning writes last.ckpt only
        # when it has just saved a top-k checkpoint, so top_k=0 would never checkpoint mid-run.
        callbacks=[ModelCheckpoint(dirpath=str(ckpt_dir), filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                                   save_last=True, save_top_k=1, every_n_epochs=1),
                   BranchStatsWriter(out / "death_stats.csv")],
        plugins=[AtomicCheckpointIO()], enable_progress_bar=cfg.progress_bar, log_every_n_steps=min(50, max(1, len(data) // cfg.batch_size)),
        enable_model_summary=False)

    # A fixed random subset: data sets stored class by class would give single-class batches.
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.seed))
    hist_x = data.float_images(pick[:cfg.hist_batches * cfg.batch_size])
    if trainer.global_rank == 0 and resume_from is None:
        out.mkdir(parents=True, exist_ok=True)
        torch.save(collect_deaths(module.model, hist_x, cfg), out / "deaths_start.pt")
    trainer.fit(module, train_dataloaders=loader.build(trainer), ckpt_path=resume_from)

    final = out / "model.pt"
    if trainer.global_rank == 0:
        export_model(module, final)
        after = collect_deaths(module.model, hist_x, cfg)
        before_path = out / "deaths_start.pt"
        before = torch.load(before_path) if before_path.exists() else None
        from . import plots  # matplotlib only when needed
        plots.plot_death_histogram(before, after, cfg.eta, out / "death_histogram.png")
    return final


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
    tmp = Path(str(path) + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> dict:
    """Read a ``model.pt`` export or a Lightning ``.ckpt`` into {model_name, model_args, config, state_dict}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist. Train one with `corel train` first.")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated / foreign files
        raise CheckpointError(f"Checkpoint {path} could not be read ({type(err).__name__}: {err}); "
                              f"the file is corrupt or not a corel checkpoint.") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"Checkpoint {path} is not a corel checkpoint (no dict inside).")
    if "corel" in raw:  # Lightning checkpoint
        meta = raw["corel"]
        state = {k[len("model."):]: v for k, v in raw["state_dict"].items() if k.startswith("model.")}
        return {**meta, "state_dict": state}
    if {"model_name", "model_args", "state_dict"} <= set(raw):
        return raw
    raise CheckpointError(f"Checkpoint {path} holds keys {sorted(raw)[:8]}, not a corel model "
                          f"(expected model_name, model_args, state_dict).")


def load_model(path, **expect) -> torch.nn.Module:
    """Rebuild the model of a checkpoint alone, in eval mode.

    ``expect`` (e.g. ``n_branches=16``) checks constructor arguments and raises a clear
    CheckpointError when the checkpoint is of another architecture.
    """
    ck = load_checkpoint(path)
    for key, value in expect.items():
        got = ck["model_args"].get(key)
        if got != value:
            raise CheckpointError(f"Checkpoint {path} was trained with {key}={got}, but {key}={value} was asked for.")
    model = build_model(ck["model_name"], **ck["model_args"])
    try:
        model.load_state_dict(ck["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"Checkpoint {path} does not match its declared architecture: {err}") from None
    return model.eval()


def _check_same_architecture(last: Path, name: str, args: dict) -> None:
    ck = load_checkpoint(last)
    if ck["model_name"] != name or ck["model_args"] != args:
        raise CheckpointError(
            f"{last} holds a {ck['model_name']} model with {ck['model_args']}, but this run builds {name} with "
            f"{args}. Use another out_dir, or --no-resume to start afresh there.")
