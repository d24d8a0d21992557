"""The authors' recipe pieces that need no trainer state: auto LR, schedule, ``b_dec`` init.

Re-exported by :mod:`randsae.sae.job` and :mod:`randsae.sae.train` (the recipe's public names).
"""

from __future__ import annotations

import math

import torch


def auto_lr(n_latents: int) -> float:
    """The fork's auto LR: ``2e-4 / sqrt(n_latents / 2**14)``."""
    return 2e-4 / math.sqrt(n_latents / 2**14)


@torch.no_grad()
def geometric_median(points: torch.Tensor, max_iter: int = 100, tol: float = 1e-5) -> torch.Tensor:
    """Weiszfeld iterations for the geometric median of ``points (N, d)`` (fork's b_dec init)."""
    pts = points.double()
    guess = pts.mean(dim=0)
    for _ in range(max_iter):
        prev = guess
        dist = (pts - guess).norm(dim=1).clamp_min(1e-12)
        w = 1.0 / dist
        guess = (w.unsqueeze(1) * pts).sum(dim=0) / w.sum()
        if (guess - prev).norm() < tol:
            break
    return guess.to(points.dtype)


def linear_warmup_decay(warmup_steps: int, total_steps: int):
    """LR multiplier of ``transformers.get_linear_schedule_with_warmup`` (the fork's schedule).

    Warm-up is linear from 0 (the first step has LR 0, as in transformers), then linear decay
    to 0 at ``total_steps``. Quirk of the authors' code, not reproduced: the fork passed
    ``len(dataset) // batch_size`` forward batches as the schedule length but stepped the
    scheduler once per ``grad_acc_steps`` (8), so its LR never decayed far below the peak. We
    decay over the real number of optimizer steps.
    """

    def fn(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return fn
