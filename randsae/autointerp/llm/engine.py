"""The LLM request engine: cache → estimate/budget → batch or real-time → ledger."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import anthropic

from randsae.autointerp.llm.batches import BatchesMixin
from randsae.autointerp.llm.cache import ResponseCache
from randsae.autointerp.llm.costs import CostLedger, cost_usd
from randsae.autointerp.llm.requests import (
    LLMRequest,
    LLMResult,
    _backoff_s,
    _dedupe,
    _describe_error,
    _message_to_dict,
    _params_text_chars,
    _split_create_kwargs,
    message_problem,
)
from randsae.autointerp.llm.settings import AnthropicSettings, BudgetExceededError
from randsae.secrets import clip


class LLMEngine(BatchesMixin):
    """Runs requests through cache → estimate/budget → batch or real-time → ledger."""

    def __init__(
        self,
        settings: AnthropicSettings,
        *,
        cache: ResponseCache,
        ledger: CostLedger,
        state_dir: str | os.PathLike,
        client: anthropic.Anthropic | None = None,
    ):
        self.s = settings
        self.cache = cache
        self.ledger = ledger
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {
            "max_retries": settings.max_retries,
            "timeout": settings.timeout_s,
        }
        if settings.base_url:
            kwargs["base_url"] = settings.base_url
        self._client = client
        self._client_kwargs = kwargs
        self._budget_lock = threading.Lock()
        self._reserved = 0.0
        self._spent = None  # lazily read from the ledger (spending of earlier runs counts)
        self._downloaded: dict[str, list] = {}  # results read while matching an orphan

    # -- client ------------------------------------------------------------------------------
    @property
    def client(self) -> anthropic.Anthropic:
        if self._client is None:
            self._client = anthropic.Anthropic(**self._client_kwargs)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._registry is not None:
            self._registry.close()

    # -- pricing -----------------------------------------------------------------------------
    @property
    def price(self) -> dict[str, float]:
        return self.s.prices[self.s.model]

    def _cost(self, usage: dict, batch: bool) -> float:
        return cost_usd(
            usage,
            self.price,
            batch=batch,
            batch_discount=self.s.batch_discount,
            cache_ttl=self.s.cache_ttl,
        )

    def estimate_input_tokens(self, params: dict) -> int:
        if self.s.estimate_method == "count_tokens":
            body = {
                k: params[k]
                for k in ("model", "system", "messages", "tools", "tool_choice")
                if k in params
            }  # count_tokens takes no sampling or max_tokens fields
            return int(self.client.messages.count_tokens(**body).input_tokens)
        return math.ceil(_params_text_chars(params) / self.s.chars_per_token)

    def estimate(self, requests: Sequence[LLMRequest], *, batch: bool | None = None) -> dict:
        """Dry-run estimate of the uncached requests (no Messages calls are made).

        The dollar figure is an upper bound: all input at the uncached price plus ``max_tokens``
        output tokens per request.
        """
        batch = self.s.execution == "batch" if batch is None else batch
        pending = [r for r in _dedupe(requests) if r.key not in self.cache]
        in_tok = sum(self.estimate_input_tokens(r.params) for r in pending)
        out_tok = sum(int(r.params.get("max_tokens", self.s.max_tokens)) for r in pending)
        usd = self._cost({"input_tokens": in_tok, "output_tokens": out_tok}, batch)
        return {
            "requests": len(requests),
            "uncached_requests": len(pending),
            "estimated_input_tokens": in_tok,
            "max_output_tokens": out_tok,
            "estimated_usd_upper": usd,
            "method": self.s.estimate_method,
            "execution": "batch" if batch else "realtime",
            "llm_model": self.s.model,
        }

    def _request_cost_upper(self, req: LLMRequest, batch: bool) -> float:
        in_tok = self.estimate_input_tokens(req.params)
        out_tok = int(req.params.get("max_tokens", self.s.max_tokens))
        return self._cost({"input_tokens": in_tok, "output_tokens": out_tok}, batch)

    def spent_usd(self) -> float:
        with self._budget_lock:
            if self._spent is None:
                self._spent = self.ledger.total_usd()
            return self._spent

    def _reserve(self, amount: float) -> bool:
        spent = self.spent_usd()
        with self._budget_lock:
            if spent + self._reserved + amount > self.s.budget_usd + 1e-12:
                return False
            self._reserved += amount
            return True

    def _settle(self, reserved: float, actual: float) -> None:
        with self._budget_lock:
            self._reserved -= reserved
            self._spent = (self._spent or 0.0) + actual

    def _budget_message(self, n_left: int, need: float) -> str:
        return (
            f"LLM budget cap reached: spent ${self.spent_usd():.4f} of budget_usd="
            f"${self.s.budget_usd:.4f} (ledger {self.ledger.path.name}); {n_left} request(s) "
            f"not sent (the next needs up to ${need:.4f}). Results so far are cached; raise "
            f"autointerp.anthropic.budget_usd and rerun to continue."
        )

    # -- main entry --------------------------------------------------------------------------
    def run(self, requests: Sequence[LLMRequest]) -> dict[str, LLMResult]:
        """Return ``custom_id -> LLMResult`` for every request (duplicates share one call).

        Raises :class:`BudgetExceededError` (with ``partial`` results) when the cap stops the run.
        """
        results: dict[str, LLMResult] = {}
        pending: list[LLMRequest] = []
        for req in _dedupe(requests):
            hit = self.cache.get(req.key)
            if hit is not None:
                results[req.custom_id] = LLMResult(hit, cached=True)
            else:
                pending.append(req)
        if not pending:
            return results
        if self.s.execution == "batch":
            self._run_batch(pending, results)
        else:
            self._run_realtime(pending, results)
        return results

    def _store(self, req: LLMRequest, message: dict, *, batch: bool) -> LLMResult:
        usage = self._usage(message)
        usd = self._cost(usage, batch)
        self.cache.put(req.key, req.params, message)
        self.ledger.record(
            stage=req.stage,
            llm_model=self.s.model,
            execution="batch" if batch else "realtime",
            usage=usage,
            usd=usd,
            custom_id=req.custom_id,
            latents=req.latents,
            request_id=message.get("id"),
        )
        return LLMResult(message)

    # -- real-time -----------------------------------------------------------------------------
    def _call_one(self, req: LLMRequest, reserved: float) -> LLMResult:
        # The SDK retries 408/409/429/5xx/timeouts (max_retries). A 200 whose body is not a
        # Message (truncated JSON, wrong content type, an error object) is not retried by the SDK;
        # retry it here, bounded by the same max_retries. Such a body is never cached or ledgered.
        error = "no attempt made"
        for attempt in range(self.s.max_retries + 1):
            if attempt:
                time.sleep(_backoff_s(attempt))
            try:
                msg = self._create(req.params)
            except self.api_error as exc:  # the SDK's own retries are exhausted
                self._settle(reserved, 0.0)
                return LLMResult(None, error=_describe_error(exc))
            except ValueError as exc:  # response body is not valid JSON
                error = f"malformed response body: {type(exc).__name__}: {clip(str(exc), 200)}"
                continue
            message = self._as_dict(msg)
            problem = (
                f"malformed response body (not a {self.answer_kind}): {clip(str(msg), 200)!r}"
                if message is None
                else self._problem(message)
            )
            if problem is not None:
                error = problem
                continue
            break
        else:
            self._settle(reserved, 0.0)
            return LLMResult(None, error=f"{error} (after {self.s.max_retries + 1} attempt(s))")
        res = self._store(req, message, batch=False)
        self._settle(reserved, self._cost(self._usage(message), False))
        return res

    # -- provider hooks (the OpenAI-compatible engine overrides these) ---------------------------
    api_error: type[Exception] = anthropic.APIError
    answer_kind = "Message"

    def _create(self, params: dict) -> Any:
        return self.client.messages.create(**_split_create_kwargs(params))

    def _as_dict(self, obj: Any) -> dict | None:
        """The answer as a JSON dict, or None when the SDK returned something else."""
        return _message_to_dict(obj) if isinstance(obj, anthropic.types.Message) else None

    def _problem(self, message: dict) -> str | None:
        return message_problem(message)

    def _usage(self, message: dict) -> dict:
        """Usage in the Messages API's field names (input_tokens, output_tokens, ...)."""
        return message.get("usage") or {}

    def _run_realtime(self, pending: list[LLMRequest], results: dict[str, LLMResult]) -> None:
        stop: tuple[int, float] | None = None
        with ThreadPoolExecutor(max_workers=self.s.max_concurrency) as pool:
            futures = {}
            queue = list(pending)
            while queue or futures:
                while queue and len(futures) < self.s.max_concurrency and stop is None:
                    req = queue[0]
                    need = self._request_cost_upper(req, batch=False)
                    if not self._reserve(need):
                        if not futures:  # nothing in flight that could free reservations
                            stop = (len(queue), need)
                            break
                        break  # wait for in-flight calls to settle, then re-check
                    queue.pop(0)
                    futures[pool.submit(self._call_one, req, need)] = req
                if not futures:
                    break
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for fut in done:
                    req = futures.pop(fut)
                    results[req.custom_id] = fut.result()
        if stop is not None:
            raise BudgetExceededError(self._budget_message(*stop), partial=results)
