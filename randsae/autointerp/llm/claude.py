"""Claude backend for auto-interpretability: explain latents and score explanations.

Same shape as the lexical backend in ``randsae.autointerp.scoring``::

    backend = AnthropicBackend(run.autointerp.anthropic, cache_path=..., state_dir=...,
                               ledger_path=..., cell={"model": m, "init": i, "layer": l})
    explanations = backend.explain(records)              # latent -> {"explanation", ...}
    scores = backend.score("detection", {latent: (explanation, items)})   # item id -> {"prob", ...}

Scores are *elicited* probabilities (the model states 0-100 per window through a tool call; the
Messages API has no logprobs), so AUROCs computed from them are "elicited-probability AUROC",
not delphi's logprob AUROC. See docs/autointerp.md.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from randsae.autointerp import prompts
from randsae.autointerp.llm.cache import ResponseCache
from randsae.autointerp.llm.claude_parse import (
    SCORERS,
    ParseFailure,
    balanced_chunks,
    calls_per_latent,  # noqa: F401  (re-exported: callers import it from here)
    derived_seed,
    parse_explanation,
    parse_judgements,
)
from randsae.autointerp.llm.costs import CostLedger, usage_dict
from randsae.autointerp.llm.engine import LLMEngine
from randsae.autointerp.llm.requests import LLMRequest, LLMResult
from randsae.autointerp.llm.settings import AnthropicSettings, BudgetExceededError
from randsae.io import write_json

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class _RetryState:
    """What one ``_run_with_retries`` call accumulates over its attempts, per job key."""

    def __init__(self, jobs: dict[Any, dict], parse):
        self.jobs = jobs
        self.parse = parse
        self.out: dict[Any, dict] = {}
        self.texts = {k: j["user"] for k, j in jobs.items()}
        self.usage = {k: dict.fromkeys(_USAGE_FIELDS, 0) for k in jobs}
        self.attempts = dict.fromkeys(jobs, 0)
        self.cached = dict.fromkeys(jobs, True)


# ----------------------------------------------------------------------------------------------
# Backend
# ----------------------------------------------------------------------------------------------


class AnthropicBackend:
    """Claude explainer + detection/fuzzing scorers over the :class:`LLMEngine`."""

    name = "anthropic"
    settings_cls: Any = AnthropicSettings
    engine_cls: Any = LLMEngine

    def __init__(
        self,
        config: AnthropicSettings | dict | None,
        *,
        cache_path: str | os.PathLike,
        state_dir: str | os.PathLike,
        ledger_path: str | os.PathLike,
        cell: dict | None = None,
        client: Any = None,
        highlight_threshold: float = prompts.HIGHLIGHT_THRESHOLD,
    ):
        self.highlight_threshold = float(highlight_threshold)
        # the section object (the stages) or its dict (keys left out take their defaults)
        self.settings = (
            config if isinstance(config, self.settings_cls) else self.settings_cls.from_dict(config)
        )
        self._check_settings()
        self.cell = dict(cell or {})
        self.state_dir = Path(state_dir)
        self.engine = self.engine_cls(
            self.settings,
            cache=ResponseCache(cache_path),
            ledger=CostLedger(ledger_path, self.cell),
            state_dir=state_dir,
            client=client,
        )

    def _check_settings(self) -> None:
        if self.settings.prompt_version not in (None, prompts.PROMPT_VERSION):
            raise ValueError(
                f"autointerp.anthropic.prompt_version={self.settings.prompt_version!r} but the code "
                f"implements {prompts.PROMPT_VERSION!r}"
            )

    # -- provider-specific prompt and answer format (the OpenAI-compatible judge overrides) -----
    @staticmethod
    def _parse_explanation(message: dict) -> str:
        return parse_explanation(message)

    @staticmethod
    def _parse_judgements(message: dict, n: int) -> list[float]:
        return parse_judgements(message, n)

    @staticmethod
    def _explain_expected() -> str:
        return (
            f"Call {prompts.EXPLAIN_TOOL_NAME} exactly once with a non-empty one-sentence "
            "explanation."
        )

    @staticmethod
    def _score_expected(n: int) -> str:
        return (
            f"Call {prompts.SCORE_TOOL_NAME} exactly once with exactly {n} judgements, indices 0 "
            f"to {n - 1}, each with an integer probability 0-100."
        )

    def _explainer_user(self, windows: list[dict]) -> str:
        return prompts.explainer_user(windows, self.highlight_threshold)

    @staticmethod
    def _scorer_user(scorer: str, explanation: str, chunk: list[dict]) -> str:
        return prompts.scorer_user(scorer, explanation, chunk)

    # -- helpers ---------------------------------------------------------------------------------
    def _params(self, stage: str, user_text: str) -> dict:
        s = self.settings
        return prompts.build_params(
            stage,
            user_text,
            model=s.model,
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            cache_ttl=s.cache_ttl,
        )

    def close(self) -> None:
        self.engine.close()
        self.engine.cache.close()

    def __enter__(self) -> AnthropicBackend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _run_with_retries(self, stage: str, jobs: dict[Any, dict], parse) -> dict[Any, dict]:
        """Run ``jobs`` (key -> {"user", "latents", "expected"}) with bounded parse retries.

        Returns key -> {"value", "parse_failed", "error", "usage", "attempts", "cached"}.
        """
        st = _RetryState(jobs, parse)
        pending = list(jobs)
        for attempt in range(self.settings.max_parse_retries + 1):
            if not pending:
                break
            reqs = {
                k: LLMRequest(
                    self._params(stage, st.texts[k]), stage=stage, latents=tuple(jobs[k]["latents"])
                )
                for k in pending
            }
            if attempt == 0:  # dry-run estimate before any call, kept next to the outputs
                est = self.engine.estimate(list(reqs.values()))
                write_json(
                    self.state_dir / f"estimate_{stage}.json", {**est, **self.cell}, sort_keys=True
                )
            final = attempt == self.settings.max_parse_retries
            try:
                res = self.engine.run(list(reqs.values()))
            except BudgetExceededError as exc:
                self._absorb(st, reqs, exc.partial, attempt, final=True)
                exc.partial = st.out
                raise
            pending = self._absorb(st, reqs, res, attempt, final=final)
        for k in jobs:
            st.out[k]["usage"] = st.usage[k]
            st.out[k]["attempts"] = st.attempts[k]
            st.out[k]["cached"] = st.cached[k] and st.attempts[k] > 0
        return st.out

    def _absorb(
        self, st: _RetryState, reqs, res: dict[str, LLMResult], attempt: int, final: bool
    ) -> list:
        retry = []
        for k, req in reqs.items():
            r = res.get(req.custom_id)
            if r is None:
                continue  # not sent (budget); stays absent from ``out``
            st.attempts[k] += 1
            if r.message is None:  # transport-level failure after the SDK's / batch retries
                st.cached[k] = False
                st.out[k] = {"value": None, "parse_failed": False, "error": r.error}
                continue
            st.cached[k] = st.cached[k] and r.cached
            u = usage_dict(self.engine._usage(r.message))
            for f in st.usage[k]:
                st.usage[k][f] += u[f]
            try:
                value = st.parse(r.message, st.jobs[k])
                st.out[k] = {"value": value, "parse_failed": False, "error": None}
            except ParseFailure as exc:
                st.out[k] = {
                    "value": None,
                    "parse_failed": True,
                    "error": f"{exc} (after {st.attempts[k]} attempt(s))",
                }
                if not final:
                    st.texts[k] = st.jobs[k]["user"] + prompts.retry_note(
                        attempt + 1, str(exc), st.jobs[k]["expected"]
                    )
                    retry.append(k)
        return retry

    # -- explain ---------------------------------------------------------------------------------
    def explain_requests(self, records: Sequence[dict]) -> dict[int, dict]:
        jobs = {}
        for rec in records:
            latent = int(rec["latent"])
            if not rec.get("explain"):
                continue
            jobs[latent] = {
                "user": self._explainer_user(rec["explain"]),
                "latents": [latent],
                "expected": self._explain_expected(),
            }
        return jobs

    def explain(self, records: Sequence[dict]) -> dict[int, dict]:
        """latent -> {"explanation", "parse_failed", "error", "usage", "attempts", "cached"}."""
        jobs = self.explain_requests(records)
        out: dict[int, dict] = {}
        for rec in records:
            if int(rec["latent"]) not in jobs:
                out[int(rec["latent"])] = {
                    "explanation": "",
                    "parse_failed": False,
                    "error": "no explainer windows",
                    "usage": usage_dict({}),
                    "attempts": 0,
                    "cached": False,
                }
        try:
            raw = self._run_with_retries("explain", jobs, lambda m, j: self._parse_explanation(m))
        except BudgetExceededError as exc:
            exc.partial = {**out, **{k: self._explain_row(v) for k, v in exc.partial.items()}}
            raise
        out.update({k: self._explain_row(v) for k, v in raw.items()})
        return out

    @staticmethod
    def _explain_row(v: dict) -> dict:
        return {
            "explanation": v["value"] or "",
            "parse_failed": v["parse_failed"],
            "error": v["error"],
            "usage": v.get("usage", {}),
            "attempts": v.get("attempts", 0),
            "cached": v.get("cached", False),
        }

    # -- score -----------------------------------------------------------------------------------
    def score_prompts(self, scorer: str, tasks: dict[int, tuple[str | dict, list[dict]]]) -> dict:
        """Group each latent's items into shuffled prompts: (latent, i) -> job."""
        if scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {SCORERS}, got {scorer!r}")
        jobs = {}
        for latent, (explanation, items) in sorted(tasks.items()):
            if isinstance(explanation, dict):  # the explain() row itself is accepted too
                explanation = explanation.get("explanation") or ""
            order = list(items)
            random.Random(
                derived_seed(
                    self.settings.shuffle_seed,
                    self.cell.get("model"),
                    self.cell.get("init"),
                    self.cell.get("layer"),
                    int(latent),
                    scorer,
                )
            ).shuffle(order)
            for i, chunk in enumerate(balanced_chunks(order, self.settings.windows_per_prompt)):
                if scorer == "fuzzing" and any(it.get("highlight") is None for it in chunk):
                    raise ValueError(f"fuzzing item without 'highlight' in latent {latent}")
                n = len(chunk)
                jobs[(int(latent), i)] = {
                    "user": self._scorer_user(scorer, explanation, chunk),
                    "latents": [int(latent)],
                    "items": chunk,
                    "n": n,
                    "expected": self._score_expected(n),
                }
        return jobs

    def score(
        self, scorer: str, tasks: dict[int, tuple[str | dict, list[dict]]]
    ) -> dict[str, dict]:
        """item id -> {"prob": float in [0, 1] | None, "parse_failed": bool, "error": str | None}.

        ``tasks``: latent -> (explanation string, or the row returned by :meth:`explain`, items).
        """
        jobs = self.score_prompts(scorer, tasks)
        try:
            raw = self._run_with_retries(
                scorer, jobs, lambda m, j: self._parse_judgements(m, j["n"])
            )
        except BudgetExceededError as exc:
            exc.partial = self._score_rows(jobs, exc.partial)
            raise
        return self._score_rows(jobs, raw)

    @staticmethod
    def _item_prob(value, j: int):
        """The probability of item ``j`` in one parsed answer (None: no answer)."""
        return value[j] if value is not None else None

    def _score_rows(self, jobs: dict, raw: dict) -> dict[str, dict]:
        rows: dict[str, dict] = {}
        for k, job in jobs.items():
            v = raw.get(k)
            if v is None:
                continue
            for j, item in enumerate(job["items"]):
                prob = self._item_prob(v["value"], j)
                rows[item["id"]] = {
                    "prob": prob,
                    "parse_failed": v["parse_failed"],
                    "error": v["error"],
                }
        return rows

    # -- dry run ---------------------------------------------------------------------------------
    def estimate(
        self,
        records: Sequence[dict] | None = None,
        tasks: dict[str, dict[int, tuple[str, list[dict]]]] | None = None,
    ) -> dict:
        """Upper-bound cost estimate of the first attempts (no Messages calls are made).

        ``tasks`` maps scorer name -> the ``tasks`` argument of :meth:`score`.
        """
        reqs: list[LLMRequest] = []
        stages: dict[str, dict] = {}
        groups = []
        if records:
            groups.append(("explain", self.explain_requests(records)))
        for scorer, t in (tasks or {}).items():
            groups.append((scorer, self.score_prompts(scorer, t)))
        for stage, jobs in groups:
            rs = [
                LLMRequest(self._params(stage, j["user"]), stage=stage, latents=tuple(j["latents"]))
                for j in jobs.values()
            ]
            stages[stage] = self.engine.estimate(rs)
            reqs += rs
        total = self.engine.estimate(reqs)
        total["stages"] = stages
        total["budget_usd"] = self.settings.budget_usd
        total["spent_usd"] = self.engine.spent_usd()
        return total
