"""A local fake of an OpenAI-compatible chat-completions server (as vLLM serves) for offline tests.

Runs a ``ThreadingHTTPServer`` on 127.0.0.1 (random free port); point the real ``openai`` SDK at
``fake.url + "/v1"`` via ``base_url``. Route: ``POST /v1/chat/completions``.

Deterministic answers computed from the prompt (as in ``fake_anthropic``):

- explainer (system asks for ``[EXPLANATION]:``): ``[EXPLANATION]: The token "X".`` with X the most
  frequent ``<<highlighted>>`` run;
- scorers: X is read back from the quoted explanation; a window "matches" as in the Anthropic
  fake. Binary prompts answer ``[1, 0, ...]``; with ``logprobs`` requested (and
  ``supports_logprobs``), each digit token carries ``top_logprobs`` giving "1" the probability
  ``P_MATCH`` (0.85) for a match and ``P_MISS`` (0.2) otherwise. Elicited prompts answer
  ``[90, 10, ...]``;
- simulation: 10 for tokens equal to X, else 0; with logprobs, the "10" tokens carry
  ``{"10": 0.7, "9": 0.3}`` (expected value 9.7) and the "0" tokens ``{"0": 0.9, "1": 0.1}``.

Scripted misbehaviour (``fake.script([...])``, one per request, or ``fake.behaviour`` callable):
``429``, ``500``, ``timeout`` (sleeps ``timeout_sleep_s``), ``bad_json``, ``error_200`` (an error
object with HTTP 200), ``no_logprobs`` (the answer without logprobs), ``wrong_count``, ``garbled``
(prose without a list). Counts per route in ``fake.counts``; bodies in ``fake.bodies``.
"""

from __future__ import annotations

import collections
import json
import math
import re
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from fake_anthropic import _MARK, _WINDOW, explanation_token, fake_explanation_token
from loopback import LoopbackServer

P_MATCH, P_MISS = 0.85, 0.2
FAKE_OPENAI_KEY = "sk-openai-test-SECRET-456"


def _lp(p: float) -> float:
    return math.log(p)


