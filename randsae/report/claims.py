"""The paper's eight claims (v2), checked on a run's own tables; and the trained-vs-random
distinguishability table.

Pure functions on DataFrames (no file I/O here; ``randsae.report.steps.claims`` reads and writes).
Every statistic, its resampling unit and its verdict rule is defined in ``docs/claims.md``; the
docstrings below are the short form.

Inputs (column names as the tables rule / the per-latent table write them):

* ``sae_metrics``: one row per cell ``model, n_params, init, layer`` with ``explained_variance``,
  ``cossim``, ``l1``, ``ce_loss_score``, ``ce_loss_without_sae``, ``ce_loss_with_ablation``, ...
* ``autointerp``: one row per (cell, scorer) with ``auroc_pooled`` (used only when the per-latent
  table lacks AUROC values).
* ``latents`` (optional): one row per scored latent ``model, init, layer, latent`` with
  ``token_entropy``, ``fuzzing_auroc``, ``detection_auroc``.
* ``toy``: the toy sweeps' per-seed rows (``results/toy/summary/<dataset>.csv``: ``dataset, arm,
  n_latents, l1_coef, seed, fvu, l0``), all datasets concatenated.

Resampling: a statistic is recomputed on bootstrap replicates and its 95 % CI is the 2.5/97.5
percentile interval. Per-latent measures resample latents within each cell (model, init, layer);
one-value-per-cell measures resample layers within each model; toy statistics resample seeds.
Seeds derive from ``randsae.config.stable_seed``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from randsae.config import parse_init, stable_seed

TRAINED = "trained"
CONTROL = "noise_control"
RANDOMIZED_BASES = ("step0", "rerandomized", "rerandomized_embeddings")
RERANDOMIZED_BASES = ("rerandomized", "rerandomized_embeddings")

HOLDS = "holds"
FAILS = "does not hold"
UNTESTABLE = "not testable at this scale"

# Documented thresholds (docs/claims.md).
CONTROL_CHANCE_TOLERANCE = 0.1  # claim 1b: control AUROC within 0.5 +- this
CE_GAP_RATIO_MAX = 0.25  # claim 5: randomized ablation gap below this fraction of trained's
HIGH_AUROC = 0.8  # claim 7c: a "high-AUROC" latent
HIGH_ENTROPY_QUANTILE = 0.75  # claim 7c: above this quantile of the randomized latents' entropy
N_EV_LEVELS = 25  # claim 8: EV levels on which two frontiers are compared

CELL_METRICS = ("explained_variance", "cossim", "l1", "ce_loss_score")
LATENT_METRICS = ("fuzzing_auroc", "detection_auroc", "token_entropy")
SCORERS = ("fuzzing", "detection")

CLAIM_TEXT = {
    1: "Auto-interp AUROC is far closer between trained and randomized variants than to the "
    "control; the control sits near 0.5",
    2: "Cosine similarity and explained variance are much lower for the control; the control's "
    "reconstruction error rises with depth while the other variants' errors fall",
    3: "Re-randomized variants track trained more closely than Step-0, especially L1 at large "
    "sizes",
    4: "AUROC rises with model size for every variant except the control",
    5: "CE-loss score is meaningful only for the trained model (randomized models' predictions "
    "barely change with or without the layer's output)",
    6: "Token entropy: control consistently high; trained rises with depth; randomized variants "
    "lower than both and flat with depth",
    7: "Per latent: negative entropy-AUROC correlation for randomized variants, weaker for "
    "trained, with some high-entropy, high-AUROC trained latents",
    8: "Toy: much higher sparsity at a given EV on superposed data than on the Gaussian control; "
    "the gap shrinks after a random MLP; word-vector frontiers improve after a random MLP",
}

COLUMNS = [
    "claim",
    "sub",
    "model",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "direction",
    "threshold",
    "resampled",
    "n_units",
    "verdict",
    "detail",
    "paper_claim",
]


def init_kind(init: str) -> str:
    """``trained``, ``control``, ``step0`` or ``rerandomized`` (the base of an init name)."""
    base = parse_init(init).base
    if base == TRAINED:
        return "trained"
    if base == CONTROL:
        return "control"
    return "step0" if base == "step0" else "rerandomized"


def is_randomized(init: str) -> bool:
    return parse_init(init).base in RANDOMIZED_BASES


def is_rerandomized(init: str) -> bool:
    return parse_init(init).base in RERANDOMIZED_BASES


# --------------------------------------------------------------------------------------------
# Resampling machinery
# --------------------------------------------------------------------------------------------


@dataclass
class Measure:
    """One metric over the grid: per cell, the unit values behind the cell's value.

    ``values[(model, init)]`` is a list over ``layers[model]`` of 1-D arrays: the per-latent
    values of the cell (``unit == "latents"``) or a length-1 array (``unit == "layers"``). A cell
    with no values is an empty array (its value is NaN).
    """

    name: str
    unit: str
    layers: dict[str, np.ndarray]
    values: dict[tuple[str, str], list[np.ndarray]] = field(default_factory=dict)

    def models(self) -> list[str]:
        return list(self.layers)

    def inits(self, model: str) -> list[str]:
        return [i for (m, i) in self.values if m == model]

    def point(self) -> dict[tuple[str, str], np.ndarray]:
        return {k: np.array([_nanmean(a) for a in v]) for k, v in self.values.items()}

    def replicates(
        self, n_boot: int, seed: int
    ) -> Iterable[tuple[dict[tuple[str, str], np.ndarray], dict[str, np.ndarray]]]:
        """``n_boot`` bootstrap replicates of (cell values, layers)."""
        rng = np.random.default_rng(seed)
        if self.unit == "latents":
            per_cell = {}
            for key, arrays in self.values.items():
                cols = []
                for a in arrays:
                    a = a[np.isfinite(a)]
                    if len(a) == 0:
                        cols.append(np.full(n_boot, np.nan))
                    else:
                        cols.append(a[rng.integers(0, len(a), (n_boot, len(a)))].mean(axis=1))
                per_cell[key] = np.stack(cols, axis=1) if cols else np.zeros((n_boot, 0))
            for b in range(n_boot):
                yield {k: v[b] for k, v in per_cell.items()}, self.layers
        elif self.unit == "layers":
            point = self.point()
            idx = {
                m: rng.integers(0, len(lay), (n_boot, len(lay))) for m, lay in self.layers.items()
            }
            for b in range(n_boot):
                yield (
                    {(m, i): v[idx[m][b]] for (m, i), v in point.items()},
                    {m: lay[idx[m][b]] for m, lay in self.layers.items()},
                )
        else:
            raise ValueError(f"unknown resampling unit {self.unit!r}")


def _nanmean(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if len(a) else float("nan")


Stat = Callable[[dict[tuple[str, str], np.ndarray], dict[str, np.ndarray]], float]


def estimate(measure: Measure, stat: Stat, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Point value of ``stat`` and its 95 % percentile bootstrap CI (NaN when more than half of
    the replicates are undefined, or ``n_boot`` is 0)."""
    value = float(stat(measure.point(), measure.layers))
    if not np.isfinite(value) or n_boot <= 0:
        return value, float("nan"), float("nan")
    reps = np.array([stat(v, lay) for v, lay in measure.replicates(n_boot, seed)], dtype=float)
    return (value, *_percentile_ci(reps))


