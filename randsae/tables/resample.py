"""Resampling helpers for the claims and distinguishability tables: per-cell measures with
bootstrap replicates (latents within cells or layers within models), percentile CIs, OLS slope,
Spearman correlation with average ranks, and permutation tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Measure:
    """One metric over the grid: per cell, the unit values behind the cell's value.

    ``values[(model, init)]`` is a list over ``layers[model]`` of 1-D arrays: the per-latent
    values of the cell (``unit == "latents"``) or a length-1 array (``unit == "layers"``). A cell
    with no values is an empty array (its value is NaN). ``unit == "pooled"``: each entry is a
    :class:`randsae.tables.pooled.PairCounts` (or None), whose pooled AUROC is the cell's value;
    it is resampled over latents within cells like ``"latents"``.
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
        return {k: np.array([_cell_value(a) for a in v]) for k, v in self.values.items()}

    def replicates(
        self, n_boot: int, seed: int
    ) -> Iterable[tuple[dict[tuple[str, str], np.ndarray], dict[str, np.ndarray]]]:
        """``n_boot`` bootstrap replicates of (cell values, layers)."""
        rng = np.random.default_rng(seed)
        if self.unit == "pooled":
            per_cell = {
                key: np.stack(
                    [
                        a.replicates(n_boot, rng) if a is not None else np.full(n_boot, np.nan)
                        for a in arrays
                    ],
                    axis=1,
                )
                if arrays
                else np.zeros((n_boot, 0))
                for key, arrays in self.values.items()
            }
            for b in range(n_boot):
                yield {k: v[b] for k, v in per_cell.items()}, self.layers
        elif self.unit == "latents":
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


def _cell_value(a) -> float:
    """A cell's value: the pooled AUROC of pair counts, else the mean of its finite values."""
    if a is None:
        return float("nan")
    return float(a.auroc()) if hasattr(a, "auroc") else nanmean(a)


def nanmean(a: np.ndarray) -> float:
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
    return (value, *percentile_ci(reps))


def percentile_ci(reps: np.ndarray) -> tuple[float, float]:
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


def grid_layers(df: pd.DataFrame) -> dict[str, np.ndarray]:
    return {
        m: np.array(sorted(int(x) for x in g["layer"].unique())) for m, g in df.groupby("model")
    }


def cell_measure(
    df: pd.DataFrame, column: str, layers: dict[str, np.ndarray] | None = None
) -> Measure | None:
    """A one-value-per-cell measure (resampled over layers); None if the column is absent."""
    if column not in df.columns or df.empty:
        return None
    layers = layers or grid_layers(df)
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
    layers = layers or grid_layers(lat)
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


def table_auroc_measure(
    scorer: str,
    autointerp: pd.DataFrame | None,
    layers: dict[str, np.ndarray] | None = None,
) -> Measure | None:
    """The cells' pooled AUROC of a scorer from the autointerp table, one value per cell
    (resampled over layers): the fallback when the per-window rows are not available."""
    if autointerp is None or autointerp.empty or "scorer" not in autointerp.columns:
        return None
    sub = autointerp[autointerp["scorer"] == scorer]
    meas = cell_measure(sub, "auroc_pooled", layers)
    if meas is not None:
        meas.name = f"{scorer}_auroc_pooled"
    return meas


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


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row pair of x, y (B, n) with average ranks for ties."""
    rx, ry = rank_rows(x), rank_rows(y)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either side is constant."""
    return float(spearman_rows(np.asarray(x, float)[None], np.asarray(y, float)[None])[0])


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


def two_sample_boot(x, y, n_boot, rng) -> np.ndarray:
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) == 0 or len(y) == 0 or n_boot <= 0:
        return np.array([])
    bx = x[rng.integers(0, len(x), (n_boot, len(x)))].mean(axis=1)
    by = y[rng.integers(0, len(y), (n_boot, len(y)))].mean(axis=1)
    return bx - by


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
