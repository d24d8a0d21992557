"""Generic Claude request engine: response cache, cost ledger, budget cap, real-time and batch paths.

Nothing here knows about latents or prompts; ``randsae.autointerp.claude`` builds the requests and parses the
answers. The engine takes a list of :class:`LLMRequest` (Messages API parameters + bookkeeping) and
returns one :class:`LLMResult` per ``custom_id``:

1. every request is keyed by ``sha256(model + canonical request JSON)``; keys already in the SQLite
   :class:`ResponseCache` are answered from it (zero API calls on a rerun of a finished cell);
2. the rest are estimated (``messages.count_tokens`` or characters / 4) and admitted against the
   hard budget cap (``budget_usd``, an upper bound that counts ``max_tokens`` output tokens);
3. admitted requests go to the Message Batches API (``execution: batch``; batch id persisted
   atomically in ``state_dir`` so a killed job re-attaches instead of paying twice; only
   errored/expired items are resubmitted) or to ``messages.create`` on a bounded thread pool
   (``execution: realtime``; the SDK's retries handle 429/529/5xx/timeouts);
4. every billed call appends a line (tokens + $) to the JSONL cost ledger.

The API key is never read or stored here: the SDK takes it from ``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import anthropic
import httpx2

from randsae.io import write_json
from randsae.secrets import redact, redact_obj

# ----------------------------------------------------------------------------------------------
# Settings
# ----------------------------------------------------------------------------------------------

#: USD per million tokens (standard, real-time prices; ``batch_discount`` applies to batches).
#: From Anthropic's pricing page; re-check before quoting costs.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "claude-haiku-4-5-20251001": {
        "input": 1.00,
        "output": 5.00,
        "cache_write": 1.25,
        "cache_write_1h": 2.00,
        "cache_read": 0.10,
    },
    "claude-sonnet-4-5-20250929": {
        "input": 3.00,
        "output": 15.00,
        "cache_write": 3.75,
        "cache_write_1h": 6.00,
        "cache_read": 0.30,
    },
}

DEFAULTS: dict[str, Any] = {
    "model": "claude-haiku-4-5-20251001",
    "temperature": 0.0,
    "max_tokens": 2048,
    "prompt_version": None,  # None = randsae.autointerp.prompts.PROMPT_VERSION; a mismatch is an error
    "execution": "batch",
    "base_url": None,  # None = SDK default (ANTHROPIC_BASE_URL env, then api.anthropic.com)
    "timeout_s": 120.0,
    "max_concurrency": 4,
    "max_retries": 4,
    "max_parse_retries": 2,
    "max_batch_resubmits": 2,
    "poll_interval_s": 30.0,
    "batch_timeout_s": 90000.0,
    "windows_per_prompt": 10,
    "shuffle_seed": 42,
    "cache_ttl": "5m",
    "budget_usd": 5.0,
    "batch_discount": 0.5,
    "estimate_method": "chars",
    "chars_per_token": 4.0,
    "prices": DEFAULT_PRICES,
}

_PRICE_KEYS = {"input", "output", "cache_write", "cache_write_1h", "cache_read"}


@dataclass(frozen=True)
class AnthropicSettings:
    """Validated ``autointerp.anthropic`` config section (see docs/autointerp_config_snippet.yaml)."""

    model: str
    temperature: float | None
    max_tokens: int
    prompt_version: str | None
    execution: str
    base_url: str | None
    timeout_s: float
    max_concurrency: int
    max_retries: int
    max_parse_retries: int
    max_batch_resubmits: int
    poll_interval_s: float
    batch_timeout_s: float
    windows_per_prompt: int
    shuffle_seed: int
    cache_ttl: str
    budget_usd: float
    batch_discount: float
    estimate_method: str
    chars_per_token: float
    prices: dict[str, dict[str, float]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict | None) -> AnthropicSettings:
        section = dict(section or {})
        unknown = set(section) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown autointerp.anthropic keys: {sorted(unknown)}")
        merged = {**DEFAULTS, **section}
        prices = {k: dict(v) for k, v in DEFAULT_PRICES.items()}
        for model, table in (section.get("prices") or {}).items():
            bad = set(table) - _PRICE_KEYS
            if bad:
                raise ValueError(f"unknown price keys for {model}: {sorted(bad)}")
            prices[model] = {**prices.get(model, {}), **table}
        merged["prices"] = prices
        s = cls(**merged)
        if s.execution not in ("batch", "realtime"):
            raise ValueError(f"execution must be 'batch' or 'realtime', got {s.execution!r}")
        if s.estimate_method not in ("count_tokens", "chars"):
            raise ValueError("estimate_method must be 'count_tokens' or 'chars'")
        if s.cache_ttl not in ("5m", "1h"):
            raise ValueError("cache_ttl must be '5m' or '1h'")
        if s.windows_per_prompt < 1 or s.max_concurrency < 1 or s.max_tokens < 1:
            raise ValueError("windows_per_prompt, max_concurrency and max_tokens must be >= 1")
        if min(s.max_retries, s.max_parse_retries, s.max_batch_resubmits) < 0:
            raise ValueError("retry counts must be >= 0")
        if s.model not in prices or not set(prices[s.model]) >= _PRICE_KEYS:
            raise ValueError(
                f"no complete price table for model {s.model!r}; add autointerp.anthropic.prices"
                f".{s.model} with keys {sorted(_PRICE_KEYS)}"
            )
        return s


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


class BudgetExceededError(RuntimeError):
    """Raised before a call whose estimated cost would take spending past ``budget_usd``.

    ``partial`` holds the results obtained so far (they are also in the response cache and the
    ledger, so a rerun with a larger budget does not pay for them again).
    """

    def __init__(self, message: str, partial: dict | None = None):
        super().__init__(message)
        self.partial = partial or {}


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
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None
            )
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            for _ in range(50):  # switching to WAL needs a brief exclusive lock
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    time.sleep(0.05)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
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


# ----------------------------------------------------------------------------------------------
# Costs
# ----------------------------------------------------------------------------------------------


def usage_dict(usage: dict | None) -> dict[str, int]:
    usage = usage or {}
    out = {
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_creation_input_tokens": int(usage.get("cache_creation_input_tokens") or 0),
        "cache_read_input_tokens": int(usage.get("cache_read_input_tokens") or 0),
    }
    cc = usage.get("cache_creation") or {}
    out["cache_creation_1h_input_tokens"] = int(cc.get("ephemeral_1h_input_tokens") or 0)
    return out


def cost_usd(
    usage: dict,
    price: dict[str, float],
    *,
    batch: bool,
    batch_discount: float = 0.5,
    cache_ttl: str = "5m",
) -> float:
    """Dollar cost of one call from its usage block (``input_tokens`` excludes cached tokens)."""
    u = usage_dict(usage)
    created = u["cache_creation_input_tokens"]
    created_1h = (
        u["cache_creation_1h_input_tokens"]
        if usage.get("cache_creation")
        else (created if cache_ttl == "1h" else 0)
    )
    created_5m = max(created - created_1h, 0)
    usd = (
        u["input_tokens"] * price["input"]
        + u["output_tokens"] * price["output"]
        + created_5m * price["cache_write"]
        + created_1h * price.get("cache_write_1h", 2 * price["input"])
        + u["cache_read_input_tokens"] * price["cache_read"]
    ) / 1e6
    return usd * (batch_discount if batch else 1.0)


class CostLedger:
    """Append-only JSONL ledger of billed calls (one line per call; never holds credentials)."""

    def __init__(self, path: str | os.PathLike, cell: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cell = {k: (cell or {}).get(k) for k in ("model", "init", "layer")}
        self._lock = threading.Lock()

    def record(
        self,
        *,
        stage: str,
        llm_model: str,
        execution: str,
        usage: dict,
        usd: float,
        custom_id: str,
        latents: Sequence[int],
        request_id: str | None = None,
    ) -> None:
        line = {
            "ts": time.time(),
            **self.cell,
            "stage": stage,
            "llm_model": llm_model,
            "execution": execution,
            "custom_id": custom_id,
            "request_id": request_id,
            "latents": [int(x) for x in latents],
            **usage_dict(usage),
            "usd": usd,
        }
        data = (redact(json.dumps(line, sort_keys=True)) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def total_usd(self) -> float:
        return sum(r["usd"] for r in read_ledger(self.path))


def read_ledger(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line from a killed job
                rows.append(json.loads(line))
    return rows


LEDGER_COLUMNS = [
    "model",
    "init",
    "layer",
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "usd",
    "calls_per_latent",
]


def aggregate_costs(ledger_paths: Iterable[str | os.PathLike]):
    """One row per (model, init, layer) cell for ``results/tables/llm_cost.csv``.

    ``calls_per_latent`` = billed calls / distinct latents that appear in the cell's ledger.
    """
    import pandas as pd

    rows = [r for p in ledger_paths for r in read_ledger(p)]
    if not rows:
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = (r.get("model"), r.get("init"), r.get("layer"))
        g = groups.setdefault(
            key,
            {
                "calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_read_tokens": 0,
                "cache_creation_tokens": 0,
                "usd": 0.0,
                "latents": set(),
            },
        )
        g["calls"] += 1
        g["input_tokens"] += int(r.get("input_tokens", 0))
        g["output_tokens"] += int(r.get("output_tokens", 0))
        g["cache_read_tokens"] += int(r.get("cache_read_input_tokens", 0))
        g["cache_creation_tokens"] += int(r.get("cache_creation_input_tokens", 0))
        g["usd"] += float(r.get("usd", 0.0))
        g["latents"].update(r.get("latents") or [])
    out = []
    for (model, init, layer), g in groups.items():
        n_lat = len(g.pop("latents"))
        out.append(
            {
                "model": model,
                "init": init,
                "layer": layer,
                **g,
                "calls_per_latent": g["calls"] / n_lat if n_lat else float("nan"),
            }
        )
    df = pd.DataFrame(out, columns=LEDGER_COLUMNS)
    return df.sort_values(["model", "init", "layer"], key=lambda s: s.astype(str)).reset_index(
        drop=True
    )


# ----------------------------------------------------------------------------------------------
# Engine
# ----------------------------------------------------------------------------------------------


@dataclass
class LLMRequest:
    """One Messages API call. ``params`` is the exact ``messages.create`` body."""

    params: dict
    stage: str
    latents: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return request_key(self.params)

    @property
    def custom_id(self) -> str:  # batch custom_id: ^[a-zA-Z0-9_-]{1,64}$
        return "r" + self.key[:48]


@dataclass
class LLMResult:
    message: dict | None  # the raw Message JSON (content blocks, stop_reason, usage)
    error: str | None = None
    cached: bool = False


def _message_to_dict(msg: Any) -> dict:
    if isinstance(msg, dict):
        return msg
    return (
        msg.to_dict(mode="json") if hasattr(msg, "to_dict") else json.loads(msg.model_dump_json())
    )


def _params_text_chars(params: dict) -> int:
    """Characters of everything the model reads (system, messages, tool definitions)."""
    return len(canonical_json({k: params.get(k) for k in ("system", "messages", "tools")}))


class LLMEngine:
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

    # -- client ------------------------------------------------------------------------------
    @property
    def client(self) -> anthropic.Anthropic:
        if self._client is None:
            self._client = anthropic.Anthropic(**self._client_kwargs)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

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
                error = redact(f"malformed response body: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            message = self._as_dict(msg)
            problem = (
                redact(f"malformed response body (not a {self.answer_kind}): {str(msg)[:200]!r}")
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

    # -- batches -----------------------------------------------------------------------------
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


class BatchResultsError(RuntimeError):
    """A batch's results could not be downloaded intact (the batch stays re-attachable)."""