def _percentile_ci(reps: np.ndarray) -> tuple[float, float]:
    """2.5/97.5 percentiles of the finite replicates; NaN if fewer than half are finite."""
    reps = np.asarray(reps, dtype=float).ravel()
    n_all = len(reps)
    reps = reps[np.isfinite(reps)]
    if len(reps) < 2 or len(reps) < 0.5 * n_all:
        return float("nan"), float("nan")
    return float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5))


def slope(x: np.ndarray, y: np.ndarray) -> float:
    """OLS slope of y on x over the finite pairs; NaN with fewer than two distinct x."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0:
        return float("nan")
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc**2).sum())


# --------------------------------------------------------------------------------------------
# Building measures from the tables
# --------------------------------------------------------------------------------------------


def _grid_layers(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        m: np.array(sorted(int(x) for x in g["layer"].unique())) for m, g in df.groupby("model")
    }


def cell_measure(
    df: pd.DataFrame, column: str, layers: dict[str, np.ndarray] | None = None
) -> Measure | None:
    """A one-value-per-cell measure (resampled over layers); None if the column is absent."""
    if column not in df.columns or df.empty:
        return None
    layers = layers or _grid_layers(df)
    meas = Measure(column, "layers", layers)
    vals = {
        (str(r.model), str(r.init), int(r.layer)): float(getattr(r, column))
        for r in df.itertuples(index=False)
    }
    for m, lay in layers.items():
        for init in df.loc[df["model"] == m, "init"].unique():
            meas.values[(m, str(init))] = [
                np.array([vals.get((m, str(init), int(layer)), np.nan)]) for layer in lay
            ]
    return meas


def latent_measure(
    lat: pd.DataFrame | None, column: str, layers: dict[str, np.ndarray] | None = None
) -> Measure | None:
    """A per-latent measure (resampled over latents within cells); None if the column is absent
    or has no finite value."""
    if lat is None or column not in lat.columns or lat.empty:
        return None
    if not np.isfinite(pd.to_numeric(lat[column], errors="coerce")).any():
        return None
    layers = layers or _grid_layers(lat)
    meas = Measure(column, "latents", layers)
    groups = {
        (str(m), str(i), int(layer)): pd.to_numeric(g[column], errors="coerce").to_numpy(float)
        for (m, i, layer), g in lat.groupby(["model", "init", "layer"])
    }
    for m, lay in layers.items():
        for init in lat.loc[lat["model"] == m, "init"].unique():
            meas.values[(m, str(init))] = [
                groups.get((m, str(init), int(layer)), np.array([])) for layer in lay
            ]
    return meas


def auroc_measure(
    scorer: str,
    lat: pd.DataFrame | None,
    autointerp: pd.DataFrame | None,
    layers: dict[str, np.ndarray] | None = None,
) -> Measure | None:
    """AUROC of a scorer: mean per-latent AUROC from the per-latent table when it has the
    column, else the cell's pooled AUROC from the autointerp table (resampled over layers)."""
    meas = latent_measure(lat, f"{scorer}_auroc", layers)
    if meas is not None:
        return meas
    if autointerp is None or autointerp.empty or "scorer" not in autointerp.columns:
        return None
    sub = autointerp[autointerp["scorer"] == scorer]
    meas = cell_measure(sub, "auroc_pooled", layers)
    if meas is not None:
        meas.name = f"{scorer}_auroc_pooled"
    return meas


# --------------------------------------------------------------------------------------------
# Rows and verdicts
# --------------------------------------------------------------------------------------------


def verdict(value: float, lo: float, hi: float, direction: str, threshold: float) -> tuple:
    """(verdict, detail) of a statistic that the claim says is ``direction`` (``>``/``<``)
    ``threshold``: holds when the whole 95 % CI lies on the claimed side."""
    if not np.isfinite(value):
        return UNTESTABLE, "statistic undefined on this run's tables"
    agrees = value > threshold if direction == ">" else value < threshold
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return FAILS if not agrees else UNTESTABLE, (
            "point estimate contradicts the claim; no CI"
            if not agrees
            else "point estimate agrees but no CI could be formed (too few units)"
        )
    sure = lo > threshold if direction == ">" else hi < threshold
    if sure:
        return HOLDS, "95% CI excludes the threshold"
    if agrees:
        return FAILS, "point estimate agrees but the 95% CI includes the threshold"
    return FAILS, "point estimate contradicts the claim"


