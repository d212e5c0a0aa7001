"""Figures. Each function draws one PNG with matplotlib's Agg canvas and returns its path.

Figures are built with ``matplotlib.figure.Figure`` and ``FigureCanvasAgg`` directly, not
pyplot: no global backend switch, no figure registry to leak, safe in threads and notebooks.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_auroc_bars", "plot_roc_curves", "plot_death_histogram"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> Path:
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def _numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def plot_auroc_bars(result, path) -> Path:
    """Per-class mean AUROC x 100 with the std over draws as error bars, and the overall mean.

    Parameters
    ----------
    result : corel.protocols.oneclass.OneClassResult
    path : str or Path of the PNG

    Returns
    -------
    Path of the written PNG.
    """
    means, stds = result.per_class_mean, result.per_class_std
    c = len(means)
    fig = _figure(min(max(6.0, 0.45 * c + 2), 24.0), 4.0)
    ax = fig.add_subplot()
    x = np.arange(c)
    ax.bar(x, means, yerr=stds, capsize=2 if c <= 50 else 0, color="tab:blue", alpha=0.8,
           error_kw={"elinewidth": 0.8})
    ax.axhline(result.mean, color="tab:red", lw=1.2, label=f"mean {result.mean:.2f} +- {result.std:.2f}")
    ax.axhline(50.0, color="grey", lw=0.8, ls=":", label="chance")
    if c <= 50:
        ax.set_xticks(x, result.class_names, rotation=45 if c > 10 else 0, ha="right" if c > 10 else "center")
    else:
        ax.set_xlabel(f"class index ({c} classes)")
    ax.set_ylabel("AUROC x 100")
    ax.set_ylim(min(40.0, float(np.min(means - stds)) - 2), 100.0)
    ax.set_title(f"One-class AUROC, n={result.n}, {result.draws} draws, radius {result.radius:g}")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def plot_roc_curves(test_labels, scores_per_class, class_names, path, *, classes=None,
                    max_labelled: int = 20) -> Path:
    """ROC curve of each class's one-vs-rest problem.

    Parameters
    ----------
    test_labels : array, shape (Q,)
    scores_per_class : array, shape (C, Q)
        Row c scores every test code for class c (higher = more normal), e.g.
        ``OneClassResult.scores_draw0``.
    class_names : sequence of str, length C
    path : str or Path of the PNG
    classes : array, shape (C,), optional
        The label value of row c; default the sorted unique test labels (the convention of
        :func:`corel.protocols.oneclass.evaluate_one_class`).
    max_labelled : int
        With more classes than this, curves are drawn thin and grey, without a legend.

    Returns
    -------
    Path of the written PNG.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    y = _numpy(test_labels)
    scores = _numpy(scores_per_class)
    classes = np.unique(y) if classes is None else _numpy(classes)
    if scores.ndim != 2 or scores.shape != (len(classes), len(y)):
        raise ValueError(f"scores_per_class must have shape (n_classes, n_test) = ({len(classes)}, {len(y)}); "
                         f"got {scores.shape}.")
    if len(class_names) != len(classes):
        raise ValueError(f"class_names has {len(class_names)} names for {len(classes)} classes.")
    many = len(classes) > max_labelled
    fig = _figure(5.5, 5.0)
    ax = fig.add_subplot()
    for c, name, s in zip(classes, class_names, scores):
        pos = y == c
        fpr, tpr, _ = roc_curve(pos, s)
        if many:
            ax.plot(fpr, tpr, color="grey", lw=0.4, alpha=0.4)
        else:
            ax.plot(fpr, tpr, lw=1.2, label=f"{name} ({100 * roc_auc_score(pos, s):.1f})")
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC per class (one vs rest)" + (f", {len(classes)} classes" if many else ""))
    if not many:
        ax.legend(fontsize=7, loc="lower right", title="class (AUROC x 100)", title_fontsize=7)
    return _save(fig, path)


