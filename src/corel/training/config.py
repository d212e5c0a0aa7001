"""The training config: every option of `corel train`, its default, its help text and its checks.

Free of torch and Lightning at import, so that `corel train --help` and argument errors are
instant. The defaults are the paper's CIFAR-10 setting; the options beyond the paper
(augmentation, a contrastive term, denoising, a validation hold-out) are off by default.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field

__all__ = ["TrainConfig", "RUN_ONLY_KEYS", "RECIPES", "config_differences", "model_kwargs", "AUGMENTATIONS",
           "CONN_SCOPES", "LR_SCHEDULES"]

# Keys that do not change what a run computes: resuming with other values is safe.
RUN_ONLY_KEYS = frozenset({"epochs", "max_steps", "out_dir", "progress_bar", "threads", "num_workers",
                           "hist_batches", "recipe"})   # a recipe is a name for the keys it sets, compared one by one

# Named recipes: the keys each sets; YAML keys and flags given beside a recipe win over it.
RECIPES = {
    "paper": {},   # the paper's CIFAR-10 setting: the defaults
    # corel's best single recipe (chosen on CIFAR-10's validation hold-out, results/cifar10-beyond):
    # SimCLR views and NT-Xent beside the connectivity loss on the same codes
    "contrastive": {"augment": "rcrop,flip,jitter,gray", "contrastive": 300.0, "rec_weight": 0.1,
                    "temperature": 0.1, "epochs": 45},
}

AUGMENTATIONS = ("crop", "rcrop", "flip", "jitter", "gray")  # see corel.training.augment
CONN_SCOPES = ("rank", "global")  # see corel.training.engine: whose codes one persistence computation sees
LR_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("32-true", "bf16-mixed")   # Lightning's names


def _opt(default, help: str):
    """A config field with its help text (shown by `corel train --help`)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Everything a training run needs; the defaults are the paper's CIFAR-10 setting."""

    recipe: str = _opt("paper", "a named recipe: 'paper' (the defaults) or 'contrastive' (corel's best: "
                                "--augment rcrop,flip,jitter,gray --contrastive 300 --rec-weight 0.1 --temperature 0.1 "
                                "--epochs 45); flags given beside it win")
    # data
    dataset: str = _opt("cifar10-jpeg", "data set name, one of corel.data.DATASETS ('images': any folder, zip "
                                        "or list of images, no class folders needed)")
    data_root: str | None = _opt(None, "folder or file of the data set (default: the loader's own)")
    image_size: int = _opt(32, "images are resized to this side (the protocol: 32)")
    holdout: int = _opt(0, "training images held out for validation (never trained on; "
                           "`corel evaluate --protocol validation` scores them). 0: train on all")
    train_classes: str = _opt("", "train only on the images of these classes, comma-separated names (labels only "
                                  "select the images, never enter the loss; the hold-out is drawn before, so it "
                                  "stays the same images). Empty: every class")
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
    rec_weight: float = _opt(1.0, "weight of the l1 reconstruction loss (paper: 1)")
    augment: str = _opt("", "augmentations of the training images, comma-separated among "
                            "crop,rcrop,flip,jitter,gray (paper: none)")
    contrastive: float = _opt(0.0, "weight of a SimCLR NT-Xent term on two augmented views (paper: 0)")
    temperature: float = _opt(0.2, "NT-Xent temperature")
    proj_dim: int = _opt(128, "width of the contrastive projection head (an MLP on the code)")
    contrastive_branches: int = _opt(0, "the contrastive head reads only the last K branches of the code "
                                        "(0: all); the other branches keep the autoencoder's features")
    denoise: float = _opt(0.0, "std of Gaussian noise added to the encoder's input; the decoder "
                               "reconstructs the clean image (paper: 0)")
    # optimisation
    lr: float = _opt(1e-3, "Adam learning rate, no weight decay (paper: 1e-3)")
    lr_schedule: str = _opt("constant", "'constant' (paper) or 'cosine': the learning rate decays from lr to 0 "
                                        "along a half cosine over the epochs, step by step")
    batch_size: int = _opt(100, "images per step and rank: the codes per persistence computation with "
                                   "conn_scope 'rank' (paper: 100)")
    conn_scope: str = _opt("rank", "codes per persistence under DDP: 'rank' (each rank's own batch_size codes, "
                                   "the paper's B per persistence) or 'global' (the codes of all ranks gathered "
                                   "with their gradients: B x world_size codes per persistence)")
    epochs: int = _opt(50, "training epochs (paper: 50)")
    max_steps: int = _opt(-1, "stop after this many optimiser steps (-1: no limit)")
    seed: int = _opt(0, "seeds the weights and the per-epoch shuffling")
    precision: str = _opt("32-true", "'32-true' (the paper's float32) or 'bf16-mixed': the convolutions in "
                                     "bfloat16, the codes, losses, persistence and weights in float32 (faster where "
                                     "the hardware computes bfloat16: CPUs with AMX or AVX512-BF16, recent GPUs; "
                                     "benchmarks/training.md)")
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
        for name in ("image_size", "n_branches", "branch_dim", "batch_size", "epochs", "num_nodes", "proj_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"Config key '{name}' must be >= 1; got {getattr(self, name)}.")
        if self.batch_size < 2:
            raise ValueError(f"Config key 'batch_size' must be >= 2 for persistence; got {self.batch_size}.")
        for name in ("lam", "rec_weight", "contrastive", "denoise"):
            value = getattr(self, name)
            if value < 0 or not math.isfinite(value):
                raise ValueError(f"Config key '{name}' must be a finite float >= 0; got {value}.")
        for name in ("eta", "temperature", "lr"):
            value = getattr(self, name)
            if not (value > 0) or not math.isfinite(value):
                raise ValueError(f"Config key '{name}' must be a finite float > 0; got {value}.")
        if not 0 <= self.contrastive_branches <= self.n_branches:
            raise ValueError(f"Config key 'contrastive_branches' must lie in 0..n_branches={self.n_branches}; "
                             f"got {self.contrastive_branches}.")
        if self.holdout < 0:
            raise ValueError(f"Config key 'holdout' must be >= 0; got {self.holdout}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"Config key 'lr_schedule' must be one of {list(LR_SCHEDULES)}; got {self.lr_schedule!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Config key 'precision' must be one of {list(PRECISIONS)}; got {self.precision!r}.")
        if self.precision != "32-true" and self.model != "conv":
            raise ValueError(f"precision {self.precision!r} is for the conv model (its branch layers keep the codes in "
                             f"float32); the {self.model!r} model trains in '32-true'.")
        if self.conn_scope not in CONN_SCOPES:
            raise ValueError(f"Config key 'conn_scope' must be one of {list(CONN_SCOPES)}; got {self.conn_scope!r}.")
        if self.model not in ("conv", "mlp"):
            raise ValueError(f"Config key 'model' must be 'conv' or 'mlp'; got {self.model!r}.")
        self.augmentations()
        self.train_class_names()
        if self.rec_weight == 0 and self.lam == 0 and self.contrastive == 0:
            raise ValueError("Every loss weight is 0 (rec_weight, lam, contrastive): set at least one > 0.")
        from .._validation import metric_to_p   # torch-free check of the metric's spelling
        metric_to_p(self.metric)
        return self

    def augmentations(self) -> tuple[str, ...]:
        """The augmentation names of ``augment``, checked."""
        names = tuple(a.strip() for a in self.augment.split(",") if a.strip())
        unknown = [a for a in names if a not in AUGMENTATIONS]
        if unknown:
            raise ValueError(f"Config key 'augment' names unknown augmentation(s) {unknown}; "
                             f"choose among {list(AUGMENTATIONS)}, comma-separated (e.g. crop,flip).")
        return names

    def train_class_names(self) -> tuple[str, ...]:
        """The class names of ``train_classes`` (empty: every class), without repeats."""
        names = tuple(c.strip() for c in self.train_classes.split(",") if c.strip())
        if len(set(names)) != len(names):
            raise ValueError(f"Config key 'train_classes' names a class twice: {self.train_classes!r}.")
        return names

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A config from a mapping; keys may be spelled as the flags (``data-root``) or with underscores,
        and numbers may be strings (YAML reads ``1e-3`` as a string)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {str(k).replace("-", "_"): v for k, v in values.items()}
        recipe = values.get("recipe", "paper")
        if recipe not in RECIPES:
            raise ValueError(f"Unknown recipe {recipe!r}; choose one of {list(RECIPES)}.")
        values = {**RECIPES[recipe], **values}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown config key(s) {unknown}; valid keys are {sorted(known)}.")
        hints = typing.get_type_hints(cls)
        values = {k: _coerce_number(v, hints[k]) for k, v in values.items()}
        return cls(**values).validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_differences(saved: dict, current: dict) -> dict[str, tuple]:
    """Keys whose values differ between two config dicts, ignoring :data:`RUN_ONLY_KEYS`.

    A key missing from ``saved`` (a checkpoint of an older corel) counts as its default. Under a
    cosine schedule the number of epochs sets the learning rate of every step, so it counts too.
    """
    defaults = TrainConfig().to_dict()
    run_only = RUN_ONLY_KEYS
    if "cosine" in (saved.get("lr_schedule"), current.get("lr_schedule")):
        run_only = RUN_ONLY_KEYS - {"epochs"}
    diffs = {}
    for key in sorted(set(saved) | set(current)):
        if key in run_only:
            continue
        a, b = saved.get(key, defaults.get(key)), current.get(key, defaults.get(key))
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            a, b = list(a), list(b)
        if a != b:
            diffs[key] = (a, b)
    return diffs


def _coerce_number(value, hint):
    """YAML 1.1 reads ``1e-3`` as a string; accept numeric strings for float and int keys."""
    if not isinstance(value, str):
        return value
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    try:
        if base is float:
            return float(value)
        if base is int and value.strip().lstrip("+-").isdigit():
            return int(value)
    except ValueError:
        pass
    return value


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
