"""Message Batches path of the LLM engine: create (with persisted intents), re-attach,
collect, resubmit.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from randsae.autointerp.llm.requests import (
    ORPHAN_CLOCK_SLACK_S,
    ORPHAN_SEARCH_S,
    BatchResultsError,
    LLMRequest,
    LLMResult,
    _backoff_s,
    _batch_total,
    _describe_error,
    _maybe_created,
    _message_to_dict,
    message_problem,
)
from randsae.autointerp.llm.settings import BudgetExceededError
from randsae.io import write_json
from randsae.secrets import redact, redact_obj


class BatchesMixin:
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
        # 0) a create whose reply was lost (or a job killed between create and the state write)
        #    left an intent without a batch id: find the batch it may have made
        for rec in list(state["batches"]):
            if rec.get("batch_id") is None and not rec.get("resolved"):
                self._resolve_intent(rec, state, by_cid)
        # 1) re-attach to batches submitted by an earlier (killed) run for these requests
        for rec in state["batches"]:
            if rec.get("collected") or rec.get("batch_id") is None:
                continue
            if not set(rec["custom_ids"]) & set(by_cid):
                continue
            self._collect_batch(rec, by_cid, results, errors, state)
        # 2) submit what is still missing; resubmit only errored/expired items
        rounds = 0
        while True:
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

        The intent (custom ids, request count, time) is persisted *before* the call, and the call
        is made without the SDK's blind retries. After an ambiguous failure (timeout, dropped
        connection, 5xx: the batch may exist) the batches created since the intent are listed and
        one with the same request count is re-attached before anything is created again.
        """
        rec = {
            "batch_id": None,
            "intent_id": uuid.uuid4().hex,
            "stage": admitted[0].stage,
            "round": rounds,
            "custom_ids": [r.custom_id for r in admitted],
            "n_requests": len(admitted),
            "intent_at": time.time(),
            "submitted_at": None,
            "collected": False,
        }
        state["batches"].append(rec)
        self._save_state(state)  # the intent is on disk before the request leaves
        body = [{"custom_id": r.custom_id, "params": r.params} for r in admitted]
        creator = self.client.with_options(max_retries=0)
        error = "no attempt made"
        ambiguous = False
        for attempt in range(self.s.max_retries + 1):
            if attempt:
                time.sleep(_backoff_s(attempt))
            if ambiguous:  # the last intent stays open (later runs still look for a late
                # batch from it); this attempt gets an intent of its own
                rec = {**rec, "intent_id": uuid.uuid4().hex, "intent_at": time.time()}
                rec.pop("checked_at", None)
                state["batches"].append(rec)
                self._save_state(state)
                ambiguous = False
            try:
                batch = creator.messages.batches.create(requests=body)
            except anthropic.APIStatusError as exc:
                error = _describe_error(exc)
                if not _maybe_created(exc):
                    if exc.status_code == 429:
                        continue  # rate limited: nothing was created
                    rec["resolved"] = "create rejected"
                    self._save_state(state)
                    raise RuntimeError(f"Message Batches create rejected: {error}") from None
            except anthropic.APIConnectionError as exc:  # timeout or connection lost
                error = _describe_error(exc)
            else:
                rec.update(batch_id=batch.id, submitted_at=time.time())
                self._save_state(state)  # persisted before polling: a killed job re-attaches
                return [rec]
            # ambiguous: the batch may exist although its reply was lost
            adopted = self._resolve_intent(rec, state, None)
            if adopted:
                return adopted
            ambiguous = True
        raise RuntimeError(
            f"Message Batches create failed {self.s.max_retries + 1} time(s) ({error}); no batch "
            f"created since the attempt is listed by the API. The intent is kept in "
            f"{self._state_path()}: a rerun first looks for a late batch and re-attaches it."
        )

    def _resolve_intent(
        self, rec: dict, state: dict, by_cid: dict[str, LLMRequest] | None
    ) -> list[dict]:
        """Look for batches that an unanswered create (``rec``) may have made.

        Candidates: batches created from ``ORPHAN_CLOCK_SLACK_S`` before the intent to
        ``timeout_s + ORPHAN_CLOCK_SLACK_S`` after it, with the intent's request count, not yet
        recorded in the state. The closest in time is
        re-attached (its custom ids are checked when its results are read). ``by_cid`` given (a
        later run): a candidate whose requests are no longer needed is cancelled if still
        running, and its results, if any, are still collected for the ledger.
        """
        known = {r.get("batch_id") for r in state["batches"] if r.get("batch_id")}
        since = rec["intent_at"] - ORPHAN_CLOCK_SLACK_S
        # a create can only have been made while its request was in flight (+ clock skew)
        until = rec["intent_at"] + self.s.timeout_s + ORPHAN_CLOCK_SLACK_S
        found = []
        for b in self.client.messages.batches.list(limit=100):
            created = b.created_at.timestamp()
            if created < since:
                break  # newest first
            if b.id in known or created > until:
                continue
            if _batch_total(b) == rec["n_requests"]:
                found.append(b)
        rec["checked_at"] = time.time()
        if not found:
            if time.time() - rec["intent_at"] > ORPHAN_SEARCH_S:
                rec["resolved"] = "no batch found"
            self._save_state(state)
            return []
        b = min(found, key=lambda x: abs(x.created_at.timestamp() - rec["intent_at"]))
        rec.update(batch_id=b.id, submitted_at=b.created_at.timestamp(), adopted=True)
        self._save_state(state)
        if by_cid is not None and not set(rec["custom_ids"]) & set(by_cid):
            if b.processing_status == "in_progress":  # no longer needed: stop paying for it
                self.client.messages.batches.cancel(b.id)
                rec["canceled_orphan"] = True
            self._collect_batch(rec, by_cid, {}, {}, state)  # what it did cost goes to the ledger
        return [rec]

    def _download_results(self, batch_id: str, expected: int | None) -> list[Any]:
        """All result lines of an ended batch; a cut or garbled stream is downloaded again."""
        error = "no attempt made"
        for attempt in range(self.s.max_retries + 1):
            if attempt:
                time.sleep(_backoff_s(attempt))
            try:
                lines = list(self.client.messages.batches.results(batch_id))
            except (ValueError, anthropic.APIError, httpx2.HTTPError, OSError) as exc:
                error = redact(f"{type(exc).__name__}: {str(exc)[:200]}")
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
        deadline = (rec.get("submitted_at") or rec["intent_at"]) + self.s.batch_timeout_s
        while True:
            batch = self.client.messages.batches.retrieve(batch_id)
            if batch.processing_status == "ended":
                break
            if time.time() > deadline:
                self.client.messages.batches.cancel(batch_id)
                deadline = float("inf")  # wait for the cancel to end the batch
            time.sleep(self.s.poll_interval_s)
        lines = self._download_results(batch_id, _batch_total(batch))
        ours = set(rec["custom_ids"])
        if rec.get("adopted") and not ours & {line.custom_id for line in lines}:
            # a batch of another job with the same request count: not ours, nothing to store
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
                if req is not None:
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
        )