def _row(
    claim: int,
    sub: str,
    model: str,
    statistic: str,
    value: float = float("nan"),
    lo: float = float("nan"),
    hi: float = float("nan"),
    direction: str = ">",
    threshold: float = 0.0,
    resampled: str = "",
    n_units: int = 0,
    untestable: str | None = None,
) -> dict:
    if untestable is not None:
        v, detail = UNTESTABLE, untestable
    else:
        v, detail = verdict(value, lo, hi, direction, threshold)
    return {
        "claim": claim,
        "sub": sub,
        "model": model,
        "statistic": statistic,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
        "direction": direction,
        "threshold": threshold,
        "resampled": resampled,
        "n_units": int(n_units),
        "verdict": v,
        "detail": detail,
        "paper_claim": CLAIM_TEXT[claim],
    }


def _units(meas: Measure, model: str | None = None) -> tuple[str, int]:
    keys = [k for k in meas.values if model is None or k[0] == model]
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
        return _row(claim, sub, model, statistic, untestable=f"no {statistic.split()[0]} values")
    why = need(meas) if need else None
    if why:
        return _row(claim, sub, model, statistic, untestable=why)
    s = stable_seed(seed, "claims", claim, sub, model)
    value, lo, hi = estimate(meas, stat, n_boot, s)
    resampled, n = _units(meas, None if model == "all" else model)
    return _row(claim, sub, model, statistic, value, lo, hi, direction, threshold, resampled, n)


# --------------------------------------------------------------------------------------------
# Claims 1-7 (transformer grid)
# --------------------------------------------------------------------------------------------


def _pick(V: dict, model: str, pred: Callable[[str], bool]) -> dict[str, np.ndarray]:
    return {i: v for (m, i), v in V.items() if m == model and pred(i)}


def _need_inits(model: str, *groups: tuple[str, Callable[[str], bool]]) -> Callable:
    def check(meas: Measure) -> str | None:
        have = meas.inits(model)
        for label, pred in groups:
            if not any(pred(i) for i in have):
                return f"no {label} cells for {model}"
        return None

    return check


def _need_layers(model: str, n: int, *groups) -> Callable:
    def check(meas: Measure) -> str | None:
        why = _need_inits(model, *groups)(meas)
        if why:
            return why
        if len(meas.layers.get(model, [])) < n:
            return f"needs at least {n} layers of {model} (has {len(meas.layers.get(model, []))})"
        return None

    return check


TR = ("trained", lambda i: i == TRAINED)
CT = ("control", lambda i: parse_init(i).base == CONTROL)
RA = ("randomized", is_randomized)
RR = ("re-randomized", is_rerandomized)
S0 = ("step0", lambda i: parse_init(i).base == "step0")
NC = ("non-control", lambda i: parse_init(i).base != CONTROL)


def _min_or_nan(xs: Iterable[float]) -> float:
    xs = [x for x in xs if np.isfinite(x)]
    return float(min(xs)) if xs else float("nan")


def _max_or_nan(xs: Iterable[float]) -> float:
    xs = [x for x in xs if np.isfinite(x)]
    return float(max(xs)) if xs else float("nan")


def claim1_gap(model: str) -> Stat:
    """min over layers and randomized variants v of |A_T - A_C| - |A_T - A_v|."""

    def stat(V, L):
        t, c = V[(model, TRAINED)], _pick(V, model, CT[1])
        r = _pick(V, model, is_randomized)
        c = next(iter(c.values()))
        return _min_or_nan(np.nanmin(np.abs(t - c) - np.abs(t - v)) for v in r.values())

    return stat


def claim1_control_chance(model: str) -> Stat:
    """max over layers of |A_C - 0.5|."""

    def stat(V, L):
        c = next(iter(_pick(V, model, CT[1]).values()))
        return _max_or_nan(np.abs(c - 0.5))

    return stat


def claim2_control_lower(model: str) -> Stat:
    """mean over layers of min over non-control variants v of (m_v - m_C)."""

    def stat(V, L):
        c = next(iter(_pick(V, model, CT[1]).values()))
        others = np.stack([v - c for v in _pick(V, model, NC[1]).values()])
        return _nanmean(np.nanmin(others, axis=0))

    return stat


def claim2_control_error_slope(model: str) -> Stat:
    """OLS slope of the control's FVU (1 - EV) on the layer index."""

    def stat(V, L):
        c = next(iter(_pick(V, model, CT[1]).values()))
        return slope(L[model], 1.0 - c)

    return stat


def claim2_others_error_slope(model: str) -> Stat:
    """max over non-control variants of the OLS slope of FVU (1 - EV) on the layer index."""

    def stat(V, L):
        return _max_or_nan(slope(L[model], 1.0 - v) for v in _pick(V, model, NC[1]).values())

    return stat


def claim3_tracking(model: str) -> Stat:
    """mean over layers of |m_S0 - m_T| - max over re-randomized v of |m_v - m_T|."""

    def stat(V, L):
        t = V[(model, TRAINED)]
        s0 = next(iter(_pick(V, model, S0[1]).values()))
        rr = np.stack([np.abs(v - t) for v in _pick(V, model, is_rerandomized).values()])
        return _nanmean(np.abs(s0 - t) - np.nanmax(rr, axis=0))

    return stat


