"""Request keys and the SQLite response cache of the LLM engine."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from randsae.secrets import redact

# ----------------------------------------------------------------------------------------------
# Hashing and atomic files
# ----------------------------------------------------------------------------------------------


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(params: dict) -> str:
    """Cache key: sha256 of the model id and the full request JSON (canonical form)."""
    payload = canonical_json({"model": params.get("model"), "request": params})
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------
# Response cache
# ----------------------------------------------------------------------------------------------


def connect(path: str | os.PathLike, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection to the shared SQLite file: autocommit (explicit ``BEGIN IMMEDIATE`` for
    transactions), WAL journal and a busy timeout, so that parallel jobs can share it."""
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    for _ in range(50):  # switching to WAL needs a brief exclusive lock
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            time.sleep(0.05)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class ResponseCache:
    """Content-addressed SQLite store of raw Messages API responses.

    WAL journal + ``busy_timeout`` so that parallel Snakemake jobs (separate processes) can share
    one file; one connection per thread. Only successful HTTP responses are stored (a refusal or
    a malformed tool call is a successful response and is stored: replaying it is deterministic);
    an error-shaped 200 body never reaches it (see :func:`message_problem`). Stored text is
    scrubbed of secret values (randsae.secrets).
    """

    def __init__(self, path: str | os.PathLike, busy_timeout_ms: int = 60_000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        conn = self._conn()
        with conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, model TEXT NOT NULL, request TEXT NOT NULL,"
                " response TEXT NOT NULL, created REAL NOT NULL)"
            )

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, self.busy_timeout_ms)
        return conn

    def get(self, key: str) -> dict | None:
        row = self._conn().execute("SELECT response FROM responses WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, params: dict, response: dict) -> None:
        conn = self._conn()
        conn.execute(
            "INSERT OR REPLACE INTO responses(key, model, request, response, created) VALUES (?,?,?,?,?)",
            (
                key,
                str(params.get("model")),
                redact(canonical_json(params)),
                redact(canonical_json(response)),
                time.time(),
            ),
        )

    def __contains__(self, key: str) -> bool:
        return (
            self._conn().execute("SELECT 1 FROM responses WHERE key=?", (key,)).fetchone()
            is not None
        )

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
