"""Claim 7 (v2 App H): per-latent token entropy against fuzzing AUROC, per model.

* 7a: rho_v = mean over layers of the within-cell Spearman correlation (average ranks for ties) of
  token entropy and fuzzing AUROC over the cell's latents; the claim: max over randomized v of
  rho_v < 0.
* 7b ("weaker for trained"): a comparison of magnitudes, mean over randomized v of |rho_v| minus
  |rho_trained| > 0 (a strongly positive trained correlation is not "weaker").
* 7c ("some high-entropy, high-AUROC trained latents"): rate_v = the fraction of variant v's
  latents (pooled over layers) whose entropy is above the ``HIGH_ENTROPY_QUANTILE`` quantile of the
  randomized latents' entropies at that layer and whose fuzzing AUROC is >= ``HIGH_AUROC``; the
  claim: rate_trained - max over randomized v of rate_v > 0 (trained has more such latents than
  every randomized variant, not merely one).

One bootstrap draw of latents within each cell (model, init, layer) serves all three; 7c recomputes
the entropy quantile on each draw. Definitions: docs/claims.md.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from randsae.seeds import stable_seed
from randsae.tables.claim_stats import TRAINED, is_randomized
from randsae.tables.resample import nanmean, percentile_ci, spearman, spearman_rows
from randsae.tables.verdicts import PER_LATENT, row

HIGH_AUROC = 0.8  # claim 7c: a "high-AUROC" latent
HIGH_ENTROPY_QUANTILE = 0.75  # claim 7c: above this quantile of the randomized latents' entropy
RESAMPLED = "latents within cells"

TEXTS = {
    "7a": "max over randomized v of rho_v (rho = mean over layers of Spearman(entropy, "
    "fuzzing AUROC) over the cell's latents)",
    "7b": "mean over randomized v of |rho_v| - |rho_trained| (correlation magnitudes)",
    "7c": f"rate_trained - max over randomized v of rate_v; rate = fraction of a variant's "
    f"latents with entropy above the randomized latents' {HIGH_ENTROPY_QUANTILE:.0%} quantile "
    f"(same layer) and fuzzing AUROC >= {HIGH_AUROC}",
}


def _row(sub: str, model: str, value: float, boot: np.ndarray, direction: str, n: int, n_boot):
    lo, hi = percentile_ci(boot) if n_boot > 0 else (float("nan"),) * 2
    r = row(7, sub, model, TEXTS[sub], value, lo, hi, direction, 0.0, RESAMPLED, n)
    return {**r, "stat_kind": PER_LATENT}


def _untestable(model: str, why: str) -> list[dict]:
    return [
        {**row(7, s, model, t, untestable=why), "stat_kind": PER_LATENT} for s, t in TEXTS.items()
    ]


def claim7_rows(lat: pd.DataFrame | None, model: str, n_boot: int, seed: int) -> list[dict]:
    """Rows 7a, 7b and 7c of ``model`` from the per-latent table (see the module docstring)."""
    cols = {"token_entropy", "fuzzing_auroc"}
    if lat is None or not cols <= set(lat.columns):
        return _untestable(model, "no per-latent table with token_entropy and fuzzing_auroc")
    sub = lat[(lat["model"] == model)].dropna(subset=list(cols))
    inits = [str(i) for i in sub["init"].unique()]
    if TRAINED not in inits or not any(is_randomized(i) for i in inits):
        return _untestable(model, f"needs trained and randomized per-latent values for {model}")
    nb = max(n_boot, 1)
    rng = np.random.default_rng(stable_seed(seed, "claims", 7, model))
    cells = {}  # (init, layer) -> (h, a, resampled indices)
    for (init, layer), g in sub.groupby(["init", "layer"], sort=True):
        h, a = g["token_entropy"].to_numpy(float), g["fuzzing_auroc"].to_numpy(float)
        cells[(str(init), int(layer))] = (h, a, rng.integers(0, len(h), (nb, len(h))))
    rows = _correlation_rows(cells, model, n_boot, nb)
    rows.append(_rate_row(cells, model, n_boot, nb))
    return rows


def _correlation_rows(cells: dict, model: str, n_boot: int, nb: int) -> list[dict]:
    rho_point: dict[str, list[float]] = {}
    rho_boot: dict[str, list[np.ndarray]] = {}
    for (init, _layer), (h, a, idx) in cells.items():
        if len(h) < 3:
            continue
        rho_point.setdefault(init, []).append(spearman(h, a))
        rho_boot.setdefault(init, []).append(spearman_rows(h[idx], a[idx]))
    pt = {i: nanmean(np.array(v)) for i, v in rho_point.items()}
    with warnings.catch_warnings():  # a cell whose values are all tied has no correlation
        warnings.simplefilter("ignore", RuntimeWarning)
        bt = {i: np.nanmean(np.stack(v, axis=1), axis=1) for i, v in rho_boot.items()}
    rand = [i for i in pt if is_randomized(i)]
    if TRAINED not in pt or not rand:
        why = "too few latents per cell (need 3) for a rank correlation"
        return [
            {**row(7, s, model, TEXTS[s], untestable=why), "stat_kind": PER_LATENT}
            for s in ("7a", "7b")
        ]
    n = int(sum(len(h) for (i, _l), (h, _a, _x) in cells.items() if len(h) >= 3))
    v7a = max(pt[i] for i in rand)
    b7a = np.max(np.stack([bt[i] for i in rand]), axis=0)
    v7b = float(np.mean([abs(pt[i]) for i in rand])) - abs(pt[TRAINED])
    b7b = np.mean(np.abs(np.stack([bt[i] for i in rand])), axis=0) - np.abs(bt[TRAINED])
    return [
        _row("7a", model, v7a, b7a, "<", n, n_boot),
        _row("7b", model, v7b, b7b, ">", n, n_boot),
    ]


def _rate_row(cells: dict, model: str, n_boot: int, nb: int) -> dict:
    hits: dict[str, float] = {}
    hits_b: dict[str, np.ndarray] = {}
    count: dict[str, int] = {}
    for layer in sorted({lay for _i, lay in cells}):
        here = {i: c for (i, lay), c in cells.items() if lay == layer}
        rand = [i for i in here if is_randomized(i)]
        if not rand:
            continue
        q = float(np.quantile(np.concatenate([here[i][0] for i in rand]), HIGH_ENTROPY_QUANTILE))
        qb = np.quantile(
            np.concatenate([here[i][0][here[i][2]] for i in rand], axis=1),
            HIGH_ENTROPY_QUANTILE,
            axis=1,
        )
        for init, (h, a, idx) in here.items():
            if init != TRAINED and not is_randomized(init):
                continue
            hits[init] = hits.get(init, 0.0) + float(((h > q) & (a >= HIGH_AUROC)).sum())
            hb = ((h[idx] > qb[:, None]) & (a[idx] >= HIGH_AUROC)).sum(axis=1)
            hits_b[init] = hits_b.get(init, np.zeros(nb)) + hb
            count[init] = count.get(init, 0) + len(h)
    rand = [i for i in count if is_randomized(i)]
    if not count.get(TRAINED) or not rand:
        r = row(7, "7c", model, TEXTS["7c"], untestable="no trained latents in a layer with "
                "randomized latents")  # fmt: skip
        return {**r, "stat_kind": PER_LATENT}
    rate = {i: hits[i] / count[i] for i in count}
    rate_b = {i: hits_b[i] / count[i] for i in count}
    value = rate[TRAINED] - max(rate[i] for i in rand)
    boot = rate_b[TRAINED] - np.max(np.stack([rate_b[i] for i in rand]), axis=0)
    r = _row("7c", model, value, boot, ">", sum(count.values()), n_boot)
    r["detail"] += "; " + ", ".join(
        f"{i} {int(hits[i])}/{count[i]}" for i in [TRAINED, *sorted(rand)]
    )
    return r
