"""Statistics of claims 1-6 on per-cell values (see randsae.tables.claims and docs/claims.md).

Each ``claimN_*(model)`` returns ``stat(V, L) -> float`` where ``V[(model, init)]`` holds a
measure's per-layer values and ``L[model]`` the layer indices (both possibly a bootstrap
replicate). Groups of variants follow the init's base name (``randsae.models.inits.parse_init``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from randsae.models.inits import parse_init
from randsae.tables.resample import Stat, nanmean, slope

TRAINED = "trained"
CONTROL = "noise_control"
RANDOMIZED_BASES = ("step0", "rerandomized", "rerandomized_embeddings")
RERANDOMIZED_BASES = ("rerandomized", "rerandomized_embeddings")


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


def _pick(V: dict, model: str, pred: Callable[[str], bool]) -> dict[str, np.ndarray]:
    return {i: v for (m, i), v in V.items() if m == model and pred(i)}


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
        return nanmean(np.nanmin(others, axis=0))

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
        return nanmean(np.abs(s0 - t) - np.nanmax(rr, axis=0))

    return stat


def claim3_size(models: list[str]) -> Stat:
    """claim-3 tracking statistic of L1 relative to trained's L1: largest model minus smallest."""

    def stat(V, L):
        vals = []
        for m in (models[0], models[-1]):
            t = V[(m, TRAINED)]
            s0 = next(iter(_pick(V, m, S0[1]).values()))
            rr = np.stack([np.abs(v - t) for v in _pick(V, m, is_rerandomized).values()])
            vals.append(nanmean((np.abs(s0 - t) - np.nanmax(rr, axis=0)) / np.abs(t)))
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
            y = [nanmean(V[(m, i)]) for m in models]
            out.append(slope(np.array([log_params[m] for m in models]), np.array(y)))
        return _min_or_nan(out)

    return stat


def claim5_gap_ratio(model: str) -> Stat:
    """max over randomized v of mean_layers(G_v) / mean_layers(G_T), G = CE_ablation - CE_clean."""

    def stat(V, L):
        t = nanmean(V[(model, TRAINED)])
        return _max_or_nan(nanmean(v) / t for v in _pick(V, model, is_randomized).values())

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
