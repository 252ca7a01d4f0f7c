"""UpstreamClient: the one way an adapter reaches its agency.

One client per agency, one connection pool, shared by every tenant of that agency. A call goes

    breaker.admit ─▶ rate slot (agency, credential) ─▶ token ─▶ send ─▶ [401: fresh token, resend once]
        ─▶ agency pushback (429, X-RateLimit-*) recorded ─▶ 2xx / allowed status returned, else the
           error from errors.py — which a read retries (stamina: backoff + jitter, attempts, deadline)

and nothing from httpx or aiohttp gets out: every failure is a `canonical.problems` error.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import http.cookiejar
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import httpx
import msgspec
import stamina

from adapters._upstream import metrics
from adapters._upstream.breaker import CircuitBreaker
from adapters._upstream.errors import error_for_exception, error_for_status
from adapters._upstream.ratelimit import RateLimit, RateLimiter
from adapters._upstream.shared import MemorySharedState, SharedState
from adapters._upstream.tokens import OAuth2ClientCredentials, TokenProvider
from adapters._upstream.transport import fast_transport
from adapters.base import Credential
from canonical.problems import (
    AgencyError,
    AgencyRateLimited,
    AgencyUnavailable,
    GatewayError,
    OutcomeUnknown,
    ServiceUnavailable,
)

__all__ = [
    "Auth",
    "BearerAuth",
    "OAuth2ClientCredentials",
    "SharedState",
    "UpstreamClient",
    "UpstreamResponse",
    "sync_budget",
]

T = TypeVar("T")

log = logging.getLogger(__name__)


class BearerAuth(msgspec.Struct, frozen=True, kw_only=True):
    """A static API token (Debbie: "model it as a static API token per tenant credential")."""

    token: str

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


Auth = BearerAuth | OAuth2ClientCredentials | None


class UpstreamResponse(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    headers: Mapping[str, str]  # names in lower case
    content: bytes

    def json(self, type: type[T]) -> T:
        return msgspec.json.decode(self.content, type=type)


class _Retry(Exception):
    """A read's attempt failed in a way the next attempt may not; `backoff` overrides stamina's."""

    def __init__(self, error: AgencyError, backoff: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.backoff = backoff


def _log_retry(details: stamina.instrumentation.RetryDetails) -> None:
    """stamina's own log hook writes `repr()` of the failure, whose message may quote the agency's
    answer (and so a debtor): ours names the problem code only."""
    cause = details.caused_by
    code = cause.error.code if isinstance(cause, _Retry) else type(cause).__name__
    log.info("read retry %d in %.2f s after %s", details.retry_num, details.wait_for, code)


# Retry metrics (stamina_retries_total) and our log line; set once, for every client.
stamina.instrumentation.set_on_retry_hooks([stamina.instrumentation.PrometheusOnRetryHook, _log_retry])


def _retry_hook(exc: Exception) -> bool | float:
    if not isinstance(exc, _Retry):
        return False
    return True if exc.backoff is None else exc.backoff


class _Call:
    __slots__ = (
        "allow",
        "auth",
        "body",
        "credential",
        "headers",
        "method",
        "params",
        "path",
        "rate_deadline",
        "rate_key",
        "retry_deadline",
        "route",
        "write",
    )

    def __init__(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: bytes | None,
        headers: dict[str, str],
        credential: Credential,
        auth: Auth,
        write: bool,
        allow: frozenset[int],
        rate_deadline: float,
        retry_deadline: float,
    ) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.body = body
        self.headers = headers
        self.credential = credential
        self.auth = auth
        self.write = write
        self.allow = allow
        self.rate_key = f"{credential.agency}:{credential.key}"
        self.route = metrics.agency_route(path)
        self.rate_deadline = rate_deadline
        self.retry_deadline = retry_deadline


_SYNC: contextvars.ContextVar[bool] = contextvars.ContextVar("cg_sync_budget", default=False)


@contextlib.contextmanager
def sync_budget() -> Iterator[None]:
    """Calls made inside spend the credential's sync share (`sync_budget_share`) of the rate
    budget: the worker's feed reads and `?refresh=true` reads wrap their adapter calls in it."""
    token = _SYNC.set(True)
    try:
        yield
    finally:
        _SYNC.reset(token)


def _scaled(limit: RateLimit, share: float) -> RateLimit:
    count = max(1, int(limit[0] * share))
    if len(limit) == 3:
        return (count, limit[1], max(1, min(count, int(limit[2] * share))))
    return (count, limit[1])


def _plain_headers(headers: httpx.Headers) -> dict[str, str]:
    """Lower-case names, repeated headers joined as httpx does; one pass instead of a lookup per name."""
    plain: dict[str, str] = {}
    for name, value in headers.multi_items():
        plain[name] = f"{plain[name]}, {value}" if name in plain else value
    return plain


def _no_cookies() -> http.cookiejar.CookieJar:
    # One client serves every tenant of the agency: a cookie set for one credential must never be
    # sent with another's call.
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


