"""Figures of SAE quality and abstractness metrics (paper style: one panel per model size,
x = layer, one line per init). Every function writes ``out_base.pdf``, ``out_base.png`` and the
CSV of exactly the data it plots (``out_base.csv``), and returns the Figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from randsae.figures.plotting import save_figure  # noqa: E402
from randsae.figures.style import METRIC_LABELS, init_color, metric_label, ordered_inits  # noqa: E402

KEY_COLS = ["model", "n_params", "init", "layer"]


def _models(df: pd.DataFrame) -> list[str]:
    return list(df.sort_values("n_params").drop_duplicates("model")["model"])


def _colors(inits: Sequence[str]) -> dict[str, Any]:
    return {init: init_color(init) for init in inits}


def _check_cols(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"missing columns {missing}; have {list(df.columns)}")


def plot_density_histograms(
    hist_df: pd.DataFrame, out_base: str | Path, formats: Sequence[str] = ("pdf", "png")
) -> Figure:
    """Latent firing-density histograms, trained vs random inits.

    ``hist_df``: rows from :func:`density_hist_rows` (columns model, n_params, init, layer,
    bin_lo, bin_hi, frac_latents). Grid: one row per model, one column per layer; one step line
    per init (fraction of latents per log10-density bin).
    """
    _check_cols(hist_df, [*KEY_COLS, "bin_lo", "bin_hi", "frac_latents"])
    data = hist_df.sort_values(["n_params", "layer", "init", "bin_lo"]).reset_index(drop=True)
    models, inits = _models(data), ordered_inits(data["init"])
    colors = _colors(inits)
    n_cols = max(data.groupby("model")["layer"].nunique())
    fig, axes = plt.subplots(
        len(models), n_cols, figsize=(2.6 * n_cols, 2.2 * len(models)), squeeze=False, sharex=True
    )
    for r, model in enumerate(models):
        sub = data[data["model"] == model]
        layers = sorted(sub["layer"].unique())
        for c in range(n_cols):
            ax = axes[r][c]
            if c >= len(layers):
                ax.axis("off")
                continue
            d_l = sub[sub["layer"] == layers[c]]
            for init in inits:
                d = d_l[d_l["init"] == init]
                if len(d):
                    x = np.append(d["bin_lo"].to_numpy(), d["bin_hi"].to_numpy()[-1])
                    y = np.append(d["frac_latents"].to_numpy(), d["frac_latents"].to_numpy()[-1])
                    ax.step(x, y, where="post", label=init, color=colors[init], lw=1.2)
            ax.set_title(f"{model} L{layers[c]}", fontsize=8)
            ax.grid(alpha=0.3)
            if r == len(models) - 1:
                ax.set_xlabel("log10 firing frequency")
            if c == 0:
                ax.set_ylabel("fraction of latents")
    axes[0][0].legend(fontsize=6, frameon=False)
    fig.tight_layout()
    save_figure(fig, data, out_base, formats)
    return fig


def plot_abstractness(
    abs_df: pd.DataFrame, out_base: str | Path, formats: Sequence[str] = ("pdf", "png")
) -> Figure:
    """Abstractness measures vs layer: one row per measure, one column per model, one line per
    init (median, with the inter-quartile range shaded).

    ``abs_df``: long-format summary rows from :func:`randsae.evaluate.abstractness.abstractness_rows`
    (columns model, n_params, init, layer, measure, median, q25, q75, ...).
    """
    _check_cols(abs_df, [*KEY_COLS, "measure", "median", "q25", "q75"])
    cols = [*KEY_COLS, "measure", "median", "q25", "q75"]
    cols += [c for c in ("mean", "n_latents") if c in abs_df.columns]
    data = abs_df[cols].sort_values(["measure", "n_params", "init", "layer"]).reset_index(drop=True)
    measures = list(dict.fromkeys(m for m in METRIC_LABELS if m in set(data["measure"])))
    measures += [m for m in dict.fromkeys(data["measure"]) if m not in measures]
    models, inits = _models(data), ordered_inits(data["init"])
    colors = _colors(inits)
    fig, axes = plt.subplots(
        len(measures), len(models), figsize=(3.2 * len(models), 2.4 * len(measures)), squeeze=False
    )
    for r, meas in enumerate(measures):
        for c, model in enumerate(models):
            ax = axes[r][c]
            sub = data[(data["measure"] == meas) & (data["model"] == model)]
            for init in inits:
                d = sub[sub["init"] == init].sort_values("layer")
                if len(d):
                    ax.plot(
                        d["layer"], d["median"], marker="o", ms=3, color=colors[init], label=init
                    )
                    ax.fill_between(d["layer"], d["q25"], d["q75"], color=colors[init], alpha=0.15)
            if r == 0:
                ax.set_title(model)
            if r == len(measures) - 1:
                ax.set_xlabel("layer")
            if c == 0:
                ax.set_ylabel(metric_label(meas), fontsize=8)
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][-1].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    save_figure(fig, data, out_base, formats)
    return fig
