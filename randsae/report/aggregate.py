"""Aggregation of per-cell results into the paper's tables."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from randsae.io import read_json

KEY_COLUMNS = ["model", "n_params", "init", "layer"]


def n_params_by_model(init_record_paths: Iterable[str | Path]) -> dict[str, int]:
    """n_params of each model from the ``build_init`` records (identical across inits)."""
    return {rec["model"]: rec["n_params"] for rec in map(read_json, init_record_paths)}


def sae_metrics_table(metric_paths: Iterable[str | Path], n_params: dict[str, int]) -> pd.DataFrame:
    """One row per cell with every scalar metric (arrays and nested values are left out)."""
    rows = []
    for path in metric_paths:
        rec = read_json(path)
        row = {k: v for k, v in rec.items() if isinstance(v, (int, float, str, bool)) or v is None}
        row["n_params"] = n_params.get(rec["model"])
        rows.append(row)
    df = pd.DataFrame(rows)
    cols = KEY_COLUMNS + sorted(c for c in df.columns if c not in KEY_COLUMNS)
    return df[cols].sort_values(["model", "init", "layer"]).reset_index(drop=True)


def autointerp_table(score_paths: Iterable[str | Path], n_params: dict[str, int]) -> pd.DataFrame:
    """One row per (cell, scorer) from the ``score`` rule's summaries."""
    rows = []
    for path in score_paths:
        rec = read_json(path)
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
                }
            )
    df = pd.DataFrame(rows)
    cols = KEY_COLUMNS + ["backend", "scorer"]
    cols += sorted(c for c in df.columns if c not in cols)
    return df[cols].sort_values(["model", "init", "layer", "scorer"]).reset_index(drop=True)


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
        rec = read_json(mpath)
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
        rec = read_json(path)
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
