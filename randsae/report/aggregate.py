"""Aggregation of per-cell results into the paper's tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

KEY_COLUMNS = ["model", "n_params", "init", "layer"]


def _load(path: str | Path) -> dict:
    return json.loads(Path(path).read_text())


def n_params_by_model(init_record_paths: Iterable[str | Path]) -> dict[str, int]:
    """n_params of each model from the ``build_init`` records (identical across inits)."""
    return {rec["model"]: rec["n_params"] for rec in map(_load, init_record_paths)}


def sae_metrics_table(metric_paths: Iterable[str | Path], n_params: dict[str, int]) -> pd.DataFrame:
    """One row per cell with every scalar metric (arrays and nested values are left out)."""
    rows = []
    for path in metric_paths:
        rec = _load(path)
        row = {k: v for k, v in rec.items() if isinstance(v, (int, float, str, bool)) or v is None}
        row["n_params"] = n_params.get(rec["model"])
        rows.append(row)
    df = pd.DataFrame(rows)
    cols = KEY_COLUMNS + sorted(c for c in df.columns if c not in KEY_COLUMNS)
    return df[cols].sort_values(["model", "init", "layer"]).reset_index(drop=True)


def autointerp_table(score_paths: Iterable[str | Path], n_params: dict[str, int]) -> pd.DataFrame:
    """One row per (cell, scorer) from the ``score`` rule's summaries.

    Every score covers the scored latents only; ``n_failed_explanations`` counts the cell's
    latents left out because their explanation failed, ``n_failed`` the failed windows.
    """
    rows = []
    for path in score_paths:
        rec = _load(path)
        for scorer, summary in rec["summary"].items():
            rows.append(
                {
                    "model": rec["model"],
                    "n_params": n_params.get(rec["model"]),
                    "init": rec["init"],
                    "layer": rec["layer"],
                    "backend": rec["backend"],
                    "scorer": scorer,
                    **summary,
                    "n_failed_explanations": int(rec.get("n_failed_explanations", 0)),
                }
            )
    df = pd.DataFrame(rows)
    cols = KEY_COLUMNS + ["backend", "scorer"]
    cols += sorted(c for c in df.columns if c not in cols)
    return df[cols].sort_values(["model", "init", "layer", "scorer"]).reset_index(drop=True)


JUDGE_AGREEMENT_COLUMNS = [
    *KEY_COLUMNS,
    "scorer",
    "judge_a",
    "judge_b",
    "n_latents",
    "auroc_correlation",
    "auroc_spearman",
    "mean_difference",
    "mean_abs_difference",
    "auroc_mean_a",
    "auroc_mean_b",
    "n_failed_windows_b",
]


def judge_agreement_table(
    score_paths: Iterable[str | Path], n_params: dict[str, int]
) -> pd.DataFrame:
    """Per (cell, scorer): agreement of two judges' per-latent AUROCs on the same explanations.

    ``auroc_correlation`` (Pearson) and ``auroc_spearman`` over the latents both judges scored;
    ``mean_difference`` = mean of (judge_a - judge_b), judge_a being ``autointerp.backend``.
    Empty (header only) when no cell has a second judge.
    """
    rows = []
    for path in score_paths:
        rec = _load(path)
        judges = rec.get("judges")
        if not judges:
            continue
        for scorer, res in judges["scorers"].items():
            pairs = np.array(
                [
                    (a, b)
                    for a, b in res["per_latent"].values()
                    if a is not None and b is not None and np.isfinite(a) and np.isfinite(b)
                ],
                dtype=float,
            ).reshape(-1, 2)
            a, b = pairs[:, 0], pairs[:, 1]
            ok = len(pairs) >= 2 and a.std() > 0 and b.std() > 0
            rows.append(
                {
                    "model": rec["model"],
                    "n_params": n_params.get(rec["model"]),
                    "init": rec["init"],
                    "layer": rec["layer"],
                    "scorer": scorer,
                    "judge_a": judges["a"],
                    "judge_b": judges["b"],
                    "n_latents": int(len(pairs)),
                    "auroc_correlation": float(np.corrcoef(a, b)[0, 1]) if ok else np.nan,
                    "auroc_spearman": float(
                        np.corrcoef(pd.Series(a).rank(), pd.Series(b).rank())[0, 1]
                    )
                    if ok
                    else np.nan,
                    "mean_difference": float((a - b).mean()) if len(pairs) else np.nan,
                    "mean_abs_difference": float(np.abs(a - b).mean()) if len(pairs) else np.nan,
                    "auroc_mean_a": float(a.mean()) if len(pairs) else np.nan,
                    "auroc_mean_b": float(b.mean()) if len(pairs) else np.nan,
                    "n_failed_windows_b": int(res.get("n_failed_b", 0)),
                }
            )
    df = pd.DataFrame(rows, columns=JUDGE_AGREEMENT_COLUMNS)
    return df.sort_values(["model", "init", "layer", "scorer"]).reset_index(drop=True)


def failure_totals(autointerp: pd.DataFrame) -> dict[str, int]:
    """Failed explanations (once per cell) and failed windows (all scorers) over the table."""
    if autointerp.empty:
        return {"cells": 0, "failed_explanations": 0, "failed_windows": 0}
    cells = autointerp.drop_duplicates(["model", "init", "layer"])
    return {
        "cells": int(len(cells)),
        "failed_explanations": int(cells["n_failed_explanations"].fillna(0).sum()),
        "failed_windows": int(autointerp.get("n_failed", pd.Series(dtype=float)).fillna(0).sum()),
    }


def check_sane(df: pd.DataFrame, columns: Iterable[str]) -> None:
    """Raise if a required column is missing or entirely non-finite."""
    for col in columns:
        if col not in df.columns:
            raise ValueError(f"table is missing column {col!r}")
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(vals).any():
            raise ValueError(f"column {col!r} has no finite value")


def abstractness_table(
    metric_jsons: Iterable[str | Path],
    latent_csvs: Iterable[str | Path],
    n_params: dict[str, int],
    n_bins: int = 20,
) -> pd.DataFrame:
    """Abstractness per cell: summary rows (mean, median, quartiles; ``row == "summary"``) and the
    distribution as histogram rows (``row == "hist"``, ``bin_lo``, ``bin_hi``, ``count``).

    Entropy bins span [0, ln(vocab)] and R² bins [0, 1] (values below 0 fall into the first bin).
    """
    from randsae.evaluate.abstractness import PER_LATENT_MEASURES, abstractness_rows

    rows: list[dict] = []
    for mpath, lpath in zip(metric_jsons, latent_csvs, strict=True):
        rec = _load(mpath)
        lat = pd.read_csv(lpath)
        key = {
            "model": rec["model"],
            "n_params": n_params.get(rec["model"]),
            "init": rec["init"],
            "layer": rec["layer"],
        }
        per_latent = {c: lat[c].to_numpy() for c in lat.columns}
        for r in abstractness_rows(per_latent, **key):
            rows.append({**r, "row": "summary"})
        top = float(
            np.log(max(2, int(rec.get("d_vocab", 0)) or lat.get("n_active", pd.Series([2])).max()))
        )
        for m in PER_LATENT_MEASURES:
            if m not in lat.columns:
                continue
            vals = lat[m].to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            hi = 1.0 if m == "token_r2" else max(top, float(vals.max()) if len(vals) else 1.0)
            counts, edges = np.histogram(np.clip(vals, 0, hi), bins=n_bins, range=(0.0, hi))
            for c, lo, up in zip(counts, edges[:-1], edges[1:], strict=True):
                rows.append(
                    {
                        **key,
                        "measure": m,
                        "row": "hist",
                        "bin_lo": lo,
                        "bin_hi": up,
                        "count": int(c),
                    }
                )
    return pd.DataFrame(rows)


def density_table(metric_jsons: Iterable[str | Path], n_params: dict[str, int]) -> pd.DataFrame:
    """Log10 firing-density histograms of every cell (long format)."""
    from randsae.report.plot_metrics import density_hist_rows

    frames = []
    for path in metric_jsons:
        rec = _load(path)
        arrays = {**rec["arrays"], "d_sae": rec["d_sae"]}
        frames.append(
            density_hist_rows(
                arrays,
                model=rec["model"],
                n_params=n_params.get(rec["model"]),
                init=rec["init"],
                layer=rec["layer"],
            )
        )
    return pd.concat(frames, ignore_index=True)
