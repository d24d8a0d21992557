"""The LLM engine on an OpenAI-compatible chat-completions endpoint (its settings are the
``autointerp.openai`` section, :class:`randsae.sections.OpenAISettings`)."""

from __future__ import annotations

import os
from typing import Any

import openai

from randsae.autointerp.llm.engine import LLMEngine
from randsae.secrets import clip
from randsae.sections.autointerp import OpenAISettings

__all__ = ["DEFAULTS", "PROMPT_VERSION", "OpenAIEngine", "OpenAISettings", "completion_problem"]

PROMPT_VERSION = "openai-v1"

#: Every key of ``autointerp.openai`` with its default (derived from the section).
DEFAULTS = OpenAISettings.defaults()


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
