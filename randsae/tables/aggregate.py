"""Aggregation of per-cell results into the paper's tables."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from randsae.io import read_json

KEY_COLUMNS = ["model", "n_params", "init", "layer"]

# CE/KL scores divide by how much zero-ablating the layer hurts: CE score = (CE_ablate - CE_sae) /
# (CE_ablate - CE_clean), KL score = 1 - KL_sae / KL_ablate. For random models the ablation barely
# changes the output (or even lowers the loss: a negative CE denominator), the denominator is near
# zero or negative and the score is noise (it can be far outside [0, 1]). Below
# SCORE_DENOMINATOR_MIN nats (docs/metrics.md) a score is flagged: the raw value stays in the
# table; figures draw it as an open marker off the line.
SCORE_DENOMINATOR_MIN = 0.05
SCORE_DENOMINATORS = {
    "ce_loss_score": ("ce_loss_with_ablation", "ce_loss_without_sae"),
    "kl_div_score": ("kl_div_with_ablation", None),
}


def flag_small_denominators(
    df: pd.DataFrame, threshold: float = SCORE_DENOMINATOR_MIN
) -> pd.DataFrame:
    """Add ``<score>_denominator`` (nats) and ``<score>_flagged`` (denominator < threshold, which
    includes negative ones, or not finite) for the CE and KL scores whose inputs are in ``df``."""
    out = df.copy()
    for score, (ablate, clean) in SCORE_DENOMINATORS.items():
        if ablate not in out.columns or (clean is not None and clean not in out.columns):
            continue
        den = out[ablate].astype(float) - (out[clean].astype(float) if clean else 0.0)
        out[f"{score}_denominator"] = den
        out[f"{score}_flagged"] = ~(den >= threshold)
    return out


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
    df = flag_small_denominators(pd.DataFrame(rows))
    cols = KEY_COLUMNS + sorted(c for c in df.columns if c not in KEY_COLUMNS)
    return df[cols].sort_values(["model", "init", "layer"]).reset_index(drop=True)


def autointerp_table(score_paths: Iterable[str | Path], n_params: dict[str, int]) -> pd.DataFrame:
    """One row per (cell, scorer) from the ``score`` rule's summaries.

    Every score covers the scored latents only; ``n_failed_explanations`` counts the cell's
    latents left out because their explanation failed, ``n_failed`` the failed windows.
    """
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
        rec = read_json(path)
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


def abstractness_table(
    metric_jsons: Iterable[str | Path],
    latent_csvs: Iterable[str | Path],
    n_params: dict[str, int],
    n_bins: int = 20,
) -> pd.DataFrame:
    """Abstractness per cell: summary rows (mean, median, quartiles; ``row == "summary"``) and the
    distribution as histogram rows (``row == "hist"``, ``bin_lo``, ``bin_hi``, ``count``).

    The bins are the same for every cell: entropies span [0, ln(d_vocab)] with the largest
    vocabulary of the grid (no entropy can exceed it), R² spans [0, 1] (values below 0 fall into
    the first bin).
    """
    from randsae.evaluate.abstractness import PER_LATENT_MEASURES, abstractness_rows

    metric_jsons, latent_csvs = list(metric_jsons), list(latent_csvs)
    recs = [read_json(p) for p in metric_jsons]
    missing = [str(p) for p, r in zip(metric_jsons, recs, strict=True) if "d_vocab" not in r]
    if missing:
        raise ValueError(
            f"{missing[0]} (and {len(missing) - 1} more) has no d_vocab: it was written by an "
            "older eval_sae; rerun it with `snakemake --cores all --forcerun eval_key`"
        )
    top = float(np.log(max(2, *(int(r["d_vocab"]) for r in recs))))
    rows: list[dict] = []
    for rec, lpath in zip(recs, latent_csvs, strict=True):
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
        for m in PER_LATENT_MEASURES:
            if m not in lat.columns:
                continue
            vals = lat[m].to_numpy(dtype=float)
            vals = vals[np.isfinite(vals)]
            hi = 1.0 if m == "token_r2" else top
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