def plot_death_histogram(deaths_before, deaths_after, eta: float, path, *, bins: int = 60,
                         labels=("before", "after")) -> Path:
    """Histograms of 0-dim death times at two moments (e.g. before / after training), line at eta.

    Parameters
    ----------
    deaths_before, deaths_after : array or tensor of any shape (flattened), or None (not recorded,
        e.g. the "before" of a run copied from elsewhere and resumed)
    eta : float
        The connectivity loss's target death time, drawn as a vertical line.
    path : str or Path of the PNG
    bins : int
        Bins shared by both histograms.

    Returns
    -------
    Path of the written PNG.
    """
    a, b = ((np.zeros(0) if d is None else _numpy(d).ravel().astype(np.float64)) for d in (deaths_before, deaths_after))
    both = np.concatenate([a, b, [float(eta)]])
    both = both[np.isfinite(both)]
    edges = np.histogram_bin_edges(both, bins=bins)
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    for values, label, color in ((a, labels[0], "tab:grey"), (b, labels[1], "tab:blue")):
        if values.size:   # (a resumed run may not have the "before" deaths; matplotlib warns on empty data)
            ax.hist(values, bins=edges, alpha=0.55, color=color, label=f"{label} (mean {np.mean(values):.2f})")
        else:
            ax.plot([], [], color=color, label=f"{label} (not recorded)")
    ax.axvline(float(eta), color="tab:red", lw=1.5, label=f"eta = {float(eta):g}")
    ax.set_xlabel("death time (l1)")
    ax.set_ylabel("count")
    ax.set_title("0-dim death times")
    ax.legend(fontsize=8)
    return _save(fig, path)


# ----------------------------------------------------------------------------- the toy, the theory, ablations
__all__ += ["plot_toy_scatter", "plot_kde_contours", "plot_packing_bounds", "plot_lambda_ablation", "plot_sweep"]

_CLUSTER_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def plot_toy_scatter(before, after, labels, path, *, titles=("input blobs", "trained codes"),
                     names=None) -> Path:
    """Two 2-D scatter plots side by side (e.g. the toy's input and its trained codes).

    Parameters
    ----------
    before, after : array, shape (N, 2)
    labels : array, shape (N,)
        Cluster of each point (colours).
    path : str or Path of the PNG
    titles : the two panel titles
    names : sequence of str, optional
        Legend entry per cluster, in sorted label order.

    Returns
    -------
    Path of the written PNG.
    """
    y = _numpy(labels)
    classes = np.unique(y)
    names = [str(c) for c in classes] if names is None else list(names)
    fig = _figure(10.0, 4.6)
    for k, (pts, title) in enumerate(zip((before, after), titles)):
        p = _numpy(pts)
        ax = fig.add_subplot(1, 2, k + 1)
        for i, c in enumerate(classes):
            ax.scatter(p[y == c, 0], p[y == c, 1], s=4, alpha=0.6, color=_CLUSTER_COLORS[i % len(_CLUSTER_COLORS)],
                       label=names[i])
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(title)
        if k == 0:
            ax.legend(fontsize=7, markerscale=3)
    return _save(fig, path)


