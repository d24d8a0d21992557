"""The random, never-trained feed-forward network (d -> expansion*d -> d, ReLU)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from randsae.toy.data import generator


def random_ffn(d: int, expansion: int, seed: int) -> nn.Sequential:
    """Linear(d, e*d) -> ReLU -> Linear(e*d, d) with PyTorch's default init, seeded.

    PyTorch's default ``nn.Linear`` init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights
    and biases (kaiming_uniform with a = sqrt(5)); drawn here from a private generator so
    the network depends only on ``seed``.
    """
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d!r}")
    if expansion < 1:
        raise ValueError(f"ffn_expansion must be >= 1, got {expansion!r}")
    g = generator(seed)
    net = nn.Sequential(nn.Linear(d, expansion * d), nn.ReLU(), nn.Linear(expansion * d, d))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            bound = 1.0 / layer.in_features**0.5
            layer.weight.uniform_(-bound, bound, generator=g)
            layer.bias.uniform_(-bound, bound, generator=g)
    net.requires_grad_(False)
    return net


@torch.no_grad()
def apply_ffn(net: nn.Module, x: Tensor, batch_size: int = 65536) -> Tensor:
    """Push rows of ``x`` (N, d) through ``net`` in batches, without gradients."""
    return torch.cat([net(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