def claim3_size(models: list[str]) -> Stat:
    """claim-3 tracking statistic of L1 relative to trained's L1: largest model minus smallest."""

    def stat(V, L):
        vals = []
        for m in (models[0], models[-1]):
            t = V[(m, TRAINED)]
            s0 = next(iter(_pick(V, m, S0[1]).values()))
            rr = np.stack([np.abs(v - t) for v in _pick(V, m, is_rerandomized).values()])
            vals.append(_nanmean((np.abs(s0 - t) - np.nanmax(rr, axis=0)) / np.abs(t)))
        return vals[1] - vals[0]

    return stat


def claim4_size_slope(models: list[str], log_params: dict[str, float]) -> Stat:
    """min over non-control variants of the OLS slope of the model's mean AUROC over layers on
    log10(n_params)."""

    def stat(V, L):
        inits = {i for (m, i) in V if m in models and parse_init(i).base != CONTROL}
        out = []
        for i in inits:
            if not all((m, i) in V for m in models):
                continue
            y = [_nanmean(V[(m, i)]) for m in models]
            out.append(slope(np.array([log_params[m] for m in models]), np.array(y)))
        return _min_or_nan(out)

    return stat


def claim5_gap_ratio(model: str) -> Stat:
    """max over randomized v of mean_layers(G_v) / mean_layers(G_T), G = CE_ablation - CE_clean."""

    def stat(V, L):
        t = _nanmean(V[(model, TRAINED)])
        return _max_or_nan(_nanmean(v) / t for v in _pick(V, model, is_randomized).values())

    return stat


def claim6_control_high(model: str) -> Stat:
    """min over layers of H_C - max over other variants H_v (mean per-latent entropy)."""

    def stat(V, L):
        c = next(iter(_pick(V, model, CT[1]).values()))
        others = np.stack(list(_pick(V, model, NC[1]).values()))
        return _min_or_nan(c - np.nanmax(others, axis=0))

    return stat


def claim6_trained_slope(model: str) -> Stat:
    """OLS slope of trained's mean per-latent entropy on the layer index."""

    def stat(V, L):
        return slope(L[model], V[(model, TRAINED)])

    return stat


def claim6_randomized_lower(model: str) -> Stat:
    """max over layers and randomized v of H_v - min(H_T, H_C)."""

    def stat(V, L):
        t = V[(model, TRAINED)]
        c = next(iter(_pick(V, model, CT[1]).values()))
        floor = np.fmin(t, c)
        return _max_or_nan(np.nanmax(v - floor) for v in _pick(V, model, is_randomized).values())

    return stat


def claim6_randomized_flat(model: str) -> Stat:
    """trained's entropy slope minus the largest |slope| of a randomized variant."""

    def stat(V, L):
        st = slope(L[model], V[(model, TRAINED)])
        sr = _max_or_nan(abs(slope(L[model], v)) for v in _pick(V, model, is_randomized).values())
        return st - sr

    return stat


def _grid_claims(
    sae_metrics: pd.DataFrame,
    autointerp: pd.DataFrame | None,
    latents: pd.DataFrame | None,
    n_boot: int,
    seed: int,
) -> list[dict]:
    rows: list[dict] = []
    layers = _grid_layers(sae_metrics)
    models = list(layers)
    aur = {s: auroc_measure(s, latents, autointerp, layers) for s in SCORERS}
    ent = latent_measure(latents, "token_entropy", layers)
    cm = {c: cell_measure(sae_metrics, c, layers) for c in CELL_METRICS}
    gap = None
    if {"ce_loss_with_ablation", "ce_loss_without_sae"} <= set(sae_metrics.columns):
        d = sae_metrics.assign(
            ce_ablation_gap=sae_metrics["ce_loss_with_ablation"]
            - sae_metrics["ce_loss_without_sae"]
        )
        gap = cell_measure(d, "ce_ablation_gap", layers)
    for model in models:
        for s in SCORERS:
            m = aur[s]
            name = m.name if m is not None else f"{s}_auroc"
            rows.append(
                _stat_row(
                    1,
                    f"1a-{s}",
                    model,
                    f"{name}: min over layers, randomized v of |T-C| - |T-v|",
                    m,
                    claim1_gap(model),
                    ">",
                    0.0,
                    n_boot,
                    seed,
                    _need_inits(model, TR, CT, RA),
                )
            )
            rows.append(
                _stat_row(
                    1,
                    f"1b-{s}",
                    model,
                    f"{name}: max over layers of |control - 0.5|",
                    m,
                    claim1_control_chance(model),
                    "<",
                    CONTROL_CHANCE_TOLERANCE,
                    n_boot,
                    seed,
                    _need_inits(model, CT),
                )
            )
        for metric in ("cossim", "explained_variance"):
            rows.append(
                _stat_row(
                    2,
                    f"2a-{metric}",
                    model,
                    f"{metric}: mean over layers of min over non-control v of (v - control)",
                    cm[metric],
                    claim2_control_lower(model),
                    ">",
                    0.0,
                    n_boot,
                    seed,
                    _need_layers(model, 2, CT, NC),
                )
            )
        ev = cm["explained_variance"]
        rows.append(
            _stat_row(
                2,
                "2b",
                model,
                "explained_variance: OLS slope of control FVU on layer",
                ev,
                claim2_control_error_slope(model),
                ">",
                0.0,
                n_boot,
                seed,
                _need_layers(model, 3, CT),
            )
        )
        rows.append(
            _stat_row(
                2,
                "2c",
                model,
                "explained_variance: max over non-control v of OLS slope of FVU on layer",
                ev,
                claim2_others_error_slope(model),
                "<",
                0.0,
                n_boot,
                seed,
                _need_layers(model, 3, NC),
            )
        )
        for metric in ("l1", "explained_variance", "cossim"):
            rows.append(
                _stat_row(
                    3,
                    f"3a-{metric}",
                    model,
                    f"{metric}: mean over layers of |step0-T| - max over re-randomized v of |v-T|",
                    cm[metric],
                    claim3_tracking(model),
                    ">",
                    0.0,
                    n_boot,
                    seed,
                    _need_layers(model, 2, TR, S0, RR),
                )
            )
        rows.append(
            _stat_row(
                5,
                "5",
                model,
                "ce_ablation_gap: max over randomized v of mean G_v / mean G_T "
                "(G = CE with ablation - CE clean)",
                gap,
                claim5_gap_ratio(model),
                "<",
                CE_GAP_RATIO_MAX,
                n_boot,
                seed,
                _need_layers(model, 2, TR, RA),
            )
        )
        for sub, text, stat, direction, need in (
            (
                "6a",
                "token_entropy: min over layers of control - max over other variants",
                claim6_control_high(model),
                ">",
                _need_inits(model, CT, NC),
            ),
            (
                "6b",
                "token_entropy: OLS slope of trained mean entropy on layer",
                claim6_trained_slope(model),
                ">",
                _need_layers(model, 2, TR),
            ),
            (
                "6c",
                "token_entropy: max over layers, randomized v of v - min(trained, control)",
                claim6_randomized_lower(model),
                "<",
                _need_inits(model, TR, CT, RA),
            ),
            (
                "6d",
                "token_entropy: trained slope - max |slope| of a randomized variant",
                claim6_randomized_flat(model),
                ">",
                _need_layers(model, 2, TR, RA),
            ),
        ):
            rows.append(
                _stat_row(6, sub, model, text, ent, stat, direction, 0.0, n_boot, seed, need)
            )
        rows += claim7_rows(latents, model, n_boot, seed)
    rows += _size_rows(sae_metrics, aur, cm["l1"], models, n_boot, seed)
    return rows


