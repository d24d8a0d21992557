"""Pareto frontiers of explained variance against sparsity over an L1-coefficient sweep.

The paper's Figs 5 and 22-29 draw, per arm, the non-dominated (sparsity, explained variance)
points of the L1 sweep: a point is on the frontier when no other point of the same sweep is at
least as sparse and explains at least as much variance, and strictly better in one of the two.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Sparsity measures of the frontier figures and which direction is sparser. L0, L1 and
# L1/sqrt(L2) are smaller for sparser codes; the Hoyer measure is 1 for one-hot, 0 for flat.
SPARSITY_MEASURES = {"l0": "lower", "l1": "lower", "l1_over_sqrt_l2": "lower", "hoyer": "higher"}


def explained_variance(fvu: pd.Series | np.ndarray) -> np.ndarray:
    """Explained variance 1 - FVU (FVU = MSE / Var x, as in the toy metrics)."""
    return 1.0 - np.asarray(fvu, dtype=float)


def pareto_mask(sparsity: np.ndarray, ev: np.ndarray, sparser: str = "lower") -> np.ndarray:
    """Boolean mask of the non-dominated points (sparser and higher EV are better).

    Points with a NaN coordinate are never on the frontier. Exact duplicates of a frontier
    point are all kept.
    """
    if sparser not in ("lower", "higher"):
        raise ValueError(f"sparser must be 'lower' or 'higher', got {sparser!r}")
    s = np.asarray(sparsity, dtype=float)
    e = np.asarray(ev, dtype=float)
    if s.shape != e.shape:
        raise ValueError(f"sparsity and ev differ in shape: {s.shape} vs {e.shape}")
    cost = s if sparser == "lower" else -s  # lower cost = sparser
    ok = ~(np.isnan(cost) | np.isnan(e))
    mask = np.zeros(s.shape, dtype=bool)
    idx = np.flatnonzero(ok)
    # sort by cost, then by EV descending; a point is non-dominated when its EV beats every
    # strictly sparser point's EV (ties in cost: only the best EV of the tie can survive).
    order = idx[np.lexsort((-e[idx], cost[idx]))]
    best = -np.inf
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and cost[order[j]] == cost[order[i]]:
            j += 1
        group = order[i:j]
        top = e[group[0]]
        if top > best:
            mask[group[e[group] == top]] = True
            best = top
        i = j
    return mask


def frontier_table(
    summary: pd.DataFrame,
    measures: list[str] | tuple[str, ...] = tuple(SPARSITY_MEASURES),
    group_cols: tuple[str, ...] = ("dataset", "arm", "n_latents"),
) -> pd.DataFrame:
    """Long table of every sweep point per sparsity measure, with its frontier flag.

    ``summary`` has one row per (group, l1_coef) with ``fvu_mean`` and ``<measure>_mean``
    (the seed means of ``toy_summary``). Columns: ``group_cols``, measure, l1_coef,
    sparsity, ev, (with the summary's ``_std`` columns) sparsity_std and ev_std (the spread over
    seeds; EV's std is FVU's), on_frontier. Frontiers are computed within each group over the L1 sweep.
    """
    unknown = [m for m in measures if m not in SPARSITY_MEASURES]
    if unknown:
        raise ValueError(
            f"unknown sparsity measure(s) {unknown}; expected {list(SPARSITY_MEASURES)}"
        )
    frames = []
    for keys, sub in summary.groupby(list(group_cols), sort=True):
        ev = explained_variance(sub["fvu_mean"])
        for measure in measures:
            s = sub[f"{measure}_mean"].to_numpy(dtype=float)
            frame = pd.DataFrame(dict(zip(group_cols, keys, strict=True)), index=range(len(sub)))
            frame["measure"] = measure
            frame["l1_coef"] = sub["l1_coef"].to_numpy(dtype=float)
            frame["sparsity"] = s
            frame["ev"] = ev
            if f"{measure}_std" in sub.columns and "fvu_std" in sub.columns:  # spread over seeds
                frame["sparsity_std"] = sub[f"{measure}_std"].to_numpy(dtype=float)
                frame["ev_std"] = sub["fvu_std"].to_numpy(dtype=float)
            frame["on_frontier"] = pareto_mask(s, ev, SPARSITY_MEASURES[measure])
            frames.append(frame)
    if not frames:
        raise ValueError("frontier_table: the summary has no rows")
    return pd.concat(frames, ignore_index=True)
