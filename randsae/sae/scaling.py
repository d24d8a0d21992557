"""``sae.normalize_activations: expected_average_only_in``: one constant input factor, estimated
from the first training batch and folded into the saved SAE (as sae-lens does)."""

from __future__ import annotations

import math
from typing import Any

import torch


@torch.no_grad()
def estimate_scaling_factor(x: torch.Tensor) -> float:
    """sae-lens's ``expected_average_only_in`` factor ``sqrt(d_in) / mean ||x||`` from a batch."""
    mean_norm = float(x.float().norm(dim=-1).mean())
    if not mean_norm > 0:
        raise ValueError("sae.normalize_activations: the first batch has zero mean norm")
    return math.sqrt(x.shape[-1]) / mean_norm


@torch.no_grad()
def fold_scaling_factor(sae: Any, scale: float) -> None:
    """Fold a constant input scale into an SAE trained on ``scale * x`` (sae-lens's folding).

    ``W_enc *= scale`` and ``b_dec, W_dec /= scale``: the folded SAE applied to ``x`` gives the
    trained SAE's latents of ``scale * x`` and its reconstruction divided by ``scale``.
    """
    sae.W_enc.mul_(scale)
    sae.W_dec.div_(scale)
    sae.b_dec.div_(scale)
