"""Batch creates whose outcome is unknown, and the batches they may have made (orphans).

A failed ``batches.create`` is either *rejected* (the API said that it created nothing, or the
request never reached the network: retry or stop) or *ambiguous* (the whole request may have
reached the API, so the batch may exist although its reply was lost): :func:`create_failure`
and docs/autointerp.md. After an ambiguous failure, and for every intent left open by an
earlier run, the engine looks for the batch in the API's list; the shared
:class:`~randsae.autointerp.llm.registry.BatchRegistry` tells its batches from other jobs'.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
import uuid
from datetime import timezone
from typing import Any

import anthropic
import httpx2

from randsae.autointerp.llm.registry import BatchRegistry
from randsae.autointerp.llm.requests import (
    ORPHAN_CLOCK_SLACK_S,
    ORPHAN_SEARCH_S,
    SERVER_CLOCK_SLACK_S,
    LLMRequest,
    _batch_total,
)

log = logging.getLogger("randsae")

#: Transport errors raised before the whole request was handed to the network (no connection,
#: or a write that failed or timed out): the API cannot have read a complete create request.
NOT_SENT = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.WriteError,
    httpx2.WriteTimeout,
    httpx2.ProxyError,
    httpx2.UnsupportedProtocol,
    httpx2.LocalProtocolError,
)
#: Answers that say nothing was created, and that a later attempt may succeed: 408 (the server
#: did not receive the whole request), 409 (not applied), 429 (rate limited), 529 (overloaded:
#: the API sheds the request before processing it).
RETRY_STATUSES = frozenset({408, 409, 429, 529})


def create_failure(exc: BaseException) -> str:
    """``retry`` (nothing created; try again), ``fatal`` (nothing created; stop) or
    ``ambiguous`` (the batch may exist) for an exception raised by ``batches.create``."""
    if isinstance(exc, anthropic.APIStatusError):
        code = exc.status_code
        if code in RETRY_STATUSES:
            return "retry"
        # 499: the connection was closed before the answer (by a proxy between us and the API);
        # 500, 502, 503, 504 and other 5xx: the API failed, or a gateway lost the upstream reply,
        # after the request may have been processed. 501: the method is not implemented.
        if code == 499 or (code >= 500 and code != 501):
            return "ambiguous"
        return "fatal"
    if isinstance(exc, anthropic.APIConnectionError):  # APITimeoutError included
        cause = exc.__cause__
        while cause is not None and not isinstance(cause, httpx2.HTTPError):
            cause = cause.__cause__
        # ReadTimeout, ReadError (reset after the request was sent), RemoteProtocolError (closed
        # without an answer), or an unknown cause: the request may have been processed
        return "retry" if isinstance(cause, NOT_SENT) else "ambiguous"
    # a 2xx answer whose body cannot be read (ValueError, APIResponseValidationError): created,
    # with an id we do not know
    return "ambiguous"


class IntentsMixin:
    """Intents, the registry and orphan lookup of the batch path (mixed into the engine)."""

    _registry: BatchRegistry | None = None

    @property
    def job(self) -> str:
        """This job's name in the registry: its state directory, relative to the cache's folder."""
        base = self.cache.path.resolve().parent
        return os.path.relpath(self.state_dir.resolve(), base)

    @property
    def registry(self) -> BatchRegistry:
        if self._registry is None:
            cell = "/".join(str(self.ledger.cell.get(k)) for k in ("model", "init", "layer"))
            self._registry = BatchRegistry(self.cache.path, job=self.job, cell=cell)
        return self._registry

    # -- intents ---------------------------------------------------------------------------------
    def _intent_window(self) -> dict:
        """When a batch made by a create sent now can be stamped, on the server's clock.

        The lower bound is the ``Date`` header of a reply received just before the create (the
        server answered it before the create reached it), minus ``SERVER_CLOCK_SLACK_S``. Both
        sides come from the server's clock, so the local clock's skew plays no part. Without
        that header the local clock is used, with ``ORPHAN_CLOCK_SLACK_S`` on either side.
        """
        try:
            raw = self.client.messages.batches.with_raw_response.list(limit=1)
            date = email.utils.parsedate_to_datetime(raw.headers["date"])
        except (anthropic.APIError, KeyError, TypeError, ValueError):
            return self._window("local", time.time())
        if date.tzinfo is None:
            date = date.replace(tzinfo=timezone.utc)
        return self._window("server", date.timestamp())

    def _window(self, clock: str, t: float) -> dict:
        """The window of an intent made at ``t`` on ``clock`` (``server`` or ``local``); it ends
        ``timeout_s`` + ``ORPHAN_CLOCK_SLACK_S`` later (a request may be held that long)."""
        before = SERVER_CLOCK_SLACK_S if clock == "server" else ORPHAN_CLOCK_SLACK_S
        return {
            "clock": clock,
            "server_date": t if clock == "server" else None,
            "not_before": t - before,
            "not_after": t + self.s.timeout_s + ORPHAN_CLOCK_SLACK_S,
        }

    def _new_intent(self, admitted: list[LLMRequest], rounds: int, state: dict) -> dict:
        """An intent, in the registry and the state file before its create call is made."""
        rec = {
            "batch_id": None,
            "intent_id": uuid.uuid4().hex,
            "stage": admitted[0].stage,
            "round": rounds,
            "custom_ids": [r.custom_id for r in admitted],
            "n_requests": len(admitted),
            **self._intent_window(),
            "intent_at": time.time(),
            "submitted_at": None,
            "collected": False,
        }
        self.registry.open_intent(rec)
        state["batches"].append(rec)
        self._save_state(state)
        return rec

    def _close_intent(self, rec: dict, state: dict, why: str) -> None:
        """An intent whose create was rejected: nothing was made."""
        rec["resolved"] = why
        self.registry.set_intent(rec["intent_id"], "rejected")
        self._save_state(state)

    # -- orphans ---------------------------------------------------------------------------------
    def _candidates(self, rec: dict, state: dict, skip: set[str]) -> list[Any]:
        """Listed batches that ``rec`` may have made: its request count, stamped inside its
        window, registered to nobody."""
        known = {r["batch_id"] for r in state["batches"] if r.get("batch_id")} | skip
        found = []
        for b in self.client.messages.batches.list(limit=100):
            created = b.created_at.timestamp()
            if created < rec["not_before"]:
                break  # newest first
            if (
                created <= rec["not_after"]
                and b.id not in known
                and _batch_total(b) == rec["n_requests"]
            ):
                found.append(b)
        taken = self.registry.registered(b.id for b in found)
        return [b for b in found if b.id not in taken]

    def _resolve_intent(
        self, rec: dict, state: dict, needed: set[str] | None, *, wait: bool = True
    ) -> list[dict]:
        """Find and adopt the batch that an unanswered create (``rec``) made; [] if none.

        One candidate that no other open intent could have made is claimed at once (its
        custom ids are checked when its results are read). Otherwise (several candidates, or
        another job's create of the same size in flight or unanswered), with ``wait``, the
        candidates' results are awaited and the one with ``rec``'s custom ids is claimed.
        ``needed`` given (a later look): a batch whose requests are no longer needed is
        cancelled if still running, and what it did cost goes to the ledger.
        """
        if "not_before" not in rec:  # an intent recorded before server times were
            rec.update(self._window("local", rec["intent_at"]))
        self.registry.open_intent(rec)  # no-op when recorded
        skip = set(rec.get("foreign_ids", ()))
        deadline = rec["intent_at"] + self.s.batch_timeout_s
        while True:
            found = self._candidates(rec, state, skip)
            rec["checked_at"] = time.time()
            if not found:
                if time.time() - rec["intent_at"] > ORPHAN_SEARCH_S:
                    rec["resolved"] = "no batch found"
                    self.registry.set_intent(rec["intent_id"], "expired")
                self._save_state(state)
                return []
            one = found[0]
            if len(found) == 1 and self.registry.claim(one.id, rec, one.created_at.timestamp()):
                return self._adopt(rec, one, state, needed, "count")
            if not wait:
                self._save_state(state)
                return []
            for b in found:
                b = self.client.messages.batches.retrieve(b.id)
                if b.processing_status != "ended":
                    continue
                lines = self._download_results(b.id, _batch_total(b))
                if {ln.custom_id for ln in lines} == set(rec["custom_ids"]) and (
                    self.registry.claim(b.id, rec, None)
                ):
                    self._downloaded[b.id] = lines
                    return self._adopt(rec, b, state, needed, "custom_ids")
                skip.add(b.id)  # another job's: left to it
            if time.time() > deadline:
                raise RuntimeError(
                    f"a Message Batches create of {rec['n_requests']} requests got no reply, and "
                    f"the batches that may be its ({', '.join(b.id for b in found)}) did not end "
                    f"within batch_timeout_s={self.s.batch_timeout_s}; rerun to look again."
                )
            time.sleep(self.s.poll_interval_s)

    def _adopt(
        self, rec: dict, batch: Any, state: dict, needed: set[str] | None, how: str
    ) -> list[dict]:
        """``how``: ``count`` (the only candidate, and no other intent could have made it) or
        ``custom_ids`` (its results carry the intent's custom ids)."""
        rec.update(batch_id=batch.id, submitted_at=batch.created_at.timestamp(), adopted=True)
        rec["adopted_by"] = how
        log.info("batch %s adopted for a create without reply (by %s)", batch.id, how)
        self._save_state(state)
        if needed is not None and not set(rec["custom_ids"]) & needed:
            if batch.processing_status == "in_progress" and self._cancel(batch.id):
                rec["canceled_orphan"] = True  # no longer needed: stop paying for it
            self._collect_batch(rec, {}, {}, {}, state)  # what it did cost goes to the ledger
        return [rec]

    def _resolve_open_intents(self, state: dict, needed: set[str]) -> None:
        """Look again for the batches of this job's unanswered creates (this run's, or a killed
        run's); wait for their results only where their requests are still needed."""
        for rec in list(state["batches"]):
            if rec.get("batch_id") is not None or rec.get("resolved"):
                continue
            want = bool(set(rec["custom_ids"]) & needed)
            if not want and time.time() - rec.get("checked_at", 0.0) < self.s.poll_interval_s:
                continue
            self._resolve_intent(rec, state, needed, wait=want)

    # -- ownership -------------------------------------------------------------------------------
    def _owns(self, rec: dict) -> bool:
        """Whether this job owns the batch of ``rec`` (a batch recorded by an older version,
        before the registry, is claimed now)."""
        owner = self.registry.owner(rec["batch_id"])
        return owner == self.job or (
            owner is None and self.registry.claim(rec["batch_id"], rec, None)
        )

    def _cancel(self, batch_id: str) -> bool:
        """Cancel a batch this job owns; any other is left alone."""
        owner = self.registry.owner(batch_id)
        if owner != self.job:
            log.warning("batch %s is not cancelled: it belongs to %s", batch_id, owner)
            return False
        self.client.messages.batches.cancel(batch_id)
        self.registry.mark_cancelled(batch_id)
        return True
