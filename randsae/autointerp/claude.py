"""Claude backend for auto-interpretability: explain latents and score explanations.

Same shape as the lexical backend in ``randsae.autointerp.scoring``::

    backend = AnthropicBackend(config["autointerp"]["anthropic"], cache_path=..., state_dir=...,
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
from randsae.autointerp.claude_parse import (
    SCORERS,
    ParseFailure,
    balanced_chunks,
    calls_per_latent,  # noqa: F401  (re-exported: callers import it from here)
    derived_seed,
    parse_explanation,
    parse_judgements,
)
from randsae.autointerp.llm_cache import ResponseCache
from randsae.autointerp.llm_costs import CostLedger, usage_dict
from randsae.autointerp.llm_engine import LLMEngine
from randsae.autointerp.llm_requests import LLMRequest, LLMResult
from randsae.autointerp.llm_settings import AnthropicSettings, BudgetExceededError
from randsae.io import write_json

# ----------------------------------------------------------------------------------------------
# Backend
# ----------------------------------------------------------------------------------------------


class AnthropicBackend:
    """Claude explainer + detection/fuzzing scorers over the :class:`LLMEngine`."""

    name = "anthropic"

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
        self.settings = AnthropicSettings.from_config(config)
        if self.settings.prompt_version not in (None, prompts.PROMPT_VERSION):
            raise ValueError(
                f"autointerp.anthropic.prompt_version={self.settings.prompt_version!r} but the code "
                f"implements {prompts.PROMPT_VERSION!r}"
            )
        self.cell = dict(cell or {})
        self.state_dir = Path(state_dir)
        self.engine = LLMEngine(
            self.settings,
            cache=ResponseCache(cache_path),
            ledger=CostLedger(ledger_path, self.cell),
            state_dir=state_dir,
            client=client,
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

    @staticmethod
    def _explainer_user(windows: list[dict]) -> str:
        return prompts.explainer_user(windows)

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
        out: dict[Any, dict] = {}
        texts = {k: j["user"] for k, j in jobs.items()}
        pending = list(jobs)
        usage_acc = {
            k: {
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            }
            for k in jobs
        }
        attempts = dict.fromkeys(jobs, 0)
        cached = dict.fromkeys(jobs, True)
        first_estimate = True
        for attempt in range(self.settings.max_parse_retries + 1):
            if not pending:
                break
            reqs = {
                k: LLMRequest(
                    self._params(stage, texts[k]), stage=stage, latents=tuple(jobs[k]["latents"])
                )
                for k in pending
            }
            if first_estimate:  # dry-run estimate before any call, kept next to the outputs
                est = self.engine.estimate(list(reqs.values()))
                write_json(
                    self.state_dir / f"estimate_{stage}.json", {**est, **self.cell}, sort_keys=True
                )
                first_estimate = False
            try:
                res = self.engine.run(list(reqs.values()))
            except BudgetExceededError as exc:
                self._absorb(
                    reqs,
                    exc.partial,
                    parse,
                    jobs,
                    out,
                    usage_acc,
                    attempts,
                    cached,
                    texts,
                    attempt,
                    final=True,
                )
                exc.partial = out
                raise
            pending = self._absorb(
                reqs,
                res,
                parse,
                jobs,
                out,
                usage_acc,
                attempts,
                cached,
                texts,
                attempt,
                final=attempt == self.settings.max_parse_retries,
            )
        for k in jobs:
            out[k]["usage"] = usage_acc[k]
            out[k]["attempts"] = attempts[k]
            out[k]["cached"] = cached[k] and attempts[k] > 0
        return out

    def _absorb(
        self,
        reqs,
        res: dict[str, LLMResult],
        parse,
        jobs,
        out,
        usage_acc,
        attempts,
        cached,
        texts,
        attempt: int,
        final: bool,
    ) -> list:
        retry = []
        for k, req in reqs.items():
            r = res.get(req.custom_id)
            if r is None:
                continue  # not sent (budget); stays absent from ``out``
            attempts[k] += 1
            if r.message is None:  # transport-level failure after the SDK's / batch retries
                cached[k] = False
                out[k] = {"value": None, "parse_failed": False, "error": r.error}
                continue
            cached[k] = cached[k] and r.cached
            u = usage_dict(self.engine._usage(r.message))
            for f in usage_acc[k]:
                usage_acc[k][f] += u[f]
            try:
                value = parse(r.message, jobs[k])
                out[k] = {"value": value, "parse_failed": False, "error": None}
            except ParseFailure as exc:
                out[k] = {
                    "value": None,
                    "parse_failed": True,
                    "error": f"{exc} (after {attempts[k]} attempt(s))",
                }
                if not final:
                    texts[k] = jobs[k]["user"] + prompts.retry_note(
                        attempt + 1, str(exc), jobs[k]["expected"]
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
    def _score_rows(jobs: dict, raw: dict) -> dict[str, dict]:
        rows: dict[str, dict] = {}
        for k, job in jobs.items():
            v = raw.get(k)
            if v is None:
                continue
            for j, item in enumerate(job["items"]):
                prob = v["value"][j] if v["value"] is not None else None
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
