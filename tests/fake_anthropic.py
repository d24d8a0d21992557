"""A local fake of the Anthropic Messages + Message Batches HTTP API for offline tests.

Runs a ``ThreadingHTTPServer`` on 127.0.0.1 (random free port); point the real ``anthropic`` SDK at
``fake.url`` via ``base_url`` (or ``ANTHROPIC_BASE_URL``).

Routes: ``POST /v1/messages``, ``POST /v1/messages/count_tokens``, ``POST /v1/messages/batches``,
``GET /v1/messages/batches`` (list, newest first, ``limit``/``after_id`` pagination),
``GET /v1/messages/batches/{id}``, ``POST /v1/messages/batches/{id}/cancel`` and
``GET /v1/messages/batches/{id}/results`` (JSONL, shuffled order).

Deterministic answers computed from the prompt (so tests can predict them):

- explainer (tool ``submit_explanation``): the most frequent ``<<highlighted>>`` run in the user
  turn (ties: alphabetical), answered as ``The token "X".``;
- scorers (tool ``submit_judgements``): the token X is read back from the quoted explanation;
  detection answers 90 for a window whose text contains X, else 10; fuzzing answers 90 when the
  window has highlights and every highlighted word equals X, else 10.

Scripted misbehaviour for ``/v1/messages`` (``fake.script(...)``: consumed one per request; or a
``fake.behaviour`` callable ``body -> name | None``): ``ok``, ``429`` (with ``retry-after``), ``529``
(overloaded), ``500``, ``timeout`` (sleeps ``timeout_sleep_s`` before answering), ``bad_json`` (HTTP
body that is not JSON), ``malformed`` (tool input with judgements as a truncated string),
``wrong_count`` (one judgement missing), ``refusal`` (``stop_reason: refusal``), ``text_only`` (a
text answer without the tool call), ``error_200`` (an error object sent with HTTP 200), ``echo_500``
(a 500 whose message echoes the caller's API key, as a misbehaving proxy might; after
``fake.echo_padding`` characters), ``echo_error_200`` (the same in an error object sent with HTTP
200) and ``echo_200`` (a
text answer that echoes the key). The ``behaviour`` callable also applies to batch items, so
``fake.behaviour = lambda body: "refusal" if ... else None`` injects failed explanations on both
paths. Batch items: ``fake.fail_batch_items(["errored", "expired", "error_200"])`` makes the next
created batch items fail in that order.

Faults of the batch API: ``fake.script_batch_create(["lost"])`` (or a ``fake.create_behaviour``
callable ``body -> fault | None``) creates the batch and then drops the connection without a reply
(``lost_hidden``: and the list shows it only once ``fake.hidden_batches`` is cleared; ``reset``:
a TCP reset instead; ``timeout``: replies only after ``timeout_sleep_s``; ``500``, ``502``,
``503``, ``504``: the batch is created but that error is returned, as by the API or a gateway);
``429``, ``529``, ``408``, ``409`` and ``400`` create nothing. ``fake.cut_results(n)`` cuts the next ``n``
results downloads mid-line.

Clock: ``fake.clock`` (the server's clock: ``created_at`` and the ``Date`` header of every reply)
may be skewed or frozen; ``fake.whole_seconds = True`` stamps ``created_at`` in whole seconds
(floored), and the list then shows batches of the same second in creation order. Concurrent jobs:
``fake.paid_twice()`` counts request bodies billed in more than one batch, ``fake.paid_items()``
the billed batch items; with ``fake.track_pids = True`` the process behind each create and cancel
is recorded, and ``fake.foreign_cancels()`` lists the batches cancelled by a process other than
the one that created them.

Prompt-cache simulation: a request whose system block carries ``cache_control`` reports the
tools+system prefix (chars/4 tokens) as ``cache_creation_input_tokens`` the first time and as
``cache_read_input_tokens`` afterwards (when the prefix is at least ``cache_floor_tokens``).

Counts per route are in ``fake.counts`` (``batch_list_probe``: the lists of one item, which the
engine makes to read the server's ``Date``); request bodies (never headers) in ``fake.bodies``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import random
import re
import socket
import struct
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import LoopbackServer

EXPLAIN_TOOL = "submit_explanation"
SCORE_TOOL = "submit_judgements"

_MARK = re.compile(r"<<(.*?)>>", re.S)
_WINDOW = re.compile(r'<window index="(\d+)">(.*?)</window>', re.S)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _user_text(body: dict) -> str:
    parts = []
    for m in body.get("messages", []):
        if m.get("role") != "user":
            continue
        c = m.get("content")
        if isinstance(c, str):
            parts.append(c)
        else:
            parts += [b.get("text", "") for b in c if b.get("type") == "text"]
    return "\n".join(parts)


def _system_text(body: dict) -> str:
    s = body.get("system") or ""
    return s if isinstance(s, str) else "\n".join(b.get("text", "") for b in s)


def fake_explanation_token(user: str) -> str:
    runs = [r.strip() for r in _MARK.findall(user) if r.strip()]
    if not runs:
        return "nothing"
    counts = collections.Counter(runs)
    best = max(counts.values())
    return sorted(t for t, c in counts.items() if c == best)[0]


def explanation_token(user: str) -> str | None:
    for line in user.splitlines():
        if line.startswith('Explanation: "'):
            m = re.search(r'"([^"]*)"', line[len('Explanation: "') :])
            return m.group(1) if m else None
    return None


def fake_judgements(body: dict) -> list[dict]:
    user = _user_text(body)
    fuzzing = "Task (fuzzing)" in _system_text(body)
    tok = explanation_token(user)
    out = []
    for idx, text in _WINDOW.findall(user):
        if fuzzing:
            words = [w for r in _MARK.findall(text) for w in r.split()]
            ok = bool(words) and tok is not None and all(w == tok for w in words)
        else:
            ok = tok is not None and tok in text.replace("<<", "").replace(">>", "")
        out.append({"index": int(idx), "probability": 90 if ok else 10})
    return out


class FakeAnthropic(LoopbackServer):
    def __init__(
        self,
        *,
        cache_floor_tokens: int = 0,
        retry_after: str = "0.05",
        error_retry_after_ms: str | None = "20",
        timeout_sleep_s: float = 2.0,
        batch_polls_before_end: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        self.cache_floor_tokens = cache_floor_tokens
        self.retry_after = retry_after  # 429: ``retry-after`` seconds (floats allowed by the SDK)
        self.error_retry_after_ms = error_retry_after_ms  # 500/529 hint; None = SDK backoff
        self.timeout_sleep_s = timeout_sleep_s
        self.batch_polls_before_end = batch_polls_before_end
        self.hold_batches = threading.Event()  # while set, batches stay in_progress
        self.behaviour = None  # optional callable(body) -> behaviour name | None
        self.echo_padding = 0  # characters before an echoed key
        self.counts: collections.Counter = collections.Counter()
        self.bodies: list[tuple[str, dict]] = []
        self.auth_headers_seen: collections.Counter = collections.Counter()
        self.refused_explanations: set[str] = set()  # distinct explain prompts refused
        self.batches: dict[str, dict] = {}
        self._script: collections.deque = collections.deque()
        self._batch_failures: collections.deque = collections.deque()
        self._create_script: collections.deque = collections.deque()
        self._cut_results = 0
        self.hidden_batches: set[str] = set()  # created but not (yet) in the list
        self.whole_seconds = False  # created_at stamped in whole seconds
        self.create_behaviour = None  # optional callable(body) -> create fault | None
        self.after_create = None  # optional callable(batch id): runs before the create's reply
        self.track_pids = False  # record the process behind each create and cancel
        self.cancels: list[tuple[str, int | None]] = []  # (batch id, cancelling pid)
        self.rendezvous: tuple[int, float] | None = None  # see _held
        self._prefixes: set[str] = set()
        self._rng = random.Random(seed)

    # -- scripting -------------------------------------------------------------------------------
    def script(self, behaviours: list[str]) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def fail_batch_items(self, kinds: list[str]) -> None:
        with self._lock:
            self._batch_failures.extend(kinds)

    def script_batch_create(self, behaviours: list[str]) -> None:
        with self._lock:
            self._create_script.extend(behaviours)

    def cut_results(self, n: int = 1) -> None:
        with self._lock:
            self._cut_results += n

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.bodies.clear()

    # -- HTTP plumbing ---------------------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: Any, **kw: Any) -> None:
        kw["headers"] = {"request-id": "req_" + uuid.uuid4().hex[:12], **(kw.get("headers") or {})}
        LoopbackServer._send(h, status, payload, **kw)

    def _error(self, h, status: int, etype: str, msg: str, headers: dict | None = None) -> None:
        self._send(
            h,
            status,
            {"type": "error", "error": {"type": etype, "message": msg}, "request_id": "req_fake"},
            headers=headers,
        )

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?")[0]
        body: dict = {}
        if method == "POST":
            n = int(h.headers.get("content-length") or 0)
            raw = h.rfile.read(n) if n else b""
            body = json.loads(raw) if raw else {}
        with self._lock:
            cred = h.headers.get("x-api-key") or h.headers.get("authorization") or ""
            self.auth_headers_seen[
                "match" if cred.endswith(FAKE_KEY) else ("other" if cred else "none")
            ] += 1  # the value is not kept
        if method == "POST" and path == "/v1/messages":
            return self._messages(h, body, cred)
        if method == "GET" and path == "/v1/messages/batches":
            return self._batch_list(h)
        if method == "POST" and path == "/v1/messages/count_tokens":
            with self._lock:
                self.counts["count_tokens"] += 1
            return self._send(h, 200, {"input_tokens": self._tokens(body)})
        if method == "POST" and path == "/v1/messages/batches":
            return self._batch_create(h, body)
        m = re.fullmatch(r"/v1/messages/batches/([\w-]+)(/results|/cancel)?", path)
        if m:
            bid, tail = m.group(1), m.group(2)
            if bid not in self.batches:
                return self._error(h, 404, "not_found_error", "no such batch")
            if tail == "/results" and method == "GET":
                return self._batch_results(h, bid)
            if tail == "/cancel" and method == "POST":
                pid = self._client_pid(h)
                with self._lock:
                    self.counts["batch_cancel"] += 1
                    self.cancels.append((bid, pid))
                    b = self.batches[bid]
                    if not b["canceled"] and b["polls"] < self.batch_polls_before_end:
                        for it in b["items"]:  # not processed yet: nothing is billed
                            it["result"] = {"type": "canceled"}
                    b["canceled"] = True
                return self._send(h, 200, self._batch_obj(bid))
            if tail is None and method == "GET":
                with self._lock:
                    self.counts["batch_retrieve"] += 1
                    self.batches[bid]["polls"] += 1
                return self._send(h, 200, self._batch_obj(bid))
        return self._error(h, 404, "not_found_error", f"no route {method} {path}")

    # -- messages --------------------------------------------------------------------------------
    @staticmethod
    def _tokens(body: dict) -> int:
        text = json.dumps({k: body.get(k) for k in ("system", "messages", "tools")})
        return max(1, len(text) // 4)

    def _usage(self, body: dict, content: list) -> dict:
        total = self._tokens(body)
        system = body.get("system")
        cached = isinstance(system, list) and any(b.get("cache_control") for b in system)
        create = read = 0
        if cached:
            prefix = json.dumps({"tools": body.get("tools"), "system": system}, sort_keys=True)
            ptoks = len(prefix) // 4
            if ptoks >= self.cache_floor_tokens:
                key = hashlib.sha256((body.get("model", "") + prefix).encode()).hexdigest()
                with self._lock:
                    seen = key in self._prefixes
                    self._prefixes.add(key)
                if seen:
                    read = ptoks
                else:
                    create = ptoks
        return {
            "input_tokens": max(1, total - create - read),
            "output_tokens": max(1, len(json.dumps(content)) // 4),
            "cache_creation_input_tokens": create,
            "cache_read_input_tokens": read,
        }

    def answer(self, body: dict, behaviour: str = "ok") -> dict:
        """The Message JSON the fake returns for ``body`` (also used for batch items)."""
        tool = (body.get("tools") or [{}])[0].get("name")
        stop_reason = "tool_use"
        if behaviour == "refusal" and tool == EXPLAIN_TOOL:
            with self._lock:
                self.refused_explanations.add(_user_text(body).split("\n\n(Attempt ")[0])
        if behaviour == "refusal":
            content = [{"type": "text", "text": "I can't help with that."}]
            stop_reason = "refusal"
        elif behaviour == "text_only":
            content = [{"type": "text", "text": "[1, 0, 1]"}]
            stop_reason = "end_turn"
        elif tool == EXPLAIN_TOOL:
            tok = fake_explanation_token(_user_text(body))
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:16],
                    "name": tool,
                    "input": {"explanation": f'The token "{tok}".'},
                }
            ]
        else:
            judg: Any = fake_judgements(body)
            if behaviour == "wrong_count":
                judg = judg[:-1]
            elif behaviour == "malformed":
                judg = json.dumps(judg)[:25]
            content = [
                {
                    "type": "tool_use",
                    "id": "toolu_" + uuid.uuid4().hex[:16],
                    "name": tool,
                    "input": {"judgements": judg},
                }
            ]
        return {
            "id": "msg_" + uuid.uuid4().hex[:20],
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": self._usage(body, content),
        }

    def _next_behaviour(self, body: dict) -> str:
        with self._lock:
            if self._script:
                return self._script.popleft()
        if self.behaviour is not None:
            return self.behaviour(body) or "ok"
        return "ok"

    def _messages(self, h, body: dict, cred: str = "") -> None:
        with self._lock:
            self.counts["messages"] += 1
            self.bodies.append(("messages", body))
        b = self._next_behaviour(body)
        if b == "429":
            return self._error(
                h, 429, "rate_limit_error", "rate limited (fake)", {"retry-after": self.retry_after}
            )
        hint = {"retry-after-ms": self.error_retry_after_ms} if self.error_retry_after_ms else None
        if b == "529":
            return self._error(h, 529, "overloaded_error", "overloaded (fake)", hint)
        if b == "500":
            return self._error(h, 500, "api_error", "internal error (fake)", hint)
        if b == "timeout":
            self._stop.wait(self.timeout_sleep_s)
        if b == "bad_json":
            return self._send(h, 200, None, raw=b'{"id": "msg_x", "type": "mess')
        if b == "error_200":
            with self._lock:
                self.counts["error_200"] += 1
            return self._send(h, 200, ERROR_200)
        pad = "x" * self.echo_padding
        cred = cred.removeprefix("Bearer ")
        if b == "echo_500":
            msg = f"upstream refused credentials {pad}{cred}"
            return self._error(h, 500, "api_error", msg, hint)
        if b == "echo_error_200":
            error = {"type": "authentication_error", "message": f"{pad}{cred}"}
            return self._send(h, 200, {"type": "error", "error": error})
        if b == "echo_200":
            with self._lock:
                self.counts["messages_ok"] += 1
            msg = self.answer(body, "text_only")
            msg["content"] = [{"type": "text", "text": f"Your key is {cred}."}]
            return self._send(h, 200, msg)
        with self._lock:
            self.counts["messages_ok"] += 1
        self._send(h, 200, self.answer(body, b))

    # -- batches ---------------------------------------------------------------------------------
    def _batch_create(self, h, body: dict) -> None:
        with self._lock:
            fault = self._create_script.popleft() if self._create_script else None
        if fault is None and self.create_behaviour is not None:
            fault = self.create_behaviour(body)
        fault = fault or "ok"
        if fault != "ok":
            with self._lock:
                self.counts[f"batch_create_fault_{fault}"] += 1
        if fault in CREATE_REJECTIONS:  # answered before anything is created
            with self._lock:
                self.counts["batch_create_rejected"] += 1
            status, etype = CREATE_REJECTIONS[fault]
            headers = {"retry-after": "0.01"} if status in (429, 529) else None
            return self._error(h, status, etype, f"{etype} (fake)", headers)
        bid = "msgbatch_" + uuid.uuid4().hex[:20]
        items = []
        with self._lock:
            self.counts["batch_create"] += 1
            self.counts["batch_items"] += len(body["requests"])
            self.bodies.append(("batch", body))
        for req in body["requests"]:
            with self._lock:
                fail = self._batch_failures.popleft() if self._batch_failures else None
            if fail is None and self.behaviour is not None:
                b = self.behaviour(req["params"])
                fail = b if b in ANSWER_BEHAVIOURS else None
            if fail == "error_200":
                result = {"type": "succeeded", "message": ERROR_200}
            elif fail in ANSWER_BEHAVIOURS:
                result = {"type": "succeeded", "message": self.answer(req["params"], fail)}
            elif fail == "errored":
                result = {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {
                            "type": "api_error",
                            "message": "internal error (fake batch item)",
                        },
                    },
                }
            elif fail in ("expired", "canceled"):
                result = {"type": fail}
            else:
                result = {"type": "succeeded", "message": self.answer(req["params"])}
            key = hashlib.sha256(json.dumps(req["params"], sort_keys=True).encode()).hexdigest()
            items.append({"custom_id": req["custom_id"], "result": result, "key": key})
        pid = self._client_pid(h)
        with self._lock:
            self.batches[bid] = {
                "items": items,
                "polls": 0,
                "created": datetime.fromtimestamp(self.clock(), timezone.utc),
                "seq": len(self.batches),
                "canceled": False,
                "pid": pid,
                "made": time.monotonic(),
                "ended": None,
            }
        if self.after_create is not None:
            self.after_create(bid)
        if fault in ("lost", "lost_hidden", "reset"):  # created, but the reply never arrives
            if fault == "lost_hidden":  # ... and the list does not show it yet
                with self._lock:
                    self.hidden_batches.add(bid)
            if fault == "reset":  # a TCP reset (no FIN, no answer)
                h.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                h.connection.close()
            h.close_connection = True
            return None
        if fault == "timeout":
            self._stop.wait(self.timeout_sleep_s)
        if fault in CREATE_AFTER_ERRORS:
            status, etype = CREATE_AFTER_ERRORS[fault]
            return self._error(h, status, etype, f"{etype} after create (fake)")
        self._send(h, 200, self._batch_obj(bid))

    def _client_pid(self, h) -> int | None:
        """The process on the other end of the request's connection (with ``track_pids``)."""
        if not self.track_pids:
            return None
        import psutil  # a dependency of snakemake

        port, server_port = h.client_address[1], self.server.server_address[1]
        for c in psutil.net_connections("tcp"):
            if c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == server_port:
                return c.pid
        return None

    def paid_items(self) -> list[str]:
        """Request-body keys of the billed batch items (answered; not cancelled before they ran)."""
        with self._lock:
            return [
                it["key"]
                for b in self.batches.values()
                for it in b["items"]
                if it["result"]["type"] == "succeeded"
                and it["result"]["message"].get("type") == "message"
            ]

    def paid_twice(self) -> int:
        """Request bodies billed more than once (each extra billing counts)."""
        return sum(n - 1 for n in collections.Counter(self.paid_items()).values() if n > 1)

    def foreign_cancels(self) -> list[str]:
        """Batches cancelled by a process other than the one that created them."""
        with self._lock:
            return [bid for bid, pid in self.cancels if pid != self.batches[bid]["pid"]]

    def _batch_list(self, h) -> None:
        """Newest first, like the API; ``limit`` and ``after_id`` pagination."""
        from urllib.parse import parse_qs, urlparse

        q = parse_qs(urlparse(h.path).query)
        limit = int(q.get("limit", ["20"])[0])
        with self._lock:
            self.counts["batch_list"] += 1
            self.counts["batch_list_probe"] += limit == 1  # a one-item list: a clock read
            ids = sorted(  # newest stamp first; one second's batches in creation order
                (b for b in self.batches if b not in self.hidden_batches),
                key=lambda b: (-self._stamp(b).timestamp(), self.batches[b]["seq"]),
            )
        if "after_id" in q and q["after_id"][0] in ids:
            ids = ids[ids.index(q["after_id"][0]) + 1 :]
        page = ids[:limit]
        data = [self._batch_obj(b) for b in page]
        self._send(
            h,
            200,
            {
                "data": data,
                "has_more": len(ids) > limit,
                "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None,
            },
        )

    def _held(self, bid: str) -> bool:
        """With ``rendezvous = (n, s)``, a batch stays in progress until batches of ``n``
        processes were made within ``s`` seconds of it, or for ``s`` seconds: parallel jobs
        then run their stages side by side."""
        b = self.batches[bid]
        if self.rendezvous is None or b.get("released"):
            return False
        n, s = self.rendezvous
        others = list(self.batches.values())  # a snapshot (creates run in other threads)
        near = {x["pid"] for x in others if abs(x["made"] - b["made"]) <= s}
        if len(near) >= n or time.monotonic() - b["made"] > s:
            b["released"] = True
            return False
        return True

    def job_overlap(self) -> int:
        """The most processes that had batches in progress at one time."""
        with self._lock:
            spans = [
                (b["made"], b["ended"] or float("inf"), b["pid"]) for b in self.batches.values()
            ]
        return max((len({p for s, e, p in spans if s <= t < e}) for t, _, _ in spans), default=0)

    def _batch_obj(self, bid: str) -> dict:
        b = self.batches[bid]
        ended = b["canceled"] or (
            not self.hold_batches.is_set()
            and b["polls"] >= self.batch_polls_before_end
            and not self._held(bid)
        )
        if ended and b["ended"] is None:
            b["ended"] = time.monotonic()
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if ended:
            for it in b["items"]:
                counts[it["result"]["type"]] += 1
        else:
            counts["processing"] = len(b["items"])
        created = self._stamp(bid)
        return {
            "id": bid,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": created.isoformat().replace("+00:00", "Z"),
            "expires_at": (created + timedelta(hours=24)).isoformat().replace("+00:00", "Z"),
            "ended_at": _now() if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.url}/v1/messages/batches/{bid}/results" if ended else None,
        }

    def _stamp(self, bid: str) -> datetime:
        created = self.batches[bid]["created"]
        return created.replace(microsecond=0) if self.whole_seconds else created

    def _batch_results(self, h, bid: str) -> None:
        with self._lock:
            self.counts["batch_results"] += 1
            items = list(self.batches[bid]["items"])
            self._rng.shuffle(items)  # results are not in request order
            cut = self._cut_results > 0
            self._cut_results -= int(cut)
        data = "".join(
            json.dumps({"custom_id": it["custom_id"], "result": it["result"]}) + "\n"
            for it in items
        ).encode()
        if cut:  # a download cut mid-line (the body is shorter; the length header matches it)
            with self._lock:
                self.counts["batch_results_cut"] += 1
            data = data[: len(data) // 2 + 7]
        self._send(h, 200, None, raw=data, content_type="application/binary")


def wait_until(pred, timeout_s: float = 10.0, interval_s: float = 0.05) -> bool:
    """Bounded polling helper for tests."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval_s)
    return pred()


# ----------------------------------------------------------------------------------------------
# Synthetic latent records and scoring items (same shapes as the examples stage produces)
# ----------------------------------------------------------------------------------------------

FAKE_KEY = "sk-ant-test-SECRET-123"
#: Answer-level behaviours (a 200 Message) that batch items can take too.
ANSWER_BEHAVIOURS = ("refusal", "text_only", "wrong_count", "malformed", "error_200")
#: Create faults answered before anything is created: fault -> (status, error type).
CREATE_REJECTIONS = {
    "429": (429, "rate_limit_error"),
    "529": (529, "overloaded_error"),
    "408": (408, "timeout_error"),
    "409": (409, "conflict_error"),
    "400": (400, "invalid_request_error"),
}
#: Create faults answered with an error after the batch was created (by the API or a gateway).
CREATE_AFTER_ERRORS = {
    "500": (500, "api_error"),
    "502": (502, "bad_gateway"),
    "503": (503, "service_unavailable"),
    "504": (504, "gateway_timeout"),
}
#: An error object sent with HTTP 200 (as some proxies and overloaded gateways do).
ERROR_200 = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
_FILLER = [
    " the",
    " a",
    " of",
    " and",
    " to",
    " in",
    " is",
    " was",
    " for",
    " on",
    " with",
    " as",
    " by",
    " at",
    " from",
    "\n",
    ",",
    ".",
]


def make_window(
    hot: str | None,
    rng: random.Random,
    length: int = 12,
    quantile: int | None = 1,
    extra_text: list[str] | None = None,
) -> dict:
    text = [rng.choice(_FILLER) for _ in range(length)]
    acts = [0.0] * length
    if hot is not None:
        for pos in rng.sample(range(length), k=2):
            text[pos] = hot
            acts[pos] = round(rng.uniform(0.5, 5.0), 3)
    if extra_text:
        text = text + list(extra_text)
        acts = acts + [0.0] * len(extra_text)
    return {"tokens": list(range(len(text))), "text": text, "acts": acts, "quantile": quantile}


def make_record(
    latent: int,
    hot: str,
    *,
    n_explain: int = 4,
    n_act: int = 5,
    n_non: int = 5,
    seed: int = 0,
    length: int = 12,
) -> dict:
    rng = random.Random(seed * 1000 + latent)
    explain = [make_window(hot, rng, length) for _ in range(n_explain)]
    act = [make_window(hot, rng, length, quantile=i % 10) for i in range(n_act)]
    non = [make_window(None, rng, length, quantile=None) for _ in range(n_non)]
    return {
        "latent": latent,
        "n_activating_windows": 300,
        "max_act": max(a for w in explain for a in w["acts"]),
        "explain": explain,
        "test_activating": act,
        "test_nonactivating": non,
    }


def make_items(record: dict, scorer: str, seed: int = 0) -> list[dict]:
    """Detection: plain windows. Fuzzing: positives highlight their active tokens, negatives
    highlight two random tokens (label 0)."""
    rng = random.Random(seed)
    items = []
    for kind, label, windows in (
        ("act", 1, record["test_activating"]),
        ("non", 0, record["test_nonactivating"]),
    ):
        for i, w in enumerate(windows):
            if scorer == "detection":
                hl = None
            elif label:
                hl = [a > 0 for a in w["acts"]]
            else:
                picks = set(rng.sample(range(len(w["text"])), k=2))
                hl = [j in picks for j in range(len(w["text"]))]
            items.append(
                {
                    "id": f"{record['latent']}:{kind}:{i}",
                    "text": list(w["text"]),
                    "highlight": hl,
                    "label": label,
                }
            )
    return items


# -- a backend on the fake and the records it explains -----------------------------------------
CELL = {"model": "tiny-neox", "init": "trained", "layer": 2}
HOT = {1: " zebra", 2: " quartz", 4: " violin", 6: " walrus"}  # latent -> its hot token


def fake_backend(
    fake: FakeAnthropic,
    tmp_path: Any,
    *,
    execution: str = "realtime",
    cell: dict | None = None,
    job: str | None = None,
    **overrides: Any,
):
    """An :class:`AnthropicBackend` on ``fake`` with its cache, state and ledger under tmp_path
    (``job`` given: its state and ledger under ``tmp_path / job``, the cache shared)."""
    from randsae.autointerp.llm.claude import AnthropicBackend

    cfg = {
        "base_url": fake.url,
        "execution": execution,
        "max_retries": 2,
        "max_concurrency": 1,
        "poll_interval_s": 0.02,
        **overrides,
    }
    return AnthropicBackend(
        cfg,
        cache_path=tmp_path / "cache" / "llm.sqlite",
        state_dir=(tmp_path if job is None else tmp_path / job) / "state",
        ledger_path=(tmp_path if job is None else tmp_path / job) / "ledger.jsonl",
        cell=CELL if cell is None else cell,
    )


def hot_records(n: int = 3, seed: int = 0) -> list[dict]:
    """Records of the first ``n`` latents of :data:`HOT` (another ``seed``: other windows, so
    other prompts of the same number)."""
    return [make_record(lat, tok, seed=seed) for lat, tok in list(HOT.items())[:n]]
