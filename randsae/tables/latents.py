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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from randsae.autointerp.measures import token_entropy
from randsae.tables.roc import per_latent_auroc

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
    from randsae.seeds import stable_seed

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