class FakeOpenAI(LoopbackServer):
    methods = ("POST",)
    url_suffix = "/v1"

    def __init__(self, *, supports_logprobs: bool = True, timeout_sleep_s: float = 2.0):
        super().__init__()
        self.supports_logprobs = supports_logprobs
        self.timeout_sleep_s = timeout_sleep_s
        self.behaviour = None
        self.counts: collections.Counter = collections.Counter()
        self.bodies: list[dict] = []
        self.auth_headers_seen: collections.Counter = collections.Counter()
        self._script: collections.deque = collections.deque()

    def script(self, behaviours: list[str]) -> None:
        with self._lock:
            self._script.extend(behaviours)

    # -- HTTP ------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler, method: str = "POST") -> None:
        n = int(h.headers.get("content-length") or 0)
        body = json.loads(h.rfile.read(n) or b"{}")
        cred = h.headers.get("authorization") or ""
        with self._lock:
            self.auth_headers_seen[
                "match"
                if cred.endswith(FAKE_OPENAI_KEY)
                else ("placeholder" if cred == "Bearer EMPTY" else "other")
            ] += 1
        if h.path.split("?")[0] != "/v1/chat/completions":
            return self._send(h, 404, {"error": {"type": "not_found", "message": h.path}})
        with self._lock:
            self.counts["chat"] += 1
            self.bodies.append(body)
            b = self._script.popleft() if self._script else None
        if b is None and self.behaviour is not None:
            b = self.behaviour(body)
        b = b or "ok"
        if b == "429":
            return self._send(
                h,
                429,
                {"error": {"type": "rate_limit", "message": "slow down (fake)"}},
                headers={"retry-after": "0.01"},
            )
        if b == "500":
            return self._send(
                h,
                500,
                {"error": {"type": "server_error", "message": "boom (fake)"}},
                headers={"retry-after-ms": "10"},
            )
        if b == "timeout":
            self._stop.wait(self.timeout_sleep_s)
        if b == "bad_json":
            return self._send(h, 200, raw=b'{"id": "chatcmpl-x", "object": "chat.comp')
        if b == "error_200":
            with self._lock:
                self.counts["error_200"] += 1
            return self._send(
                h, 200, {"object": "error", "message": "model overloaded", "code": 503}
            )
        with self._lock:
            self.counts["chat_ok"] += 1
        self._send(h, 200, self.answer(body, b))

    # -- answers ---------------------------------------------------------------------------------
    def answer(self, body: dict, behaviour: str = "ok") -> dict:
        system = body["messages"][0]["content"]
        user = body["messages"][-1]["content"]
        want_lp = (
            bool(body.get("logprobs")) and self.supports_logprobs and behaviour != "no_logprobs"
        )
        tokens: list[tuple[str, dict[str, float]]] = []  # (token, top alternatives -> prob)
        if "[EXPLANATION]" in system:
            text = f'[EXPLANATION]: The token "{fake_explanation_token(user)}".'
            want_lp = False
        elif "You simulate a latent" in system:
            tok = explanation_token(user)
            lines = [ln.split("\t", 1) for ln in user.splitlines() if re.match(r"^\d+\t", ln)]
            values = [10 if t.strip() == (tok or "").strip() else 0 for _, t in lines]
            tokens = [
                (str(v), {"10": 0.7, "9": 0.3} if v else {"0": 0.9, "1": 0.1}) for v in values
            ]
            text = "[" + ", ".join(str(v) for v in values) + "]"
        else:
            tok = explanation_token(user)
            fuzzing = "highlighted with << and >>" in system
            matches = []
            for _, text_w in _WINDOW.findall(user):
                if fuzzing:
                    words = [w for r in _MARK.findall(text_w) for w in r.split()]
                    ok = bool(words) and tok is not None and all(w == tok for w in words)
                else:
                    ok = tok is not None and tok in text_w.replace("<<", "").replace(">>", "")
                matches.append(ok)
            if behaviour == "wrong_count":
                matches = matches[:-1]
            if "e.g. [1, 0, 1]" in system:
                values = [int(m) for m in matches]
                tokens = [
                    (
                        str(v),
                        {"1": P_MATCH, "0": 1 - P_MATCH} if m else {"1": P_MISS, "0": 1 - P_MISS},
                    )
                    for v, m in zip(values, matches, strict=True)
                ]
            else:
                values = [90 if m else 10 for m in matches]
            text = "[" + ", ".join(str(v) for v in values) + "]"
        if behaviour == "garbled":
            text, want_lp = "I think most of them look fine.", False
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None},
            "finish_reason": "stop",
            "logprobs": None,
        }
        if want_lp and tokens:
            content = [{"token": "[", "logprob": 0.0, "bytes": None, "top_logprobs": []}]
            for i, (t, alts) in enumerate(tokens):
                if i:
                    content.append(
                        {"token": ",", "logprob": 0.0, "bytes": None, "top_logprobs": []}
                    )
                tok_text = t if i == 0 else " " + t
                top = [
                    {"token": (k if i == 0 else " " + k), "logprob": _lp(p), "bytes": None}
                    for k, p in sorted(alts.items(), key=lambda kv: -kv[1])
                ]
                content.append(
                    {"token": tok_text, "logprob": _lp(alts[t]), "bytes": None, "top_logprobs": top}
                )
            content.append({"token": "]", "logprob": 0.0, "bytes": None, "top_logprobs": []})
            choice["logprobs"] = {"content": content, "refusal": None}
        n_in = len(json.dumps(body["messages"])) // 4
        return {
            "id": "chatcmpl-" + uuid.uuid4().hex[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [choice],
            "usage": {
                "prompt_tokens": n_in,
                "completion_tokens": max(1, len(text) // 3),
                "total_tokens": n_in + max(1, len(text) // 3),
            },
        }
