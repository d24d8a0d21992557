"""The per-latent table (``results/tables/latents.csv``) and v2's token-distribution entropy.

Token entropy as v2 defines it (App H; ``docs/metrics.md``): the distribution of a latent's total
activation over token ids across the **explainer windows** (the windows the explain step sees),
``p(t) = Σ_{i∈E} a_i [tok_i = t] / Σ_{i∈E} a_i`` over the active positions ``E`` of those windows,
and ``H = −Σ_t p(t) log p(t)`` in nats. It is ``token_entropy`` in the tables and figures; the
older held-out-token measures keep their names (``entropy_all``, ``entropy_weighted``,
``entropy_topN``, ``token_r2``, from ``eval_sae``) and are merged into the same rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from randsae.report.roc import per_latent_auroc

LATENT_COLUMNS = [
    "model",
    "init",
    "layer",
    "latent",
    "token_entropy",
    "fuzzing_auroc",
    "detection_auroc",
    "n_windows",
]
"""Columns other stages read by name (claims, distinguishability): do not rename."""

HELD_OUT_MEASURES = ("entropy_all", "entropy_weighted", "entropy_topN", "token_r2")


def token_entropy(windows: Iterable[dict[str, Any]]) -> float:
    """v2 token-distribution entropy (nats) of one latent over its explainer ``windows`` (each
    with parallel ``tokens`` and ``acts`` lists); NaN when no position is active."""
    mass: dict[int, float] = defaultdict(float)
    for w in windows:
        for tok, act in zip(w["tokens"], w["acts"], strict=True):
            if act > 0:
                mass[int(tok)] += float(act)
    if not mass:
        return float("nan")
    p = np.fromiter(mass.values(), dtype=np.float64)
    p = p / p.sum()
    return max(0.0, float(-(p * np.log(p)).sum()))  # no -0.0 for a single token


def examples_rows(model: str, init: str, layer: int, examples: dict[str, Any]) -> pd.DataFrame:
    """One row per sampled latent of a cell's examples JSON: token_entropy, n_explain_windows,
    n_activating_windows, max_act."""
    rows = [
        {
            "model": model,
            "init": init,
            "layer": int(layer),
            "latent": int(rec["latent"]),
            "token_entropy": token_entropy(rec["explain"]),
            "n_explain_windows": len(rec["explain"]),
            "n_activating_windows": int(rec["n_activating_windows"]),
            "max_act": float(rec["max_act"]),
        }
        for rec in examples["latents"]
    ]
    cols = ["model", "init", "layer", "latent", "token_entropy", "n_explain_windows"]
    return pd.DataFrame(rows, columns=cols + ["n_activating_windows", "max_act"])


def held_out_rows(model: str, init: str, layer: int, latents_csv: str | Path) -> pd.DataFrame:
    """``eval_sae``'s per-latent measures (one CSV row per latent index) with the cell keys."""
    df = pd.read_csv(latents_csv)
    keep = [c for c in HELD_OUT_MEASURES if c in df.columns]
    out = df[keep].copy()
    out.insert(0, "latent", df["latent"] if "latent" in df.columns else np.arange(len(df)))
    out.insert(0, "layer", int(layer))
    out.insert(0, "init", init)
    out.insert(0, "model", model)
    return out


def latent_table(
    cells: list[tuple[str, str, int]],
    examples_jsons: list[str | Path],
    windows: pd.DataFrame,
    held_out_csvs: list[str | Path] | None = None,
) -> pd.DataFrame:
    """The per-latent table of every cell: the examples' latents, v2 token entropy, fuzzing and
    detection AUROC per latent (NaN when undefined or not scored), ``n_windows`` = scored fuzzing
    windows (``n_detection_windows`` likewise), plus the held-out measures when given."""
    ex = pd.concat(
        [
            examples_rows(m, i, layer, json.loads(Path(p).read_text()))
            for (m, i, layer), p in zip(cells, examples_jsons, strict=True)
        ],
        ignore_index=True,
    )
    keys = ["model", "init", "layer", "latent"]
    per = per_latent_auroc(windows) if len(windows) else None
    for scorer in ("fuzzing", "detection"):
        if per is not None and (per["scorer"] == scorer).any():
            s = per[per["scorer"] == scorer][[*keys, "auroc", "n_windows"]]
        else:
            s = pd.DataFrame(columns=[*keys, "auroc", "n_windows"])
        s = s.rename(columns={"auroc": f"{scorer}_auroc", "n_windows": f"n_{scorer}_windows"})
        s = s.astype({"layer": int, "latent": int})
        ex = ex.merge(s, on=keys, how="left")
    ex["n_windows"] = ex.pop("n_fuzzing_windows").fillna(0).astype(int)
    ex["n_detection_windows"] = ex["n_detection_windows"].fillna(0).astype(int)
    ex[["fuzzing_auroc", "detection_auroc"]] = ex[["fuzzing_auroc", "detection_auroc"]].astype(
        float
    )
    if held_out_csvs:
        held = pd.concat(
            [
                held_out_rows(m, i, layer, p)
                for (m, i, layer), p in zip(cells, held_out_csvs, strict=True)
            ],
            ignore_index=True,
        )
        ex = ex.merge(held, on=keys, how="left")
    rest = [c for c in ex.columns if c not in LATENT_COLUMNS]
    return ex[LATENT_COLUMNS + rest].sort_values(keys).reset_index(drop=True)


def entropy_summary(latents: pd.DataFrame, n_bootstrap: int, seed: int) -> pd.DataFrame:
    """Mean v2 token entropy per (model, init, layer) with a percentile bootstrap 95% CI over
    latents (the grid's last row)."""
    from randsae.config import stable_seed

    rows = []
    for (model, init, layer), g in latents.groupby(["model", "init", "layer"], sort=True):
        v = g["token_entropy"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        lo = hi = float("nan")
        if len(v) and n_bootstrap > 0:
            rng = np.random.default_rng(stable_seed(seed, "entropy", model, init, layer))
            boot = v[rng.integers(0, len(v), (n_bootstrap, len(v)))].mean(axis=1)
            lo, hi = float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))
        rows.append(
            {
                "model": model,
                "init": init,
                "layer": int(layer),
                "token_entropy": float(v.mean()) if len(v) else float("nan"),
                "token_entropy_ci_low": lo,
                "token_entropy_ci_high": hi,
                "n_latents": len(v),
            }
        )
    return pd.DataFrame(rows)


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

    from randsae.report.plotting import label_panel_grid, save_figure
    from randsae.report.style import CHANCE_STYLE, init_label, init_style, ordered_inits

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