class UpstreamClient:
    """One per agency. `request` is the only way an adapter reaches its agency.

    Keyword arguments (all optional):
    - transport: an httpx transport (tests: `httpx.ASGITransport`); default the aiohttp one.
    - timeout: seconds for one attempt, connect to last byte.
    - shared: where tokens, rate-limit state and pauses are shared across replicas (default:
      this process only). rate_limits: the agency's published limits, `(count, period_s)` or
      `(count, period_s, burst)` per credential — see ratelimit.py; rate_margin: fraction of
      each window kept free for jitter.
    - read_rate_budget: how long a read may wait for its rate slot before AgencyRateLimited;
      write_rate_max_wait: the same for a write (the worker's queue is the real wait).
    - retry_attempts / retry_deadline / retry_wait_*: a read's retries (stamina); writes never.
    - breaker_threshold consecutive failures open the breaker for breaker_cooldown seconds.
    - token_refresh_margin: renew an OAuth2 token this long (at most a tenth of its life) early.
    - clock: wall clock for token lifetimes (tests move it instead of waiting).
    - tracer_provider: an OpenTelemetry TracerProvider: every call gets a client span (the
      `otel` extra's httpx instrumentation wraps the transport).
    """

    def __init__(
        self,
        agency: str,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        shared: SharedState | None = None,
        rate_limits: Sequence[RateLimit] = (),
        rate_margin: float = 0.05,
        sync_share: float = 1.0,
        read_rate_budget: float = 2.0,
        write_rate_max_wait: float = 60.0,
        retry_attempts: int = 4,
        retry_deadline: float = 20.0,
        retry_wait_initial: float = 0.1,
        retry_wait_max: float = 2.0,
        retry_wait_jitter: float = 0.3,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
        token_refresh_margin: float = 30.0,
        max_connections: int = 100,
        clock: Callable[[], float] = time.time,
        tracer_provider: Any = None,
    ) -> None:
        self.agency = agency
        self._timeout = timeout
        transport = transport or fast_transport(max_connections=max_connections)
        if tracer_provider is not None:  # a client span and a traceparent header on every call
            from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

            transport = AsyncOpenTelemetryTransport(transport, tracer_provider=tracer_provider)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=timeout,
            cookies=_no_cookies(),
        )
        shared = shared if shared is not None else MemorySharedState()
        self._limiter = RateLimiter(agency, shared, rate_limits, rate_margin)
        # Calls made under `sync_budget()` also take a slot from a bucket of `sync_share` of the
        # limits: feeds and refresh reads never spend more, deliveries of writes keep the rest.
        self._sync_limiter: RateLimiter | None = None
        if rate_limits and sync_share < 1.0:
            scaled = [_scaled(limit, sync_share) for limit in rate_limits]
            self._sync_limiter = RateLimiter(agency, shared, scaled, rate_margin)
        self._tokens = TokenProvider(
            agency, self._http, shared, timeout=timeout, refresh_margin=token_refresh_margin, clock=clock
        )
        self.breaker = CircuitBreaker(agency, threshold=breaker_threshold, cooldown=breaker_cooldown)
        self._read_budget = read_rate_budget
        self._write_wait = write_rate_max_wait
        self._retry_deadline = retry_deadline
        self._attempts = retry_attempts
        self._retrying = functools.partial(
            stamina.retry_context,
            on=_retry_hook,
            attempts=retry_attempts,
            timeout=retry_deadline,
            wait_initial=retry_wait_initial,
            wait_max=retry_wait_max,
            wait_jitter=retry_wait_jitter,
        )
        for limit in rate_limits:
            if limit[1] == 60.0:
                metrics.RATE_LIMIT_PER_MINUTE.labels(agency).set(limit[0])

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        credential: Credential,
        auth: Auth,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        write: bool = False,
        allow: frozenset[int] = frozenset(),
    ) -> UpstreamResponse:
        """Send one call; 2xx and statuses in `allow` are returned, everything else raised.

        `write=True` marks a call that changes state at the agency. It is sent at most once
        here: a failure after it may have reached the agency raises `OutcomeUnknown`
        (reconcile before resending), one before sending raises `AgencyUnavailable` /
        `AgencyRateLimited`. Reads are retried on connection errors, timeouts, 5xx and 429.
        Raises only `canonical.problems` errors.
        """
        if self._sync_limiter is not None and not write and _SYNC.get():
            # No waiting: a feed tries again next interval, a refresh answers 503 + Retry-After.
            key = f"sync:{credential.agency}:{credential.key}"
            await self._guard(self._sync_limiter.acquire(key, time.monotonic()))
        send_headers = dict(headers) if headers else {}
        body = None
        if json is not None:
            body = msgspec.json.encode(json)
            send_headers["Content-Type"] = "application/json"
        now = time.monotonic()
        call = _Call(
            method,
            path,
            params,
            body,
            send_headers,
            credential,
            auth,
            write,
            allow,
            now + (self._write_wait if write else self._read_budget),
            now + self._retry_deadline,
        )
        try:
            return await self._attempt(call)
        except _Retry as retry:
            if self._attempts <= 1:
                raise retry.error from retry.error.__cause__
            first: _Retry | None = retry
        # Only a failed read pays for the retry machinery (~45 µs a call on this machine). The
        # loop's first iteration replays the attempt already made, so stamina schedules the
        # backoff from it and counts it among the attempts.
        try:
            async for attempt in self._retrying():
                with attempt:
                    if first is not None:
                        replay, first = first, None
                        raise replay
                    return await self._attempt(call)
        except _Retry as retry:  # attempts or deadline used up: the last failure is the answer
            raise retry.error from retry.error.__cause__
        raise AssertionError("unreachable: stamina re-raises the last failure")

    async def _attempt(self, call: _Call) -> UpstreamResponse:
        probe = self.breaker.admit()
        recorded = False
        try:
            try:
                response = await self._exchange(call)
            except AgencyRateLimited:  # refused before sending: says nothing about the agency's health
                raise
            except AgencyUnavailable as error:  # no answer from the agency (or its token endpoint)
                self.breaker.failed(probe)
                recorded = True
                raise self._retryable(call, error) from error.__cause__
            status = response.status_code
            if status >= 500 or status == 408:
                self.breaker.failed(probe)
            else:
                self.breaker.succeeded(probe)
            recorded = True
            headers = _plain_headers(response.headers)
            if status == 429 or "x-ratelimit-remaining" in headers:
                await self._observe(call, status, headers)
            if 200 <= status < 300 or status in call.allow:
                return UpstreamResponse(status=status, headers=headers, content=response.content)
            raise self._retryable(
                call, error_for_status(self.agency, status, response.content, headers, write=call.write)
            )
        finally:
            if not recorded:
                self.breaker.released(probe)

    async def _exchange(self, call: _Call) -> httpx.Response:
        await self._guard(self._limiter.acquire(call.rate_key, call.rate_deadline))
        self._slot_taken(call)
        auth = call.auth
        token = None
        if isinstance(auth, OAuth2ClientCredentials):
            token = await self._guard(self._tokens.token(auth, call.credential))
        elif isinstance(auth, BearerAuth):
            token = auth.token
        response = await self._send(call, token)
        if response.status_code == 401 and isinstance(auth, OAuth2ClientCredentials) and token is not None:
            # A token can be revoked or expire early at the agency (Intrum: 401 "Access denied" for
            # "expired token", "Errors"): one fresh token, one resend. A 401 was not processed, so
            # resending a write is safe.
            token = await self._guard(self._tokens.refresh_rejected(auth, call.credential, token))
            await self._guard(self._limiter.acquire(call.rate_key, call.rate_deadline))
            self._slot_taken(call)
            response = await self._send(call, token)
        return response

    async def _send(self, call: _Call, token: str | None) -> httpx.Response:
        headers = call.headers if token is None else {**call.headers, "Authorization": f"Bearer {token}"}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._http.request(
                    call.method, call.path, params=call.params, content=call.body, headers=headers
                )
        except (
            httpx.HTTPError,
            httpx.InvalidURL,
            httpx.StreamError,
            aiohttp.ClientError,
            OSError,
            TimeoutError,
        ) as exc:
            self._count(
                call, "timeout" if isinstance(exc, TimeoutError | httpx.TimeoutException) else "no_answer"
            )
            raise error_for_exception(self.agency, exc, write=call.write) from exc
        metrics.CALLS.add((self.agency, call.route, str(response.status_code)), time.perf_counter() - started)
        return response

    def _retryable(self, call: _Call, error: AgencyError) -> Exception:
        """`error` as it leaves this attempt: wrapped in _Retry when a read should try again."""
        if call.write or not isinstance(error, AgencyUnavailable) or isinstance(error, OutcomeUnknown):
            return error
        if isinstance(error, AgencyRateLimited):
            return _Retry(error, 0.0)  # the next attempt's rate slot waits out the agency's pause
        if error.retry_after is not None:
            if time.monotonic() + error.retry_after > call.retry_deadline:
                return error
            return _Retry(error, error.retry_after)
        return _Retry(error, None)

    async def _observe(self, call: _Call, status: int, headers: Mapping[str, str]) -> None:
        try:
            await self._limiter.observe(call.rate_key, status, headers)
        except Exception:  # the answer stands even if the pause could not be shared
            log.warning("%s: could not record the agency's rate-limit pause", self.agency, exc_info=True)

    async def _guard(self, step: Awaitable[T]) -> T:
        """Run a step that uses the shared store; its failure means nothing was sent."""
        try:
            return await step
        except GatewayError:
            raise
        except Exception as exc:
            raise ServiceUnavailable(
                f"{self.agency}: shared state unavailable ({type(exc).__name__})"
            ) from exc

    def _count(self, call: _Call, failure: str) -> None:
        metrics.CALLS.add((self.agency, call.route, failure))

    def _slot_taken(self, call: _Call) -> None:
        metrics.SLOTS_TAKEN.add((self.agency, call.credential.tenant))