def _size_rows(sae_metrics, aur, l1, models, n_boot, seed) -> list[dict]:
    """Claims 3b and 4: across model sizes (need two models of different n_params)."""
    rows: list[dict] = []
    n_params = {}
    if "n_params" in sae_metrics.columns:
        n_params = {
            m: float(g["n_params"].iloc[0])
            for m, g in sae_metrics.groupby("model")
            if np.isfinite(pd.to_numeric(g["n_params"], errors="coerce")).all()
        }
    sized = sorted((m for m in models if m in n_params), key=lambda m: n_params[m])
    distinct = len({n_params[m] for m in sized})
    why = None if distinct >= 2 else f"needs models of at least two sizes (has {distinct})"
    text3 = "l1: (claim-3 tracking / |L1_T|) of the largest model minus the smallest"
    if why or l1 is None:
        rows.append(_row(3, "3b-size", "all", text3, untestable=why or "no l1 values"))
    else:
        rows.append(
            _stat_row(
                3,
                "3b-size",
                "all",
                text3,
                l1,
                claim3_size(sized),
                ">",
                0.0,
                n_boot,
                seed,
                lambda meas: next(
                    (w for m in sized if (w := _need_layers(m, 2, TR, S0, RR)(meas))), None
                ),
            )
        )
    logp = {m: float(np.log10(n_params[m])) for m in sized}
    for s in SCORERS:
        text = f"{s}_auroc: min over non-control v of OLS slope of mean AUROC on log10(n_params)"
        if why or aur[s] is None:
            rows.append(_row(4, f"4-{s}", "all", text, untestable=why or f"no {s} AUROC values"))
            continue
        rows.append(
            _stat_row(
                4,
                f"4-{s}",
                "all",
                text,
                aur[s],
                claim4_size_slope(sized, logp),
                ">",
                0.0,
                n_boot,
                seed,
            )
        )
    return rows


# --------------------------------------------------------------------------------------------
# Claim 7: per-latent entropy-AUROC rank correlation
# --------------------------------------------------------------------------------------------


def rank_rows(x: np.ndarray) -> np.ndarray:
    """Ranks (1-based, ties get their average rank) along the last axis of a 2-D array."""
    x = np.asarray(x, dtype=float)
    b, n = x.shape
    order = np.argsort(x, axis=1, kind="mergesort")
    xs = np.take_along_axis(x, order, axis=1)
    new = np.ones((b, n), dtype=bool)
    new[:, 1:] = xs[:, 1:] != xs[:, :-1]
    gid = (np.cumsum(new, axis=1) - 1 + (np.arange(b) * n)[:, None]).ravel()
    pos = np.tile(np.arange(n, dtype=float), b)
    avg = np.bincount(gid, weights=pos, minlength=b * n) / np.maximum(
        np.bincount(gid, minlength=b * n), 1
    )
    ranks = np.empty((b, n))
    np.put_along_axis(ranks, order, (avg[gid] + 1.0).reshape(b, n), axis=1)
    return ranks


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row pair of x, y (B, n) with average ranks for ties."""
    rx, ry = rank_rows(x), rank_rows(y)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either side is constant."""
    return float(_spearman_rows(np.asarray(x, float)[None], np.asarray(y, float)[None])[0])


