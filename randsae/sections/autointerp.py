"""Sections of auto-interpretability: ``autointerp``, its ``simulation`` and the settings of the
two LLM judges (``autointerp.anthropic``, ``autointerp.openai``; the request engine in
:mod:`randsae.autointerp.llm` reads them). The judges' keys are optional: a field default here is
the value a config that leaves the key out gets, and config.yaml shows the same values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from randsae.sections.base import (
    NON_NEGATIVE,
    POSITIVE,
    PROBABILITY,
    Count,
    Range,
    Section,
    between,
    section,
)

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
PRICE_KEYS = ("input", "output", "cache_write", "cache_write_1h", "cache_read")


@section()
class JudgeSettings(Section):
    """What the two judges' settings share: their common keys, and building from a possibly
    partial section (the keys a config leaves out take the field defaults; ``from_config`` is
    ``from_dict``)."""

    timeout_s: Annotated[float, POSITIVE] = 120.0
    """Per-request HTTP timeout in seconds."""
    max_concurrency: Count = 4
    """Concurrent real-time requests (threads)."""
    max_parse_retries: Annotated[int, NON_NEGATIVE] = 2
    """Re-asks after an answer that fails validation (unparseable, refused, wrong count)."""
    shuffle_seed: Annotated[int, NON_NEGATIVE] = 42
    """Seed for the per-(cell, latent, scorer) shuffle that mixes positives and negatives."""
    budget_usd: Annotated[float, NON_NEGATIVE] = 5.0
    """Hard spending cap for the cell ledger, including earlier runs; checked before each call with an upper-bound estimate."""

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None):
        return cls.from_dict(section)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Every key with its default (the section a config without it gets)."""
        return cls.from_dict({}).to_dict()


@section("autointerp.anthropic")
class AnthropicSettings(JudgeSettings):
    """``autointerp.anthropic``: the Claude judge and its request engine."""

    model: str = "claude-haiku-4-5-20251001"
    """Dated Claude model id; prices must contain an entry for it."""
    temperature: Annotated[float | None, PROBABILITY] = 0.0
    """Sampling temperature sent with every request; null omits the field."""
    max_tokens: Count = 2048
    """Maximum output tokens per call; upper bound for the budget estimate."""
    prompt_version: str | None = "claude-v2"
    """Expected randsae.autointerp.prompts.PROMPT_VERSION; a mismatch is an error; null accepts the code's."""
    execution: Literal["batch", "realtime"] = "batch"
    """Message Batches API (half price, asynchronous) or real-time messages.create."""
    base_url: str | None = None
    """API base URL; null uses ANTHROPIC_BASE_URL or the SDK default."""
    max_retries: Annotated[int, NON_NEGATIVE] = 4
    """SDK retries per request for 408/409/429/5xx/connection errors and timeouts."""
    max_batch_resubmits: Annotated[int, NON_NEGATIVE] = 2
    """Additional batch rounds that resubmit only errored/expired items."""
    poll_interval_s: Annotated[float, POSITIVE] = 30.0
    """Seconds between batch status polls."""
    batch_timeout_s: Annotated[float, POSITIVE] = 90000.0
    """A batch unfinished after this many seconds is cancelled; unprocessed items are reported as errors."""
    windows_per_prompt: Count = 70
    """Maximum scoring windows per prompt; a latent's windows are split into ceil(n / this) prompts of near-equal size."""
    cache_ttl: Literal["5m", "1h"] = "5m"
    """Prompt-cache TTL for the stable system prefix."""
    batch_discount: Annotated[float, Range(low=0, high=1, low_open=True)] = 0.5
    """Price multiplier applied to batch usage."""
    estimate_method: Literal["chars", "count_tokens"] = "chars"
    """Dry-run input-token estimate from characters / chars_per_token or the count_tokens endpoint."""
    chars_per_token: Annotated[float, POSITIVE] = 4.0
    """Characters per token for the chars estimate."""
    prices: dict[str, dict[str, float]] = dataclasses.field(
        default_factory=lambda: {m: dict(t) for m, t in DEFAULT_PRICES.items()}
    )
    """USD per million tokens by model id (merged over the built-in table)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, **context: Any):  # type: ignore[override]
        """The configured prices are merged over :data:`DEFAULT_PRICES`."""
        data = dict(data or {})
        prices = {m: dict(t) for m, t in DEFAULT_PRICES.items()}
        for model, table in (data.pop("prices", None) or {}).items():
            prices[model] = {**prices.get(model, {}), **table}
        return super().from_dict({**data, "prices": prices}, **context)

    def __post_init__(self) -> None:
        super().__post_init__()
        for model, table in self.prices.items():
            for key, usd in table.items():
                if key not in PRICE_KEYS:
                    raise self.error(f"prices.{model}", f"unknown price key {key!r}")
                msg = NON_NEGATIVE.error(usd)
                if msg:
                    raise self.error(f"prices.{model}.{key}", msg)
        if not set(self.prices.get(self.model, {})) >= set(PRICE_KEYS):
            raise self.error(
                "prices",
                f"no complete price table for model {self.model!r}; add "
                f"autointerp.anthropic.prices.{self.model} with keys {list(PRICE_KEYS)}",
            )


@section("autointerp.openai")
class OpenAISettings(JudgeSettings):
    """``autointerp.openai``: an OpenAI-compatible judge (real-time calls only)."""

    # Fixed for this engine (real-time calls, character estimate, no prompt-cache pricing); the
    # shared request engine reads them as it reads the Claude settings.
    execution: ClassVar[str] = "realtime"
    estimate_method: ClassVar[str] = "chars"
    chars_per_token: ClassVar[float] = 4.0
    batch_discount: ClassVar[float] = 1.0
    cache_ttl: ClassVar[str] = "5m"
    prompt_version: ClassVar[str | None] = None
    max_batch_resubmits: ClassVar[int] = 0
    poll_interval_s: ClassVar[float] = 1.0
    batch_timeout_s: ClassVar[float] = 0.0

    model: str = "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4"
    """model name as the endpoint serves it"""
    base_url: str | None = None
    """endpoint base URL ending in /v1; null = OPENAI_BASE_URL env, else api.openai.com"""
    temperature: Annotated[float | None, between(0, 2)] = 0.0
    """sampling temperature; null omits it"""
    max_tokens: Count = 1024
    """maximum output tokens per call"""
    probabilities: Literal["auto", "logprobs", "elicited"] = "auto"
    """logprobs = P(yes) from top_logprobs of each 0/1 answer digit (delphi, the paper); elicited = stated 0-100; auto = logprobs, elicited for prompts answered without logprobs"""
    top_logprobs: Annotated[int, between(1, 20)] = 20
    """alternatives returned per answer token"""
    max_retries: Annotated[int, NON_NEGATIVE] = 4
    """SDK retries (429/5xx/timeouts); also bounds re-asks after malformed or error-shaped 200 bodies"""
    windows_per_prompt: Count = 10
    """windows judged per prompt"""
    price_input: Annotated[float, NON_NEGATIVE] = 0.0
    """USD per million input tokens (0 for a local server)"""
    price_output: Annotated[float, NON_NEGATIVE] = 0.0
    """USD per million output tokens"""

    @property
    def prices(self) -> dict[str, dict[str, float]]:
        """The engine's price table: this model at price_input / price_output."""
        return {
            self.model: {
                "input": float(self.price_input),
                "output": float(self.price_output),
                "cache_write": 0.0,
                "cache_write_1h": 0.0,
                "cache_read": 0.0,
            }
        }


