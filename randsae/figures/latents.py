"""v2 Fig 20: per-latent token entropy against fuzzing AUROC, with each panel's Spearman rho."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN for fewer than 3 finite pairs."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return float("nan")
    rx = pd.Series(x[ok]).rank().to_numpy()
    ry = pd.Series(y[ok]).rank().to_numpy()
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def plot_entropy_vs_auroc(
    latents: pd.DataFrame,
    out_base: str | Path,
    *,
    scorer: str = "fuzzing",
    title: str | None = None,
    formats: list[str] | None = None,
) -> Any:
    """v2 Fig 20: per-latent token entropy (x) vs ``scorer`` AUROC (y) for one model; one panel
    per layer, one colour per init, each init's Spearman rank correlation in the legend.
    Writes ``out_base.{formats,csv}`` (the CSV: the plotted latents plus each panel's rho)."""
    import matplotlib.pyplot as plt

    from randsae.figures.plotting import label_panel_grid, save_figure
    from randsae.figures.style import CHANCE_STYLE, init_label, init_style, ordered_inits

    y_col = f"{scorer}_auroc"
    data = latents[["model", "init", "layer", "latent", "token_entropy", y_col]].copy()
    data["spearman_rho"] = np.nan
    for (_i, _l), g in data.groupby(["init", "layer"]):
        data.loc[g.index, "spearman_rho"] = spearman(g["token_entropy"], g[y_col])
    layers = sorted(data["layer"].unique()) if len(data) else [0]
    ncols = min(4, len(layers))
    nrows = -(-len(layers) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 3.0 * nrows), squeeze=False, sharex=True, sharey=True
    )
    for ax in axes.flat[len(layers) :]:
        ax.axis("off")
    for ax, layer in zip(axes.flat, layers, strict=False):
        sub = data[data["layer"] == layer]
        for init in ordered_inits(sub["init"]):
            d = sub[sub["init"] == init]
            rho = d["spearman_rho"].iloc[0]
            ax.scatter(d["token_entropy"], d[y_col], s=9, alpha=0.75,
                       color=init_style(init)["color"], marker=init_style(init)["marker"],
                       label=f"{init_label(init, short=True)}: ρ={rho:.2f}")  # fmt: skip
        ax.axhline(0.5, **CHANCE_STYLE)
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.legend(fontsize=5.5, frameon=False, loc="best", title="Spearman ρ",
                  title_fontsize=6)  # fmt: skip
        ax.grid(alpha=0.3)
    label_panel_grid(axes, "token entropy (nats)", f"{scorer} AUROC")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, data, out_base, formats or ["pdf", "png"])
    return fig
