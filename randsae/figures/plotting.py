"""Paper-style figures: one panel per model (size), x = layer, one line per init.

Every figure is written as PDF and PNG together with the CSV of exactly the data it plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

from randsae.io import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from randsae.figures.style import (  # noqa: E402
    CHANCE_STYLE,
    init_label,
    init_style,
    metric_label,
    ordered_inits,
)


def _style(init: str) -> dict[str, Any]:
    return init_style(init)


def _model_order(df: pd.DataFrame) -> list[str]:
    if "n_params" in df.columns and df["n_params"].notna().all():
        return list(df.sort_values("n_params")["model"].drop_duplicates())
    return list(df["model"].drop_duplicates())


def save_figure(
    fig: Any, data: pd.DataFrame, out_base: str | Path, formats: Sequence[str] = ("pdf", "png")
) -> list[Path]:
    """The one figure writer: ``<out_base>.<fmt>`` for each format plus ``<out_base>.csv`` (exactly
    the plotted data), each written atomically; closes the figure and returns the paths."""
    out_base = Path(out_base)
    paths = []
    for fmt in formats:
        p = out_base.with_name(f"{out_base.name}.{fmt}")
        with atomic_path(p) as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight", dpi=150)
        paths.append(p)
    csv = out_base.with_name(f"{out_base.name}.csv")
    with atomic_path(csv) as tmp:
        data.to_csv(tmp, index=False)
    plt.close(fig)
    return [*paths, csv]


def label_panel_grid(axes: Any, xlabel: str, ylabel: str) -> None:
    """Axis labels of a panel grid: x on the bottom row, y on the left column; every panel keeps
    its x tick labels (a panel above an empty slot would lose them under ``sharex``)."""
    for ax in axes.flat:
        ax.xaxis.set_tick_params(labelbottom=True)
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)


def metric_vs_layer(
    df: pd.DataFrame,
    metric: str,
    out_base: str | Path,
    *,
    ylabel: str | None = None,
    ci: tuple[str, str] | None = None,
    title: str | None = None,
    formats: list[str] | None = None,
    chance: float | None = None,
) -> Any:
    """Plot ``metric`` against layer, one panel per model, one line per init (optional CI band,
    optional dotted chance line at ``chance``); colours from :mod:`randsae.figures.style`.

    Where ``df`` has a ``<metric>_flagged`` column (CE/KL scores with a near-zero denominator,
    :func:`randsae.tables.aggregate.flag_small_denominators`), flagged points are drawn as open
    markers off the line; the CSV keeps their raw values and the flag.
    """
    if metric not in df.columns:
        raise ValueError(f"no column {metric!r} to plot")
    models = _model_order(df)
    flag = f"{metric}_flagged"
    cols = ["model", "init", "layer", metric, *(ci or ()), flag]
    data = df[[c for c in cols if c in df.columns]].sort_values(["model", "init", "layer"])
    flagged = data[flag].astype(bool) if flag in data.columns else pd.Series(False, data.index)
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.4), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        sub = data[data["model"] == model]
        for init in ordered_inits(sub["init"]):
            s = sub[sub["init"] == init]
            bad = flagged.loc[s.index]
            ax.plot(s["layer"], s[metric].where(~bad), label=init_label(init), **_style(init))
            if bad.any():
                style = _style(init)
                ax.scatter(
                    s.loc[bad, "layer"],
                    s.loc[bad, metric],
                    marker=style.get("marker", "o"),
                    facecolors="none",
                    edgecolors=style.get("color", "gray"),
                    label=f"{init_label(init)} (denominator < threshold)",
                )
            if ci and all(c in s.columns for c in ci):
                ax.fill_between(
                    s["layer"], s[ci[0]], s[ci[1]], alpha=0.15, color=_style(init).get("color")
                )
        if chance is not None:
            ax.axhline(chance, **CHANCE_STYLE)
        ax.set_title(model)
        ax.set_xlabel("layer")
        ax.set_xticks(sorted(sub["layer"].unique()))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(ylabel or metric)
    axes[0][-1].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    save_figure(fig, data, out_base, formats or ["pdf", "png"])
    return fig


#: Panels of the init-sweep figure: SAE metrics (per SAE) and abstractness medians (per layer).
SWEEP_METRICS = (
    ("explained_variance", metric_label("explained_variance"), "sae"),
    ("ce_loss_score", metric_label("ce_loss_score"), "sae"),
    ("entropy_all", f"{metric_label('entropy_all')}, median", "abs"),
    ("token_r2", f"{metric_label('token_r2')}, median", "abs"),
)


def init_sweep_figure(
    sae_metrics: pd.DataFrame,
    abstractness: pd.DataFrame,
    out_base: str | Path,
    formats: list[str] | None = None,
) -> Any:
    """Init-scale sweep: metric (mean over layers) vs scale, one line per distribution, with
    ``trained`` as a horizontal reference line; one panel per metric."""
    from randsae.models.inits import parse_init

    ab = abstractness.pivot_table(
        index=["model", "init", "layer"], columns="measure", values="median"
    ).reset_index()
    df = sae_metrics.merge(ab, on=["model", "init", "layer"], how="left")
    specs = {i: parse_init(i) for i in df["init"].unique()}
    df["base"] = df["init"].map(lambda i: specs[i].base)
    df["scale"] = df["init"].map(lambda i: specs[i].scale)
    df["distribution"] = df["init"].map(lambda i: specs[i].distribution)
    cols = [m for m, _, _ in SWEEP_METRICS if m in df.columns]
    data = df.groupby(["model", "base", "distribution", "scale"], as_index=False)[cols].mean()
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.4), squeeze=False)
    for ax, (metric, label, _) in zip(
        axes[0], [s for s in SWEEP_METRICS if s[0] in cols], strict=True
    ):
        rr = data[data["base"].str.startswith("rerandomized")]
        for (base, dist), sub in rr.groupby(["base", "distribution"]):
            sub = sub.sort_values("scale")
            ax.plot(sub["scale"], sub[metric], marker="o", label=f"{base} {dist}")
        ref = data[data["base"] == "trained"][metric]
        if len(ref):
            ax.axhline(
                float(ref.mean()),
                color=init_style("trained")["color"],
                linestyle="--",
                label="trained",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("init scale (x std)")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    save_figure(fig, data, out_base, formats or ["pdf", "png"])
    return fig