def plot_kde_contours(point_sets, labels, path, *, titles=None, names=None, grid: int = 160) -> Path:
    """Contours of a Gaussian KDE with Scott's rule (``scipy.stats.gaussian_kde``) per panel.

    Each panel fits one KDE on all its points (one bandwidth for all clusters) and draws its
    density over the points; the kernel's 1-sigma ellipse is drawn in the corner for scale.

    Parameters
    ----------
    point_sets : sequence of arrays of shape (N, 2)
    labels : array, shape (N,), cluster of each point (the same for every panel)
    path : str or Path of the PNG
    titles, names : optional panel titles and per-cluster legend entries
    grid : int, grid points per axis of the density evaluation

    Returns
    -------
    Path of the written PNG.
    """
    from matplotlib.patches import Ellipse
    from scipy.stats import gaussian_kde

    y = _numpy(labels)
    classes = np.unique(y)
    names = [str(c) for c in classes] if names is None else list(names)
    titles = [f"set {k}" for k in range(len(point_sets))] if titles is None else list(titles)
    fig = _figure(5.0 * len(point_sets), 4.6)
    for k, pts in enumerate(point_sets):
        p = _numpy(pts).astype(np.float64)
        kde = gaussian_kde(p.T)
        lo, hi = p.min(0), p.max(0)
        pad = 0.1 * (hi - lo)
        gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], grid),
                             np.linspace(lo[1] - pad[1], hi[1] + pad[1], grid))
        dens = kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
        ax = fig.add_subplot(1, len(point_sets), k + 1)
        cs = ax.contourf(gx, gy, dens, levels=12, cmap="Greys")
        fig.colorbar(cs, ax=ax, shrink=0.8, label="KDE density")
        for i, c in enumerate(classes):
            ax.scatter(p[y == c, 0], p[y == c, 1], s=1.5, alpha=0.5, color=_CLUSTER_COLORS[i % len(_CLUSTER_COLORS)],
                       label=names[i])
        vals, vecs = np.linalg.eigh(kde.covariance)
        angle = float(np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1])))
        centre = (lo[0] + 0.12 * (hi[0] - lo[0]), hi[1] - 0.12 * (hi[1] - lo[1]))
        ax.add_patch(Ellipse(centre, 2 * np.sqrt(vals[-1]), 2 * np.sqrt(vals[0]), angle=angle, fill=False,
                             color="tab:red", lw=1.5, label="kernel (1 sd)"))
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"{titles[k]}: Scott bandwidth {np.linalg.det(kde.covariance) ** 0.25:.3g}")
        if k == 0:
            ax.legend(fontsize=7, markerscale=4, loc="lower right")
    return _save(fig, path)


