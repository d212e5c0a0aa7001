"""The toy example of COREL: three 2-D blobs, the connectivity loss alone, before and after.

Three Gaussian blobs of 500 points with very different spreads (default 0.05, 0.3 and 1.0)
are mapped by an MLP 2-10-10-2 (LeakyReLU) trained with the connectivity loss only (Hofer et al.,
ICML 2019: Adam lr 0.01, divided by 10 at epochs 20 and 40, batch 50, 50 epochs, eta 2, l1).

Two things are shown:

* Why a homogeneous arrangement helps density estimation: a Gaussian KDE with Scott's rule
  has one bandwidth, set by the *global* spread of the data; on the blobs it is tens of times
  the tight blob's own scale and about right for the wide one. After training the blobs have
  similar scales and one bandwidth suits them all. :func:`bandwidth_mismatch` measures this.
* What the connectivity loss does to death times: per batch of 50, their mean moves towards
  eta and their relative spread shrinks; it cannot reach eta exactly because a 2-D latent with
  b = 50 cannot hold 1,500 codes homogeneously (:func:`corel.apps.theory.batch_size_guideline`).

:func:`run_toy` does all of it and writes the figures in well under a minute on one CPU core.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..training.losses import ConnectivityLoss
from ..training.models import MLPAutoencoder
from .theory import batch_death_stats, batch_size_guideline, densification_check

__all__ = ["make_blobs", "toy_encoder", "train_connectivity", "bandwidth_mismatch", "ToyResult", "run_toy",
           "format_toy_report", "write_toy_numbers"]

# Centres far apart, spreads differing 20-fold: no single KDE bandwidth suits all three.
CENTERS = ((-3.0, 0.0), (0.0, 3.0), (3.0, 0.0))
SCALES = (0.05, 0.3, 1.0)


def make_blobs(n_per_blob: int = 500, centers=CENTERS, scales=SCALES, seed: int = 0):
    """Isotropic 2-D Gaussian blobs.

    Returns
    -------
    x : ndarray of float32, shape (len(centers) * n_per_blob, 2)
    y : ndarray of int64, shape (len(centers) * n_per_blob,), the blob of each point
    """
    centers = np.asarray(centers, dtype=np.float64)
    scales = np.asarray(scales, dtype=np.float64)
    if centers.ndim != 2 or len(centers) != len(scales):
        raise ValueError(f"Give one scale per centre: got {len(centers)} centres and {len(scales)} scales.")
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + s * rng.standard_normal((n_per_blob, centers.shape[1])) for c, s in zip(centers, scales)])
    return x.astype(np.float32), np.repeat(np.arange(len(centers)), n_per_blob)


def toy_encoder(seed: int = 0) -> torch.nn.Module:
    """The toy's MLP 2-10-10-2 with LeakyReLU (the encoder of ``MLPAutoencoder(2, (10, 10), 2)``)."""
    torch.manual_seed(seed)
    return MLPAutoencoder(2, hidden=(10, 10), latent_dim=2).encoder


