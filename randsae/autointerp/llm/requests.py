"""Requests, results and the small helpers the real-time and batch paths share."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anthropic

from randsae.autointerp.llm.cache import canonical_json, request_key
from randsae.secrets import clip, redact

# ----------------------------------------------------------------------------------------------
# Engine
# ----------------------------------------------------------------------------------------------


@dataclass
class LLMRequest:
    """One Messages API call. ``params`` is the exact ``messages.create`` body."""

    params: dict
    stage: str
    latents: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return request_key(self.params)

    @property
    def custom_id(self) -> str:  # batch custom_id: ^[a-zA-Z0-9_-]{1,64}$
        return "r" + self.key[:48]


@dataclass
class LLMResult:
    message: dict | None  # the raw Message JSON (content blocks, stop_reason, usage)
    error: str | None = None
    cached: bool = False


def _message_to_dict(msg: Any) -> dict:
    if isinstance(msg, dict):
        return msg
    return (
        msg.to_dict(mode="json") if hasattr(msg, "to_dict") else json.loads(msg.model_dump_json())
    )


def _params_text_chars(params: dict) -> int:
    """Characters of everything the model reads (system, messages, tool definitions)."""
    return len(canonical_json({k: params.get(k) for k in ("system", "messages", "tools")}))


class BatchResultsError(RuntimeError):
    """A batch's results could not be downloaded intact (the batch stays re-attachable)."""


#: The margin of the local clock, used only when no server time is known (a reply without a
#: ``Date`` header, or an intent recorded by an older version): batches created this long before
#: the intent, up to ``timeout_s`` + this long after it, count as its possible result.
ORPHAN_CLOCK_SLACK_S = 300.0
#: The margin of the server's clock: ``Date`` headers have whole seconds, ``created_at`` stamps
#: may be whole seconds too (floored or rounded), and both come from hosts of one fleet.
SERVER_CLOCK_SLACK_S = 5.0
#: Unanswered create intents are looked up again on later runs for this long (batches expire at
#: 24 h).
ORPHAN_SEARCH_S = 86_400.0


def _batch_total(batch: Any) -> int | None:
    counts = getattr(batch, "request_counts", None)
    if counts is None:
        return None
    return sum(
        int(getattr(counts, k, 0) or 0)
        for k in ("processing", "succeeded", "errored", "canceled", "expired")
    )


def _backoff_s(attempt: int) -> float:
    return min(0.25 * 2 ** (attempt - 1), 8.0)


def message_problem(message: Any) -> str | None:
    """Why a 200 body is not a usable Message (``None`` when it is one).

    An error object sent with HTTP 200 (``{"type": "error", ...}``), or anything without the
    Message fields, is retried like a failed call and never cached or ledgered.
    """
    if not isinstance(message, dict):
        return f"malformed response body (not a JSON object): {clip(str(message), 200)!r}"
    if message.get("type") == "error" or "error" in message:
        err = message.get("error")
        err = err if isinstance(err, dict) else {"message": err}
        return (
            f"error-shaped 200 response: {clip(str(err.get('type', '')), 100)} "
            f"{clip(str(err.get('message', '')), 200)}"
        )
    if message.get("type") != "message":
        return f"malformed response body (type={redact(str(message.get('type')))!r}, not a Message)"
    if not isinstance(message.get("content"), list) or not isinstance(message.get("usage"), dict):
        return "malformed response body (a Message without content or usage)"
    return None


@lru_cache(maxsize=1)
def _create_param_names() -> frozenset[str]:
    sig = inspect.signature(anthropic.resources.messages.Messages.create)
    return frozenset(
        p
        for p in sig.parameters
        if p not in ("self", "extra_body", "extra_headers", "extra_query", "timeout")
    )


def _split_create_kwargs(params: dict) -> dict:
    """Typed kwargs for ``messages.create``; request fields the SDK no longer types (anthropic
    >= 1.0 dropped ``temperature``) go through ``extra_body``, so the wire JSON equals ``params``."""
    names = _create_param_names()
    kwargs = {k: v for k, v in params.items() if k in names}
    extra = {k: v for k, v in params.items() if k not in names}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def _dedupe(requests: Iterable[LLMRequest]) -> list[LLMRequest]:
    seen: dict[str, LLMRequest] = {}
    for r in requests:
        seen.setdefault(r.custom_id, r)
    return list(seen.values())


def _describe_error(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    msg = str(getattr(exc, "message", "") or exc)
    return f"{name}{f' {status}' if status else ''}: {clip(msg, 300)}"
