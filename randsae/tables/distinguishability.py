"""The distinguishability table: trained minus each other variant for every metric x model x
layer, with bootstrap CIs and permutation tests. Definitions: docs/claims.md."""

from __future__ import annotations

import numpy as np
import pandas as pd

from randsae.seeds import stable_seed
from randsae.tables.claim_stats import TRAINED, init_kind
from randsae.tables.claims import CELL_METRICS, LATENT_METRICS, SCORERS
from randsae.tables.resample import (
    Measure,
    cell_measure,
    grid_layers,
    latent_measure,
    nanmean,
    percentile_ci,
    permutation_pvalue,
    stratified_permutation_pvalue,
    two_sample_boot,
)


def distinguishability_table(
    sae_metrics: pd.DataFrame,
    autointerp: pd.DataFrame | None = None,
    latents: pd.DataFrame | None = None,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """For every metric x model x layer x variant: trained minus the variant.

    Per-latent metrics (``fuzzing_auroc``, ``detection_auroc``, ``token_entropy``): difference of
    the cells' mean per-latent values, a two-sample bootstrap CI over latents and a two-sided
    permutation p-value over latents. One-value-per-cell metrics (``CELL_METRICS`` and the
    autointerp table's pooled AUROCs): the difference, with no CI (a cell has one SAE and one
    value). Each (model, metric, variant) also gets a ``layer = "all"`` row: the mean over layers
    of the per-layer differences, with a bootstrap CI over latents within cells (per-latent
    metrics; its p-value permutes labels within layers) or over layers (cell metrics).

    ``flagged``: the CE/KL conditioning flag of ``sae_metrics`` (``<metric>_flagged``,
    :func:`randsae.tables.aggregate.flag_small_denominators`): True when the trained or the
    variant cell's score has a near-zero denominator (``layer = "all"``: at any layer), so the
    difference is not meaningful. False for metrics without such a flag.
    """
    layers = grid_layers(sae_metrics)
    measures: list[Measure] = []
    for c in CELL_METRICS:
        if (m := cell_measure(sae_metrics, c, layers)) is not None:
            measures.append(m)
    if autointerp is not None and not autointerp.empty and "scorer" in autointerp.columns:
        for s in SCORERS:
            m = cell_measure(autointerp[autointerp["scorer"] == s], "auroc_pooled", layers)
            if m is not None:
                m.name = f"{s}_auroc_pooled"
                measures.append(m)
    for c in LATENT_METRICS:
        if (m := latent_measure(latents, c, layers)) is not None:
            measures.append(m)
    n_params = (
        sae_metrics.groupby("model")["n_params"].first().to_dict()
        if "n_params" in sae_metrics.columns
        else {}
    )
    rows = []
    flags = _score_flags(sae_metrics)
    for meas in measures:
        for model, lay in meas.layers.items():
            if (model, TRAINED) not in meas.values:
                continue
            t_vals = meas.values[(model, TRAINED)]
            for variant in meas.inits(model):
                if variant == TRAINED:
                    continue
                v_vals = meas.values[(model, variant)]
                rng = np.random.default_rng(
                    stable_seed(seed, "distinguishability", model, meas.name, variant)
                )
                base = {
                    "model": model,
                    "n_params": n_params.get(model),
                    "metric": meas.name,
                    "variant": variant,
                    "variant_kind": init_kind(variant),
                }
                diffs, boots, strata, flagged = [], [], [], []
                for j, layer in enumerate(lay):
                    x, y = t_vals[j], v_vals[j]
                    xt, yv = nanmean(x), nanmean(y)
                    key = (meas.name, model, int(layer))
                    flagged.append(
                        flags.get((*key, TRAINED), False) or flags.get((*key, variant), False)
                    )
                    row = {
                        **base,
                        "layer": str(int(layer)),
                        "trained": xt,
                        "variant_value": yv,
                        "diff": xt - yv,
                        "flagged": flagged[-1],
                    }
                    if meas.unit == "latents":
                        b = two_sample_boot(x, y, n_boot, rng)
                        boots.append(b)
                        strata.append((x[np.isfinite(x)], y[np.isfinite(y)]))
                        lo, hi = percentile_ci(b) if len(b) else (float("nan"),) * 2
                        row |= {
                            "ci_low": lo,
                            "ci_high": hi,
                            "p_permutation": permutation_pvalue(x, y, n_perm, rng),
                            "n_trained": int(np.isfinite(x).sum()),
                            "n_variant": int(np.isfinite(y).sum()),
                            "resampled": "latents",
                        }
                    else:
                        row |= {
                            "ci_low": np.nan,
                            "ci_high": np.nan,
                            "p_permutation": np.nan,
                            "n_trained": 1,
                            "n_variant": 1,
                            "resampled": "none (one value per cell)",
                        }
                    diffs.append(xt - yv)
                    rows.append(row)
                all_row = _all_layers_row(
                    base, meas, t_vals, v_vals, diffs, boots, strata, n_boot, n_perm, rng
                )
                rows.append({**all_row, "flagged": any(flagged)})
    cols = [
        "model",
        "n_params",
        "metric",
        "layer",
        "variant",
        "variant_kind",
        "trained",
        "variant_value",
        "diff",
        "flagged",
        "ci_low",
        "ci_high",
        "p_permutation",
        "n_trained",
        "n_variant",
        "resampled",
    ]
    return pd.DataFrame(rows, columns=cols)


def _score_flags(sae_metrics: pd.DataFrame) -> dict[tuple, bool]:
    """(metric, model, layer, init) -> the cell's ``<metric>_flagged`` value, for every metric
    that has such a column (the CE and KL scores)."""
    out = {}
    for col in [c for c in sae_metrics.columns if c.endswith("_flagged")]:
        metric = col[: -len("_flagged")]
        for r in sae_metrics[["model", "init", "layer", col]].itertuples(index=False):
            out[(metric, str(r.model), int(r.layer), str(r.init))] = bool(r[3])
    return out


def _all_layers_row(base, meas, t_vals, v_vals, diffs, boots, strata, n_boot, n_perm, rng) -> dict:
    d = np.array(diffs, float)
    row = {
        **base,
        "layer": "all",
        "trained": nanmean(np.array([nanmean(a) for a in t_vals])),
        "variant_value": nanmean(np.array([nanmean(a) for a in v_vals])),
        "diff": nanmean(d),
    }
    if meas.unit == "latents":
        ok = [b for b in boots if len(b)]
        lo, hi = percentile_ci(np.nanmean(np.stack(ok), axis=0)) if ok else (float("nan"),) * 2
        row |= {
            "ci_low": lo,
            "ci_high": hi,
            "p_permutation": stratified_permutation_pvalue(strata, n_perm, rng),
            "n_trained": int(sum(len(x) for x, _ in strata)),
            "n_variant": int(sum(len(y) for _, y in strata)),
            "resampled": "latents within layers",
        }
    else:
        fin = d[np.isfinite(d)]
        if len(fin) >= 2 and n_boot > 0:
            b = fin[rng.integers(0, len(fin), (n_boot, len(fin)))]
            lo, hi = percentile_ci(b.mean(axis=1))
        else:
            lo = hi = float("nan")
        row |= {
            "ci_low": lo,
            "ci_high": hi,
            "p_permutation": np.nan,
            "n_trained": len(fin),
            "n_variant": len(fin),
            "resampled": "layers",
        }
    return row
