"""Figures of the toy experiments: pure DataFrame -> Figure functions, plus a saver."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from randsae.toy import ARMS  # noqa: E402

LABELS = {
    "mse": "MSE",
    "fvu": "FVU",
    "l0": "L0",
    "l1": "L1",
    "l2": "L2",
    "l1_over_sqrt_l2": "L1 / sqrt(L2)",
    "hoyer": "Hoyer sparsity",
    "mmcs": "MMCS",
    "mmcs_baseline": "MMCS of one direction (data mean)",
}
ARM_LABELS = {
    "plain": "data",
    "ffn": "data + random MLP",
    "gaussian": "Gaussian control",
    "gaussian_ffn": "Gaussian + random MLP",
}
# The one colour table of the toy figures. Hue = data (blue) vs Gaussian control (black, the
# project's control colour); line style = before (solid) / after (dashed) the random MLP.
ARM_STYLES = {
    "plain": {"color": "#1f5fa8", "linestyle": "-", "marker": "o"},
    "ffn": {"color": "#1f5fa8", "linestyle": "--", "marker": "s"},
    "gaussian": {"color": "#111111", "linestyle": "-", "marker": "^"},
    "gaussian_ffn": {"color": "#111111", "linestyle": "--", "marker": "v"},
}
SIZE_CMAP = "viridis"  # Fig 4: one colour per dictionary size, light (small) to dark (large)
LOG_METRICS = {"mse", "l1", "l2", "l1_over_sqrt_l2"}
DATASET_LABELS = {"sharkey": "toy superposition data"}


def dataset_label(name: str) -> str:
    """Readable name of a toy dataset (``embed_<model>`` -> '<model> token embeddings')."""
    if name.startswith("embed_"):
        return f"{name[len('embed_') :]} token embeddings"
    return DATASET_LABELS.get(name, name)


def size_colors(sizes) -> dict[int, tuple]:
    """Colour of each dictionary size on ``SIZE_CMAP`` (sizes in increasing order)."""
    sizes = sorted(int(n) for n in sizes)
    cmap = plt.get_cmap(SIZE_CMAP)
    if len(sizes) == 1:
        return {sizes[0]: cmap(0.25)}
    return {n: cmap(0.85 - 0.7 * i / (len(sizes) - 1)) for i, n in enumerate(sizes)}


def _panel(ax, summary: pd.DataFrame, metric: str) -> None:
    """One metric vs L1 coefficient, a line (mean) and band (+- s.e.m.) per arm."""
    for arm in [a for a in ARMS if a in set(summary["arm"])]:
        sub = summary[summary["arm"] == arm].sort_values("l1_coef")
        mean = sub[f"{metric}_mean"].to_numpy(dtype=float)
        if np.all(np.isnan(mean)):
            continue
        sem = np.nan_to_num(sub[f"{metric}_sem"].to_numpy(dtype=float))
        x = sub["l1_coef"].to_numpy(dtype=float)
        (line,) = ax.plot(x, mean, ms=3, lw=1.2, label=ARM_LABELS.get(arm, arm), **ARM_STYLES[arm])
        ax.fill_between(x, mean - sem, mean + sem, color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xscale("log")
    values = summary[f"{metric}_mean"].to_numpy(dtype=float)
    if metric in LOG_METRICS and (values > 0).any():
        # symlog keeps dead SAEs (exactly 0) on the axis; all these metrics are >= 0.
        ax.set_yscale("symlog", linthresh=float(np.nanmin(values[values > 0])))
        ax.set_ylim(bottom=0)
    ax.set_xlabel("L1 coefficient")
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.grid(alpha=0.3)


def plot_grid(summary: pd.DataFrame, metrics: list[str], title: str, ncols: int = 4) -> Figure:
    """Appendix style, one dictionary size: a panel per metric, lines = arms."""
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    for k, metric in enumerate(metrics):
        _panel(axes.flat[k], summary, metric)
    for ax in list(axes.flat)[len(metrics) :]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_2d(panels: dict[str, pd.DataFrame], lim: float) -> Figure:
    """Fig 3: sparse inputs (3 Lomax features, 3-D), the dense 2-D inputs, and the outputs of
    the random 2 -> 8 -> 2 MLP."""
    fig = plt.figure(figsize=(10.5, 3.6))
    order = [
        ("sparse_inputs", "(a) sparse inputs (3 features)"),
        ("dense_inputs", "(b) dense inputs (2-D)"),
        ("dense_outputs", "(c) random-MLP outputs"),
    ]
    for k, (name, label) in enumerate(order, start=1):
        df = panels[name]
        if df.shape[1] == 3:
            ax = fig.add_subplot(1, 3, k, projection="3d")
            ax.scatter(df.iloc[:, 0], df.iloc[:, 1], df.iloc[:, 2], s=0.5, alpha=0.5)
            ax.set_zlim(-lim, lim)
        else:
            ax = fig.add_subplot(1, 3, k)
            ax.scatter(df.iloc[:, 0], df.iloc[:, 1], s=0.3, alpha=0.5)
            ax.set_aspect("equal")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    return fig


def plot_fig4(data: pd.DataFrame) -> Figure:
    """Fig 4: MMCS of the decoder with the ground-truth features vs L1 coefficient on the
    superposed data (the ``plain`` arm), a line (mean, band +- std over seeds) per dictionary
    size; dotted: a one-direction dictionary (the data mean), the bar for any recovery."""
    sub = data[data["arm"] == "plain"]
    colors = size_colors(sub["n_latents"].unique())
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for n, part in sub.groupby("n_latents", sort=True):
        part = part.sort_values("l1_coef")
        x = part["l1_coef"].to_numpy(dtype=float)
        y = part["mmcs_mean"].to_numpy(dtype=float)
        sd = np.nan_to_num(part["mmcs_std"].to_numpy(dtype=float))
        ax.plot(x, y, marker="o", ms=3, lw=1.3, color=colors[int(n)], label=f"{n} latents")
        ax.fill_between(x, y - sd, y + sd, color=colors[int(n)], alpha=0.2, lw=0)
        if "mmcs_baseline_mean" in part.columns:
            base = float(part["mmcs_baseline_mean"].mean())
            ax.axhline(base, color=colors[int(n)], ls=":", lw=1.0)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("L1 coefficient")
    ax.set_ylabel("MMCS")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    n_seeds = int(sub["n_seeds"].min()) if len(sub) else 0
    ax.set_title(
        f"Recovery of the ground-truth features\n(mean +- std over {n_seeds} seeds; "
        "dotted: one direction, the data mean)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _frontier_panel(ax, table: pd.DataFrame, measure: str, legend: bool) -> None:
    """EV vs one sparsity measure: every sweep point faint, the Pareto frontier as a line."""
    for arm in [a for a in ARMS if a in set(table["arm"])]:
        sub = table[table["arm"] == arm].sort_values("sparsity")
        style = ARM_STYLES[arm]
        ax.scatter(
            sub["sparsity"],
            sub["ev"],
            s=8,
            alpha=0.3,
            color=style["color"],
            marker=style["marker"],
            lw=0,
        )
        front = sub[sub["on_frontier"]]
        ax.plot(
            front["sparsity"],
            front["ev"],
            color=style["color"],
            ls=style["linestyle"],
            marker=style["marker"],
            ms=3,
            lw=1.3,
            label=ARM_LABELS.get(arm, arm),
        )
        if {"ev_std", "sparsity_std"} <= set(front.columns):  # spread over seeds
            ax.errorbar(front["sparsity"], front["ev"], xerr=front["sparsity_std"].fillna(0),
                        yerr=front["ev_std"].fillna(0), fmt="none", ecolor=style["color"],
                        elinewidth=0.7, alpha=0.6)  # fmt: skip
    positive = table["sparsity"].to_numpy(dtype=float)
    if measure in ("l0", "l1", "l1_over_sqrt_l2") and (positive > 0).any():
        ax.set_xscale("symlog", linthresh=float(np.nanmin(positive[positive > 0])))
    ax.set_xlabel(f"{LABELS[measure]} ({'higher' if measure == 'hoyer' else 'lower'} = sparser)")
    ax.set_ylabel("explained variance")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7)


def plot_frontiers(table: pd.DataFrame, title: str) -> Figure:
    """Frontier figure of one dataset: rows = dictionary sizes, columns = the sparsity measures
    (L0, L1, L1/sqrt(L2), Hoyer), lines = arms."""
    measures = [m for m in ("l0", "l1", "l1_over_sqrt_l2", "hoyer") if m in set(table["measure"])]
    sizes = sorted(table["n_latents"].unique())
    fig, axes = plt.subplots(
        len(sizes), len(measures), figsize=(3.3 * len(measures), 2.8 * len(sizes)), squeeze=False
    )
    for i, n in enumerate(sizes):
        for j, measure in enumerate(measures):
            sub = table[(table["n_latents"] == n) & (table["measure"] == measure)]
            _frontier_panel(axes[i, j], sub, measure, legend=(i == 0 and j == 0))
            axes[i, j].set_title(f"{n} latents", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_fig5(table: pd.DataFrame) -> Figure:
    """Fig 5: EV vs L0 frontiers, a panel per dataset (a, b, ...) at its largest size."""
    datasets = list(dict.fromkeys(table["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.0 * len(datasets), 3.3), squeeze=False)
    for k, (ax, ds) in enumerate(zip(axes[0], datasets, strict=True)):
        sub = table[table["dataset"] == ds]
        _frontier_panel(ax, sub, "l0", legend=(k == 0))
        n = int(sub["n_latents"].iloc[0])
        ax.set_title(f"({chr(ord('a') + k)}) {dataset_label(ds)}, {n} latents", fontsize=9)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, data: pd.DataFrame, pdf: str, png: str, csv: str) -> None:
    """A toy rule's pdf/png/csv outputs through the one figure writer
    (:func:`randsae.figures.plotting.save_figure`); the three share one base name."""
    from randsae.figures.plotting import save_figure as save

    base = Path(pdf).with_suffix("")
    if {Path(png), Path(csv)} != {base.with_suffix(".png"), base.with_suffix(".csv")}:
        raise ValueError(f"figure outputs must share a base name: {pdf}, {png}, {csv}")
    save(fig, data, base, ("pdf", "png"))
