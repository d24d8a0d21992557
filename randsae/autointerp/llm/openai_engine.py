"""The LLM engine on an OpenAI-compatible chat-completions endpoint, and its settings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import openai

from randsae.autointerp.llm.engine import LLMEngine
from randsae.autointerp.llm.settings import merge_section
from randsae.secrets import clip

PROMPT_VERSION = "openai-v1"

DEFAULTS: dict[str, Any] = {
    "model": "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
    "base_url": None,  # None = OPENAI_BASE_URL env, else the SDK default (api.openai.com)
    "temperature": 0.0,
    "max_tokens": 1024,
    "probabilities": "auto",
    "top_logprobs": 20,
    "timeout_s": 120.0,
    "max_concurrency": 4,
    "max_retries": 4,
    "max_parse_retries": 2,
    "windows_per_prompt": 10,
    "shuffle_seed": 42,
    "budget_usd": 5.0,
    "price_input": 0.0,
    "price_output": 0.0,
}


@dataclass(frozen=True)
class OpenAISettings:
    """Validated ``autointerp.openai`` config section."""

    model: str
    base_url: str | None
    temperature: float | None
    max_tokens: int
    probabilities: str
    top_logprobs: int
    timeout_s: float
    max_concurrency: int
    max_retries: int
    max_parse_retries: int
    windows_per_prompt: int
    shuffle_seed: int
    budget_usd: float
    price_input: float
    price_output: float
    # fixed for this engine (real-time calls, character estimate, no prompt-cache pricing)
    execution: str = "realtime"
    estimate_method: str = "chars"
    chars_per_token: float = 4.0
    batch_discount: float = 1.0
    cache_ttl: str = "5m"
    prompt_version: str | None = None
    max_batch_resubmits: int = 0
    poll_interval_s: float = 1.0
    batch_timeout_s: float = 0.0
    prices: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict | None) -> OpenAISettings:
        _, merged = merge_section(section, DEFAULTS, "autointerp.openai")
        merged["prices"] = {
            merged["model"]: {
                "input": float(merged["price_input"]),
                "output": float(merged["price_output"]),
                "cache_write": 0.0,
                "cache_write_1h": 0.0,
                "cache_read": 0.0,
            }
        }
        s = cls(**merged)
        if s.probabilities not in ("auto", "logprobs", "elicited"):
            raise ValueError(
                "autointerp.openai.probabilities must be auto, logprobs or elicited, got "
                f"{s.probabilities!r}"
            )
        if not 1 <= s.top_logprobs <= 20:
            raise ValueError("autointerp.openai.top_logprobs must be between 1 and 20")
        if s.windows_per_prompt < 1 or s.max_concurrency < 1 or s.max_tokens < 1:
            raise ValueError("windows_per_prompt, max_concurrency and max_tokens must be >= 1")
        if min(s.max_retries, s.max_parse_retries) < 0:
            raise ValueError("retry counts must be >= 0")
        return s


class OpenAIEngine(LLMEngine):
    """The shared engine, speaking chat completions through the ``openai`` SDK (real time)."""

    api_error = openai.APIError
    answer_kind = "ChatCompletion"

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            kwargs = dict(self._client_kwargs)
            # The key is read here from the environment only; local servers need none.
            kwargs["api_key"] = os.environ.get("OPENAI_API_KEY") or "EMPTY"
            self._client = openai.OpenAI(**kwargs)
        return self._client

    def _create(self, params: dict) -> Any:
        return self.client.chat.completions.create(**params)

    def _as_dict(self, obj: Any) -> dict | None:
        if not isinstance(obj, openai.types.chat.ChatCompletion):
            return None
        return obj.to_dict(mode="json")

    def _problem(self, message: dict) -> str | None:
        return completion_problem(message)

    def _usage(self, message: dict) -> dict:
        u = message.get("usage") or {}
        return {
            "input_tokens": int(u.get("prompt_tokens") or 0),
            "output_tokens": int(u.get("completion_tokens") or 0),
        }


def completion_problem(message: Any) -> str | None:
    """Why a 200 body is not a usable chat completion (``None`` when it is one)."""
    if not isinstance(message, dict):
        return "malformed response body (not a JSON object)"
    if message.get("error") is not None or message.get("object") == "error":
        err = message.get("error")
        err = err if isinstance(err, dict) else {"message": message.get("message", err)}
        return (
            f"error-shaped 200 response: {clip(str(err.get('type', '')), 100)} "
            f"{clip(str(err.get('message', '')), 200)}"
        )
    choices = message.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "malformed response body (a completion without choices)"
    if not isinstance(choices[0].get("message"), dict):
        return "malformed response body (a choice without message)"
    return None
