"""Claude answers: tool-call parsing, prompt grouping and the per-latent call count."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from randsae.autointerp import prompts

SCORERS = ("detection", "fuzzing")


class ParseFailure(ValueError):
    """An answer that does not satisfy the tool contract (counted, never dropped)."""


# ----------------------------------------------------------------------------------------------
# Answer parsing
# ----------------------------------------------------------------------------------------------


def _tool_input(message: dict, tool_name: str) -> dict:
    if message.get("stop_reason") == "refusal":
        raise ParseFailure("refusal (stop_reason=refusal)")
    if message.get("stop_reason") == "max_tokens":
        raise ParseFailure("answer truncated (stop_reason=max_tokens); raise max_tokens")
    calls = [b for b in message.get("content") or [] if b.get("type") == "tool_use"]
    if not calls:
        kinds = ",".join(b.get("type", "?") for b in message.get("content") or []) or "empty"
        raise ParseFailure(
            f"no tool call in the answer (content: {kinds}; "
            f"stop_reason={message.get('stop_reason')})"
        )
    named = [b for b in calls if b.get("name") == tool_name]
    if len(named) != 1 or len(calls) != 1:
        raise ParseFailure(f"expected exactly one {tool_name} call, got {len(calls)} tool call(s)")
    inp = named[0].get("input")
    if not isinstance(inp, dict):
        raise ParseFailure("tool input is not a JSON object")
    return inp


def parse_explanation(message: dict) -> str:
    inp = _tool_input(message, prompts.EXPLAIN_TOOL_NAME)
    text = inp.get("explanation")
    if not isinstance(text, str) or not text.strip():
        raise ParseFailure("missing or empty 'explanation'")
    return " ".join(text.split())


def parse_judgements(message: dict, n: int) -> list[float]:
    """Return ``n`` probabilities in [0, 1] ordered by window index, or raise ParseFailure."""
    inp = _tool_input(message, prompts.SCORE_TOOL_NAME)
    items = inp.get("judgements")
    if not isinstance(items, list):
        raise ParseFailure("'judgements' is not a list")
    if len(items) != n:
        raise ParseFailure(f"wrong number of judgements: got {len(items)}, expected {n}")
    probs: dict[int, float] = {}
    for it in items:
        if not isinstance(it, dict):
            raise ParseFailure("a judgement is not an object")
        idx, p = it.get("index"), it.get("probability")
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < n:
            raise ParseFailure(f"invalid window index {idx!r}")
        if idx in probs:
            raise ParseFailure(f"window index {idx} judged twice")
        if (
            isinstance(p, bool)
            or not isinstance(p, int | float)
            or not math.isfinite(p)
            or not 0 <= p <= 100
        ):
            raise ParseFailure(f"invalid probability {p!r} for window {idx}")
        probs[idx] = float(p) / 100.0
    return [probs[i] for i in range(n)]


# ----------------------------------------------------------------------------------------------
# Prompt grouping
# ----------------------------------------------------------------------------------------------


def balanced_chunks(items: Sequence[Any], max_per_chunk: int) -> list[list[Any]]:
    """Split into ceil(n / max_per_chunk) chunks whose sizes differ by at most one."""
    n = len(items)
    if n == 0:
        return []
    k = math.ceil(n / max_per_chunk)
    base, extra = divmod(n, k)
    out, start = [], 0
    for i in range(k):
        size = base + (1 if i < extra else 0)
        out.append(list(items[start : start + size]))
        start += size
    return out


def derived_seed(*parts: Any) -> int:
    h = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return int(h[:16], 16)


def calls_per_latent(n_test_windows: int, windows_per_prompt: int, n_scorers: int = 2) -> int:
    """First-attempt Messages calls per latent: 1 explain + ceil(n / wpp) per scorer."""
    return 1 + n_scorers * math.ceil(n_test_windows / windows_per_prompt)
