"""Message Batches path of the LLM engine: create (with recorded intents), re-attach,
collect, resubmit. Intents, ownership and orphan lookup: ``randsae.autointerp.llm.intents``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from randsae.autointerp.llm.intents import IntentsMixin, create_failure
from randsae.autointerp.llm.requests import (
    BatchResultsError,
    LLMRequest,
    LLMResult,
    _backoff_s,
    _batch_total,
    _describe_error,
    _message_to_dict,
    message_problem,
)
from randsae.autointerp.llm.settings import BudgetExceededError
from randsae.io import write_json
from randsae.secrets import clip, redact, redact_obj

log = logging.getLogger("randsae")


class BatchesMixin(IntentsMixin):
    """The engine's Message Batches path (mixed into :class:`LLMEngine`)."""

    def _state_path(self) -> Path:
        return self.state_dir / "anthropic_batches.json"

    def _load_state(self) -> dict:
        p = self._state_path()
        if p.exists():
            return json.loads(p.read_text(encoding="utf-8"))
        return {"batches": []}

    def _save_state(self, state: dict) -> None:
        write_json(self._state_path(), redact_obj(state), sort_keys=True)

    def _run_batch(self, pending: list[LLMRequest], results: dict[str, LLMResult]) -> None:
        by_cid = {r.custom_id: r for r in pending}
        errors: dict[str, str] = {}
        state = self._load_state()
        rounds = 0
        while True:
            needed = {cid for cid in by_cid if cid not in results}
            # a) creates whose reply was lost (this run's or a killed run's): find their batches
            #    before anything is created again
            self._resolve_open_intents(state, needed)
            # b) collect this job's batches (a killed run's too) that hold requests still needed
            for rec in state["batches"]:
                if rec.get("collected") or rec.get("batch_id") is None:
                    continue
                if set(rec["custom_ids"]) & {c for c in by_cid if c not in results}:
                    self._collect_batch(rec, by_cid, results, errors, state)
            # c) submit what is still missing; resubmit only errored/expired items
            todo = [r for cid, r in by_cid.items() if cid not in results]
            if not todo or rounds > self.s.max_batch_resubmits:
                break
            admitted, need = [], 0.0
            for req in todo:
                c = self._request_cost_upper(req, batch=True)
                if not self._reserve(c):
                    break
                admitted.append(req)
                need += c
            if not admitted:
                raise BudgetExceededError(
                    self._budget_message(len(todo), self._request_cost_upper(todo[0], batch=True)),
                    partial=results,
                )
            try:
                recs = self._create_batch(admitted, rounds, state)
            finally:
                with self._budget_lock:
                    self._reserved -= need  # settled per item inside _collect_batch
            for rec in recs:
                self._collect_batch(rec, by_cid, results, errors, state)
            rounds += 1
            if len(admitted) < len(todo):
                over = [r for r in todo if r.custom_id not in results]
                raise BudgetExceededError(
                    self._budget_message(len(over), self._request_cost_upper(over[0], batch=True)),
                    partial=results,
                )
        for cid in by_cid:
            if cid not in results:
                results[cid] = LLMResult(None, error=errors.get(cid, "batch item not processed"))

    def _create_batch(self, admitted: list[LLMRequest], rounds: int, state: dict) -> list[dict]:
        """Create one batch, idempotently: returns the state record(s) to collect.

        The intent (custom ids, request count, server time) is recorded in the registry and the
        state file *before* the call, and the call is made without the SDK's blind retries. A
        rejected create (:func:`create_failure`: 408/409/429/529, no connection) is retried
        after a backoff; after an ambiguous one (the batch may exist) the engine looks for the
        batch and adopts it before anything is created again.
        """
        body = [{"custom_id": r.custom_id, "params": r.params} for r in admitted]
        creator = self.client.with_options(max_retries=0)
        error = "no attempt made"
        rec = None
        for attempt in range(self.s.max_retries + 1):
            if attempt:
                time.sleep(_backoff_s(attempt))
            if rec is None:  # an intent left by an ambiguous attempt stays open (later looks
                # still look for a late batch from it); this attempt gets an intent of its own
                rec = self._new_intent(admitted, rounds, state)
            try:
                batch = creator.messages.batches.create(requests=body)
            except (anthropic.APIError, ValueError) as exc:
                error = _describe_error(exc)
                kind = create_failure(exc)
                if kind == "fatal":
                    self._close_intent(rec, state, "create rejected")
                    raise RuntimeError(f"Message Batches create rejected: {error}") from None
                if kind == "ambiguous":  # the batch may exist although its reply was lost
                    adopted = self._resolve_intent(rec, state, None)
                    if adopted:
                        return adopted
                    rec = None
                continue  # rejected: nothing was created, the intent stands for the next try
            took_over = self.registry.register_created(batch.id, rec)  # the moment it returns
            if took_over:
                log.warning(
                    "batch %s was claimed by job %s; its creator takes it", batch.id, took_over
                )
            rec.update(batch_id=batch.id, submitted_at=time.time())
            self._save_state(state)  # persisted before polling: a killed job re-attaches
            return [rec]
        if rec is not None:
            self._close_intent(rec, state, "create rejected")
        raise RuntimeError(
            f"Message Batches create failed {self.s.max_retries + 1} time(s) ({error}); no batch "
            f"made by it is listed by the API. The intent is kept in {self._state_path()}: a "
            f"rerun first looks for a late batch and re-attaches it."
        )

    def _download_results(self, batch_id: str, expected: int | None) -> list[Any]:
        """All result lines of an ended batch; a cut or garbled stream is downloaded again."""
        error = "no attempt made"
        for attempt in range(self.s.max_retries + 1):
            if attempt:
                time.sleep(_backoff_s(attempt))
            try:
                lines = list(self.client.messages.batches.results(batch_id))
            except (ValueError, anthropic.APIError, httpx2.HTTPError, OSError) as exc:
                error = f"{type(exc).__name__}: {clip(str(exc), 200)}"
                continue
            if expected is not None and len(lines) != expected:
                error = f"{len(lines)} result lines, the batch reports {expected} requests"
                continue
            if any(not getattr(line, "custom_id", None) for line in lines):
                error = "a result line without custom_id"
                continue
            return lines
        raise BatchResultsError(
            f"results of batch {batch_id} could not be read intact after "
            f"{self.s.max_retries + 1} download(s) ({error}). The batch id is kept in "
            f"{self._state_path()}: rerun the job to re-attach and download them again "
            f"(nothing is paid twice)."
        )

    def _collect_batch(
        self,
        rec: dict,
        by_cid: dict[str, LLMRequest],
        results: dict[str, LLMResult],
        errors: dict[str, str],
        state: dict,
    ) -> None:
        batch_id = rec["batch_id"]
        if not self._owns(rec):  # registered to another job: not ours to store or to bill
            rec.update(collected=True, foreign=True)
            self._save_state(state)
            return
        deadline = (rec.get("submitted_at") or rec["intent_at"]) + self.s.batch_timeout_s
        while True:
            batch = self.client.messages.batches.retrieve(batch_id)
            if batch.processing_status == "ended":
                break
            if time.time() > deadline:
                self._cancel(batch_id)
                deadline = float("inf")  # wait for the cancel to end the batch
            time.sleep(self.s.poll_interval_s)
        lines = self._downloaded.pop(batch_id, None) or self._download_results(
            batch_id, _batch_total(batch)
        )
        ours = set(rec["custom_ids"])
        if rec.get("adopted") and {line.custom_id for line in lines} != ours:
            # the only batch this intent could have made, by the registry, yet someone else's
            # (made outside the workflow): released; the intent is looked up again
            self.registry.mark_foreign(batch_id, rec)
            rec.setdefault("foreign_ids", []).append(batch_id)
            rec.update(batch_id=None, adopted=False, submitted_at=None)
            self._save_state(state)
            return
        if self.registry.owner(batch_id) != self.job:  # its creator's reply came meanwhile
            rec.update(collected=True, foreign=True)
            self._save_state(state)
            return
        for line in lines:
            cid = line.custom_id
            req = by_cid.get(cid)
            res = line.result
            if req is None and cid not in ours:
                continue
            if res.type == "succeeded":
                message = _message_to_dict(res.message)
                problem = message_problem(message)
                if problem is not None:
                    if req is not None:
                        errors[cid] = f"batch item {problem} (batch {batch_id})"
                    continue
                if req is not None and cid not in results:
                    results[cid] = self._store(req, message, batch=True)
                else:  # an orphan's answer to a request answered meanwhile: billed all the same
                    self._ledger_only(rec["stage"], cid, message)
                self._settle(0.0, self._cost(message.get("usage") or {}, True))
            elif req is not None:
                detail = ""
                if res.type == "errored":
                    err = getattr(res.error, "error", None)
                    detail = f": {getattr(err, 'type', '')} {getattr(err, 'message', '')}".rstrip()
                errors[cid] = redact(f"batch item {res.type}{detail} (batch {batch_id})")
        rec["collected"] = True
        self._save_state(state)

    def _ledger_only(self, stage: str, custom_id: str, message: dict) -> None:
        usage = message.get("usage") or {}
        self.ledger.record(
            stage=stage,
            llm_model=self.s.model,
            execution="batch",
            usage=usage,
            usd=self._cost(usage, True),
            custom_id=custom_id,
            latents=(),
            request_id=message.get("id"),
            orphan=True,
        )
