"""ROC curves and per-latent AUROC from the score rule's per-window rows (v2 Figs 1, 6–14).

Each score rule writes one row per scored test window (fields ``scorer``, ``id``, ``latent``,
``label``, ``prob``, ``error``); a failed judgement has ``prob`` null and is left out. A layer's
ROC curve pools every scored window of the layer's latents, as the paper pools its 100 latents;
the AUC's 95% CI is a percentile bootstrap over latents (whole latents are resampled, so the
windows of one latent stay together).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from randsae.autointerp.measures import roc_curve
from randsae.autointerp.scoring import auroc

WINDOW_COLUMNS = ["model", "init", "layer", "scorer", "latent", "label", "prob"]


def read_windows(cells: Iterable[tuple[str, str, int, str | Path]]) -> pd.DataFrame:
    """Per-window rows of many cells: ``cells`` = (model, init, layer, path to the score rule's
    per-window JSONL). Rows whose ``prob`` is null (failed judgements) are dropped."""
    frames = []
    for model, init, layer, path in cells:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        df = pd.DataFrame(rows, columns=["scorer", "latent", "label", "prob"])
        df.insert(0, "layer", int(layer))
        df.insert(0, "init", init)
        df.insert(0, "model", model)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out = out[out["prob"].notna()].copy()
    out["prob"] = out["prob"].astype(float)
    out["label"] = out["label"].astype(int)
    return out.reset_index(drop=True)


def bootstrap_auroc(
    windows: pd.DataFrame, n_bootstrap: int, seed: int, level: float = 0.95
) -> tuple[float, float, float]:
    """Pooled AUROC of ``windows`` (columns latent, label, prob) and its percentile bootstrap CI
    over latents. Returns (auc, low, high); NaN bounds when ``n_bootstrap`` is 0."""
    y = windows["label"].to_numpy()
    p = windows["prob"].to_numpy(dtype=float)
    auc = auroc(y, p)
    if n_bootstrap <= 0 or windows.empty:
        return auc, float("nan"), float("nan")
    groups = [g.index.to_numpy() for _, g in windows.reset_index(drop=True).groupby("latent")]
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_bootstrap):
        idx = np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))])
        stats.append(auroc(y[idx], p[idx]))
    a = (1 - level) / 2
    return auc, float(np.nanquantile(stats, a)), float(np.nanquantile(stats, 1 - a))


def per_latent_auroc(windows: pd.DataFrame) -> pd.DataFrame:
    """AUROC per (model, init, layer, scorer, latent) with the number of scored windows; NaN when
    a latent's windows hold one class only."""
    rows = []
    for key, g in windows.groupby(["model", "init", "layer", "scorer", "latent"], sort=True):
        rows.append((*key, auroc(g["label"].to_numpy(), g["prob"].to_numpy(dtype=float)), len(g)))
    return pd.DataFrame(
        rows, columns=["model", "init", "layer", "scorer", "latent", "auroc", "n_windows"]
    )


def roc_table(windows: pd.DataFrame, n_bootstrap: int, seed: int) -> pd.DataFrame:
    """The ROC curve of every (model, init, layer, scorer) in long format: one row per curve
    point (fpr, tpr) with the curve's AUC, bootstrap CI and window/latent counts repeated."""
    from randsae.seeds import stable_seed

    frames = []
    for (model, init, layer, scorer), g in windows.groupby(
        ["model", "init", "layer", "scorer"], sort=True
    ):
        fpr, tpr = roc_curve(g["label"].to_numpy(), g["prob"].to_numpy(dtype=float))
        auc, lo, hi = bootstrap_auroc(
            g, n_bootstrap, stable_seed(seed, "roc", model, init, layer, scorer)
        )
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "init": init,
                    "layer": int(layer),
                    "scorer": scorer,
                    "fpr": fpr,
                    "tpr": tpr,
                    "auc": auc,
                    "auc_ci_low": lo,
                    "auc_ci_high": hi,
                    "n_latents": g["latent"].nunique(),
                    "n_windows": len(g),
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["model", "init", "layer", "scorer", "fpr", "tpr", "auc", "auc_ci_low"]
            + ["auc_ci_high", "n_latents", "n_windows"]
        )
    return pd.concat(frames, ignore_index=True)