def plot_packing_bounds(dims, lower, upper, required, path, *, title=None) -> Path:
    """Packing-number bounds against the latent dimension, log scale, with the requirement line.

    Parameters
    ----------
    dims : sequence of int
    lower, upper : sequences of int, bounds on the packing number per dimension
    required : int or sequence of (label, value)
        The N - b + 2 codes one ball must hold; dimensions where ``upper`` is below it are ruled out.
    path : str or Path of the PNG

    Returns
    -------
    Path of the written PNG.
    """
    d = np.asarray(dims)
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    ax.semilogy(d, np.asarray(upper, dtype=float), "o-", color="tab:red",
                label="upper bound ((2 beta + alpha) / alpha)^d (volume)")
    ax.semilogy(d, np.asarray(lower, dtype=float), "s-", color="tab:blue", label="lower bound (D_d lattice packing)")
    req = [("N - b + 2", required)] if not isinstance(required, (list, tuple)) else list(required)
    for i, (label, value) in enumerate(req):
        ax.axhline(float(value), color="black", ls=["--", ":", "-."][i % 3], lw=1, label=f"{label} = {value:,}")
    ax.set_xlabel("dimension d of the latent (sub)space")
    ax.set_ylabel("codes pairwise >= alpha apart in a ball of radius beta")
    ax.set_title(title or "Packing capacity (l1)")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_lambda_ablation(ours: dict, published: dict, path, *, title=None) -> Path:
    """AUROC x 100 against lambda, one line per branches x dims configuration.

    Parameters
    ----------
    ours, published : dict
        ``{(branches, dims): {lambda: auroc}}``; ours solid, published dashed (same colour).
    path : str or Path of the PNG

    Returns
    -------
    Path of the written PNG.
    """
    fig = _figure(6.5, 4.2)
    ax = fig.add_subplot()
    keys = list(dict.fromkeys(list(ours) + list(published)))
    lams = sorted({lam for k in keys for lam in list(ours.get(k, {})) + list(published.get(k, {}))})
    pos = {lam: i for i, lam in enumerate(lams)}            # lambdas evenly spaced (0 has no log)
    for i, key in enumerate(keys):
        color = _CLUSTER_COLORS[i % len(_CLUSTER_COLORS)]
        name = f"{key[0]}x{key[1]}"
        for values, style, tag in ((ours.get(key, {}), "o-", "ours"), (published.get(key, {}), "x--", "paper")):
            if values:
                xs = sorted(values)
                ax.plot([pos[v] for v in xs], [values[v] for v in xs], style, color=color, lw=1.2,
                        label=f"{name} {tag}")
    ax.set_xticks(range(len(lams)), [f"{v:g}" for v in lams])
    ax.set_xlabel("lambda (connectivity weight)")
    ax.set_ylabel("mean AUROC x 100")
    ax.axhline(50.0, color="grey", lw=0.8, ls=":")
    ax.set_title(title or "Ablation: lambda and branches x dims")
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def plot_sweep(ours: dict, published: dict, path, *, xlabel: str, title=None, logx: bool = False) -> Path:
    """One quantity swept (radius, sample size): ours (mean, std) beside the published values.

    Parameters
    ----------
    ours : dict ``{x: (mean, std)}``
    published : dict ``{x: value}``
    path : str or Path of the PNG
    xlabel : str
    logx : bool, log-scaled x axis (sample sizes)

    Returns
    -------
    Path of the written PNG.
    """
    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    if ours:
        xs = sorted(ours)
        ax.errorbar(xs, [ours[x][0] for x in xs], yerr=[ours[x][1] for x in xs], fmt="o-", color="tab:blue",
                    capsize=3, label="ours")
    if published:
        xs = sorted(published)
        ax.plot(xs, [published[x] for x in xs], "x--", color="tab:red", label="paper")
    if logx:
        ax.set_xscale("log")
    ax.axhline(50.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean AUROC x 100")
    ax.set_title(title or f"AUROC against {xlabel}")
    ax.legend(fontsize=8)
    return _save(fig, path)


# ----------------------------------------------------------------------------- corel compare
__all__ += ["plot_compare_bars"]


def plot_compare_bars(table: dict, path) -> Path:
    """Grouped bars of ``corel compare``'s table: one group per class and one for the mean,
    one bar per method; a method's published mean is a black tick on its bar in the mean group.

    Parameters
    ----------
    table : dict
        What :func:`corel.protocols.compare.compare` returns (``classes``; ``rows`` with ``title``,
        ``per_class``, ``mean``, ``published``). Missing or diverged values draw no bar.
    path : str or Path of the PNG

    Returns
    -------
    Path of the written PNG.
    """
    groups = list(table["classes"]) + ["mean"]
    rows = table["rows"]
    k = max(1, len(rows))
    width = 0.8 / k
    fig = _figure(min(max(8.0, 0.3 * k * len(groups) + 4.5), 28.0), 4.5)
    ax = fig.add_subplot()
    x = np.arange(len(groups))
    if k <= 10:
        colors = [f"C{i}" for i in range(k)]
    else:
        from matplotlib import colormaps
        colors = [colormaps["tab20"](i % 20) for i in range(k)]
    for i, r in enumerate(rows):
        vals = [r["per_class"].get(c) for c in table["classes"]] + [r["mean"]]
        ys = np.array([np.nan if v is None else v for v in vals], dtype=float)
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, ys, width, color=colors[i], label=r["title"])
        pub = _published_value(r.get("published"))
        if pub is not None:
            ax.plot([pos[-1] - width / 2, pos[-1] + width / 2], [pub, pub], color="black", lw=2)
    ax.axhline(50.0, color="grey", lw=0.8, ls=":")
    ax.set_xticks(x, groups, rotation=30 if len(groups) > 8 else 0, ha="right" if len(groups) > 8 else "center")
    ax.set_ylabel("AUROC x 100")
    finite = [v for r in rows for v in list(r["per_class"].values()) + [r["mean"]] if v is not None]
    ax.set_ylim(min([40.0] + [v - 2 for v in finite]), 100.0)
    ax.set_title(f"One-class AUROC on {table['dataset']} (profile {table['profile']}); "
                 f"black ticks: published means")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def _published_value(text) -> float | None:
    """A published entry ("64.8", "75.96 +- 0.65", "~65", "62-65") as one number (a range's middle)."""
    if text is None:
        return None
    head = str(text).split("+-")[0].strip().lstrip("~")
    try:
        if "-" in head[1:]:
            lo, hi = head.split("-", 1)
            return (float(lo) + float(hi)) / 2
        return float(head)
    except ValueError:
        return None