def train_connectivity(encoder: torch.nn.Module, x, *, epochs: int = 50, batch_size: int = 50, lr: float = 0.01,
                       milestones=(20, 40), gamma: float = 0.1, eta: float = 2.0, metric="l1",
                       seed: int = 0) -> list[float]:
    """Train ``encoder`` in place with the connectivity loss alone; returns the mean loss per epoch.

    Adam, the learning rate multiplied by ``gamma`` at each epoch of ``milestones``; shuffled
    batches (``torch.Generator`` seeded with ``seed``), the last incomplete one dropped.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    if len(x) < batch_size:
        raise ValueError(f"Need at least batch_size={batch_size} points; got {len(x)}.")
    loss_fn = ConnectivityLoss(eta, metric, n_branches=1)
    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, list(milestones), gamma)
    gen = torch.Generator().manual_seed(seed)
    history = []
    encoder.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        losses = []
        for start in range(0, len(x) - batch_size + 1, batch_size):
            loss = loss_fn(encoder(x[perm[start:start + batch_size]]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
        history.append(float(np.mean(losses)))
    encoder.eval()
    return history


def bandwidth_mismatch(codes, labels) -> dict:
    """How far Scott's rule's single bandwidth is from each cluster's own Scott bandwidth.

    Scott's rule (``scipy.stats.gaussian_kde``'s default) uses the kernel covariance
    ``cov(data) * n^(-2/(d+4))``. Its scale is summarised as ``det(cov)^(1/(2d))`` (a length).
    For each cluster the ratio (global bandwidth) / (the bandwidth Scott's rule would pick on the
    cluster alone) is 1 when one bandwidth suits it; >> 1 means over-smoothing.

    Returns
    -------
    dict with ``global_bandwidth`` (float), ``cluster_bandwidth`` and ``ratio`` (lists, one per
    cluster in label order) and ``spread`` = max ratio / min ratio.
    """
    from scipy.stats import gaussian_kde

    z = np.asarray(codes, dtype=np.float64)
    y = np.asarray(labels)
    d = z.shape[1]
    glob = _scale(gaussian_kde(z.T).covariance, d)
    own = [_scale(gaussian_kde(z[y == c].T).covariance, d) for c in np.unique(y)]
    ratio = [glob / s for s in own]
    return {"global_bandwidth": glob, "cluster_bandwidth": own, "ratio": ratio, "spread": max(ratio) / min(ratio)}


def _scale(cov: np.ndarray, d: int) -> float:
    return float(np.linalg.det(np.atleast_2d(cov)) ** (1.0 / (2 * d)))


@dataclass
class ToyResult:
    """The toy's numbers; ``before`` is the input blobs, ``after`` the trained codes."""

    deaths_before: dict
    deaths_after: dict
    kde_before: dict
    kde_after: dict
    theory: dict
    loss_history: list
    seconds: float
    paths: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


def run_toy(out_dir, *, seed: int = 0, epochs: int = 50, n_per_blob: int = 500, batch_size: int = 50,
            eta: float = 2.0, threads: int = 0) -> ToyResult:
    """Train the toy and write its figures into ``out_dir``.

    Files: ``scatter.png`` (input blobs and trained codes), ``death_histogram.png`` (death times
    of one pass of batches of ``batch_size``, before and after), ``kde_contours.png`` (Scott's
    rule KDE on both).

    Returns
    -------
    ToyResult
    """
    from .. import plots

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    out = Path(out_dir)
    x, y = make_blobs(n_per_blob, seed=seed)
    encoder = toy_encoder(seed)
    history = train_connectivity(encoder, x, epochs=epochs, batch_size=batch_size, eta=eta, seed=seed)
    with torch.no_grad():
        z = encoder(torch.from_numpy(x)).numpy()

    stats_before = batch_death_stats(x, batch_size, seed=seed)
    stats_after = batch_death_stats(z, batch_size, seed=seed)
    beta = float(stats_after.beta.max())
    dens = densification_check(z, beta, batch_size)
    guide = batch_size_guideline(2, 1.0, 1.0, batch_size, len(z))
    theory = {"n_codes": len(z), "batch_size": batch_size, "sampled_beta": beta,
              "min_pairwise_distance": float(dens.min_distance[0]),
              "observed_beta_over_alpha": beta / max(float(dens.min_distance[0]), 1e-300),
              "required_beta_over_alpha": guide.min_beta_over_alpha,
              "packing_upper_alpha_eq_beta": guide.packing_upper,
              "densification_bound": dens.bound, "densification_fraction": float(dens.fraction_satisfied[0]),
              "densification_min_count": int(dens.min_count[0]),
              "densification_median_count": float(dens.median_count[0])}

    names = [f"blob {k} (sd {s:g})" for k, s in enumerate(SCALES)]
    paths = {
        "scatter": plots.plot_toy_scatter(x, z, y, out / "scatter.png", names=names),
        "death_histogram": plots.plot_death_histogram(
            _deaths(x, batch_size, seed), _deaths(z, batch_size, seed), eta, out / "death_histogram.png",
            labels=("input blobs", "trained codes")),
        "kde_contours": plots.plot_kde_contours([x, z], y, out / "kde_contours.png",
                                                titles=("input blobs", "trained codes"), names=names),
    }
    return ToyResult(deaths_before=stats_before.summary(), deaths_after=stats_after.summary(),
                     kde_before=bandwidth_mismatch(x, y), kde_after=bandwidth_mismatch(z, y), theory=theory,
                     loss_history=history, seconds=time.perf_counter() - t0, paths=paths,
                     settings={"seed": seed, "epochs": epochs, "n_per_blob": n_per_blob, "batch_size": batch_size,
                               "eta": eta, "scales": list(SCALES)})


