"""DAGMM, deep autoencoding Gaussian mixture model (Zong et al., ICLR 2018), as Golan & El-Yaniv
ran it on images, made numerically stable.

The published CIFAR-10 number (53.1 mean AUROC) comes from Golan & El-Yaniv's runs, so the
architecture and weights follow their code (``experiments.py``, ``models/dagmm.py``):

* pixels in [-1, 1]; a convolutional autoencoder (:class:`~corel.baselines.networks.ConvEncoder`
  to a 5-dim linear code, :class:`~corel.baselines.networks.ConvDecoder` with tanh output);
* the estimation input ``z = [z_c, relative Euclidean error, cosine similarity]`` (7 dims);
* an estimation network Dense(64, tanh), Dropout(0.5), Dense(10, tanh), Dropout(0.5),
  Dense(K = 3, softmax) giving memberships ``gamma``;
* loss = MSE(x, x') + lambda_energy * mean E(z) + lambda_cov * sum_k sum_j 1 / Sigma_k[j, j],
  lambda_energy = 0.01, lambda_cov = 0.0005, Adam (lr 1e-3), batch 256, 200 epochs;
* the mixture (phi, mu, Sigma) of a batch is estimated from that batch; after training it is
  estimated once from the whole training set (Zong et al.), and the score is
  ``score_samples = -E(z)``.

Stability (the reason Golan & El-Yaniv's code had to replace infinite scores by hand):
``E(z) = -logsumexp_k(log phi_k + log N(z | mu_k, Sigma_k))`` in log space; ``Sigma_k +
cov_eps I`` (their code adds ~1e-3 to the diagonal as well), factorised by Cholesky with more
jitter if needed; phi clamped at 1e-12; the denominators of the relative error and of the
memberships' sums clamped. Scores are therefore always finite.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_float, check_int
from .base import BaselineDetector, DivergedError, fit_loop, predict_batched
from .networks import ConvDecoder, ConvEncoder
from .preprocess import to_minus_one_one

__all__ = ["DAGMMDetector", "DAGMMNet", "gmm_parameters", "gmm_energy"]

_TINY = 1e-12


class DAGMMNet(nn.Module):
    """Compression network + estimation network: x -> (x', z (B, latent_dim + 2), gamma (B, K))."""

    def __init__(self, in_shape, latent_dim: int = 5, n_components: int = 3, width: int = 64,
                 dropout: float = 0.5):
        super().__init__()
        self.encoder = ConvEncoder(in_shape, latent_dim, width, activation="linear")
        self.decoder = ConvDecoder(in_shape, latent_dim, width)
        self.estimation = nn.Sequential(nn.Linear(latent_dim + 2, 64), nn.Tanh(), nn.Dropout(dropout),
                                        nn.Linear(64, 10), nn.Tanh(), nn.Dropout(dropout),
                                        nn.Linear(10, n_components))

    def forward(self, x: torch.Tensor):
        zc = self.encoder(x)                                                  # (B, latent)
        rec = self.decoder(zc)                                                # (B, C, H, W)
        xf, rf = x.flatten(1), rec.flatten(1)
        rel = (xf - rf).norm(dim=1) / xf.norm(dim=1).clamp_min(1e-6)          # (B,)
        cos = F.cosine_similarity(xf, rf, dim=1, eps=1e-6)                    # (B,)
        z = torch.cat([zc, rel[:, None], cos[:, None]], dim=1)                # (B, latent + 2)
        gamma = torch.softmax(self.estimation(z), dim=1)                      # (B, K)
        return rec, z, gamma


def gmm_parameters(z: torch.Tensor, gamma: torch.Tensor, cov_eps: float):
    """Mixture weights (K,), means (K, d), covariances + cov_eps I (K, d, d) from memberships."""
    nk = gamma.sum(0).clamp_min(_TINY)                                        # (K,)
    phi = gamma.mean(0)                                                       # (K,)
    mu = gamma.T @ z / nk[:, None]                                            # (K, d)
    diff = z[None] - mu[:, None]                                              # (K, B, d)
    cov = torch.einsum("kb,kbi,kbj->kij", gamma.T, diff, diff) / nk[:, None, None]
    cov = cov + cov_eps * torch.eye(z.shape[1], dtype=z.dtype, device=z.device)
    return phi, mu, cov


def _cholesky(cov: torch.Tensor) -> torch.Tensor:
    """Cholesky factors, adding 10x more jitter until every factorisation succeeds."""
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    scale = float(cov.diagonal(dim1=-2, dim2=-1).abs().max().clamp_min(1.0).detach())
    jitter = 0.0
    for _ in range(12):
        L, info = torch.linalg.cholesky_ex(cov + jitter * eye)
        if not bool((info != 0).any()):
            return L
        jitter = scale * 1e-9 if jitter == 0.0 else jitter * 10
    raise DivergedError("DAGMMDetector", "a mixture covariance stayed singular after adding jitter.")


def gmm_energy(z: torch.Tensor, phi: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """``-log sum_k phi_k N(z | mu_k, cov_k)`` per row of z (B,), in log space."""
    L = _cholesky(cov)                                                        # (K, d, d)
    diff = (z[:, None, :] - mu[None]).unsqueeze(-1)                           # (B, K, d, 1)
    sol = torch.linalg.solve_triangular(L[None].expand(z.shape[0], -1, -1, -1), diff, upper=False)
    maha = sol.squeeze(-1).pow(2).sum(-1)                                     # (B, K)
    logdet = 2.0 * torch.log(L.diagonal(dim1=-2, dim2=-1)).sum(-1)            # (K,)
    log_norm = 0.5 * (logdet + z.shape[1] * math.log(2.0 * math.pi))         # (K,)
    logp = torch.log(phi.clamp_min(_TINY))[None] - 0.5 * maha - log_norm[None]
    return -torch.logsumexp(logp, dim=1)                                      # (B,)


class DAGMMDetector(BaselineDetector):
    """DAGMM on images (N, C, H, W), uint8 or floats in [0, 1]; sides divisible by 8.

    Parameters
    ----------
    latent_dim : int, default=5
    n_components : int, default=3
    width : int, default=64
    dropout : float in [0, 1), default=0.5
    lambda_energy : float, default=0.01
    lambda_cov : float, default=0.0005
    cov_eps : float, default=1e-3
        Added to each covariance's diagonal.
    epochs : int, default=200
    batch_size : int, default=256
    lr : float, default=1e-3
    contamination : float in (0, 0.5], default=0.1
    random_state : int, default=0
    device : str, optional

    Attributes
    ----------
    net_ : DAGMMNet
    phi_, mu_, cov_ : the mixture estimated on the whole training set
    loss_history_ : list of float
    """

    def __init__(self, latent_dim: int = 5, n_components: int = 3, width: int = 64, dropout: float = 0.5,
                 lambda_energy: float = 0.01, lambda_cov: float = 0.0005, cov_eps: float = 1e-3,
                 epochs: int = 200, batch_size: int = 256, lr: float = 1e-3, contamination: float = 0.1,
                 random_state: int = 0, device=None):
        self.latent_dim = latent_dim
        self.n_components = n_components
        self.width = width
        self.dropout = dropout
        self.lambda_energy = lambda_energy
        self.lambda_cov = lambda_cov
        self.cov_eps = cov_eps
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.contamination = contamination
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        owner = type(self).__name__
        for name in ("latent_dim", "n_components", "width", "batch_size"):
            check_int(getattr(self, name), name, owner)
        check_int(self.epochs, "epochs", owner, low=0)
        check_float(self.dropout, "dropout", owner, 0.0, 1.0, low_open=False, high_open=True)
        for name in ("lambda_energy", "lambda_cov"):
            check_float(getattr(self, name), name, owner, low_open=False)
        check_float(self.cov_eps, "cov_eps", owner)
        check_float(self.lr, "lr", owner)
        self._device()

    def _fit(self, X: torch.Tensor) -> np.ndarray:
        if len(X) < 2:
            raise ValueError(f"DAGMMDetector needs at least 2 training images; got {len(X)}.")
        device = self._device()
        gen = torch.Generator().manual_seed(int(self.random_state))
        data = to_minus_one_one(X)
        net = DAGMMNet(tuple(X.shape[1:]), self.latent_dim, self.n_components, self.width, self.dropout).to(device)
        self.net_ = net

        def step(idx, epoch):
            xb = data[idx].to(device)
            rec, z, gamma = net(xb)
            phi, mu, cov = gmm_parameters(z, gamma, self.cov_eps)
            energy = gmm_energy(z, phi, mu, cov).mean()
            cov_penalty = (1.0 / cov.diagonal(dim1=-2, dim2=-1)).sum()
            return F.mse_loss(rec, xb) + self.lambda_energy * energy + self.lambda_cov * cov_penalty

        net.train()
        self.loss_history_ = fit_loop(step, len(data), epochs=self.epochs, batch_size=self.batch_size,
                                      params=net.parameters(), lr=self.lr, generator=gen,
                                      owner=type(self).__name__)
        net.eval()
        with torch.no_grad():
            z, gamma = self._features(data)
            self.phi_, self.mu_, self.cov_ = (t.double() for t in gmm_parameters(z.double(), gamma.double(),
                                                                                  self.cov_eps))
            return self._energy_scores(z)

    def _features(self, data: torch.Tensor):
        self.net_.eval()
        out = predict_batched(lambda xb: torch.cat(self.net_(xb)[1:], dim=1), data, max(self.batch_size, 256),
                              self._device())
        d = self.latent_dim + 2
        return out[:, :d], out[:, d:]

    def _energy_scores(self, z: torch.Tensor) -> np.ndarray:
        return (-gmm_energy(z.double(), self.phi_, self.mu_, self.cov_)).numpy()

    def _score(self, X: torch.Tensor) -> np.ndarray:
        z, _ = self._features(to_minus_one_one(X))
        return self._energy_scores(z)
