"""What 1-dimensional persistence is for: a noisy circle whose loop gradient descent makes
more or less persistent.

A loop of a point cloud is a 1-dimensional class of its Vietoris-Rips filtration: born when
an edge closes a cycle around a hole, dead when triangles fill the hole in. Its persistence
(death - birth) says how clearly the cloud has a hole. Both numbers are lengths of edges
(:func:`corel.topology.h1.vr_persistence_1d` returns which ones), so a loss over them
moves exactly the points at the ends of those edges:

* *more persistent*: minimise ``-(persistence of the largest loop) + (sum of the others)``
  -- the points spread evenly around the hole (births shrink: the gaps close) and the hole
  opens (its death grows), while the small spurious loops of the noise are removed;
* *less persistent*: minimise the sum of all loops' persistence -- the points move into the
  hole until triangles fill it early: the loop dies almost as soon as it is born.

The cloud is divided by its RMS radius inside the loss, so neither run can win by scaling
the cloud. :func:`run_loop_demo` runs both from the same start (Adam, a few hundred steps,
about a second each on one CPU core) and draws the clouds with the edges that create and
kill the largest loop, the H1 diagrams and the persistence over the steps.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..topology.h1 import vr_persistence_1d

__all__ = ["noisy_circle", "loop_loss", "optimise_loop", "LoopDemoResult", "run_loop_demo", "format_loop_report"]


def noisy_circle(n: int = 80, noise: float = 0.3, seed: int = 0) -> torch.Tensor:
    """n points at uniform random angles on the unit circle plus Gaussian noise (float64)."""
    if n < 4:
        raise ValueError(f"A loop needs at least 4 points; got n={n}.")
    gen = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
    x = torch.stack([t.cos(), t.sin()], -1)
    return x + noise * torch.randn(n, 2, generator=gen, dtype=torch.float64)


def _normalised(x: torch.Tensor) -> torch.Tensor:
    """The cloud centred and divided by its RMS radius (differentiably)."""
    c = x - x.mean(0)
    return c / c.pow(2).sum(-1).mean().sqrt()


def loop_loss(x: torch.Tensor, direction: str, metric="l2") -> tuple[torch.Tensor, float]:
    """The loss of one step and the persistence of the largest loop (of the normalised cloud).

    ``direction="more"``: -(largest loop) + (all other loops); ``"less"``: all loops."""
    _, h1 = vr_persistence_1d(_normalised(x), metric, n_threads=1)
    pers = h1.persistence
    top = float(pers[0].detach()) if pers.numel() else 0.0
    if direction == "more":
        loss = pers[1:].sum() - pers[:1].sum()
    elif direction == "less":
        loss = pers.sum()
    else:
        raise ValueError(f"direction must be 'more' or 'less'; got {direction!r}.")
    return loss, top


def optimise_loop(x0: torch.Tensor, direction: str, *, steps: int = 300, lr: float = 0.01,
                  metric="l2") -> tuple[torch.Tensor, list[float]]:
    """Adam on the points; returns the final cloud (normalised) and the largest loop's
    persistence before each step and after the last."""
    x = x0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    history = []
    for _ in range(steps):
        loss, top = loop_loss(x, direction, metric)
        history.append(top)
        opt.zero_grad()
        if loss.requires_grad:
            loss.backward()
            opt.step()
    history.append(loop_loss(x.detach(), direction, metric)[1])
    return _normalised(x.detach()), history


@dataclass
class LoopDemoResult:
    """Numbers of :func:`run_loop_demo` (written to numbers.json)."""

    n_points: int
    noise: float
    steps: int
    metric: str
    seed: int
    persistence_start: float
    persistence_more: float
    persistence_less: float
    loops_start: int
    loops_more: int
    loops_less: int
    seconds: float
    figure: str = ""
    history_more: list = field(default_factory=list, repr=False)
    history_less: list = field(default_factory=list, repr=False)


def run_loop_demo(out_dir="runs/loop", *, n_points: int = 80, noise: float = 0.3, steps: int = 300,
                  lr: float = 0.01, metric="l2", seed: int = 0) -> LoopDemoResult:
    """Both runs from one noisy circle; writes ``loop.png`` and ``numbers.json`` to out_dir."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}.")
    if isinstance(metric, str) and metric.replace(".", "", 1).isdigit():
        metric = float(metric)                      # "3" from the command line: p = 3
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    x0 = noisy_circle(n_points, noise, seed)
    more, hist_more = optimise_loop(x0, "more", steps=steps, lr=lr, metric=metric)
    less, hist_less = optimise_loop(x0, "less", steps=steps, lr=lr, metric=metric)
    seconds = time.perf_counter() - start
    clouds = {"start": _normalised(x0), "more persistent": more, "less persistent": less}
    diagrams = {k: vr_persistence_1d(v, metric)[1] for k, v in clouds.items()}
    res = LoopDemoResult(
        n_points=n_points, noise=noise, steps=steps, metric=str(metric), seed=seed,
        persistence_start=hist_more[0], persistence_more=hist_more[-1], persistence_less=hist_less[-1],
        loops_start=int(diagrams["start"].n_pairs), loops_more=int(diagrams["more persistent"].n_pairs),
        loops_less=int(diagrams["less persistent"].n_pairs), seconds=seconds,
        history_more=hist_more, history_less=hist_less)
    res.figure = str(_plot(clouds, diagrams, res, out / "loop.png"))
    numbers = {k: v for k, v in asdict(res).items() if not k.startswith("history")}
    (out / "numbers.json").write_text(json.dumps(numbers, indent=2) + "\n")
    return res