#: Batches created up to this long before a create intent count as its possible result.
ORPHAN_CLOCK_SLACK_S = 300.0
#: Unanswered create intents are looked up again on later runs for this long (batches expire at
#: 24 h).
ORPHAN_SEARCH_S = 86_400.0


def _batch_total(batch: Any) -> int | None:
    counts = getattr(batch, "request_counts", None)
    if counts is None:
        return None
    return sum(
        int(getattr(counts, k, 0) or 0)
        for k in ("processing", "succeeded", "errored", "canceled", "expired")
    )


def _maybe_created(exc: anthropic.APIStatusError) -> bool:
    """Whether a failed create may still have created the batch (5xx, 408, 409)."""
    return exc.status_code >= 500 or exc.status_code in (408, 409)


def _backoff_s(attempt: int) -> float:
    return min(0.25 * 2 ** (attempt - 1), 8.0)


def message_problem(message: Any) -> str | None:
    """Why a 200 body is not a usable Message (``None`` when it is one).

    An error object sent with HTTP 200 (``{"type": "error", ...}``), or anything without the
    Message fields, is retried like a failed call and never cached or ledgered.
    """
    if not isinstance(message, dict):
        return f"malformed response body (not a JSON object): {redact(str(message)[:200])!r}"
    if message.get("type") == "error" or "error" in message:
        err = message.get("error")
        err = err if isinstance(err, dict) else {"message": err}
        return redact(
            f"error-shaped 200 response: {err.get('type', '')} {str(err.get('message', ''))[:200]}"
        )
    if message.get("type") != "message":
        return f"malformed response body (type={redact(str(message.get('type')))!r}, not a Message)"
    if not isinstance(message.get("content"), list) or not isinstance(message.get("usage"), dict):
        return "malformed response body (a Message without content or usage)"
    return None


@lru_cache(maxsize=1)
def _create_param_names() -> frozenset[str]:
    sig = inspect.signature(anthropic.resources.messages.Messages.create)
    return frozenset(
        p
        for p in sig.parameters
        if p not in ("self", "extra_body", "extra_headers", "extra_query", "timeout")
    )


def _split_create_kwargs(params: dict) -> dict:
    """Typed kwargs for ``messages.create``; request fields the SDK no longer types (anthropic
    >= 1.0 dropped ``temperature``) go through ``extra_body``, so the wire JSON equals ``params``."""
    names = _create_param_names()
    kwargs = {k: v for k, v in params.items() if k in names}
    extra = {k: v for k, v in params.items() if k not in names}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def _dedupe(requests: Iterable[LLMRequest]) -> list[LLMRequest]:
    seen: dict[str, LLMRequest] = {}
    for r in requests:
        seen.setdefault(r.custom_id, r)
    return list(seen.values())


def _describe_error(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    msg = str(getattr(exc, "message", "") or exc)
    return redact(f"{name}{f' {status}' if status else ''}: {msg[:300]}")
