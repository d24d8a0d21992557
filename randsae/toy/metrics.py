"""Test metrics for the toy SAEs, following the paper's toy code definitions."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from randsae.toy import METRICS

if TYPE_CHECKING:  # torch is imported lazily: the summary and figure jobs do not need it
    from torch import Tensor


def batch_metrics(x: Tensor, x_hat: Tensor, z: Tensor) -> dict[str, float]:
    """Metrics of one batch: x, x_hat (B, d); z (B, n).

    - mse: mean squared error over all entries;
    - fvu: mse / var(x), var the scalar (unbiased) variance of all entries of the batch;
    - l0, l1, l2: batch means of the per-sample count of z > 0, |z|_1 and |z|_2;
    - l1_over_sqrt_l2: l1 / sqrt(l2) of those batch means;
    - hoyer: (sqrt(n) - l1 / l2) / (sqrt(n) - 1) of the batch means (1 = one-hot, 0 = flat).
    """
    import torch

    if z.shape[1] < 2:
        raise ValueError(f"n_latents must be >= 2 for the Hoyer measure, got {z.shape[1]}")
    mse = torch.mean((x_hat - x) ** 2)
    l1 = z.abs().sum(dim=1).mean()
    l2 = z.norm(dim=1).mean()
    sqrt_n = math.sqrt(z.shape[1])
    return {
        "mse": mse.item(),
        "fvu": (mse / x.var()).item(),
        "l0": (z > 0).float().sum(dim=1).mean().item(),
        "l1": l1.item(),
        "l2": l2.item(),
        "l1_over_sqrt_l2": (l1 / l2.sqrt()).item(),
        "hoyer": ((sqrt_n - l1 / l2) / (sqrt_n - 1.0)).item(),
    }


def mmcs(decoder: Tensor, features: Tensor) -> float:
    """Mean over ground-truth features (columns of ``features``, (d, G)) of the max cosine
    similarity with any decoder direction (rows of ``decoder``, (n, d))."""
    dec = decoder / decoder.norm(dim=1, keepdim=True).clamp_min(1e-8)
    feat = features / features.norm(dim=0, keepdim=True).clamp_min(1e-8)
    return (dec @ feat).max(dim=0).values.mean().item()


def average_batches(rows: list[dict[str, float]], weights: list[int] | None = None) -> dict:
    """Plain mean over test batches (the paper's code averages per-batch metrics unweighted)."""
    del weights
    keys = rows[0].keys()
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


def summarize(df: pd.DataFrame, group_cols: list[str]) -> pd.DataFrame:
    """Mean, std and s.e.m. over seeds of every metric, grouped by ``group_cols``.

    Output columns: ``group_cols`` + ``n_seeds`` + ``<metric>_{mean,std,sem}``.
    """
    missing = [c for c in group_cols if c not in df.columns]
    if missing:
        raise ValueError(f"summarize: unknown group column(s) {missing}")
    metrics = [m for m in METRICS if m in df.columns]
    grouped = df.groupby(group_cols, sort=True)
    out = grouped[metrics].agg(["mean", "std", "sem"])
    out.columns = [f"{m}_{s}" for m, s in out.columns]
    out.insert(0, "n_seeds", grouped.size())
    return out.reset_index()
