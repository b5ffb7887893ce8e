"""The HTTP transport every HTTP provider uses (Tryton's JSON-RPC, QuickBooks, NetSuite), on httpx.

Owns the rules of talking to a remote accounting system: timeouts; retry with exponential backoff and
`Retry-After` for answers that mean "not processed, try later" (429, 503) and for requests that are safe to
repeat; "a write whose answer was lost is never re-sent blind" (AnswerLost: the record stays pending and the
next run looks it up); one re-authentication on 401 through an auth hook; a client-side rate limit; and an
optional JSON Lines log of every exchange with secrets redacted; a cap on requests in flight when a provider
sends from several threads (NetSuite's account-wide concurrency limit).
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import httpx

from ... import redact
from .base import AnswerLost, ProviderUnavailable

# Answers that say the request was not processed: always safe to send again after waiting.
NOT_PROCESSED = frozenset({429, 503})
# Gateway and server errors: the request may have been processed; repeated only when it is idempotent.
MAYBE_PROCESSED = frozenset({500, 502, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Auth:
    """How a provider authenticates: `apply` signs or decorates each request (called on every attempt), and
    `refresh` is called once after a 401 (a new access token, a new session); it raises ProviderUnavailable
    when the credentials are refused."""

    def apply(self, request: httpx.Request) -> None:  # pragma: no cover - interface
        pass

    def refresh(self) -> None:
        raise ProviderUnavailable("the credentials were refused (HTTP 401)")


@dataclass
class RetryPolicy:
    retries: int = 4                 # attempts after the first
    backoff: float = 0.5             # first wait, doubled each time
    max_backoff: float = 60.0
    max_retry_after: float = 120.0   # a longer Retry-After stops the run instead of sleeping
    # A 429 that says no Retry-After (QuickBooks answers one in XML and asks for 60 s): wait this long
    # (None: the exponential backoff), and tolerate this many per request (None: counted with `retries`).
    throttle_wait: float | None = None
    throttle_retries: int | None = None


class RateLimit:
    """At most `per_second` requests in any second and `per_minute` in any minute (QuickBooks: 10 and 500)."""

    def __init__(self, per_second: int | None = None, per_minute: int | None = None, clock=time.monotonic,
                 sleep=time.sleep):
        self.limits = [(n, w) for n, w in ((per_second, 1.0), (per_minute, 60.0)) if n]
        self.sent: deque[float] = deque()
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            while True:
                now = self.clock()
                horizon = max((w for _, w in self.limits), default=0.0)
                while self.sent and now - self.sent[0] >= horizon:
                    self.sent.popleft()
                delay = 0.0
                for n, window in self.limits:
                    recent = [t for t in self.sent if now - t < window]
                    if len(recent) >= n:
                        delay = max(delay, window - (now - recent[-n]))
                if delay <= 0:
                    self.sent.append(now)
                    return
                self.sleep(delay)


@dataclass
class Exchange:
    method: str
    path: str
    request_body: Any
    status: int | None
    response_body: Any
    seconds: float


@dataclass
class HttpTransport:
    """One keep-alive client for one service. `request` returns the final httpx.Response (any status that is
    not retried: the caller maps 4xx bodies to ProviderError), or raises ProviderUnavailable / AnswerLost."""

    base_url: str
    service: str = "the provider"                       # for messages: "QuickBooks", "Tryton at http://..."
    timeout: float = 120.0
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    auth: Auth | None = None
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    request_log: Path | None = None
    sleep: Callable[[float], None] = time.sleep
    transport: httpx.BaseTransport | None = None        # tests: httpx.MockTransport
    on_exchange: Callable[[Exchange], None] | None = None
    max_in_flight: int | None = None                    # at most this many requests at once (threads share it)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=self.timeout, headers=self.headers,
                                   transport=self.transport, follow_redirects=False)
        self.requests = 0
        self._log_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._in_flight = (threading.BoundedSemaphore(self.max_in_flight) if self.max_in_flight else None)

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, *, params: dict | None = None, json_body: Any = None,
                content: bytes | str | None = None, headers: dict[str, str] | None = None,
                idempotent: bool | None = None, authenticate: bool = True, what: str | None = None) -> httpx.Response:
        """Send with the retry rules. `idempotent` (default: by method) says whether repeating the request after
        a lost answer is harmless (a read, an upsert, a create carrying an idempotency key)."""
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        what = what or f"{method} {url}"
        delay, last, reauthed = self.policy.backoff, "", False
        attempt = throttled = 0
        wait: float | None = None          # how long to sleep before the next try
        while True:
            if attempt > self.policy.retries:
                raise ProviderUnavailable(redact.redact(f"{self.service}: {last} (gave up after {attempt} tries)"))
            if wait is not None:
                self.sleep(wait)
                wait = None
            attempt += 1
            if self.rate_limit is not None:
                self.rate_limit.wait()
            request = self.client.build_request(method, url, params=params, json=json_body, content=content,
                                                headers=headers)
            if authenticate and self.auth is not None:
                self.auth.apply(request)
            started = time.monotonic()
            if self._in_flight is not None:
                self._in_flight.acquire()
            try:
                response = self.client.send(request)
                response.read()
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:   # never sent
                last = f"cannot reach {self.service} ({type(exc).__name__}: {exc})"
                wait, delay = self._backoff(delay)
                continue
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self._log(request, None, time.monotonic() - started)
                last = f"no answer from {self.service} to {what} ({type(exc).__name__})"
                if idempotent:
                    wait, delay = self._backoff(delay)
                    continue
                raise AnswerLost(redact.redact(
                    f"{last}: the write may or may not have happened; the record stays pending and is looked up on "
                    "the next run")) from None
            finally:
                if self._in_flight is not None:
                    self._in_flight.release()
            with self._count_lock:
                self.requests += 1
            self._log(request, response, time.monotonic() - started)
            status = response.status_code
            if status == 401 and authenticate and self.auth is not None and not reauthed:
                reauthed = True
                self.auth.refresh()
                attempt -= 1                                   # a re-login is not a retry
                continue
            if status in NOT_PROCESSED:
                asked = retry_after(response)
                if asked is not None and asked > self.policy.max_retry_after:
                    raise ProviderUnavailable(f"{self.service} asks to wait {asked:.0f}s (HTTP {status}, Retry-After) "
                                              f"before {what}; run again later")
                last = f"{self.service} answered HTTP {status} to {what}"
                if status == 429 and self.policy.throttle_retries is not None:
                    throttled += 1
                    attempt -= 1                               # throttling has its own budget
                    if throttled > self.policy.throttle_retries:
                        raise ProviderUnavailable(redact.redact(
                            f"{self.service}: {last} {throttled} times in a row (throttled); run again later"))
                if asked is not None:
                    wait = asked
                elif status == 429 and self.policy.throttle_wait is not None:
                    wait = self.policy.throttle_wait
                else:
                    wait, delay = self._backoff(delay)
                continue
            if status in MAYBE_PROCESSED:
                last = f"{self.service} answered HTTP {status} to {what}"
                if idempotent:
                    wait, delay = self._backoff(delay)
                    continue
                raise AnswerLost(redact.redact(
                    f"{last}: the write may or may not have happened; the record stays pending and is looked up on "
                    "the next run"))
            return response

    def _backoff(self, delay: float) -> tuple[float, float]:
        """The wait before the next try and the one after it (doubled, capped)."""
        return min(delay, self.policy.max_backoff), delay * 2

    # --- the request log ----------------------------------------------------------------------------

    def _log(self, request: httpx.Request, response: httpx.Response | None, seconds: float) -> None:
        if self.request_log is None and self.on_exchange is None:
            return
        exchange = Exchange(request.method, request.url.raw_path.decode("ascii", "replace"),
                            body_of(request.content, request.headers.get("content-type")),
                            response.status_code if response is not None else None,
                            body_of(response.content, response.headers.get("content-type")) if response is not None
                            else None, round(seconds, 4))
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        if self.request_log is not None:
            write_exchange(self.request_log, exchange, self._log_lock)


def dumps_json(value: Any) -> bytes:
    """JSON with every Decimal written as an exact JSON number without trailing zeros (money never goes through
    float)."""
    import decimal
    import re

    marks: list[str] = []

    def mark(o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            marks.append(format(o.normalize() if o else decimal.Decimal(0), "f"))
            return f"\u0000dec{len(marks) - 1}\u0000"
        raise TypeError(f"{type(o).__name__} is not JSON serializable")
    text = json.dumps(value, default=mark, ensure_ascii=False, separators=(",", ":"))
    if marks:
        text = re.sub(r'"\\u0000dec(\d+)\\u0000"', lambda m: marks[int(m.group(1))], text)
    return text.encode("utf-8")


def excerpt(response: httpx.Response, limit: int = 300) -> str:
    """A one-line, redacted excerpt of an error answer for a message: HTML tags dropped, white space folded."""
    import re

    text = response.content.decode("utf-8", "replace")
    text = re.sub(r"<[^>]+>", " ", text) if "<" in text else text
    text = " ".join(text.split())
    text = redact.redact(text)
    return text if len(text) <= limit else text[:limit] + "..."


def body_of(content: bytes, content_type: str | None) -> Any:
    """A body for the request log: parsed JSON where it is JSON, else text (redacted either way)."""
    if not content:
        return None
    text = content.decode("utf-8", "replace")
    if content_type and "json" in content_type:
        try:
            return redact.redact_data(json.loads(text))
        except ValueError:
            pass
    return redact.redact(text)


def write_exchange(path: Path, exchange: Exchange, lock: threading.Lock) -> None:
    line = json.dumps({"method": exchange.method, "path": redact.redact(exchange.path),
                       "request_body": exchange.request_body, "status": exchange.status,
                       "response_body": exchange.response_body, "seconds": exchange.seconds},
                      ensure_ascii=False, default=str)
    with lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
