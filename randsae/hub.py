"""Every Hugging Face Hub call of the workflow: transient faults retried, persistent ones explained.

``huggingface_hub`` retries only 408/429 on file downloads and nothing on repo-info calls such as
``HfApi().dataset_info``, so one HTTP 503 from the Hub used to fail a job after hours of queueing.
:func:`install` gives ``huggingface_hub`` (and through it ``transformers``, ``datasets``,
TransformerLens and sae-lens, which all use its shared client) a client whose ``send`` retries
HTTP 408/429/500/502/503/504 and connection errors with bounded exponential backoff, honouring the
server's ``Retry-After``. Only requests whose body can be sent again are retried (every request
of the workflow but the LFS upload PUTs, which ``huggingface_hub`` retries itself).

:func:`hub_call` wraps each place the package talks to the Hub: when a request still fails after
its retries, the error names the URL, the status and what to do (:class:`HubUnavailableError`).

Settings (environment, read when the client is made): ``RANDSAE_HUB_RETRIES`` (retries after the
first attempt, default 5), ``RANDSAE_HUB_BACKOFF_S`` (first wait, default 1 s, doubled each retry),
``RANDSAE_HUB_MAX_WAIT_S`` (cap on any one wait, ``Retry-After`` included; default 60 s).
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import logging
import os
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("randsae")

#: Statuses worth another attempt: timeouts, rate limits and the Hub's transient 5xx answers.
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
ADVICE = (
    "This is a fault of the Hub or of the network, not of the run: nothing is lost (finished "
    "jobs are kept). Run the same command again later (status: https://status.huggingface.co); "
    "RANDSAE_HUB_RETRIES and RANDSAE_HUB_MAX_WAIT_S give the Hub more time, and HF_HUB_OFFLINE=1 "
    "reads files downloaded before from the local cache."
)


class ExplainedError(RuntimeError):
    """An error whose message already says what happened and what to do: :func:`hub_call`
    passes it through unchanged (e.g. a publication check that failed)."""


class HubUnavailableError(ExplainedError):
    """A Hub request failed after every retry (the message names the URL and what to do)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one request."""

    retries: int = 5
    """Attempts after the first."""
    backoff_s: float = 1.0
    """Wait before the first retry; doubled for each further one (with jitter)."""
    max_wait_s: float = 60.0
    """Cap on any single wait, a server's ``Retry-After`` included."""

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff_s < 0 or self.max_wait_s < 0:
            raise ValueError(f"hub retry settings must be >= 0: {self}")

    @classmethod
    def from_env(cls, environ: Any = None) -> RetryPolicy:
        env = os.environ if environ is None else environ
        return cls(
            retries=int(env.get("RANDSAE_HUB_RETRIES", cls.retries)),
            backoff_s=float(env.get("RANDSAE_HUB_BACKOFF_S", cls.backoff_s)),
            max_wait_s=float(env.get("RANDSAE_HUB_MAX_WAIT_S", cls.max_wait_s)),
        )

    def wait(
        self, retry: int, retry_after: str | None = None, jitter: float | None = None
    ) -> float:
        """Seconds before retry number ``retry`` (0-based): the server's ``Retry-After`` when it
        sent one (seconds or an HTTP date), else ``backoff_s * 2**retry`` scaled by a jitter in
        [0.5, 1); never more than ``max_wait_s``."""
        after = parse_retry_after(retry_after)
        if after is not None:
            return min(after, self.max_wait_s)
        j = random.uniform(0.5, 1.0) if jitter is None else jitter
        return min(self.backoff_s * 2**retry * j, self.max_wait_s)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from now (None when absent or unreadable)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


@dataclass(frozen=True)
class Failure:
    """A request that failed after its retries."""

    method: str
    url: str
    reason: str
    attempts: int
    elapsed_s: float


_FAILURES: list[tuple[int, Failure]] = []  # (sequence number, failure), the last 100
_COUNT = [0]  # failures recorded so far in this process
_LOCK = threading.Lock()
_INSTALLED: list[RetryPolicy] = []


def _record(failure: Failure) -> None:
    with _LOCK:
        _FAILURES.append((_COUNT[0], failure))
        _COUNT[0] += 1
        del _FAILURES[:-100]


def _replayable(request: Any) -> bool:
    import httpx2

    return isinstance(request.stream, httpx2.ByteStream)


