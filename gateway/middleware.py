"""Request ids on every response, and request metrics.

The id is decided once per request (`request_id`): a sane client `X-Request-Id` is echoed, any
other is replaced by a fresh one. The middleware puts it in the scope state for logs and problem
details; the `before_send` hook puts it on every response — also on the 404/405 answers Litestar's
router gives before any middleware runs.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

__all__ = ["request_id", "request_id_header", "request_id_middleware"]

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("cg_http_requests_total", "HTTP requests answered", ["method", "status"])
LATENCY = Histogram(
    "cg_http_request_seconds",
    "HTTP request latency",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)


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


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # lifespan scopes pass here too
            await app(scope, receive, send)
            return
        request_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_counted)
        finally:
            REQUESTS.labels(scope.get("method", ""), str(status)).inc()
            LATENCY.observe(time.perf_counter() - started)

    return middleware
