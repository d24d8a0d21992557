"""The batch registry: which job made or adopted which Message Batch, shared by parallel jobs.

Two tables in the response cache's SQLite file (WAL, busy timeout; every check-and-write is one
``BEGIN IMMEDIATE`` transaction, so jobs in separate processes see each other's writes in order):

``batch_intents``: one row per ``batches.create`` attempt, written *before* the request leaves.
    ``intent_id`` (primary key), ``job``, ``cell``, ``stage``, ``n_requests``, ``custom_ids``
    (JSON list, sorted) and ``ids_sha`` (sha256 of that list), ``not_before`` / ``not_after``
    (the window, on the *server's* clock, in which a batch made by this attempt can carry its
    ``created_at``), ``clock`` (``server``: from the ``Date`` header of a reply received just
    before the create; ``local``: the local clock with a wide margin, when no such header
    came), ``opened_at`` (local clock), ``status`` (``open`` while its outcome is unknown;
    ``created``, ``adopted``, ``rejected`` or ``expired``) and ``batch_id``.
``batch_registry``: one row per batch id known to the workflow. ``batch_id`` (primary key),
    ``job`` and ``cell`` that own it, ``stage``, ``intent_id``, ``how`` (``created``: its
    create call returned it; ``adopted``: claimed after a create whose reply was lost;
    ``foreign``: claimed, then its results showed custom ids of no intent of the claimer: it
    belongs to someone outside the registry, no job may take it), ``n_requests``,
    ``custom_ids`` / ``ids_sha``, ``registered_at`` and ``cancelled_at``.

A job is the judge's state directory of a cell (its explain and score jobs share it, and so do
its reruns), named relative to the cache file's folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator

from randsae.autointerp.llm.cache import connect
from randsae.autointerp.llm.requests import ORPHAN_SEARCH_S

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS batch_intents ("
    " intent_id TEXT PRIMARY KEY, job TEXT NOT NULL, cell TEXT NOT NULL, stage TEXT NOT NULL,"
    " n_requests INTEGER NOT NULL, ids_sha TEXT NOT NULL, custom_ids TEXT NOT NULL,"
    " not_before REAL NOT NULL, not_after REAL NOT NULL, clock TEXT NOT NULL,"
    " opened_at REAL NOT NULL, status TEXT NOT NULL, batch_id TEXT)",
    "CREATE INDEX IF NOT EXISTS batch_intents_open ON batch_intents(status, n_requests)",
    "CREATE TABLE IF NOT EXISTS batch_registry ("
    " batch_id TEXT PRIMARY KEY, job TEXT, cell TEXT, stage TEXT, intent_id TEXT,"
    " how TEXT NOT NULL, n_requests INTEGER NOT NULL, ids_sha TEXT, custom_ids TEXT,"
    " registered_at REAL NOT NULL, cancelled_at REAL)",
)


def ids_sha(custom_ids: Iterable[str]) -> str:
    """The digest that identifies a set of custom ids."""
    return hashlib.sha256(json.dumps(sorted(set(custom_ids))).encode()).hexdigest()


class BatchRegistry:
    """The shared record of batch intents and batch owners (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, *, job: str, cell: str, busy_timeout_ms=60_000):
        self.path, self.job, self.cell = path, job, cell
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        with self._tx() as conn:
            for stmt in _SCHEMA:
                conn.execute(stmt)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, self.busy_timeout_ms)
        return conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before anything is read (no lost updates)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- intents ---------------------------------------------------------------------------------
    def open_intent(self, rec: dict) -> None:
        """Record an intent (a state record of the batch path) before its create call; an
        intent already recorded (a state file of an earlier run) is left as it is."""
        ids = sorted(rec["custom_ids"])
        with self._tx() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO batch_intents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rec["intent_id"],
                    self.job,
                    self.cell,
                    rec["stage"],
                    len(ids),
                    ids_sha(ids),
                    json.dumps(ids),
                    rec["not_before"],
                    rec["not_after"],
                    rec["clock"],
                    rec["intent_at"],
                    "open",
                    None,
                ),
            )

    def set_intent(self, intent_id: str, status: str, batch_id: str | None = None) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE batch_intents SET status=?, batch_id=? WHERE intent_id=?",
                (status, batch_id, intent_id),
            )

    def _rivals(self, conn: sqlite3.Connection, rec: dict, created_at: float) -> list[str]:
        """Open intents, other than ``rec`` and its retries (same custom ids), that could have
        made a batch of ``rec``'s size stamped ``created_at``."""
        rows = conn.execute(
            "SELECT intent_id FROM batch_intents WHERE status='open' AND n_requests=?"
            " AND ids_sha!=? AND not_before<=? AND not_after>=? AND opened_at>=?",
            (
                rec["n_requests"],
                ids_sha(rec["custom_ids"]),
                created_at,
                created_at,
                time.time() - ORPHAN_SEARCH_S,
            ),
        ).fetchall()
        return [r[0] for r in rows]

    # -- batches ---------------------------------------------------------------------------------
    def _insert(self, conn, batch_id: str, rec: dict, how: str, replace: bool = False) -> None:
        ids = sorted(rec["custom_ids"])
        conn.execute(
            f"INSERT {'OR REPLACE ' if replace else ''}INTO batch_registry VALUES "
            "(?,?,?,?,?,?,?,?,?,?,NULL)",
            (
                batch_id,
                self.job,
                self.cell,
                rec["stage"],
                rec["intent_id"],
                how,
                len(ids),
                ids_sha(ids),
                json.dumps(ids),
                time.time(),
            ),
        )
        conn.execute(
            "UPDATE batch_intents SET status=?, batch_id=? WHERE intent_id=?",
            (how, batch_id, rec["intent_id"]),
        )

    def register_created(self, batch_id: str, rec: dict) -> str | None:
        """Record the batch a create call returned (the creator's word beats any claim: a claim
        is a guess, the reply is proof). Returns the job whose claim it replaced, if any."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT job FROM batch_registry WHERE batch_id=?", (batch_id,)
            ).fetchone()
            self._insert(conn, batch_id, rec, "created", replace=True)
        return row[0] if row and row[0] != self.job else None

    def claim(self, batch_id: str, rec: dict, created_at: float | None) -> bool:
        """Adopt an unregistered batch for the intent ``rec``, atomically.

        ``created_at`` given: only if no other open intent could have made it (its custom ids
        are checked when its results are read). ``None``: its custom ids are already known to
        be ``rec``'s. False when the batch is registered already (to anyone) or has a rival.
        """
        with self._tx() as conn:
            if conn.execute(
                "SELECT 1 FROM batch_registry WHERE batch_id=?", (batch_id,)
            ).fetchone():
                return False
            if created_at is not None and self._rivals(conn, rec, created_at):
                return False
            self._insert(conn, batch_id, rec, "adopted")
        return True

    def mark_foreign(self, batch_id: str, rec: dict) -> None:
        """A claimed batch whose results carry other custom ids: nobody's here, and the intent
        that claimed it is open again."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE batch_registry SET how='foreign', job=NULL, cell=NULL, intent_id=NULL,"
                " custom_ids=NULL, ids_sha=NULL WHERE batch_id=? AND job=?",
                (batch_id, self.job),
            )
            conn.execute(
                "UPDATE batch_intents SET status='open', batch_id=NULL WHERE intent_id=?",
                (rec["intent_id"],),
            )

    def mark_cancelled(self, batch_id: str) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE batch_registry SET cancelled_at=? WHERE batch_id=?", (time.time(), batch_id)
            )

    def owner(self, batch_id: str) -> str | None:
        """The job that owns ``batch_id`` (None: unregistered or foreign)."""
        row = (
            self._conn()
            .execute("SELECT job FROM batch_registry WHERE batch_id=?", (batch_id,))
            .fetchone()
        )
        return row[0] if row else None

    def registered(self, batch_ids: Iterable[str]) -> set[str]:
        ids = list(batch_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = (
            self._conn()
            .execute(f"SELECT batch_id FROM batch_registry WHERE batch_id IN ({marks})", ids)
            .fetchall()
        )
        return {r[0] for r in rows}
