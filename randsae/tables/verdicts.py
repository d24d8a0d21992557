"""Verdicts and rows of the claims table (shared by randsae.tables.claims and toy_claims)."""

from __future__ import annotations

import numpy as np

HOLDS = "holds"
FAILS = "does not hold"
UNTESTABLE = "not testable at this scale"

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


def row(
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