def _deaths(points, batch_size: int, seed: int) -> np.ndarray:
    """All death times of one shuffled pass of batches (the batches batch_death_stats uses)."""
    from ..topology.h0 import vr_persistence_0d
    rng = np.random.default_rng(seed)
    n = len(points) // batch_size * batch_size
    p = torch.as_tensor(points)[torch.from_numpy(rng.permutation(len(points))[:n])]
    return vr_persistence_0d(p.reshape(-1, batch_size, p.shape[1]), "l1").deaths.flatten().numpy()


def write_toy_numbers(res: ToyResult, out_dir) -> Path:
    """Write the numbers of a run as ``numbers.json`` in ``out_dir``; returns its path."""
    path = Path(out_dir) / "numbers.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {k: v for k, v in asdict(res).items() if k != "paths"}
    payload["paths"] = {k: str(v) for k, v in res.paths.items()}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def format_toy_report(res: ToyResult) -> str:
    """The numbers of a toy run as a short Markdown text."""
    b, a = res.deaths_before, res.deaths_after
    s = res.settings
    lines = [f"Death times per batch of {s['batch_size']} (one pass, {res.theory['n_codes'] // s['batch_size']} "
             f"batches; eta = {s['eta']:g}):", "",
             "| | mean (epsilon) | std | std / mean | mean alpha (min) | mean beta (max) |",
             "|---|---|---|---|---|---|"]
    for name, d in (("input blobs", b), ("trained codes", a)):
        lines.append(f"| {name} | {d['epsilon']:.3f} | {d['std']:.3f} | {d['relative_spread']:.2f} | "
                     f"{d['mean_alpha']:.3f} | {d['mean_beta']:.3f} |")
    lines += ["", "Scott's-rule KDE bandwidth / each blob's own Scott bandwidth (1 = suits it):", "",
              "| | " + " | ".join(f"blob {k} (sd {sc:g})" for k, sc in enumerate(s["scales"])) + " | max / min |",
              "|---|" + "---|" * (len(s["scales"]) + 1)]
    for name, k in (("input blobs", res.kde_before), ("trained codes", res.kde_after)):
        lines.append(f"| {name} | " + " | ".join(f"{r:.2f}" for r in k["ratio"]) + f" | {k['spread']:.2f} |")
    t = res.theory
    lines += ["", f"Theory on the trained codes (N = {t['n_codes']}, b = {t['batch_size']}, d = 2):",
              f"- smallest pairwise distance (exact alpha over all {t['batch_size']}-subsets): "
              f"{t['min_pairwise_distance']:.4f}; largest sampled death beta: {t['sampled_beta']:.3f}; "
              f"beta / alpha >= {t['observed_beta_over_alpha']:.1f}",
              f"- packing bound: all deaths of every {t['batch_size']}-subset in [alpha, beta] needs beta / alpha >= "
              f"{t['required_beta_over_alpha']:.1f} (at alpha = beta a ball holds at most "
              f"{t['packing_upper_alpha_eq_beta']} codes, not N - b + 2 = {t['n_codes'] - t['batch_size'] + 2})",
              f"- densification at the sampled beta: {100 * t['densification_fraction']:.1f}% of codes have >= "
              f"N - b + 1 = {t['densification_bound']} others within beta (min {t['densification_min_count']}, "
              f"median {t['densification_median_count']:.0f})",
              f"- connectivity loss per batch: {res.loss_history[0]:.1f} (epoch 1) -> {res.loss_history[-1]:.1f} "
              f"(epoch {len(res.loss_history)}); {res.seconds:.1f} s in all"]
    return "\n".join(lines)
