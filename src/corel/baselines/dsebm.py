"""DSEBM, deep structured energy-based model (Zhai et al., ICML 2016), as Golan & El-Yaniv ran it.

The published CIFAR-10 number (60.9 mean AUROC) comes from Golan & El-Yaniv's runs, so this
follows their code (``models/dsebm.py``, ``experiments.py``):

* pixels scaled to [-1, 1];
* energy ``E(x) = 1/2 ||x - b||^2 - sum_j h_j(x)`` with ``b`` a learnt image-shaped bias and
  ``h`` their convolutional encoder with a 256-dim ReLU representation
  (:class:`corel.baselines.networks.ConvEncoder`);
* training by denoising score matching: ``x~ = x + N(0, 0.5^2)``, reconstruction
  ``x~ - dE/dx~``, mean squared error to ``x``; Adam (lr 1e-3), batch 128, 200 epochs;
* the score is the energy: ``score_samples = -E(x)`` (higher = more normal).

``E`` has no exponentials or logarithms, so it is finite for finite weights; a non-finite loss
raises :class:`~corel.baselines.base.DivergedError`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._validation import check_float, check_int
from .base import BaselineDetector, fit_loop, predict_batched
from .networks import ConvEncoder
from .preprocess import to_minus_one_one

__all__ = ["DSEBMDetector", "EnergyModel"]


class EnergyModel(nn.Module):
    """``E(x) = 1/2 ||x - b||^2 - sum(ReLU(encoder(x)))``: (B, C, H, W) -> (B,)."""

    def __init__(self, in_shape, rep_dim: int = 256, width: int = 64):
        super().__init__()
        self.encoder = ConvEncoder(in_shape, rep_dim, width, activation="relu")
        self.bias = nn.Parameter(torch.zeros(1, *in_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prior = 0.5 * (x - self.bias).pow(2).flatten(1).sum(1)              # (B,)
        return prior - self.encoder(x).sum(1)                               # (B,)


class DSEBMDetector(BaselineDetector):
    """DSEBM on images (N, C, H, W), uint8 or floats in [0, 1]; sides divisible by 8.

    Parameters
    ----------
    rep_dim : int, default=256
    width : int, default=64
        Channels of the first conv layer (then 2x, 4x).
    noise_std : float, default=0.5
        Std of the denoising noise (on the [-1, 1] scale).
    epochs : int, default=200
    batch_size : int, default=128
    lr : float, default=1e-3
    contamination : float in (0, 0.5], default=0.1
    random_state : int, default=0
    device : str, optional

    Attributes
    ----------
    model_ : EnergyModel
    loss_history_ : list of float
    """

    def __init__(self, rep_dim: int = 256, width: int = 64, noise_std: float = 0.5, epochs: int = 200,
                 batch_size: int = 128, lr: float = 1e-3, contamination: float = 0.1, random_state: int = 0,
                 device=None):
        self.rep_dim = rep_dim
        self.width = width
        self.noise_std = noise_std
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.contamination = contamination
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        owner = type(self).__name__
        for name in ("rep_dim", "width", "batch_size"):
            check_int(getattr(self, name), name, owner)
        check_int(self.epochs, "epochs", owner, low=0)
        check_float(self.noise_std, "noise_std", owner, low_open=False)
        check_float(self.lr, "lr", owner)
        self._device()

    def _fit(self, X: torch.Tensor) -> np.ndarray:
        if len(X) < 2:
            raise ValueError(f"DSEBMDetector needs at least 2 training images; got {len(X)}.")
        device = self._device()
        gen = torch.Generator().manual_seed(int(self.random_state))
        data = to_minus_one_one(X)
        model = EnergyModel(tuple(X.shape[1:]), self.rep_dim, self.width).to(device)
        self.model_ = model

        def step(idx, epoch):
            xb = data[idx].to(device)
            noisy = (xb + self.noise_std * torch.randn(xb.shape, generator=gen).to(device)).requires_grad_(True)
            energy = model(noisy)
            grad, = torch.autograd.grad(energy.sum(), noisy, create_graph=True)
            return ((noisy - grad) - xb).pow(2).mean()

        model.train()
        self.loss_history_ = fit_loop(step, len(data), epochs=self.epochs, batch_size=self.batch_size,
                                      params=model.parameters(), lr=self.lr, generator=gen,
                                      owner=type(self).__name__)
        model.eval()
        with torch.no_grad():
            return self._score_scaled(data)

    def _score_scaled(self, data: torch.Tensor) -> np.ndarray:
        self.model_.eval()
        energy = predict_batched(self.model_, data, max(self.batch_size, 256), self._device())
        return (-energy).double().numpy()

    def _score(self, X: torch.Tensor) -> np.ndarray:
        return self._score_scaled(to_minus_one_one(X))
