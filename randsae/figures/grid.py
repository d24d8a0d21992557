"""The Fig-2 grid (v2): columns = models (by size), rows = metrics against layer, a line per
variant (init) with a CI band. Also drawn for the appendix experiments (Figs 15–19), where a
column is an SAE variant (App D, F, G) or a model whose SAE seeds are pooled into a band (App E).

Rows (v2 Fig 2): explained variance, cosine similarity (activation vs reconstruction), L1 of the
latents, fuzzing AUROC, detection AUROC, CE-loss score, token entropy. Bands: the 95% bootstrap CI
over latents for the AUROC rows (pooled AUROC) and the entropy row (mean over latents); the
SAE-metric rows have one value per SAE, so a band appears only where several seeds are pooled
(min–max over seeds). CE-loss scores flagged as ill-conditioned (a near-zero denominator,
``ce_loss_score_flagged`` of the sae_metrics table) are drawn as open markers off the line, as in
the per-metric plots (``randsae.figures.plotting.metric_vs_layer``); the CSV keeps their values and
the flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from randsae.figures.style import metric_label

GRID_ROWS: tuple[tuple[str, str], ...] = tuple(
    (metric, metric_label(metric))
    for metric in (
        "explained_variance",
        "cossim",
        "l1",
        "fuzzing_auroc",
        "detection_auroc",
        "ce_loss_score",
        "token_entropy",
    )
)
LONG_COLUMNS = ["model", "init", "layer", "metric", "value", "ci_low", "ci_high", "flagged"]


def grid_long_table(
    sae_metrics: pd.DataFrame, autointerp: pd.DataFrame, entropy: pd.DataFrame
) -> pd.DataFrame:
    """Every grid value in long format (model, init, layer, metric, value, ci_low, ci_high,
    flagged: the metric's ``<metric>_flagged`` column of sae_metrics where it has one, else False).

    ``sae_metrics``: the sae_metrics table; ``autointerp``: the autointerp table (rows with
    ``scorer`` fuzzing / detection, ``auroc_pooled`` and its CI); ``entropy``: the output of
    :func:`randsae.tables.latents.entropy_summary`.
    """
    keys = ["model", "init", "layer"]
    frames = []
    for metric in ("explained_variance", "cossim", "l1", "ce_loss_score"):
        if metric in sae_metrics.columns:
            d = sae_metrics[keys].copy()
            d["metric"], d["value"] = metric, sae_metrics[metric].astype(float)
            d["ci_low"] = d["ci_high"] = np.nan
            flag = f"{metric}_flagged"
            d["flagged"] = sae_metrics[flag].astype(bool) if flag in sae_metrics.columns else False
            frames.append(d)
    for scorer in ("fuzzing", "detection"):
        a = autointerp[autointerp["scorer"] == scorer] if len(autointerp) else autointerp
        if len(a):
            d = a[keys].copy()
            d["metric"], d["value"] = f"{scorer}_auroc", a["auroc_pooled"].astype(float)
            d["ci_low"] = a.get("auroc_pooled_ci_low", np.nan)
            d["ci_high"] = a.get("auroc_pooled_ci_high", np.nan)
            frames.append(d)
    if len(entropy):
        d = entropy[keys].copy()
        d["metric"], d["value"] = "token_entropy", entropy["token_entropy"]
        d["ci_low"], d["ci_high"] = (
            entropy["token_entropy_ci_low"],
            entropy["token_entropy_ci_high"],
        )
        frames.append(d)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=LONG_COLUMNS)
    out["flagged"] = out["flagged"].astype("boolean").fillna(False).astype(bool)
    return out[LONG_COLUMNS].reset_index(drop=True)


def pool_columns(long: pd.DataFrame, columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Map each model to its figure column (``columns``: model -> column label; default: the model
    itself) and pool models sharing a column: value = mean over them, band = min–max over them
    (several SAE seeds, App E); a column of one model keeps its CI. ``flagged``: any pooled
    value is flagged."""
    long = long.copy()
    if "flagged" not in long.columns:
        long["flagged"] = False
    long["column"] = long["model"].map(lambda m: (columns or {}).get(m, m))
    keys = ["column", "init", "layer", "metric"]
    rows = []
    for key, g in long.groupby(keys, sort=False):
        if len(g) == 1:
            r = g.iloc[0]
            rows.append((*key, r["value"], r["ci_low"], r["ci_high"], 1, bool(r["flagged"])))
        else:
            v = g["value"].to_numpy(dtype=float)
            flag = bool(g["flagged"].astype(bool).any())
            rows.append((*key, np.nanmean(v), np.nanmin(v), np.nanmax(v), len(g), flag))
    cols = [*keys, "value", "band_low", "band_high", "n_pooled", "flagged"]
    return pd.DataFrame(rows, columns=cols)


def plot_grid(
    long: pd.DataFrame,
    out_base: str | Path,
    *,
    columns: Mapping[str, str] | None = None,
    column_order: Sequence[str] | None = None,
    rows: Sequence[tuple[str, str]] = GRID_ROWS,
    formats: Sequence[str] = ("pdf", "png"),
    title: str | None = None,
) -> Any:
    """Draw the grid from :func:`grid_long_table` output; writes ``out_base.{formats,csv}`` (the
    CSV holds exactly the pooled values drawn) and returns the Figure. Rows with no data at all
    are kept (empty panels say "no data") so every grid has the paper's seven rows."""
    import matplotlib.pyplot as plt

    from randsae.figures.plotting import save_figure
    from randsae.figures.style import CHANCE_STYLE, init_label, init_style, ordered_inits

    data = pool_columns(long, columns)
    cols = list(column_order or dict.fromkeys(data["column"]))
    inits = ordered_inits(data["init"])
    fig, axes = plt.subplots(
        len(rows), len(cols), figsize=(2.9 * len(cols) + 0.6, 1.9 * len(rows)), squeeze=False
    )
    for r, (metric, label) in enumerate(rows):
        for c, col in enumerate(cols):
            ax = axes[r][c]
            sub = data[(data["metric"] == metric) & (data["column"] == col)]
            for init in inits:
                d = sub[sub["init"] == init].sort_values("layer")
                if not len(d):
                    continue
                st = init_style(init)
                bad = d["flagged"].astype(bool)
                ax.plot(d["layer"], d["value"].where(~bad), ms=3, label=init_label(init), **st)
                if bad.any():  # ill-conditioned CE scores: open markers off the line
                    ax.scatter(d.loc[bad, "layer"], d.loc[bad, "value"], s=14,
                               marker=st.get("marker", "o"), facecolors="none",
                               edgecolors=st["color"],
                               label=f"{init_label(init)} (denominator < threshold)")  # fmt: skip
                ok = d["band_low"].notna() & d["band_high"].notna() & ~bad
                if ok.any():
                    ax.fill_between(
                        d["layer"][ok], d["band_low"][ok], d["band_high"][ok],
                        color=st["color"], alpha=0.18, lw=0,
                    )  # fmt: skip
            if metric.endswith("_auroc"):
                ax.axhline(0.5, **CHANCE_STYLE)
            if not len(sub):
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            if r == 0:
                ax.set_title(str(col), fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel("layer")
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            ax.xaxis.get_major_locator().set_params(integer=True)
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)) or 1, fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 1.0))  # fmt: skip
    if title:
        fig.suptitle(title, y=1.04)
    fig.tight_layout()
    save_figure(fig, data, out_base, list(formats))
    return fig


def variant_columns(models_cfg: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Figure column of each model from the ``models`` config. A model's column is its name (or
    its ``variant_of`` base) followed by its ``sae`` overrides (e.g. ``pythia-160m R=16 k=32``);
    a model with ``variant_of`` and no ``sae`` block is a seed replicate and joins its base
    model's column, where the replicates are pooled into a band."""
    short = {"expansion_factor": "R", "k": "k", "n_tokens": "tokens"}

    def label(name: str) -> str:
        m = models_cfg[name]
        parts = [f"{short.get(k, k)}={_fmt(v)}" for k, v in sorted((m.get("sae") or {}).items())]
        return " ".join([m.get("variant_of") or name, *parts])

    return {
        name: label(m["variant_of"]) if m.get("variant_of") and not m.get("sae") else label(name)
        for name, m in models_cfg.items()
    }


def _fmt(v: Any) -> str:
    if isinstance(v, int) and v >= 1_000_000:
        for unit, div in (("B", 10**9), ("M", 10**6)):
            if v >= div and v % div == 0:
                return f"{v // div}{unit}"
    return str(v)
