"""The HTTP plumbing the loopback fakes share (Anthropic, OpenAI-compatible, Hugging Face Hub).

A fake subclasses :class:`LoopbackServer` and implements ``_handle(handler, method)``; the real
client libraries reach it at :attr:`LoopbackServer.url` on 127.0.0.1 (an ephemeral port).
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer:
    #: HTTP methods routed to ``_handle``.
    methods: tuple[str, ...] = ("GET", "POST")
    #: "HTTP/1.1" keeps connections alive (the Hub client relies on it).
    protocol_version = "HTTP/1.0"
    #: Appended to the base URL (e.g. "/v1" for OpenAI-compatible clients).
    url_suffix = ""

    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.clock = time.time  # the server's clock (``Date`` headers); a test may skew it

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def start(self) -> Any:
        owner = self
        attrs: dict[str, Any] = {
            "protocol_version": self.protocol_version,
            "log_message": lambda handler, *args: None,  # keep test output quiet
            "date_time_string": lambda handler, ts=None: email.utils.formatdate(
                owner.clock() if ts is None else ts, usegmt=True
            ),
        }
        for method in self.methods:
            attrs[f"do_{method}"] = lambda handler, m=method: owner._handle(handler, m)
        handler_cls = type("Handler", (BaseHTTPRequestHandler,), attrs)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits for the loop's next poll (0.5 s by default,
        # paid by every test that stops a fake).
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{self.url_suffix}"

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        payload: Any = None,
        *,
        headers: dict | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        """One response: ``raw`` bytes or ``payload`` as JSON; a client that hung up is ignored."""
        data = raw if raw is not None else json.dumps(payload).encode()
        try:
            h.send_response(status)
            h.send_header("content-type", content_type)
            h.send_header("content-length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
