"""Pooled AUROC of a cell (every scored window of its latents together, as Fig 1, Fig 2 and the
paper report it) with an exact bootstrap over latents.

Resampling a cell's latents with replacement and pooling the drawn latents' windows (a latent drawn
twice counts twice) gives

    AUROC(w) = sum_ab w_a w_b W[a, b] / ((sum_a w_a P_a) (sum_b w_b N_b)),

where ``w_a`` is how often latent ``a`` was drawn, ``W[a, b]`` the Mann-Whitney count of latent
``a``'s positive windows against latent ``b``'s negative windows (a tie counts 1/2), and ``P_a``,
``N_b`` the numbers of positive and negative windows. One L x L matrix per cell therefore gives every
replicate exactly (``randsae.tables.roc.bootstrap_auroc`` computes the same numbers by re-sorting
the drawn windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from randsae.tables.resample import Measure


@dataclass(frozen=True)
class PairCounts:
    """One cell's windows as pair counts between its latents (see the module docstring)."""

    latents: np.ndarray  # (L,) latent ids, sorted
    wins: np.ndarray  # (L, L) W[a, b]
    n_pos: np.ndarray  # (L,)
    n_neg: np.ndarray  # (L,)

    @classmethod
    def from_windows(cls, latent, label, prob) -> PairCounts:
        latent = np.asarray(latent)
        label = np.asarray(label, dtype=bool)
        prob = np.asarray(prob, dtype=np.float64)
        ids, code = np.unique(latent, return_inverse=True)
        n = len(ids)
        n_pos = np.bincount(code[label], minlength=n).astype(np.float64)
        n_neg = np.bincount(code[~label], minlength=n).astype(np.float64)
        neg_s, neg_c = prob[~label], code[~label]
        wins = np.zeros((n, n))
        for a in range(n):
            pos = np.sort(prob[label & (code == a)])
            if not len(pos) or not len(neg_s):
                continue
            left = np.searchsorted(pos, neg_s, side="left")
            right = np.searchsorted(pos, neg_s, side="right")
            beats = (len(pos) - right) + 0.5 * (right - left)  # per negative window
            wins[a] = np.bincount(neg_c, weights=beats, minlength=n)
        return cls(ids, wins, n_pos, n_neg)

    def auroc(self, weights: np.ndarray | None = None) -> float | np.ndarray:
        """Pooled AUROC with latent ``weights`` ((L,) or (B, L) draw counts; None: each once);
        NaN where one class is empty."""
        w = np.ones(len(self.latents)) if weights is None else np.asarray(weights, float)
        num = np.einsum("...i,ij,...j->...", w, self.wins, w)
        den = (w @ self.n_pos) * (w @ self.n_neg)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        return float(out) if weights is None or np.ndim(w) == 1 else out

    def replicates(self, n_boot: int, rng: np.random.Generator) -> np.ndarray:
        """Pooled AUROC of ``n_boot`` resamples of the latents (with replacement)."""
        n = len(self.latents)
        if n == 0:
            return np.full(n_boot, np.nan)
        draws = rng.integers(0, n, (n_boot, n))
        counts = np.zeros((n_boot, n))
        np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
        return self.auroc(counts)


def pooled_measure(
    windows: pd.DataFrame | None, scorer: str, layers: dict[str, np.ndarray]
) -> Measure | None:
    """The pooled AUROC of ``scorer`` per cell from per-window rows (``model, init, layer, scorer,
    latent, label, prob``; ``randsae.tables.roc.read_windows``), resampled over latents within
    cells; None without rows for the scorer."""
    if windows is None or windows.empty or "scorer" not in windows.columns:
        return None
    sub = windows[windows["scorer"] == scorer]
    if sub.empty:
        return None
    meas = Measure(f"{scorer}_auroc_pooled", "pooled", layers)
    cells = {
        (str(m), str(i), int(layer)): PairCounts.from_windows(g["latent"], g["label"], g["prob"])
        for (m, i, layer), g in sub.groupby(["model", "init", "layer"])
    }
    for m, lay in layers.items():
        for init in sorted({i for (mm, i, _l) in cells if mm == m}):
            meas.values[(m, init)] = [cells.get((m, init, int(layer))) for layer in lay]
    return meas
