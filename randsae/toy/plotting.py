"""Figures of the toy experiments: pure DataFrame -> Figure functions, plus a saver."""

from __future__ import annotations

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
}
ARM_LABELS = {
    "plain": "data",
    "ffn": "data + random FFN",
    "gaussian": "Gaussian control",
    "gaussian_ffn": "Gaussian + random FFN",
}
LOG_METRICS = {"mse", "l1", "l2", "l1_over_sqrt_l2"}


def _panel(ax, summary: pd.DataFrame, metric: str) -> None:
    """One metric vs L1 coefficient, a line (mean) and band (+- s.e.m.) per arm."""
    for arm in [a for a in ARMS if a in set(summary["arm"])]:
        sub = summary[summary["arm"] == arm].sort_values("l1_coef")
        mean = sub[f"{metric}_mean"].to_numpy(dtype=float)
        if np.all(np.isnan(mean)):
            continue
        sem = np.nan_to_num(sub[f"{metric}_sem"].to_numpy(dtype=float))
        x = sub["l1_coef"].to_numpy(dtype=float)
        (line,) = ax.plot(x, mean, marker="o", ms=3, lw=1.2, label=ARM_LABELS.get(arm, arm))
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


def plot_main(summary: pd.DataFrame, metrics: list[str], title: str) -> Figure:
    """Main-text style: rows = ``metrics``, columns = dictionary sizes, lines = arms."""
    sizes = sorted(summary["n_latents"].unique())
    fig, axes = plt.subplots(
        len(metrics), len(sizes), figsize=(3.2 * len(sizes), 2.4 * len(metrics)), squeeze=False
    )
    for j, n in enumerate(sizes):
        for i, metric in enumerate(metrics):
            _panel(axes[i, j], summary[summary["n_latents"] == n], metric)
            if i == 0:
                axes[i, j].set_title(f"{n} latents")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


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
    """The 2-D illustration: sparse inputs (3-D), dense inputs, dense outputs, outputs
    mapped back to feature space (3-D)."""
    fig = plt.figure(figsize=(13, 3.4))
    order = [
        ("sparse_inputs", "sparse inputs (3 features)", lim),
        ("dense_inputs", "dense inputs (2-D)", lim),
        ("dense_outputs", "dense outputs (random MLP)", lim),
        ("sparse_outputs", "outputs in feature space (pinv)", lim),
    ]
    for k, (name, label, panel_lim) in enumerate(order, start=1):
        df = panels[name]
        if df.shape[1] == 3:
            ax = fig.add_subplot(1, 4, k, projection="3d")
            ax.scatter(df.iloc[:, 0], df.iloc[:, 1], df.iloc[:, 2], s=0.5, alpha=0.5)
            ax.set_zlim(-panel_lim, panel_lim)
        else:
            ax = fig.add_subplot(1, 4, k)
            ax.scatter(df.iloc[:, 0], df.iloc[:, 1], s=0.3, alpha=0.5)
            ax.set_aspect("equal")
        ax.set_xlim(-panel_lim, panel_lim)
        ax.set_ylim(-panel_lim, panel_lim)
        ax.set_title(label, fontsize=9)
    fig.tight_layout()
    return fig