def _plot(clouds: dict, diagrams: dict, res: LoopDemoResult, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"start": "tab:gray", "more persistent": "tab:blue", "less persistent": "tab:red"}
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.5))
    for ax, (name, x) in zip(axes[0], clouds.items()):
        h1 = diagrams[name]
        pts = x.numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=12, color=colours[name], zorder=3)
        if int(h1.n_pairs):
            for edge, style, label in ((h1.birth_edges[0], "-", "edge creating the largest loop"),
                                       (h1.death_edges[0], "--", "edge killing it (longest edge of its triangle)")):
                e = pts[edge.numpy()]
                ax.plot(e[:, 0], e[:, 1], style, color="k", lw=2, label=label, zorder=4)
        pers = float(h1.persistence[0]) if int(h1.n_pairs) else 0.0
        count = int(h1.n_pairs)
        ax.set_title(f"{name}: largest loop persists {pers:.2f}\n({count} loop{'' if count == 1 else 's'})")
        ax.set_aspect("equal")
        ax.set_xlim(-2.2, 2.2)
        ax.set_ylim(-2.2, 2.2)
    axes[0, 0].legend(loc="lower left", fontsize=8)
    ax = axes[1, 0]
    top = 0.0
    for name, h1 in diagrams.items():
        d = h1.diagram().numpy()
        ax.scatter(d[:, 0], d[:, 1], s=18, color=colours[name], label=name)
        top = max(top, float(d.max()) if d.size else 0.0)
    top = top * 1.05 or 1.0
    ax.plot([0, top], [0, top], color="k", lw=0.8)
    ax.set_xlabel("birth")
    ax.set_ylabel("death")
    ax.set_title("H1 diagrams (distance above the diagonal = persistence)")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(res.history_more, color=colours["more persistent"], label="minimise -largest + others")
    ax.plot(res.history_less, color=colours["less persistent"], label="minimise all loops")
    ax.set_xlabel("gradient step")
    ax.set_ylabel("persistence of the largest loop")
    ax.legend(fontsize=8)
    ax.set_title("gradient descent on the points")
    axes[1, 2].axis("off")
    axes[1, 2].text(0.0, 0.95, _caption(res), va="top", fontsize=9, family="monospace", wrap=True)
    fig.suptitle(f"corel: gradient descent on a loss over the H1 pairs of a noisy circle "
                 f"({res.n_points} points, noise {res.noise}, {res.metric})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _caption(res: LoopDemoResult) -> str:
    return (f"largest loop's persistence\n"
            f"  start            {res.persistence_start:.3f}\n"
            f"  more persistent  {res.persistence_more:.3f}\n"
            f"  less persistent  {res.persistence_less:.3f}\n\n"
            f"loops (H1 pairs)\n"
            f"  start {res.loops_start}, more {res.loops_more}, less {res.loops_less}\n\n"
            f"{res.steps} Adam steps per run,\n"
            f"clouds normalised to RMS radius 1;\n"
            f"both runs: {res.seconds:.1f} s")


def format_loop_report(res: LoopDemoResult) -> str:
    return (f"noisy circle: {res.n_points} points, noise {res.noise}, {res.metric}, {res.steps} steps per run\n"
            f"largest loop's persistence: start {res.persistence_start:.3f}, "
            f"made more persistent {res.persistence_more:.3f}, less persistent {res.persistence_less:.3f}\n"
            f"loops: start {res.loops_start}, more {res.loops_more}, less {res.loops_less} "
            f"({res.seconds:.1f} s)")
