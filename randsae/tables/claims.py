"""The paper's eight claims (v2), checked on a run's own tables.

This module builds the claims table; the claim 1-6 statistics live in ``claim_stats``, claim 7 in
``claim7``, the resampling in ``resample`` (the pooled AUROC's in ``pooled``), claim 8 (toy) in
``toy_claims``, the five verdicts in ``verdicts`` and the trained-minus-variant table in
``distinguishability``.

Pure functions on DataFrames (no file I/O here; ``randsae.tables.steps.claims`` reads and writes).
Every statistic, its resampling unit and its verdict rule is defined in ``docs/claims.md``; the
docstrings below are the short form.

Inputs (column names as the tables rule / the per-latent table write them):

* ``sae_metrics``: one row per cell ``model, n_params, init, layer`` with ``explained_variance``,
  ``cossim``, ``l1``, ``ce_loss_score``, ``ce_loss_without_sae``, ``ce_loss_with_ablation``, ...
* ``autointerp``: one row per (cell, scorer) with ``auroc_pooled`` (the AUROC claims' value when
  the per-window rows are not given) and ``backend`` (a lexical backend makes them circular).
* ``windows`` (optional): the score rule's per-window rows ``model, init, layer, scorer, latent,
  label, prob``, from which the AUROC claims take each cell's pooled AUROC.
* ``latents`` (optional): one row per scored latent ``model, init, layer, latent`` with
  ``token_entropy``, ``fuzzing_auroc``, ``detection_auroc``.
* ``toy``: the toy sweeps' per-seed rows (``results/toy/summary/<dataset>.csv``: ``dataset, arm,
  n_latents, l1_coef, seed, fvu, l0``), all datasets concatenated.

Resampling: a statistic is recomputed on bootstrap replicates and its 95 % CI is the 2.5/97.5
percentile interval. Per-latent measures and the pooled AUROC resample latents within each cell
(model, init, layer); one-value-per-cell measures resample layers within each model; toy
statistics resample seeds.
Seeds derive from ``randsae.seeds.stable_seed``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from randsae.seeds import stable_seed
from randsae.tables.claim7 import claim7_rows
from randsae.tables.claim_stats import (
    CT,
    NC,
    RA,
    RR,
    S0,
    TR,
    claim1_control_chance,
    claim1_gap,
    claim2_control_error_slope,
    claim2_control_lower,
    claim2_others_error_slope,
    claim3_size,
    claim3_tracking,
    claim4_size_slope,
    claim5_gap_ratio,
    claim6_control_high,
    claim6_randomized_flat,
    claim6_randomized_lower,
    claim6_trained_slope,
)
from randsae.tables.pooled import pooled_measure
from randsae.tables.resample import (
    Measure,
    Stat,
    cell_measure,
    estimate,
    grid_layers,
    latent_measure,
    table_auroc_measure,
)
from randsae.tables.toy_claims import claim8_rows
from randsae.tables.verdicts import (
    CIRCULAR_BACKENDS,
    COLUMNS,
    PER_LATENT,
    POOLED,
    circular,
    row,
)

# Documented thresholds (docs/claims.md).
CONTROL_CHANCE_TOLERANCE = 0.1  # claim 1b: control AUROC within 0.5 +- this
CE_GAP_RATIO_MAX = 0.25  # claim 5: randomized ablation gap below this fraction of trained's
AUROC_CLAIMS = (1, 4, 7)  # claims on auto-interp AUROCs (circular under a lexical backend)

CELL_METRICS = ("explained_variance", "cossim", "l1", "ce_loss_score")
LATENT_METRICS = ("fuzzing_auroc", "detection_auroc", "token_entropy")
SCORERS = ("fuzzing", "detection")


def _units(meas: Measure, model: str | None = None) -> tuple[str, int]:
    keys = [k for k in meas.values if model is None or k[0] == model]
    if meas.unit == "pooled":
        n = sum(len(a.latents) for k in keys for a in meas.values[k] if a is not None)
        return "latents within cells", n
    if meas.unit == "latents":
        n = sum(int(np.isfinite(a).sum()) for k in keys for a in meas.values[k])
        return "latents within cells", n
    return "layers within models", sum(
        len(lay) for m, lay in meas.layers.items() if model is None or m == model
    )


def _stat_row(
    claim: int,
    sub: str,
    model: str,
    statistic: str,
    meas: Measure | None,
    stat: Stat,
    direction: str,
    threshold: float,
    n_boot: int,
    seed: int,
    need: Callable[[Measure], str | None] | None = None,
) -> dict:
    """Evaluate ``stat`` on ``meas`` with a bootstrap CI; untestable rows name what is missing."""
    if meas is None:
        return row(claim, sub, model, statistic, untestable=f"no {statistic.split()[0]} values")
    why = need(meas) if need else None
    if why:
        return row(claim, sub, model, statistic, untestable=why)
    s = stable_seed(seed, "claims", claim, sub, model)
    value, lo, hi = estimate(meas, stat, n_boot, s)
    resampled, n = _units(meas, None if model == "all" else model)
    kind = PER_LATENT if meas.unit == "latents" else POOLED
    r = row(claim, sub, model, statistic, value, lo, hi, direction, threshold, resampled, n)
    return {**r, "stat_kind": kind}


def _add_per_latent(
    r: dict, meas: Measure | None, stat: Stat, need, n_boot: int, seed: int
) -> dict:
    """The same statistic on the mean per-latent AUROC (second columns of an AUROC claim)."""
    if meas is None or (need and need(meas)):
        return r
    s = stable_seed(seed, "claims", r["claim"], r["sub"], r["model"], "per-latent")
    value, lo, hi = estimate(meas, stat, n_boot, s)
    return {**r, "value_per_latent": value, "ci_low_per_latent": lo, "ci_high_per_latent": hi}


# --------------------------------------------------------------------------------------------
# Claims 1-7 (transformer grid)
# --------------------------------------------------------------------------------------------


def _need(n_layers: int, *groups: tuple[str, Callable[[str], bool]]) -> Callable:
    """``_need(n, groups...)(model)(measure)``: why a claim is untestable (None if testable):
    a group of variants without cells, or fewer than ``n`` layers."""

    def for_model(model: str) -> Callable[[Measure], str | None]:
        def check(meas: Measure) -> str | None:
            have = meas.inits(model)
            for label, pred in groups:
                if not any(pred(i) for i in have):
                    return f"no {label} cells for {model}"
            n = len(meas.layers.get(model, []))
            return (
                f"needs at least {n_layers} layers of {model} (has {n})" if n < n_layers else None
            )

        return check

    return for_model


# Per-model claims: (sub, claim, measure, statistic, direction, threshold, min layers, groups).
# "{s}" stands for each scorer; measure "auroc" is that scorer's AUROC measure.
PER_MODEL = [
    ("1a-{s}", 1, "auroc", claim1_gap, ">", 0.0, 0, (TR, CT, RA)),
    ("1b-{s}", 1, "auroc", claim1_control_chance, "<", CONTROL_CHANCE_TOLERANCE, 0, (CT,)),
    ("2a-cossim", 2, "cossim", claim2_control_lower, ">", 0.0, 2, (CT, NC)),
    ("2a-explained_variance", 2, "explained_variance", claim2_control_lower, ">", 0.0, 2, (CT, NC)),
    ("2b", 2, "explained_variance", claim2_control_error_slope, ">", 0.0, 3, (CT,)),
    ("2c", 2, "explained_variance", claim2_others_error_slope, "<", 0.0, 3, (NC,)),
    ("3a-l1", 3, "l1", claim3_tracking, ">", 0.0, 2, (TR, S0, RR)),
    ("3a-explained_variance", 3, "explained_variance", claim3_tracking, ">", 0.0, 2, (TR, S0, RR)),
    ("3a-cossim", 3, "cossim", claim3_tracking, ">", 0.0, 2, (TR, S0, RR)),
    ("5", 5, "ce_ablation_gap", claim5_gap_ratio, "<", CE_GAP_RATIO_MAX, 2, (TR, RA)),
    ("6a", 6, "token_entropy", claim6_control_high, ">", 0.0, 0, (CT, NC)),
    ("6b", 6, "token_entropy", claim6_trained_slope, ">", 0.0, 2, (TR,)),
    ("6c", 6, "token_entropy", claim6_randomized_lower, "<", 0.0, 0, (TR, CT, RA)),
    ("6d", 6, "token_entropy", claim6_randomized_flat, ">", 0.0, 2, (TR, RA)),
]
STAT_TEXT = {
    "1a": "min over layers, randomized v of |T-C| - |T-v|",
    "1b": "max over layers of |control - 0.5|",
    "2a": "mean over layers of min over non-control v of (v - control)",
    "2b": "OLS slope of control FVU on layer",
    "2c": "max over non-control v of OLS slope of FVU on layer",
    "3a": "mean over layers of |step0-T| - max over re-randomized v of |v-T|",
    "5": "max over randomized v of mean G_v / mean G_T (G = CE with ablation - CE clean)",
    "6a": "min over layers of control - max over other variants",
    "6b": "OLS slope of trained mean entropy on layer",
    "6c": "max over layers, randomized v of v - min(trained, control)",
    "6d": "trained slope - max |slope| of a randomized variant",
}


def _auroc_measures(s, windows, latents, autointerp, layers) -> tuple:
    """(pooled, per-latent) AUROC measures of scorer ``s``: pooled AUROC from the per-window rows
    (resampled over latents within cells), else from the autointerp table (resampled over layers);
    the mean per-latent AUROC from the per-latent table (second columns)."""
    pooled = pooled_measure(windows, s, layers) or table_auroc_measure(s, autointerp, layers)
    return pooled, latent_measure(latents, f"{s}_auroc", layers)


def _grid_claims(
    sae_metrics: pd.DataFrame,
    autointerp: pd.DataFrame | None,
    latents: pd.DataFrame | None,
    windows: pd.DataFrame | None,
    n_boot: int,
    seed: int,
) -> list[dict]:
    layers = grid_layers(sae_metrics)
    meas: dict[str, Measure | None] = {
        c: cell_measure(sae_metrics, c, layers) for c in CELL_METRICS
    }
    for s in SCORERS:
        meas[f"auroc-{s}"], meas[f"auroc_pl-{s}"] = _auroc_measures(
            s, windows, latents, autointerp, layers
        )
    meas["token_entropy"] = latent_measure(latents, "token_entropy", layers)
    meas["ce_ablation_gap"] = None
    if {"ce_loss_with_ablation", "ce_loss_without_sae"} <= set(sae_metrics.columns):
        gap = sae_metrics["ce_loss_with_ablation"] - sae_metrics["ce_loss_without_sae"]
        d = sae_metrics.assign(ce_ablation_gap=gap)
        meas["ce_ablation_gap"] = cell_measure(d, "ce_ablation_gap", layers)
    rows: list[dict] = []
    for model in layers:
        for sub, claim, key, stat, direction, thr, n_layers, groups in PER_MODEL:
            for s in SCORERS if "{s}" in sub else [None]:
                m = meas[f"auroc-{s}"] if key == "auroc" else meas[key]
                name = (m.name if m is not None else f"{s}_auroc") if key == "auroc" else key
                text = f"{name}: {STAT_TEXT[sub.split('-')[0]]}"
                need = _need(n_layers, *groups)(model)
                args = (m, stat(model), direction, thr, n_boot, seed, need)
                r = _stat_row(claim, sub.format(s=s), model, text, *args)
                if key == "auroc":
                    r = _add_per_latent(r, meas[f"auroc_pl-{s}"], stat(model), need, n_boot, seed)
                rows.append(r)
        rows += claim7_rows(latents, model, n_boot, seed)
    aur = {s: (meas[f"auroc-{s}"], meas[f"auroc_pl-{s}"]) for s in SCORERS}
    rows += _size_rows(sae_metrics, aur, meas["l1"], list(layers), n_boot, seed)
    return rows


def _size_rows(sae_metrics, aur, l1, models, n_boot, seed) -> list[dict]:
    """Claims 3b and 4: across model sizes (need models of at least two n_params)."""
    n_params = {}
    if "n_params" in sae_metrics.columns:
        for m, g in sae_metrics.groupby("model"):
            p = pd.to_numeric(g["n_params"], errors="coerce").to_numpy(float)
            if np.isfinite(p).all():
                n_params[m] = float(p[0])
    sized = sorted((m for m in models if m in n_params), key=lambda m: n_params[m])
    distinct = len({n_params[m] for m in sized})
    why = None if distinct >= 2 else f"needs models of at least two sizes (has {distinct})"
    logp = {m: float(np.log10(n_params[m])) for m in sized}

    def need_all(n_layers, *groups):
        checks = [_need(n_layers, *groups)(m) for m in sized]
        return lambda meas: next((w for c in checks if (w := c(meas))), None)

    t3 = "l1: (claim-3 tracking / |L1_T|) of the largest model minus the smallest"
    t4 = "{name}: min over non-control v of OLS slope of mean AUROC on log10(n_params)"
    specs = [(3, "3b-size", t3, l1, None, claim3_size(sized), need_all(2, TR, S0, RR))]
    for s in SCORERS:
        pooled, per_latent = aur[s]
        name = pooled.name if pooled is not None else f"{s}_auroc"
        stat4 = claim4_size_slope(sized, logp)
        specs.append(
            (4, f"4-{s}", t4.format(name=name), pooled, per_latent, stat4, need_all(0, NC))
        )
    rows = []
    for claim, sub, text, meas, per_latent, stat, need in specs:
        if why:
            rows.append(row(claim, sub, "all", text, untestable=why))
            continue
        r = _stat_row(claim, sub, "all", text, meas, stat, ">", 0.0, n_boot, seed, need)
        if claim == 4:
            r = _add_per_latent(r, per_latent, stat, need, n_boot, seed)
        rows.append(r)
    return rows


def claims_table(
    sae_metrics: pd.DataFrame,
    autointerp: pd.DataFrame | None = None,
    latents: pd.DataFrame | None = None,
    toy: pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    windows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per claim and sub-statistic (and model), in claim order.

    ``windows``: the score rule's per-window rows (``randsae.tables.roc.read_windows``), from
    which the AUROC claims take each cell's pooled AUROC; without them, the autointerp table's
    pooled AUROC. Under a backend of ``CIRCULAR_BACKENDS`` (the autointerp table's ``backend``
    column) every AUROC claim is ``circular``."""
    rows = _grid_claims(sae_metrics, autointerp, latents, windows, n_boot, seed)
    backends = set()
    if autointerp is not None and "backend" in autointerp.columns:
        backends = {str(b) for b in autointerp["backend"].dropna().unique()}
    circ = sorted(backends & set(CIRCULAR_BACKENDS))
    if circ:
        rows = [circular(r, circ[0]) if r["claim"] in AUROC_CLAIMS else r for r in rows]
    rows += claim8_rows(toy, n_boot, seed)
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(["claim", "sub", "model"], kind="mergesort").reset_index(drop=True)


def markdown_table(claims: pd.DataFrame, digits: int = 3) -> str:
    """claims.csv as a Markdown table (claim, statistic, kind, value [CI], the per-latent value of
    an AUROC claim, verdict)."""

    def fmt(x) -> str:
        return "" if x is None or not np.isfinite(float(x)) else f"{float(x):.{digits}g}"

    def cell(v, lo, hi) -> str:
        if not np.isfinite(float(v)):
            return "–"
        return fmt(v) + (f" [{fmt(lo)}, {fmt(hi)}]" if np.isfinite(float(lo)) else "")

    lines = [
        "| claim | model | statistic | kind | value [95% CI] | per-latent [95% CI] | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in claims.itertuples(index=False):
        val = cell(r.value, r.ci_low, r.ci_high)
        pl = cell(r.value_per_latent, r.ci_low_per_latent, r.ci_high_per_latent)
        pl = "" if pl == "–" else pl
        stat = str(r.statistic).replace("|", "\\|")
        lines.append(
            f"| {r.sub} | {r.model} | {stat} | {r.stat_kind} | {val} | {pl} | {r.verdict} |"
        )
    return "\n".join(lines) + "\n"
