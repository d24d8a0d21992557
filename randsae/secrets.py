"""Scrub credential values out of every text the workflow stores or logs.

Credentials are read only from the environment (``SECRET_ENV``). A proxy or API that echoes a key
back (in an error message, or inside an answer) must not get it into the response cache, the
ledger, the state files, the results or the logs, so every writer passes its text through
:func:`redact` (strings) or :func:`redact_obj` (JSON-like objects) first. Text that is cut to a
length is redacted first and cut afterwards (:func:`clip`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from randsae.sections import RunConfig

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


def clip(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text`` *after* redaction. Cutting first could leave
    the head of a secret that straddles the cut, which :func:`redact` no longer recognises."""
    return redact(str(text))[:limit]


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


#: Keys an LLM judge cannot run without. Anthropic's SDK reads ``ANTHROPIC_API_KEY`` (or a bearer
#: ``ANTHROPIC_AUTH_TOKEN``); an OpenAI-compatible endpoint gets a placeholder key when
#: ``OPENAI_API_KEY`` is unset (local servers such as vLLM accept any), so it never lacks one.
JUDGE_KEYS = {"anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")}


def missing_judge_keys(judges: Iterable[str | None], environ: Any = None) -> list[str]:
    """Environment variables the configured ``judges`` (``autointerp.backend``,
    ``second_judge``) need and the environment lacks (for each judge, the first of its accepted
    names)."""
    environ = os.environ if environ is None else environ
    return [
        JUDGE_KEYS[j][0]
        for j in dict.fromkeys(judges)
        if j in JUDGE_KEYS and not any(environ.get(name) for name in JUDGE_KEYS[j])
    ]


def judge_key_error(run: RunConfig, environ: Any = None) -> str | None:
    """The error to stop a run with before any job starts: a configured judge lacks its key and
    some cell of the grid has no scores yet (a finished run re-renders figures without keys)."""
    ai = run.autointerp
    missing = missing_judge_keys((ai.backend, ai.second_judge), environ)
    pending = [
        c
        for c in run.cells()
        if not os.path.exists("results/autointerp/{}/{}/layer{}/scores.json".format(*c))
    ]
    if not (missing and pending):
        return None
    return (
        f"autointerp judges {ai.backend!r} (backend) / {ai.second_judge!r} "
        f"(second_judge) need {', '.join(missing)} in the environment; {len(pending)} cells "
        "still need explanations or scores. Export it and run again (keys are read from the "
        "environment only, never from the config)."
    )
