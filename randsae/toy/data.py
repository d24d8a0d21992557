"""Synthetic data for the toy experiments: Sharkey-style features, Gaussian control, Lomax."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def require_positive(**sizes: int) -> None:
    """Raise ValueError naming the first size below 1."""
    for key, val in sizes.items():
        if int(val) < 1:
            raise ValueError(f"{key} must be >= 1, got {val!r}")


def generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def sharkey_features(num_inputs: int, num_features: int, g: torch.Generator) -> Tensor:
    """Ground-truth feature directions, shape (num_inputs, num_features), unit-norm columns."""
    features = torch.randn(num_inputs, num_features, generator=g)
    return features / features.norm(dim=0, keepdim=True)


def sharkey_coefficients(
    num_samples: int,
    num_features: int,
    avg_active_features: float,
    lambda_decay: float,
    g: torch.Generator,
) -> Tensor:
    """Sparse, correlated feature coefficients, shape (num_samples, num_features).

    Sharkey, Braun & Millidge (2022) as used by the paper's toy code: each sample draws
    c ~ N(0, A A^T) (A a G x G standard-normal matrix), p = Phi(c), decays it as
    p^(lambda * i) for feature index i, rescales so that on average ``avg_active_features``
    are on, and sets coef = Bernoulli(p) * U(0, 1).
    """
    a = torch.randn(num_features, num_features, generator=g)
    c = torch.randn(num_samples, num_features, generator=g) @ a.T  # rows ~ N(0, A A^T)
    p = 0.5 * (1.0 + torch.erf(c / math.sqrt(2.0)))
    p = p ** (lambda_decay * torch.arange(num_features, dtype=p.dtype))
    p = p * (avg_active_features / (num_features * p.mean(dim=1, keepdim=True)))
    on = torch.bernoulli(p.clamp(0.0, 1.0), generator=g)
    return on * torch.rand(num_samples, num_features, generator=g)


@dataclass
class SharkeyData:
    """Samples (N, h), ground-truth features (h, G) and the coefficients (N, G)."""

    samples: Tensor
    features: Tensor
    coefficients: Tensor


def generate_sharkey(
    num_samples: int,
    num_inputs: int,
    num_features: int,
    avg_active_features: float,
    lambda_decay: float,
    seed: int,
) -> SharkeyData:
    """Sharkey-style toy data: ``samples = coefficients @ features.T``."""
    require_positive(num_samples=num_samples, num_inputs=num_inputs, num_features=num_features)
    if avg_active_features <= 0:
        raise ValueError(f"avg_active_features must be > 0, got {avg_active_features!r}")
    g = generator(seed)
    features = sharkey_features(num_inputs, num_features, g)
    coef = sharkey_coefficients(num_samples, num_features, avg_active_features, lambda_decay, g)
    return SharkeyData(samples=coef @ features.T, features=features, coefficients=coef)


def gaussian_like(data: Tensor, num_samples: int, seed: int) -> Tensor:
    """I.i.d. N(mean, std^2) entries, (num_samples, d), with the scalar mean/std of ``data``."""
    g = generator(seed)
    mean, std = data.mean().item(), data.std().item()
    return mean + std * torch.randn(num_samples, data.shape[1], generator=g)


def lomax(shape: tuple[int, ...], scale: float, alpha: float, g: torch.Generator) -> Tensor:
    """Lomax (Pareto II) samples by inverse CDF: scale * ((1 - u)^(-1/alpha) - 1)."""
    u = torch.rand(shape, generator=g, dtype=torch.float64)
    return (scale * ((1.0 - u) ** (-1.0 / alpha) - 1.0)).float()


def random_signs(shape: tuple[int, ...], g: torch.Generator) -> Tensor:
    """Uniform random +-1 of ``shape``."""
    return torch.randint(0, 2, shape, generator=g).float() * 2.0 - 1.0


def train_test_split(num_samples: int, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Seeded random (train_idx, test_idx); the test part has round(test_fraction * N) rows."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    perm = torch.randperm(num_samples, generator=generator(seed))
    n_test = max(1, int(round(test_fraction * num_samples)))
    return perm[n_test:], perm[:n_test]
