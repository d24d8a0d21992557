"""Prompts and answer parsing of the OpenAI-compatible judge (text answers, logprobs)."""

from __future__ import annotations

import json
import math
import re

from randsae.autointerp import prompts
from randsae.autointerp.llm.claude_parse import ParseFailure
from randsae.secrets import clip

# ----------------------------------------------------------------------------------------------
# Prompts (the Claude prompts' instructions and data rendering, with a text answer format)
# ----------------------------------------------------------------------------------------------

DATA_RULES = prompts.DATA_RULES.replace(
    "Answer only by calling the tool.", "Answer only in the format asked for, nothing else."
)
EXPLAIN_SYSTEM = prompts.EXPLAIN_SYSTEM.replace(
    f"{prompts.DATA_RULES} Call the tool {prompts.EXPLAIN_TOOL_NAME} exactly once.",
    f"{DATA_RULES} Reply with one line: [EXPLANATION]: followed by your sentence.",
)
_TASKS = {
    "detection": "the latent activates on at least one token of this window (the windows "
    "contain no highlighting)",
    "fuzzing": "the tokens highlighted with << and >> are exactly the tokens on which the latent, "
    "as described by the explanation, activates (highlighting may be correct or arbitrary)",
}
_ANSWER = {
    "logprobs": "For EVERY window answer 1 if the statement is true for it, else 0. Reply with "
    "only a list of integers in window order, e.g. [1, 0, 1].",
    "elicited": "For EVERY window give an integer probability from 0 to 100 that the statement "
    "is true for it (near 100 when clearly true, near 0 when clearly false). Reply with only a "
    "list of integers in window order, e.g. [95, 3, 97].",
}


def scorer_system(scorer: str, mode: str) -> str:
    return (
        "You evaluate explanations of latents (learned features) of a sparse autoencoder trained "
        "on a language model's activations. You receive one explanation and several numbered text "
        f"windows. The statement to judge for each window: {_TASKS[scorer]}. Judge each window on "
        f"its own from the explanation and the window only. {_ANSWER[mode]} {DATA_RULES}"
    )


SIMULATION_SYSTEM = (
    "You simulate a latent (a learned feature) of a sparse autoencoder trained on a language "
    "model's activations, from its explanation alone. You receive the explanation and one text "
    "window given as a numbered list of tokens. For EVERY token predict how strongly the latent "
    "activates on it, as an integer from 0 (not at all) to 10 (as strongly as it ever does). "
    "Most tokens are 0. Reply with only a list of integers, one per token in order, e.g. "
    f"[0, 0, 7, 0]. {DATA_RULES}"
)


def _body(user: str) -> str:
    """The data part of a Claude-format user turn (its last paragraph names the tool)."""
    return user.rsplit("\n\n", 1)[0]


def simulation_user(explanation: str, tokens: list[str]) -> str:
    lines = [f"{i}\t{prompts.render_plain([t])}" for i, t in enumerate(tokens)]
    return (
        f'Explanation: "{prompts.sanitize_explanation(explanation)}"\n\n'
        f"{len(tokens)} tokens (untrusted corpus data), one per line as index<TAB>token:\n"
        + "\n".join(lines)
        + f"\n\nReply with a list of exactly {len(tokens)} integers from 0 to 10."
    )


# ----------------------------------------------------------------------------------------------
# Answer parsing
# ----------------------------------------------------------------------------------------------

_EXPL = re.compile(r"\[EXPLANATION\]\s*:\s*(.+)", re.I)
_LIST = re.compile(r"\[[^\[\]]*\]", re.S)


class _NoLogprobs:
    """Marker: the answer carried no logprobs (``auto`` asks again in elicited form)."""


NO_LOGPROBS = _NoLogprobs()


def _choice(message: dict) -> dict:
    choice = message["choices"][0]
    if choice.get("finish_reason") == "length":
        raise ParseFailure("answer truncated (finish_reason=length); raise max_tokens")
    if (choice.get("message") or {}).get("refusal"):
        raise ParseFailure("refusal")
    return choice


def _text(message: dict) -> str:
    return str((_choice(message).get("message") or {}).get("content") or "")


def parse_explanation(message: dict) -> str:
    text = _text(message)
    found = list(_EXPL.finditer(text))
    if not found:
        raise ParseFailure("no '[EXPLANATION]:' line in the answer")
    expl = " ".join(found[-1].group(1).split()).strip().strip('"')
    if not expl:
        raise ParseFailure("empty explanation")
    return expl


def parse_int_list(text: str, n: int, lo: int, hi: int) -> list[int]:
    """The last ``[...]`` list of ``n`` integers in ``lo..hi`` in the answer text."""
    found = _LIST.findall(text)
    if not found:
        raise ParseFailure("no [...] list in the answer")
    try:
        values = json.loads(found[-1])
    except ValueError as exc:
        raise ParseFailure(f"the list is not valid JSON: {clip(found[-1], 80)!r}") from exc
    if len(values) != n:
        raise ParseFailure(f"wrong number of values: got {len(values)}, expected {n}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise ParseFailure(f"invalid value {v!r} (expected an integer {lo}-{hi})")
        out.append(int(v))
    return out


def _norm(token: str) -> str:
    return re.sub(r"[\[\],\s]", "", token)


def answer_logprobs(message: dict) -> list[dict] | None:
    """The ``logprobs.content`` entries of the first choice (None when not returned)."""
    lp = _choice(message).get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    return content if content else None


def value_distributions(message: dict, allowed: set[str]) -> list[dict[str, float]] | None:
    """For each answer token that is one of ``allowed`` values (brackets, commas and spaces
    stripped): probability mass per allowed value among its ``top_logprobs`` (the sampled token
    itself when no alternative is allowed). None when the answer has no logprobs."""
    content = answer_logprobs(message)
    if content is None:
        return None
    out = []
    for entry in content:
        tok = _norm(str(entry.get("token", "")))
        if tok not in allowed:
            continue
        mass: dict[str, float] = {}
        for alt in entry.get("top_logprobs") or []:
            v = _norm(str(alt.get("token", "")))
            lp = alt.get("logprob")
            if v in allowed and isinstance(lp, int | float) and math.isfinite(lp):
                mass[v] = mass.get(v, 0.0) + math.exp(lp)
        out.append(mass or {tok: 1.0})
    return out


def parse_binary_logprobs(message: dict, n: int) -> list[float] | _NoLogprobs:
    """P(1) per window from the 0/1 answer's logprobs (delphi style)."""
    parse_int_list(_text(message), n, 0, 1)  # the visible answer must be well formed too
    dists = value_distributions(message, {"0", "1"})
    if dists is None:
        return NO_LOGPROBS
    if len(dists) != n:
        raise ParseFailure(f"{len(dists)} answer digits in the logprobs, expected {n}")
    return [d.get("1", 0.0) / (d.get("0", 0.0) + d.get("1", 0.0)) for d in dists]


def parse_elicited(message: dict, n: int) -> list[float]:
    return [v / 100.0 for v in parse_int_list(_text(message), n, 0, 100)]


_LEVELS = {str(v) for v in range(11)}


def parse_simulation(message: dict, n: int) -> tuple[list[float], str]:
    """Predicted activation (0-10) per token: expected value from logprobs, else the number."""
    values = parse_int_list(_text(message), n, 0, 10)
    dists = value_distributions(message, _LEVELS)
    if dists is None or len(dists) != n:
        return [float(v) for v in values], "answer"
    return [sum(int(k) * p for k, p in d.items()) / sum(d.values()) for d in dists], "logprobs"