@section("autointerp.simulation")
class SimulationConfig(Section):
    """``autointerp.simulation``: simulation scoring (Bills et al. 2023)."""

    n_latents: Annotated[int, NON_NEGATIVE]
    """scored latents per cell to simulate (the first ones of the cell); 0 = off; needs an openai judge (backend or second_judge)"""


@section("autointerp")
class AutointerpConfig(Section):
    """``autointerp``: explanations and detection/fuzzing scores of a cell's latents."""

    backend: Literal["lexical", "anthropic", "openai"]
    """lexical = offline token-frequency backend; anthropic = Claude; openai = any OpenAI-compatible chat endpoint (autointerp.openai)"""
    scorers: tuple[Literal["detection", "fuzzing"], ...]
    """scorers to run"""
    lexical_top_tokens: Count
    """tokens in a lexical explanation"""
    highlight_threshold: Annotated[float, Range(low=0, high=1, low_open=True)]
    """a token of an activating window is highlighted (<< >>) when its activation is > 0 and >= this fraction of the window's maximum, for the explainer, the lexical explanation and the fuzzing scorer's positives alike (delphi 0.3); fuzzing negatives highlight as many tokens at or below it as delphi's n_incorrect"""
    bootstrap: Annotated[int, NON_NEGATIVE]
    """bootstrap resamples over latents for 95% CIs"""
    max_failure_rate: Annotated[float | None, PROBABILITY]
    """highest tolerated fraction of failed explanations, or of failed windows of one scorer, per cell; above it the score job fails after writing its results (failures are always logged); null = warn only"""
    second_judge: Literal["anthropic", "openai"] | None
    """a second judge that scores the same explanations on the same windows (not the backend itself); per-latent AUROC agreement goes to results/tables/judge_agreement.csv"""
    simulation: SimulationConfig
    """simulation scoring (Bills et al. 2023): the judge predicts per-token activations 0-10 from the explanation; Pearson correlation with the true activations"""
    anthropic: AnthropicSettings = dataclasses.field(
        default_factory=lambda: AnthropicSettings.from_dict({})
    )
    """Claude backend for auto-interpretability (randsae.autointerp.llm.claude / randsae.autointerp.llm)."""
    openai: OpenAISettings = dataclasses.field(default_factory=lambda: OpenAISettings.from_dict({}))
    """OpenAI-compatible judge (randsae.autointerp.llm.openai_judge); the key comes from OPENAI_API_KEY only (none needed for a local server)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.second_judge is not None and self.second_judge == self.backend:
            raise self.error(
                "second_judge",
                f"{self.second_judge!r} is the backend itself; choose the other judge",
            )
        if self.simulation.n_latents > 0 and "openai" not in (self.backend, self.second_judge):
            raise self.error(
                "simulation.n_latents",
                "> 0 needs a judge with logprobs: set autointerp.backend or "
                "autointerp.second_judge to openai",
            )
