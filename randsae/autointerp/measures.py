"""Per-latent measures of the latent dashboards and the per-latent table: v2 token entropy of a
latent's explainer windows and the ROC curve of scored windows (its area is
:func:`randsae.autointerp.scoring.auroc`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

#: Scorers whose per-window probabilities make ROC curves (roc_curves.csv, the ROC figures).
ROC_SCORERS = ("detection", "fuzzing")


def token_entropy(windows: Iterable[dict[str, Any]]) -> float:
    """v2 token-distribution entropy (nats) of one latent over its explainer ``windows`` (each
    with parallel ``tokens`` and ``acts`` lists); NaN when no position is active."""
    mass: dict[int, float] = defaultdict(float)
    for w in windows:
        for tok, act in zip(w["tokens"], w["acts"], strict=True):
            if act > 0:
                mass[int(tok)] += float(act)
    if not mass:
        return float("nan")
    p = np.fromiter(mass.values(), dtype=np.float64)
    p = p / p.sum()
    return max(0.0, float(-(p * np.log(p)).sum()))  # no -0.0 for a single token


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) at every distinct threshold, from (0, 0) to (1, 1); tied scores form one step,
    so the trapezoid area under the curve equals :func:`randsae.autointerp.scoring.auroc`."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]) * np.nan
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each tie group
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]
