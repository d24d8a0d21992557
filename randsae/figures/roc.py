"""ROC-curve figures (v2 Figs 1, 6–14) from the rows of ``results/tables/roc_curves.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def plot_roc_curves(
    curves: pd.DataFrame,
    out_base: str | Path,
    *,
    title: str | None = None,
    formats: list[str] | None = None,
) -> Any:
    """ROC curves of one (model, scorer): one panel per layer, one curve per init, AUC and its
    bootstrap CI in the legend, chance dotted (v2 Figs 1, 6–14). ``curves``: rows of
    :func:`randsae.tables.roc.roc_table` for one model and scorer. Writes ``out_base.{formats,csv}``."""
    import matplotlib.pyplot as plt

    from randsae.figures.plotting import label_panel_grid, save_figure
    from randsae.figures.style import CHANCE_STYLE, init_label, init_style, ordered_inits

    layers = sorted(curves["layer"].unique()) if len(curves) else []
    n = max(1, len(layers))
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols, 3.2 * nrows), squeeze=False, sharex=True, sharey=True
    )
    for ax in axes.flat[len(layers) :]:
        ax.axis("off")
    if not layers:
        axes[0][0].axis("on")
        axes[0][0].text(0.5, 0.5, "no scored windows", ha="center", va="center")
    for ax, layer in zip(axes.flat, layers, strict=False):
        sub = curves[curves["layer"] == layer]
        for init in ordered_inits(sub["init"]):
            d = sub[sub["init"] == init]
            st = init_style(init)
            st.pop("marker", None)
            auc, lo, hi = d["auc"].iloc[0], d["auc_ci_low"].iloc[0], d["auc_ci_high"].iloc[0]
            ci = f" [{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
            ax.plot(
                d["fpr"],
                d["tpr"],
                label=f"{init_label(init, short=True)}: {auc:.2f}{ci}",
                lw=1.3,
                **st,
            )
        ax.plot([0, 1], [0, 1], **CHANCE_STYLE)
        ax.set_title(f"layer {layer}", fontsize=9)
        ax.set_aspect("equal")
        ax.legend(fontsize=6, loc="lower right", frameon=False, handlelength=1.5)
        ax.grid(alpha=0.3)
    label_panel_grid(axes, "false positive rate", "true positive rate")
    fig.suptitle((f"{title}; " if title else "") + "legend: AUC [95% bootstrap CI over latents]",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    save_figure(fig, curves, out_base, formats or ["pdf", "png"])
    return fig
