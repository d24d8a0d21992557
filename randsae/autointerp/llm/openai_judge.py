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

from typing import Any

import numpy as np

from randsae.autointerp import prompts
from randsae.autointerp.llm.claude import AnthropicBackend
from randsae.autointerp.llm.openai_engine import (
    DEFAULTS,
    PROMPT_VERSION,
    OpenAIEngine,
    OpenAISettings,
    completion_problem,
)
from randsae.autointerp.llm.openai_prompts import (
    EXPLAIN_SYSTEM,
    NO_LOGPROBS,
    SIMULATION_SYSTEM,
    _body,
    parse_binary_logprobs,
    parse_elicited,
    parse_explanation,
    parse_int_list,
    parse_simulation,
    scorer_system,
    simulation_user,
)

__all__ = [
    "DEFAULTS",
    "EXPLAIN_SYSTEM",
    "NO_LOGPROBS",
    "PROMPT_VERSION",
    "SIMULATION_SYSTEM",
    "OpenAIBackend",
    "OpenAIEngine",
    "OpenAISettings",
    "completion_problem",
    "parse_binary_logprobs",
    "parse_elicited",
    "parse_explanation",
    "parse_int_list",
    "parse_simulation",
    "pearson",
    "scorer_system",
    "simulation_user",
]


# ----------------------------------------------------------------------------------------------
# Backend
# ----------------------------------------------------------------------------------------------


class OpenAIBackend(AnthropicBackend):
    """Explainer, detection/fuzzing scorers and simulation over an OpenAI-compatible endpoint."""

    name = "openai"
    settings_cls: Any = OpenAISettings
    engine_cls: Any = OpenAIEngine

    def _check_settings(self) -> None:
        self.mode = "elicited" if self.settings.probabilities == "elicited" else "logprobs"

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

    def _explainer_user(self, windows: list[dict]) -> str:
        return (
            _body(prompts.explainer_user(windows, self.highlight_threshold))
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
    def _item_prob(value, j: int):
        return value if value is NO_LOGPROBS or value is None else value[j]

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
