"""Claim 8 of the paper (toy models): Pareto frontiers of explained variance against L0 for the
toy arms, compared at equal EV, with a bootstrap over seeds. Definitions: docs/claims.md."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from randsae.seeds import stable_seed
from randsae.tables.resample import nanmean, percentile_ci
from randsae.tables.verdicts import row

N_EV_LEVELS = 25  # EV levels on which two frontiers are compared


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
    "gaussian_ffn_vs_gaussian": [(("gaussian_ffn", "gaussian"), 1.0)],
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
    return nanmean(np.array(vals)) if vals else float("nan")


def toy_statistic(df: pd.DataFrame, kind: str) -> float:
    """Claim-8 statistics of one dataset's sweep rows (EV = 1 - FVU and L0 averaged over seeds),
    averaged over dictionary sizes. ``plain_vs_gaussian``: A(plain, gaussian); ``gap_shrinks``:
    A(plain, gaussian) - A(ffn, gaussian_ffn); ``ffn_vs_plain``: A(ffn, plain);
    A = :func:`frontier_advantage` of the two arms' frontiers."""
    return ToySweep.from_rows(df).statistic(kind)


def claim8_rows(toy: pd.DataFrame | None, n_boot: int, seed: int) -> list[dict]:
    """Claim 8 from the toy sweeps; bootstrap over seeds (one draw shared by every arm).

    8c tests both arms of the word-vector (and embedding-matrix) datasets: the data frontier and
    the Gaussian control's frontier each move after the random MLP (8c-data, 8c-gaussian)."""
    texts = {
        "8a": "A(plain, gaussian): mean log L0 advantage of the plain frontier at equal EV",
        "8b": "A(plain, gaussian) - A(ffn, gaussian_ffn)",
        "8c-data": "A(ffn, plain): the data frontier after vs before the random MLP",
        "8c-gaussian": "A(gaussian_ffn, gaussian): the Gaussian control's frontier after vs "
        "before the random MLP",
    }
    need = {"dataset", "arm", "n_latents", "l1_coef", "seed", "fvu", "l0"}
    if toy is None or toy.empty or not need <= set(toy.columns):
        return [row(8, s, "toy", t, untestable="no toy sweep tables") for s, t in texts.items()]
    rows = []
    plan = []
    for ds in sorted(toy["dataset"].unique()):
        if str(ds).startswith("sharkey"):
            plan += [("8a", ds, "plain_vs_gaussian"), ("8b", ds, "gap_shrinks")]
        else:
            plan += [
                ("8c-data", ds, "ffn_vs_plain"),
                ("8c-gaussian", ds, "gaussian_ffn_vs_gaussian"),
            ]
    for s in texts:
        if not any(p[0] == s for p in plan):
            what = "synthetic (sharkey)" if not s.startswith("8c") else "word-vector"
            rows.append(row(8, s, "toy", texts[s], untestable=f"no {what} toy dataset"))
    for s, ds, kind in plan:
        df = toy[toy["dataset"] == ds]
        arms = {a for (pair, _w) in TOY_PAIRS[kind] for a in pair}
        text = f"{ds}: {texts[s]}"
        if not arms <= set(df["arm"]):
            rows.append(row(8, s, "toy", text, untestable=f"{ds} lacks arms {sorted(arms)}"))
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
        lo, hi = percentile_ci(np.array(reps, float)) if reps else (float("nan"),) * 2
        if not np.isfinite(value):
            rows.append(row(8, s, "toy", text, untestable="the frontiers do not overlap in EV"))
            continue
        rows.append(row(8, s, "toy", text, value, lo, hi, ">", 0.0, "seeds", len(seeds)))
    return rows