def claim7_rows(lat: pd.DataFrame | None, model: str, n_boot: int, seed: int) -> list[dict]:
    """Claim 7 per model: rho_v = mean over layers of the within-cell Spearman correlation of
    token entropy and fuzzing AUROC over latents; bootstrap over latents within cells."""
    texts = {
        "7a": "max over randomized v of rho_v (rho = mean over layers of Spearman(entropy, "
        "fuzzing AUROC))",
        "7b": "rho_trained - mean over randomized v of rho_v",
        "7c": f"fraction of trained latents with entropy above the randomized latents' "
        f"{HIGH_ENTROPY_QUANTILE:.0%} quantile (same layer) and fuzzing AUROC >= {HIGH_AUROC}",
    }
    cols = {"token_entropy", "fuzzing_auroc"}
    if lat is None or not cols <= set(lat.columns):
        why = "no per-latent table with token_entropy and fuzzing_auroc"
        return [_row(7, s, model, t, untestable=why) for s, t in texts.items()]
    sub = lat[(lat["model"] == model)].dropna(subset=list(cols))
    inits = [str(i) for i in sub["init"].unique()]
    rand = [i for i in inits if is_randomized(i)]
    if TRAINED not in inits or not rand:
        why = f"needs trained and randomized per-latent values for {model}"
        return [_row(7, s, model, t, untestable=why) for s, t in texts.items()]
    rng = np.random.default_rng(stable_seed(seed, "claims", 7, model))
    rho_point: dict[str, list[float]] = {}
    rho_boot: dict[str, list[np.ndarray]] = {}
    for (init, _layer), g in sub.groupby(["init", "layer"]):
        h, a = g["token_entropy"].to_numpy(float), g["fuzzing_auroc"].to_numpy(float)
        if len(h) < 3:
            continue
        rho_point.setdefault(str(init), []).append(spearman(h, a))
        idx = rng.integers(0, len(h), (max(n_boot, 1), len(h)))
        rho_boot.setdefault(str(init), []).append(_spearman_rows(h[idx], a[idx]))
    pt = {i: _nanmean(np.array(v)) for i, v in rho_point.items()}
    with warnings.catch_warnings():  # a cell whose values are all tied has no correlation
        warnings.simplefilter("ignore", RuntimeWarning)
        bt = {
            i: np.nanmean(np.stack(v, axis=1), axis=1) if v else np.array([])
            for i, v in rho_boot.items()
        }
    rows = []
    rand = [i for i in rand if i in pt]
    n_units = int(sum(len(g) for _, g in sub.groupby(["init", "layer"]) if len(g) >= 3))
    if TRAINED not in pt or not rand:
        why = "too few latents per cell (need 3) for a rank correlation"
        return [_row(7, s, model, t, untestable=why) for s, t in texts.items()]
    v7a = max(pt[i] for i in rand)
    b7a = np.max(np.stack([bt[i] for i in rand]), axis=0)
    v7b = pt[TRAINED] - float(np.mean([pt[i] for i in rand]))
    b7b = bt[TRAINED] - np.mean(np.stack([bt[i] for i in rand]), axis=0)
    for s, v, b, d in (("7a", v7a, b7a, "<"), ("7b", v7b, b7b, ">")):
        lo, hi = _percentile_ci(b) if n_boot > 0 else (float("nan"),) * 2
        rows.append(_row(7, s, model, texts[s], v, lo, hi, d, 0.0, "latents within cells", n_units))
    # 7c: existence of high-entropy, high-AUROC trained latents
    flags = []
    for _layer, g in sub.groupby("layer"):
        r = g[g["init"].map(lambda i: is_randomized(str(i)))]["token_entropy"]
        if r.empty:
            continue
        q = float(np.quantile(r.to_numpy(float), HIGH_ENTROPY_QUANTILE))
        t = g[g["init"] == TRAINED]
        flags.append(((t["token_entropy"] > q) & (t["fuzzing_auroc"] >= HIGH_AUROC)).to_numpy())
    f = np.concatenate(flags) if flags else np.array([], dtype=bool)
    if len(f) == 0:
        rows.append(_row(7, "7c", model, texts["7c"], untestable="no trained latents"))
        return rows
    frac = float(f.mean())
    boot = f[rng.integers(0, len(f), (max(n_boot, 1), len(f)))].mean(axis=1)
    lo, hi = _percentile_ci(boot) if n_boot > 0 else (float("nan"),) * 2
    row = _row(7, "7c", model, texts["7c"], frac, lo, hi, ">", 0.0, "trained latents", len(f))
    # existence claim: one such latent is enough (the CI is reported, not used)
    n_hit = int(f.sum())
    row["verdict"] = HOLDS if n_hit > 0 else FAILS
    row["detail"] = f"{n_hit} of {len(f)} trained latents qualify (existence claim: >= 1)"
    rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Claim 8: toy Pareto frontiers
# --------------------------------------------------------------------------------------------


