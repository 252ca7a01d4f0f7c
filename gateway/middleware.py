"""Request ids on every response; one access log line and the HTTP metrics per request.

The id is decided once per request (`request_id`): a sane client `X-Request-Id` is echoed, any
other is replaced by a fresh one. The `before_send` hook puts it on every response.

`observe_requests` wraps the app's whole ASGI handler (create_app installs it), outside the
router, so the 404 and 405 answers the router gives before any route middleware runs are
counted and logged too. It binds `request_id` into the log context for every line written while
the request runs, and writes one access line at the end:

    method, route (the template, e.g. /v1/tenants/{tenant:str}/claims — never the path with ids),
    status, duration_ms, request_id, tenant and key_id (when a key was presented and known).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.logs import bind_contextvars, clear_contextvars, get_logger

__all__ = ["UNMATCHED_ROUTE", "observe_requests", "request_id", "request_id_header"]

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: The route label of a request no route matched (404/405 from the router): the path is never a label.
UNMATCHED_ROUTE = "unmatched"

access_log = get_logger("gateway.access")


def request_id(scope: Scope) -> str:
    """This request's id, decided on first use and kept in the scope state."""
    state: dict[str, Any] = scope.setdefault("state", {})
    known = state.get("request_id")
    if known is None:
        sent = next((value for name, value in scope.get("headers", ()) if name == b"x-request-id"), b"")
        text = sent.decode("latin-1")
        known = state["request_id"] = text if _VALID_ID.match(text) else uuid.uuid4().hex
    return str(known)


async def request_id_header(message: Message, scope: Scope) -> None:
    """`before_send` hook: every response carries X-Request-Id."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", ()))
        if not any(name.lower() == b"x-request-id" for name, _ in headers):
            headers.append((b"x-request-id", request_id(scope).encode()))
            message["headers"] = headers


# Children of the labelled families, cached per label values (a .labels() lookup costs ~1 µs).
_counters: dict[tuple[str, str, int], Any] = {}
_histograms: dict[tuple[str, str], Any] = {}


def observe_requests(app: ASGIApp) -> ASGIApp:
    """The outermost ASGI layer of the gateway: request id, access line, HTTP metrics."""

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # lifespan scopes pass here too
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        clear_contextvars()
        bind_contextvars(request_id=request_id(scope))
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_counted)
        finally:
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            if method not in _METHODS:  # a label value a client could invent
                method = "OTHER"
            route = scope.get("path_template") or UNMATCHED_ROUTE
            counter = _counters.get((method, route, status))
            if counter is None:
                counter = _counters[(method, route, status)] = metrics.HTTP_REQUESTS.labels(
                    method, route, str(status)
                )
            counter.inc()
            histogram = _histograms.get((method, route))
            if histogram is None:
                histogram = _histograms[(method, route)] = metrics.HTTP_LATENCY.labels(method, route)
            histogram.observe(elapsed)
            state = scope.get("state") or {}
            access_log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                tenant=state.get("tenant"),
                key_id=state.get("key_id"),
                trace_id=state.get("trace_id"),  # when traces are on (gateway/tracing.py)
            )
            clear_contextvars()

    observed.__wrapped__ = app  # type: ignore[attr-defined]  # bench/observability.py measures without
    return observed
