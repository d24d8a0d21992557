"""OpenAI-compatible judge: any chat-completions endpoint (vLLM, SGLang, a hosted model).

Same engine as the Claude backend (:class:`randsae.autointerp.llm.LLMEngine`: response cache,
ledger, budget cap, retries, error-shaped 200s never cached, secrets scrubbed), real-time calls
through the real ``openai`` SDK. The key comes from ``OPENAI_API_KEY`` only; without it a
placeholder is sent (local servers such as vLLM accept any key).

Probabilities (``probabilities``):

- ``logprobs`` (the paper's judge, delphi style): the scorer answers a list of 0/1, one per window;
  ``P(yes)`` of window *i* is the probability mass on "1" over "0" and "1" among the
  ``top_logprobs`` of the *i*-th answer digit;
- ``elicited``: the scorer answers a list of integer probabilities 0-100 (as the Claude backend);
- ``auto`` (default): ``logprobs``; a prompt whose answer carries no logprobs is asked again in
  ``elicited`` form, and the rest of the job goes straight to ``elicited``.

Simulation scoring (Bills et al. 2023): the judge predicts an activation 0-10 for every token of
a window from the explanation alone; with logprobs the prediction is the expected value over the
``top_logprobs`` of each number, otherwise the number itself. The score of a latent is the Pearson
correlation between predicted and true activations over all tokens of its test windows.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openai

from randsae.autointerp import prompts
from randsae.autointerp.claude import AnthropicBackend, ParseFailure
from randsae.autointerp.llm import CostLedger, LLMEngine, ResponseCache
from randsae.secrets import redact

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
        section = dict(section or {})
        unknown = set(section) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown autointerp.openai keys: {sorted(unknown)}")
        merged = {**DEFAULTS, **section}
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
        return redact(
            f"error-shaped 200 response: {err.get('type', '')} {str(err.get('message', ''))[:200]}"
        )
    choices = message.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return "malformed response body (a completion without choices)"
    if not isinstance(choices[0].get("message"), dict):
        return "malformed response body (a choice without message)"
    return None


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
        raise ParseFailure(f"the list is not valid JSON: {found[-1][:80]!r}") from exc
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


# ----------------------------------------------------------------------------------------------
# Backend
# ----------------------------------------------------------------------------------------------


class OpenAIBackend(AnthropicBackend):
    """Explainer, detection/fuzzing scorers and simulation over an OpenAI-compatible endpoint."""

    name = "openai"

    def __init__(
        self,
        config: dict | None,
        *,
        cache_path: str | os.PathLike,
        state_dir: str | os.PathLike,
        ledger_path: str | os.PathLike,
        cell: dict | None = None,
        client: Any = None,
    ):
        from pathlib import Path

        self.settings = OpenAISettings.from_config(config)
        self.cell = dict(cell or {})
        self.state_dir = Path(state_dir)
        self.mode = "elicited" if self.settings.probabilities == "elicited" else "logprobs"
        self.engine = OpenAIEngine(
            self.settings,  # type: ignore[arg-type]
            cache=ResponseCache(cache_path),
            ledger=CostLedger(ledger_path, self.cell),
            state_dir=state_dir,
            client=client,
        )

    # -- request bodies ------------------------------------------------------------------------
    def _params(self, stage: str, user_text: str) -> dict:
        s = self.settings
        if stage == "explain":
            system = EXPLAIN_SYSTEM
        elif stage == "simulation":
            system = SIMULATION_SYSTEM
        else:
            system = scorer_system(stage, self.mode)
        params: dict[str, Any] = {"model": s.model, "max_tokens": int(s.max_tokens)}
        if s.temperature is not None:
            params["temperature"] = float(s.temperature)
        wants = stage == "simulation" or (stage != "explain" and self.mode == "logprobs")
        if wants and s.probabilities != "elicited":
            params["logprobs"] = True
            params["top_logprobs"] = int(s.top_logprobs)
        params["messages"] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user_text},
        ]
        return params

    @staticmethod
    def _explainer_user(windows: list[dict]) -> str:
        return (
            _body(prompts.explainer_user(windows))
            + "\n\nReply with one line: [EXPLANATION]: <one sentence>."
        )

    def _scorer_user(self, scorer: str, explanation: str, chunk: list[dict]) -> str:
        n = len(chunk)
        kind = "integers 0 or 1" if self.mode == "logprobs" else "integers from 0 to 100"
        return (
            _body(prompts.scorer_user(scorer, explanation, chunk))
            + f"\n\nReply with a list of exactly {n} {kind}, for windows 0 to {n - 1} in order."
        )

    @staticmethod
    def _explain_expected() -> str:
        return "Reply with one line: [EXPLANATION]: followed by a one-sentence explanation."

    def _score_expected(self, n: int) -> str:
        kind = "0 or 1" if self.mode == "logprobs" else "from 0 to 100"
        return f"Reply with only a list of exactly {n} integers {kind}, one per window, in order."

    @staticmethod
    def _parse_explanation(message: dict) -> str:
        return parse_explanation(message)

    def _parse_judgements(self, message: dict, n: int):
        if self.mode == "logprobs":
            return parse_binary_logprobs(message, n)
        return parse_elicited(message, n)

    @staticmethod
    def _score_rows(jobs: dict, raw: dict) -> dict[str, dict]:
        rows: dict[str, dict] = {}
        for k, job in jobs.items():
            v = raw.get(k)
            if v is None:
                continue
            for j, item in enumerate(job["items"]):
                value = v["value"]
                prob = value if value is NO_LOGPROBS or value is None else value[j]
                rows[item["id"]] = {
                    "prob": prob,
                    "parse_failed": v["parse_failed"],
                    "error": v["error"],
                }
        return rows

    # -- scoring with the logprob -> elicited fallback -------------------------------------------
    def score(self, scorer: str, tasks: dict[int, tuple[str | dict, list[dict]]]) -> dict:
        """item id -> {"prob", "parse_failed", "error", "source"} (source: logprobs | elicited)."""
        rows = super().score(scorer, tasks)
        source = self.mode
        if self.mode == "logprobs":
            missing = {
                iid for iid, r in rows.items() if r["prob"] is NO_LOGPROBS or r["prob"] is None
            }
            no_lp = {iid for iid in missing if rows[iid]["prob"] is NO_LOGPROBS}
            if no_lp:
                if self.settings.probabilities == "logprobs":
                    for iid in no_lp:
                        rows[iid] = {
                            "prob": None,
                            "parse_failed": True,
                            "error": "the endpoint returned no logprobs (set "
                            "autointerp.openai.probabilities: elicited or auto)",
                        }
                else:  # auto: ask those prompts again, elicited, and stay elicited
                    self.mode = "elicited"
                    redo = {
                        lat: (e, [it for it in items if it["id"] in no_lp])
                        for lat, (e, items) in tasks.items()
                        if any(it["id"] in no_lp for it in items)
                    }
                    again = super().score(scorer, redo)
                    for iid, r in again.items():
                        rows[iid] = {**r, "source": "elicited"}
        for r in rows.values():
            r.setdefault("source", source)
            if r["prob"] is NO_LOGPROBS:  # not asked again (e.g. budget): a counted failure
                r.update(prob=None, parse_failed=True, error="no logprobs in the answer")
        return rows

    # -- simulation ---------------------------------------------------------------------------
    def simulate(self, tasks: dict[int, tuple[str | dict, list[dict]]]) -> dict[int, dict]:
        """latent -> {"correlation", "n_tokens", "source", "error"} over its windows.

        ``tasks``: latent -> (explanation, windows with ``text`` and ``acts``).
        """
        jobs = {}
        for latent, (explanation, windows) in sorted(tasks.items()):
            if isinstance(explanation, dict):
                explanation = explanation.get("explanation") or ""
            for i, w in enumerate(windows):
                n = len(w["text"])
                jobs[(int(latent), i)] = {
                    "user": simulation_user(explanation, list(w["text"])),
                    "latents": [int(latent)],
                    "n": n,
                    "acts": [float(a) for a in w["acts"]],
                    "expected": f"Reply with only a list of exactly {n} integers from 0 to 10.",
                }
        raw = self._run_with_retries("simulation", jobs, lambda m, j: parse_simulation(m, j["n"]))
        out: dict[int, dict] = {}
        for latent in sorted({k[0] for k in jobs}):
            keys = [k for k in jobs if k[0] == latent]
            bad = [raw[k]["error"] for k in keys if raw.get(k, {}).get("value") is None]
            if bad:
                out[latent] = {"correlation": None, "n_tokens": 0, "source": None, "error": bad[0]}
                continue
            pred = np.concatenate([raw[k]["value"][0] for k in keys])
            true = np.concatenate([jobs[k]["acts"] for k in keys])
            out[latent] = {
                "correlation": pearson(pred, true),
                "n_tokens": int(len(true)),
                "source": raw[keys[0]]["value"][1],
                "error": None,
            }
        return out


def pearson(a: Any, b: Any) -> float | None:
    """Pearson correlation; None when either side is constant."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])
