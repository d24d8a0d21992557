"""Settings of the Claude request engine (validated ``autointerp.anthropic`` section) and its
budget error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------

#: USD per million tokens (standard, real-time prices; ``batch_discount`` applies to batches).
#: From Anthropic's pricing page; re-check before quoting costs.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "claude-haiku-4-5-20251001": {
        "input": 1.00,
        "output": 5.00,
        "cache_write": 1.25,
        "cache_write_1h": 2.00,
        "cache_read": 0.10,
    },
    "claude-sonnet-4-5-20250929": {
        "input": 3.00,
        "output": 15.00,
        "cache_write": 3.75,
        "cache_write_1h": 6.00,
        "cache_read": 0.30,
    },
}

DEFAULTS: dict[str, Any] = {
    "model": "claude-haiku-4-5-20251001",
    "temperature": 0.0,
    "max_tokens": 2048,
    "prompt_version": None,  # None = randsae.autointerp.prompts.PROMPT_VERSION; a mismatch is an error
    "execution": "batch",
    "base_url": None,  # None = SDK default (ANTHROPIC_BASE_URL env, then api.anthropic.com)
    "timeout_s": 120.0,
    "max_concurrency": 4,
    "max_retries": 4,
    "max_parse_retries": 2,
    "max_batch_resubmits": 2,
    "poll_interval_s": 30.0,
    "batch_timeout_s": 90000.0,
    "windows_per_prompt": 10,
    "shuffle_seed": 42,
    "cache_ttl": "5m",
    "budget_usd": 5.0,
    "batch_discount": 0.5,
    "estimate_method": "chars",
    "chars_per_token": 4.0,
    "prices": DEFAULT_PRICES,
}

_PRICE_KEYS = {"input", "output", "cache_write", "cache_write_1h", "cache_read"}


def merge_section(
    section: dict | None, defaults: dict[str, Any], where: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(section, defaults updated by section)``; an unknown key is an error naming ``where``."""
    section = dict(section or {})
    unknown = set(section) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {where} keys: {sorted(unknown)}")
    return section, {**defaults, **section}


@dataclass(frozen=True)
class AnthropicSettings:
    """Validated ``autointerp.anthropic`` config section (see docs/autointerp_config_snippet.yaml)."""

    model: str
    temperature: float | None
    max_tokens: int
    prompt_version: str | None
    execution: str
    base_url: str | None
    timeout_s: float
    max_concurrency: int
    max_retries: int
    max_parse_retries: int
    max_batch_resubmits: int
    poll_interval_s: float
    batch_timeout_s: float
    windows_per_prompt: int
    shuffle_seed: int
    cache_ttl: str
    budget_usd: float
    batch_discount: float
    estimate_method: str
    chars_per_token: float
    prices: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict | None) -> AnthropicSettings:
        section, merged = merge_section(section, DEFAULTS, "autointerp.anthropic")
        prices = {k: dict(v) for k, v in DEFAULT_PRICES.items()}
        for model, table in (section.get("prices") or {}).items():
            bad = set(table) - _PRICE_KEYS
            if bad:
                raise ValueError(f"unknown price keys for {model}: {sorted(bad)}")
            prices[model] = {**prices.get(model, {}), **table}
        merged["prices"] = prices
        s = cls(**merged)
        if s.execution not in ("batch", "realtime"):
            raise ValueError(f"execution must be 'batch' or 'realtime', got {s.execution!r}")
        if s.estimate_method not in ("count_tokens", "chars"):
            raise ValueError("estimate_method must be 'count_tokens' or 'chars'")
        if s.cache_ttl not in ("5m", "1h"):
            raise ValueError("cache_ttl must be '5m' or '1h'")
        if s.windows_per_prompt < 1 or s.max_concurrency < 1 or s.max_tokens < 1:
            raise ValueError("windows_per_prompt, max_concurrency and max_tokens must be >= 1")
        if min(s.max_retries, s.max_parse_retries, s.max_batch_resubmits) < 0:
            raise ValueError("retry counts must be >= 0")
        if s.model not in prices or not set(prices[s.model]) >= _PRICE_KEYS:
            raise ValueError(
                f"no complete price table for model {s.model!r}; add autointerp.anthropic.prices"
                f".{s.model} with keys {sorted(_PRICE_KEYS)}"
            )
        return s


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


class BudgetExceededError(RuntimeError):
    """Raised before a call whose estimated cost would take spending past ``budget_usd``.

    ``partial`` holds the results obtained so far (they are also in the response cache and the
    ledger, so a rerun with a larger budget does not pay for them again).
    """

    def __init__(self, message: str, partial: dict | None = None):
        super().__init__(message)
        self.partial = partial or {}
