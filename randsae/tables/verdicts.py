"""Verdicts and rows of the claims table (shared by randsae.tables.claims and toy_claims).

Five verdicts (docs/claims.md):

* ``holds``: the whole 95 % CI lies on the paper's side of the threshold;
* ``contradicted``: the whole CI lies on the other side (the threshold itself counts as the other
  side of a strict claim);
* ``inconclusive``: the CI has values on both sides;
* ``not testable``: no data at this scale (a variant, layer count, table or column is missing, the
  statistic is undefined, or too few units to form a CI). A statistic with no CI is never
  ``holds``: its point estimate is reported with this verdict;
* ``circular``: an AUROC claim under a backend whose explanations are derived from the measured
  windows (the lexical backend). The statistic and its CI are reported, ``detail`` says where the
  CI lies, but the row is never counted as evidence.
"""

from __future__ import annotations

import numpy as np

HOLDS = "holds"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
UNTESTABLE = "not testable"
CIRCULAR = "circular"
VERDICTS = (HOLDS, CONTRADICTED, INCONCLUSIVE, UNTESTABLE, CIRCULAR)

#: stat_kind: a cell's value comes from all its units at once (windows of every latent pooled,
#: every token of an SAE metric, seed means of a toy sweep) or is a mean / rank correlation over
#: its latents, each latent weighted equally.
POOLED = "pooled"
PER_LATENT = "per-latent"

#: autointerp backends whose explanations are built from the explainer windows' activations
#: (randsae.autointerp.scoring.LexicalBackend): their AUROCs measure token identity, and claims
#: on them are circular (low entropy means high AUROC, the noise control sits at 0.5 by
#: construction).
CIRCULAR_BACKENDS = ("lexical",)

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
    "stat_kind",
    "value",
    "ci_low",
    "ci_high",
    "value_per_latent",
    "ci_low_per_latent",
    "ci_high_per_latent",
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
    ``threshold``, from its 95 % CI [lo, hi]."""
    if not np.isfinite(value):
        return UNTESTABLE, "statistic undefined on this run's tables"
    agrees = value > threshold if direction == ">" else value < threshold
    if not (np.isfinite(lo) and np.isfinite(hi)):
        side = "agrees with" if agrees else "contradicts"
        return UNTESTABLE, f"point estimate {side} the claim, but no CI could be formed"
    holds = lo > threshold if direction == ">" else hi < threshold
    against = hi <= threshold if direction == ">" else lo >= threshold
    if holds:
        return HOLDS, "95% CI on the paper's side of the threshold"
    if against:
        return CONTRADICTED, "95% CI on the other side of the threshold"
    side = "agrees with" if agrees else "contradicts"
    return INCONCLUSIVE, f"95% CI crosses the threshold (point estimate {side} the claim)"


def circular(r: dict, backend: str) -> dict:
    """Mark an AUROC row computed under a circular ``backend``: reported, never evidence."""
    if r["verdict"] == UNTESTABLE:
        return r
    return {
        **r,
        "verdict": CIRCULAR,
        "detail": f"{backend} explanations are built from the measured windows; "
        f"on the CI alone: {r['verdict']} ({r['detail']})",
    }


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
    stat_kind: str = POOLED,
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
        "stat_kind": stat_kind,
        "value": value,
        "ci_low": lo,
        "ci_high": hi,
        "value_per_latent": float("nan"),
        "ci_low_per_latent": float("nan"),
        "ci_high_per_latent": float("nan"),
        "direction": direction,
        "threshold": threshold,
        "resampled": resampled,
        "n_units": int(n_units),
        "verdict": v,
        "detail": detail,
        "paper_claim": CLAIM_TEXT[claim],
    }
