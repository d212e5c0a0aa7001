"""Deep SVDD (Ruff et al., ICML 2018), one-class and soft-boundary, with autoencoder pretraining.

What the paper and its PyTorch code (``lukasruff/Deep-SVDD-PyTorch``) do, and this module too:

* Preprocessing: per-image global contrast normalisation with the l1 scale, then min-max
  scaling with the minimum and maximum over the *training* images of the class (after GCN),
  so the training data lie in [0, 1] (their code stores these extremes per CIFAR-10 class).
* Network: :class:`corel.baselines.networks.LeNetEncoder` (CIFAR-10 LeNet-type: 32/64/128
  5x5 conv, BatchNorm without affine, LeakyReLU, max-pool, 128-dim representation, no bias).
* Pretraining: the :class:`~corel.baselines.networks.LeNetAutoencoder` whose encoder *is* that
  network, trained on the summed squared reconstruction error; its encoder weights initialise
  Deep SVDD.
* Centre c: the mean representation of the training data after pretraining (eval mode), with
  coordinates closer to 0 than 0.1 pushed to +-0.1 (their code's ``eps``).
* Objective: one-class ``mean ||phi(x) - c||^2``; soft-boundary
  ``R^2 + 1/nu mean max(0, ||phi(x) - c||^2 - R^2)`` with R set to the (1 - nu) quantile of the
  batch distances after each step once ``warm_up_epochs`` have passed. Adam with weight decay
  (their L2 term), learning rate x 0.1 at the milestones.
* Score: ``||phi(x) - c||^2`` (minus R^2 for soft-boundary) is the anomaly score; here
  ``score_samples`` is its negation (higher = more normal).

Defaults = the CIFAR-10 settings of the authors' code (``README``: lr 1e-4, 150 epochs with
milestone 50, batch 200, weight decay 0.5e-6; pretraining lr 1e-4, 350 epochs with milestone
250, weight decay 0.5e-6). ``corel compare``'s ``cpu`` profile lowers the epochs.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from .._validation import check_choice, check_float, check_int, check_milestones
from .base import BaselineDetector, DivergedError, fit_loop, predict_batched
from .networks import LeNetAutoencoder
from .preprocess import global_contrast_normalization

__all__ = ["DeepSVDDDetector"]

# Pretrained autoencoders of this process, shared by the one-class and soft-boundary variants
# (see DeepSVDDDetector._pretrain); a few CIFAR-sized LeNet autoencoders are ~1 MB each.
_PRETRAINED: dict = {}
_PRETRAINED_MAX = 12


class DeepSVDDDetector(BaselineDetector):
    """Deep SVDD on images (N, C, H, W), uint8 or floats in [0, 1]; sides divisible by 8.

    Parameters
    ----------
    objective : {"one-class", "soft-boundary"}, default="one-class"
    nu : float in (0, 1], default=0.1
        Soft-boundary's outlier share (the paper: 0.1).
    rep_dim : int, default=128
    channels : tuple of 3 ints, default=(32, 64, 128)
        Conv widths (the paper's; smaller ones only make tests and smoke runs fast).
    pretrain : bool, default=True
        Initialise from the pretrained autoencoder's encoder (the paper: yes).
    ae_epochs, ae_milestones, ae_lr, ae_weight_decay : pretraining schedule
        Defaults 350, (250,), 1e-4, 0.5e-6.
    epochs, milestones, lr, weight_decay : Deep SVDD schedule
        Defaults 150, (50,), 1e-4, 0.5e-6.
    batch_size : int, default=200
    warm_up_epochs : int, default=10
        Soft-boundary: epochs before R starts being updated.
    contamination : float in (0, 0.5], default=0.1
    random_state : int, default=0
    device : str, optional

    Attributes
    ----------
    net_ : LeNetEncoder
    c_ : torch.Tensor, shape (rep_dim,)
    R_ : float
        The soft-boundary radius (0.0 for one-class).
    gcn_min_, gcn_max_ : float
        The training extremes after GCN (the min-max scaling).
    ae_loss_history_, loss_history_ : list of float, mean loss per epoch.
    """

    def __init__(self, objective: str = "one-class", nu: float = 0.1, rep_dim: int = 128, channels=(32, 64, 128),
                 pretrain: bool = True,
                 ae_epochs: int = 350, ae_milestones=(250,), ae_lr: float = 1e-4, ae_weight_decay: float = 0.5e-6,
                 epochs: int = 150, milestones=(50,), lr: float = 1e-4, weight_decay: float = 0.5e-6,
                 batch_size: int = 200, warm_up_epochs: int = 10, contamination: float = 0.1,
                 random_state: int = 0, device=None):
        self.objective = objective
        self.nu = nu
        self.rep_dim = rep_dim
        self.channels = channels
        self.pretrain = pretrain
        self.ae_epochs = ae_epochs
        self.ae_milestones = ae_milestones
        self.ae_lr = ae_lr
        self.ae_weight_decay = ae_weight_decay
        self.epochs = epochs
        self.milestones = milestones
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.warm_up_epochs = warm_up_epochs
        self.contamination = contamination
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        owner = type(self).__name__
        check_choice(self.objective, "objective", {"one-class", "soft-boundary"}, owner=owner)
        check_float(self.nu, "nu", owner, 0.0, 1.0)
        check_int(self.rep_dim, "rep_dim", owner)
        if not isinstance(self.channels, (tuple, list)) or len(self.channels) != 3 or not all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in self.channels):
            raise ValueError(f"The 'channels' parameter of {owner} must be a tuple of 3 ints >= 1. "
                             f"Got {self.channels!r} instead.")
        if not isinstance(self.pretrain, bool):
            raise ValueError(f"The 'pretrain' parameter of {owner} must be a bool. Got {self.pretrain!r} instead.")
        for name in ("ae_epochs", "epochs", "warm_up_epochs"):
            check_int(getattr(self, name), name, owner, low=0)
        check_int(self.batch_size, "batch_size", owner)
        for name in ("ae_lr", "lr"):
            check_float(getattr(self, name), name, owner)
        for name in ("ae_weight_decay", "weight_decay"):
            check_float(getattr(self, name), name, owner, low_open=False)
        check_milestones(self.ae_milestones, "ae_milestones", owner)
        check_milestones(self.milestones, "milestones", owner)
        self._device()

    # ---- preprocessing --------------------------------------------------------------------------

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        z = global_contrast_normalization(x, "l1")
        span = self.gcn_max_ - self.gcn_min_
        return (z - self.gcn_min_) / span if span > 1e-8 else z - self.gcn_min_

    # ---- fit / score ----------------------------------------------------------------------------

    def _fit(self, X: torch.Tensor) -> np.ndarray:
        owner = type(self).__name__
        if len(X) < 2:
            raise ValueError(f"{owner} needs at least 2 training images; got {len(X)}.")
        device = self._device()
        gen = torch.Generator().manual_seed(int(self.random_state))
        z = global_contrast_normalization(X, "l1")
        self.gcn_min_, self.gcn_max_ = float(z.min()), float(z.max())
        data = self._normalise(X)                                            # (N, C, H, W) in [0, 1]
        ae = LeNetAutoencoder(tuple(X.shape[1:]), self.rep_dim, tuple(self.channels)).to(device)
        self.ae_loss_history_ = []
        if self.pretrain and self.ae_epochs > 0:
            self.ae_loss_history_ = self._pretrain(ae, data, gen, device)
        net = ae.encoder
        self.net_ = net
        self.c_ = self._init_center(data, device)
        self.R_ = 0.0
        soft = self.objective == "soft-boundary"
        radius = {"R": torch.tensor(0.0, device=device)}

        def step(idx, epoch):
            dist = ((net(data[idx].to(device)) - self.c_) ** 2).sum(1)       # (B,)
            if not soft:
                return dist.mean()
            r2 = radius["R"] ** 2
            loss = r2 + (1.0 / self.nu) * torch.clamp(dist - r2, min=0).mean()
            if epoch >= self.warm_up_epochs:
                radius["R"] = torch.tensor(float(np.quantile(np.sqrt(dist.detach().cpu().numpy()), 1 - self.nu)),
                                           device=device)
            return loss

        net.train()
        self.loss_history_ = fit_loop(step, len(data), epochs=self.epochs, batch_size=self.batch_size,
                                      params=net.parameters(), lr=self.lr, weight_decay=self.weight_decay,
                                      milestones=self.milestones, generator=gen, owner=owner)
        self.R_ = float(radius["R"])
        net.eval()
        with torch.no_grad():
            return self._score_normalised(data)

    def _pretrain(self, ae, data: torch.Tensor, gen: torch.Generator, device) -> list[float]:
        """Train the autoencoder (in place) and return its loss history. The one-class and the
        soft-boundary variants pretrain identically, so the result (weights, history and the
        generator's state after it) is kept in a small in-process cache keyed by everything it
        depends on: a second fit on the same data reuses it instead of training again."""
        key = self._pretrain_key(data, ae, device)
        hit = _PRETRAINED.get(key)
        if hit is None:
            def ae_step(idx, epoch):
                xb = data[idx].to(device)
                return ((ae(xb) - xb) ** 2).sum(dim=(1, 2, 3)).mean()
            ae.train()
            history = fit_loop(ae_step, len(data), epochs=self.ae_epochs, batch_size=self.batch_size,
                               params=ae.parameters(), lr=self.ae_lr, weight_decay=self.ae_weight_decay,
                               milestones=self.ae_milestones, generator=gen,
                               owner=type(self).__name__ + " (pretraining)")
            _PRETRAINED[key] = ({k: v.detach().cpu().clone() for k, v in ae.state_dict().items()},
                                history, gen.get_state())
            while len(_PRETRAINED) > _PRETRAINED_MAX:
                _PRETRAINED.pop(next(iter(_PRETRAINED)))
            return list(history)
        state, history, gen_state = hit                  # a hit: restore what training left
        ae.load_state_dict(state)
        ae.train()
        gen.set_state(gen_state)
        return list(history)

    def _pretrain_key(self, data: torch.Tensor, ae, device) -> tuple:
        init = hashlib.blake2b(digest_size=16)
        for v in ae.state_dict().values():           # the initial weights (seeded)
            init.update(v.detach().cpu().numpy().tobytes())
        digest = hashlib.blake2b(data.detach().cpu().contiguous().numpy().tobytes(), digest_size=16)
        return (digest.hexdigest(), tuple(data.shape), init.hexdigest(), str(device), self.rep_dim,
                tuple(self.channels), self.ae_epochs, tuple(self.ae_milestones), float(self.ae_lr),
                float(self.ae_weight_decay), self.batch_size, int(self.random_state))

    def _init_center(self, data: torch.Tensor, device, eps: float = 0.1) -> torch.Tensor:
        self.net_.eval()
        reps = predict_batched(self.net_, data, self.batch_size, device)       # (N, rep_dim)
        c = reps.mean(0)
        if not bool(torch.isfinite(c).all()):
            raise DivergedError(type(self).__name__, "the pretrained network gives non-finite representations.")
        c[(c.abs() < eps) & (c < 0)] = -eps
        c[(c.abs() < eps) & (c >= 0)] = eps
        return c.to(device)

    def _score_normalised(self, data: torch.Tensor) -> np.ndarray:
        self.net_.eval()
        device = self._device()
        dist = predict_batched(lambda xb: ((self.net_(xb) - self.c_) ** 2).sum(1), data, self.batch_size, device)
        if self.objective == "soft-boundary":
            dist = dist - self.R_ ** 2
        return (-dist).double().numpy()

    def _score(self, X: torch.Tensor) -> np.ndarray:
        return self._score_normalised(self._normalise(X))