def pareto_frontier(ev: np.ndarray, sparsity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-dominated points (maximise EV, minimise sparsity), sorted by EV; points with EV <= 0
    or sparsity <= 0 or non-finite values are dropped."""
    ev, sp = np.asarray(ev, float), np.asarray(sparsity, float)
    ok = np.isfinite(ev) & np.isfinite(sp) & (ev > 0) & (sp > 0)
    ev, sp = ev[ok], sp[ok]
    keep = [
        not np.any((ev >= ev[j]) & (sp <= sp[j]) & ((ev > ev[j]) | (sp < sp[j])))
        for j in range(len(ev))
    ]
    ev, sp = ev[np.array(keep, dtype=bool)], sp[np.array(keep, dtype=bool)]
    order = np.argsort(ev, kind="mergesort")
    return ev[order], sp[order]


def frontier_advantage(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray], n_levels: int = N_EV_LEVELS
) -> float:
    """Mean over EV levels in the overlap of both frontiers' EV ranges of
    log(sparsity_b(EV)) - log(sparsity_a(EV)), each frontier interpolated linearly in
    (EV, log sparsity). Positive: ``a`` is sparser at equal EV. NaN without an overlap."""
    (ea, sa), (eb, sb) = a, b
    if len(ea) == 0 or len(eb) == 0:
        return float("nan")
    lo, hi = max(ea.min(), eb.min()), min(ea.max(), eb.max())
    if not hi > lo:
        return float("nan")
    grid = np.linspace(lo, hi, n_levels)
    return float(np.mean(np.interp(grid, eb, np.log(sb)) - np.interp(grid, ea, np.log(sa))))


TOY_PAIRS = {
    "plain_vs_gaussian": [(("plain", "gaussian"), 1.0)],
    "gap_shrinks": [(("plain", "gaussian"), 1.0), (("ffn", "gaussian_ffn"), -1.0)],
    "ffn_vs_plain": [(("ffn", "plain"), 1.0)],
}


@dataclass
class ToySweep:
    """One dataset's sweep as arrays: ``keys[g] = (arm, n_latents, l1_coef)``, ``fvu[g, s]`` and
    ``l0[g, s]`` over ``seeds`` (NaN where a seed lacks the point)."""

    keys: list[tuple[str, int, float]]
    seeds: np.ndarray
    fvu: np.ndarray
    l0: np.ndarray

    @classmethod
    def from_rows(cls, df: pd.DataFrame) -> ToySweep:
        keys = sorted(
            {
                (str(a), int(n), float(c))
                for a, n, c in zip(df["arm"], df["n_latents"], df["l1_coef"], strict=True)
            }
        )
        seeds = np.array(sorted(df["seed"].unique()))
        gi = {k: i for i, k in enumerate(keys)}
        si = {s: i for i, s in enumerate(seeds)}
        fvu = np.full((len(keys), len(seeds)), np.nan)
        l0 = np.full((len(keys), len(seeds)), np.nan)
        for r in df.itertuples(index=False):
            g, s = gi[(str(r.arm), int(r.n_latents), float(r.l1_coef))], si[r.seed]
            fvu[g, s], l0[g, s] = float(r.fvu), float(r.l0)
        return cls(keys, seeds, fvu, l0)

    def statistic(self, kind: str, weights: np.ndarray | None = None) -> float:
        """Claim-8 statistic from seed means (``weights``: how often each seed is drawn)."""
        w = np.ones(len(self.seeds)) if weights is None else np.asarray(weights, float)
        with np.errstate(invalid="ignore", divide="ignore"):
            ok = np.isfinite(self.fvu) & np.isfinite(self.l0)
            den = (ok * w).sum(axis=1)
            fvu = np.where(ok, self.fvu, 0.0) @ w / den
            l0 = np.where(ok, self.l0, 0.0) @ w / den
        pts: dict[tuple[str, int], list[int]] = {}
        for g, (arm, n, _c) in enumerate(self.keys):
            pts.setdefault((arm, n), []).append(g)
        fr = {k: pareto_frontier(1.0 - fvu[idx], l0[idx]) for k, idx in pts.items()}
        return _pairs_statistic(fr, kind)


def _pairs_statistic(fr: dict, kind: str) -> float:
    vals = []
    for n in sorted({n for (_a, n) in fr}):
        tot = 0.0
        for (x, y), w in TOY_PAIRS[kind]:
            if (x, n) not in fr or (y, n) not in fr:
                tot = float("nan")
                break
            tot += w * frontier_advantage(fr[(x, n)], fr[(y, n)])
        vals.append(tot)
    return _nanmean(np.array(vals)) if vals else float("nan")


def toy_statistic(df: pd.DataFrame, kind: str) -> float:
    """Claim-8 statistics of one dataset's sweep rows (EV = 1 - FVU and L0 averaged over seeds),
    averaged over dictionary sizes. ``plain_vs_gaussian``: A(plain, gaussian); ``gap_shrinks``:
    A(plain, gaussian) - A(ffn, gaussian_ffn); ``ffn_vs_plain``: A(ffn, plain);
    A = :func:`frontier_advantage` of the two arms' frontiers."""
    return ToySweep.from_rows(df).statistic(kind)


def claim8_rows(toy: pd.DataFrame | None, n_boot: int, seed: int) -> list[dict]:
    """Claim 8 from the toy sweeps; bootstrap over seeds (one draw shared by every arm)."""
    texts = {
        "8a": "A(plain, gaussian): mean log L0 advantage of the plain frontier at equal EV",
        "8b": "A(plain, gaussian) - A(ffn, gaussian_ffn)",
        "8c": "A(ffn, plain) on word vectors",
    }
    need = {"dataset", "arm", "n_latents", "l1_coef", "seed", "fvu", "l0"}
    if toy is None or toy.empty or not need <= set(toy.columns):
        return [_row(8, s, "toy", t, untestable="no toy sweep tables") for s, t in texts.items()]
    rows = []
    plan = []
    for ds in sorted(toy["dataset"].unique()):
        if str(ds).startswith("sharkey"):
            plan += [("8a", ds, "plain_vs_gaussian"), ("8b", ds, "gap_shrinks")]
        else:
            plan += [("8c", ds, "ffn_vs_plain")]
    for s in texts:
        if not any(p[0] == s for p in plan):
            what = "synthetic (sharkey)" if s != "8c" else "word-vector"
            rows.append(_row(8, s, "toy", texts[s], untestable=f"no {what} toy dataset"))
    for s, ds, kind in plan:
        df = toy[toy["dataset"] == ds]
        arms = {"plain", "gaussian"} | ({"ffn", "gaussian_ffn"} if kind == "gap_shrinks" else set())
        if kind == "ffn_vs_plain":
            arms = {"ffn", "plain"}
        text = f"{ds}: {texts[s]}"
        if not arms <= set(df["arm"]):
            rows.append(_row(8, s, "toy", text, untestable=f"{ds} lacks arms {sorted(arms)}"))
            continue
        sweep = ToySweep.from_rows(df)
        value = sweep.statistic(kind)
        seeds = sweep.seeds
        rng = np.random.default_rng(stable_seed(seed, "claims", 8, s, ds))
        reps = []
        if n_boot > 0 and len(seeds) >= 2 and np.isfinite(value):
            for _ in range(n_boot):
                draw = rng.integers(0, len(seeds), len(seeds))
                reps.append(sweep.statistic(kind, np.bincount(draw, minlength=len(seeds))))
        lo, hi = _percentile_ci(np.array(reps, float)) if reps else (float("nan"),) * 2
        if not np.isfinite(value):
            rows.append(_row(8, s, "toy", text, untestable="the frontiers do not overlap in EV"))
            continue
        rows.append(_row(8, s, "toy", text, value, lo, hi, ">", 0.0, "seeds", len(seeds)))
    return rows


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def claims_table(
    sae_metrics: pd.DataFrame,
    autointerp: pd.DataFrame | None = None,
    latents: pd.DataFrame | None = None,
    toy: pd.DataFrame | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per claim and sub-statistic (and model), in claim order."""
    rows = _grid_claims(sae_metrics, autointerp, latents, n_boot, seed)
    rows += claim8_rows(toy, n_boot, seed)
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(["claim", "sub", "model"], kind="mergesort").reset_index(drop=True)


def permutation_pvalue(
    x: np.ndarray, y: np.ndarray, n_perm: int, rng: np.random.Generator
) -> float:
    """Two-sided permutation p-value of mean(x) - mean(y): (1 + #{|d*| >= |d|}) / (1 + n_perm)."""
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) == 0 or len(y) == 0 or n_perm <= 0:
        return float("nan")
    z = np.concatenate([x, y])
    obs = abs(x.mean() - y.mean())
    perm = rng.permuted(np.tile(z, (n_perm, 1)), axis=1)
    d = np.abs(perm[:, : len(x)].mean(axis=1) - perm[:, len(x) :].mean(axis=1))
    return float((1 + np.sum(d >= obs - 1e-12)) / (1 + n_perm))


def _two_sample_boot(x, y, n_boot, rng) -> np.ndarray:
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) == 0 or len(y) == 0 or n_boot <= 0:
        return np.array([])
    bx = x[rng.integers(0, len(x), (n_boot, len(x)))].mean(axis=1)
    by = y[rng.integers(0, len(y), (n_boot, len(y)))].mean(axis=1)
    return bx - by


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
    """
    layers = _grid_layers(sae_metrics)
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
                diffs, boots, strata = [], [], []
                for j, layer in enumerate(lay):
                    x, y = t_vals[j], v_vals[j]
                    xt, yv = _nanmean(x), _nanmean(y)
                    row = {
                        **base,
                        "layer": str(int(layer)),
                        "trained": xt,
                        "variant_value": yv,
                        "diff": xt - yv,
                    }
                    if meas.unit == "latents":
                        b = _two_sample_boot(x, y, n_boot, rng)
                        boots.append(b)
                        strata.append((x[np.isfinite(x)], y[np.isfinite(y)]))
                        lo, hi = _percentile_ci(b) if len(b) else (float("nan"),) * 2
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
                rows.append(
                    _all_layers_row(
                        base, meas, t_vals, v_vals, diffs, boots, strata, n_boot, n_perm, rng
                    )
                )
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
        "ci_low",
        "ci_high",
        "p_permutation",
        "n_trained",
        "n_variant",
        "resampled",
    ]
    return pd.DataFrame(rows, columns=cols)


def _all_layers_row(base, meas, t_vals, v_vals, diffs, boots, strata, n_boot, n_perm, rng) -> dict:
    d = np.array(diffs, float)
    row = {
        **base,
        "layer": "all",
        "trained": _nanmean(np.array([_nanmean(a) for a in t_vals])),
        "variant_value": _nanmean(np.array([_nanmean(a) for a in v_vals])),
        "diff": _nanmean(d),
    }
    if meas.unit == "latents":
        ok = [b for b in boots if len(b)]
        lo, hi = _percentile_ci(np.nanmean(np.stack(ok), axis=0)) if ok else (float("nan"),) * 2
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
            lo, hi = _percentile_ci(b.mean(axis=1))
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


def stratified_permutation_pvalue(
    strata: list[tuple[np.ndarray, np.ndarray]], n_perm: int, rng: np.random.Generator
) -> float:
    """Permutation p-value of the mean over strata of mean(x) - mean(y), labels permuted within
    each stratum (two-sided)."""
    strata = [(x, y) for x, y in strata if len(x) and len(y)]
    if not strata or n_perm <= 0:
        return float("nan")
    obs = abs(np.mean([x.mean() - y.mean() for x, y in strata]))
    tot = np.zeros(n_perm)
    for x, y in strata:
        z = rng.permuted(np.tile(np.concatenate([x, y]), (n_perm, 1)), axis=1)
        tot += z[:, : len(x)].mean(axis=1) - z[:, len(x) :].mean(axis=1)
    d = np.abs(tot / len(strata))
    return float((1 + np.sum(d >= obs - 1e-12)) / (1 + n_perm))


def markdown_table(claims: pd.DataFrame, digits: int = 3) -> str:
    """claims.csv as a Markdown table (claim, statistic, value [CI], verdict)."""

    def fmt(x) -> str:
        return "" if x is None or not np.isfinite(float(x)) else f"{float(x):.{digits}g}"

    lines = [
        "| claim | model | statistic | value [95% CI] | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in claims.itertuples(index=False):
        ci = f" [{fmt(r.ci_low)}, {fmt(r.ci_high)}]" if np.isfinite(float(r.ci_low)) else ""
        val = fmt(r.value) + ci if np.isfinite(float(r.value)) else "–"
        stat = str(r.statistic).replace("|", "\\|")
        lines.append(f"| {r.sub} | {r.model} | {stat} | {val} | {r.verdict} |")
    return "\n".join(lines) + "\n"
