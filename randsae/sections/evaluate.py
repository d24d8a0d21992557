"""Sections of the evaluation stage: ``eval`` (SAE metrics) and ``examples`` (latent windows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from randsae.errors import ConfigError


@dataclass(frozen=True)
class EvalConfig:
    """``eval``: held-out tokens and settings of the quality and abstractness metrics."""

    n_tokens: int
    batch_size: int
    density_bins: int
    ignore_token_ids: tuple[int, ...]
    density_log10_min: float
    entropy_top_n: int
    r2_min_count: int
    abstractness_min_activations: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExamplesConfig:
    """``examples``: the latent-activation cache and the windows drawn for auto-interp."""

    n_latents: int | str  # "all": every eligible latent
    n_tokens: int
    context_size: int
    window: int
    min_activating_windows: int
    n_explain: int
    n_test_activating: int
    n_test_nonactivating: int
    n_quantiles: int
    max_activating_windows: int | None = None  # None: every activating window is in the pool
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_drawn = self.n_explain + self.n_test_activating  # explainer + test windows of a latent
        if self.context_size % self.window:
            raise ConfigError("examples.window must divide examples.context_size")
        if self.n_explain % self.n_quantiles or self.n_test_activating % self.n_quantiles:
            raise ConfigError(
                "examples.n_explain and n_test_activating must be multiples of n_quantiles"
            )
        if self.min_activating_windows < n_drawn:
            raise ConfigError(
                "examples.min_activating_windows must be >= n_explain + n_test_activating "
                "(explainer and test windows are disjoint)"
            )
        if self.max_activating_windows is not None and self.max_activating_windows < n_drawn:
            raise ConfigError(
                "examples.max_activating_windows must be >= n_explain + n_test_activating "
                "(both are drawn from the pool it bounds)"
            )
