"""Scrub credential values out of every text the workflow stores or logs.

Credentials are read only from the environment (``SECRET_ENV``). A proxy or API that echoes a key
back (in an error message, or inside an answer) must not get it into the response cache, the
ledger, the state files, the results or the logs, so every writer passes its text through
:func:`redact` (strings) or :func:`redact_obj` (JSON-like objects) first.
"""

from __future__ import annotations

import os
from typing import Any

#: Environment variables whose values are secrets.
SECRET_ENV = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "HF_TOKEN")
#: Shorter values are not treated as secrets (placeholders such as "EMPTY" for local servers).
MIN_SECRET_LEN = 8


def secret_values() -> list[tuple[str, str]]:
    """``(name, value)`` of every secret set in the environment, longest value first."""
    out = []
    for name in SECRET_ENV:
        value = os.environ.get(name) or ""
        if len(value) >= MIN_SECRET_LEN:
            out.append((name, value))
    return sorted(out, key=lambda nv: -len(nv[1]))


def redact(text: str) -> str:
    """``text`` with each secret value replaced by ``[REDACTED:<ENV NAME>]``."""
    if not isinstance(text, str) or not text:
        return text
    for name, value in secret_values():
        if value in text:
            text = text.replace(value, f"[REDACTED:{name}]")
    return text


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-like object with every string (keys included) redacted."""
    if not secret_values():
        return obj
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(redact_obj(v) for v in obj)
    return obj
