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

from randsae.report.plotting import save_figure  # noqa: E402

METRIC_LABELS = {
    "explained_variance": "explained variance (mean-centred)",
    "explained_variance_legacy": "explained variance (legacy, per token)",
    "fvu": "FVU",
    "ce_loss_score": "CE loss score",
    "ce_loss_increase": "CE loss increase (nats)",
    "kl_div_score": "KL divergence score",
    "l0": "L0",
    "frac_dead": "dead fraction",
    "entropy_all": "token entropy, all activations (nats)",
    "entropy_weighted": "token entropy, activation-weighted (nats)",
    "entropy_topN": "token entropy, top-N activations (nats)",
    "token_r2": "token-identity R²",
}
from randsae.report.style import INIT_ORDER  # noqa: E402

KEY_COLS = ["model", "n_params", "init", "layer"]


def _inits(df: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(df["init"]))
    return [i for i in INIT_ORDER if i in present] + [i for i in present if i not in INIT_ORDER]


def _models(df: pd.DataFrame) -> list[str]:
    return list(df.sort_values("n_params").drop_duplicates("model")["model"])


def _colors(inits: Sequence[str]) -> dict[str, Any]:
    """The shared paper colours (randsae.report.style) of each init."""
    from randsae.report.style import init_color

    return {init: init_color(init) for init in inits}


def _check_cols(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"missing columns {missing}; have {list(df.columns)}")


def density_hist_rows(
    metrics: dict[str, Any], *, model: str, n_params: int, init: str, layer: int
) -> pd.DataFrame:
    """Rows of the density-histogram table from one ``evaluate_sae`` result: columns model,
    n_params, init, layer, bin_lo, bin_hi (log10 firing frequency), n_latents, frac_latents
    (fraction of *all* latents; dead latents are in ``n_dead``, not in any bin)."""
    counts = np.asarray(metrics["density_hist_counts"])
    edges = np.asarray(metrics["density_hist_edges_log10"])
    return pd.DataFrame(
        {
            "model": model,
            "n_params": n_params,
            "init": init,
            "layer": layer,
            "bin_lo": edges[:-1],
            "bin_hi": edges[1:],
            "n_latents": counts,
            "frac_latents": counts / float(metrics["d_sae"]),
        }
    )


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
    models, inits = _models(data), _inits(data)
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
    models, inits = _models(data), _inits(data)
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
                ax.set_ylabel(METRIC_LABELS.get(meas, meas), fontsize=8)
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][-1].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    save_figure(fig, data, out_base, formats)
    return fig
