"""ASGI middleware: request id on every response, and request metrics."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

__all__ = ["request_id_middleware"]

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("cg_http_requests_total", "HTTP requests answered", ["method", "status"])
LATENCY = Histogram(
    "cg_http_request_seconds",
    "HTTP request latency",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Echo a sane client `X-Request-Id` or make one; it reaches logs and problem details."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # lifespan scopes pass here too
            await app(scope, receive, send)
            return
        sent = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                sent = value
                break
        request_id = (
            sent.decode("latin-1") if sent and _VALID_ID.match(sent.decode("latin-1")) else uuid.uuid4().hex
        )
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            REQUESTS.labels(scope.get("method", ""), str(status)).inc()
            LATENCY.observe(time.perf_counter() - started)

    return middleware