@functools.cache
def _client_class() -> type:
    import httpx2

    class RetryingClient(httpx2.Client):
        """``httpx2.Client`` whose ``send`` (every request goes through it) retries transient
        faults; proxies, hooks and redirects work as in the client it replaces."""

        policy: RetryPolicy = RetryPolicy()
        sleep = staticmethod(time.sleep)

        def send(self, request: Any, **kwargs: Any) -> Any:
            start, retry = time.monotonic(), 0
            retryable = _replayable(request)
            while True:
                try:
                    response = super().send(request, **kwargs)
                except httpx2.TransportError as err:
                    reason = f"{type(err).__name__}: {err}"
                    if not retryable:
                        raise
                    if retry >= self.policy.retries:
                        self._give_up(request, reason, retry, start)
                        raise
                    wait = self.policy.wait(retry)
                else:
                    if response.status_code not in RETRY_STATUS:
                        return response
                    reason = f"HTTP {response.status_code}"
                    if not retryable:  # huggingface_hub's own backoff retries these
                        return response
                    if retry >= self.policy.retries:
                        self._give_up(request, reason, retry, start)
                        return response
                    wait = self.policy.wait(retry, response.headers.get("Retry-After"))
                    response.close()
                log.warning(
                    "Hub %s %s: %s; retry %d of %d in %.1f s",
                    request.method,
                    request.url,
                    reason,
                    retry + 1,
                    self.policy.retries,
                    wait,
                )
                self.sleep(wait)
                retry += 1

        @staticmethod
        def _give_up(request: Any, reason: str, retry: int, start: float) -> None:
            failure = Failure(
                str(request.method), str(request.url), reason, retry + 1, time.monotonic() - start
            )
            _record(failure)
            log.error(
                "Hub %s %s: %s after %d attempts", failure.method, failure.url, reason, retry + 1
            )

    return RetryingClient


def install(policy: RetryPolicy | None = None) -> RetryPolicy:
    """Make ``huggingface_hub``'s shared client retry (idempotent; the policy from the environment
    unless given). Hooks and redirect settings are taken from the client it replaces."""
    from huggingface_hub import get_session, set_client_factory

    policy = policy or RetryPolicy.from_env()
    with _LOCK:
        if _INSTALLED and _INSTALLED[0] == policy:
            return policy
    base = get_session()
    cls = _client_class()
    hooks, follow, timeout = base.event_hooks, base.follow_redirects, base.timeout

    def factory() -> Any:
        client = cls(event_hooks=hooks, follow_redirects=follow, timeout=timeout)
        client.policy = policy
        return client

    set_client_factory(factory)
    # One INFO line per request is noise in a job log; retries and failures are logged above.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    with _LOCK:
        _INSTALLED[:] = [policy]
    return policy


def failures_since(mark: int) -> list[Failure]:
    """Failures recorded since :func:`_mark` returned ``mark`` (the last 100 at most)."""
    with _LOCK:
        return [f for n, f in _FAILURES if n >= mark]


def _mark() -> int:
    with _LOCK:
        return _COUNT[0]


def _url_of(err: BaseException) -> str | None:
    """The request URL an ``HfHubHTTPError`` (or an error it caused) carries, if any."""
    for e in (err, err.__cause__, err.__context__):
        response = getattr(e, "response", None)
        request = getattr(response, "request", None) if response is not None else None
        if request is not None:
            return f"{request.method} {request.url} (HTTP {response.status_code})"
    return None


@contextlib.contextmanager
def hub_call(what: str) -> Iterator[None]:
    """Run Hub calls with retries installed; an error after the retries names the URL and says
    what to do. ``what`` says what the calls were for (e.g. ``"download tokenizer of X"``)."""
    install()
    mark = _mark()
    try:
        yield
    except ExplainedError:
        raise
    except Exception as err:
        failed = failures_since(mark)
        if failed:
            f = failed[-1]
            where = (
                f"{f.method} {f.url} ({f.reason}, {f.attempts} attempts over {f.elapsed_s:.0f} s)"
            )
        else:
            where = _url_of(err) if _is_transient(err) else None
        if where is None:
            raise
        raise HubUnavailableError(f"{what}: the Hub did not answer {where}. {ADVICE}") from err


def _is_transient(err: BaseException) -> bool:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None) in RETRY_STATUS
