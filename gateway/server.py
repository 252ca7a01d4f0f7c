"""The server's own limits: connections, keep-alive, request head and body read time.

uvicorn bounds concurrent connections (`limit_concurrency`: 503 above it) and idle keep-alive
connections, but not the time a client may take to send a request: a slow client could hold a
connection (and, with a body, a request task) for as long as it likes. Here:

- `HeadTimeoutProtocol`: uvicorn's httptools protocol that closes a connection whose request head
  has not arrived in full within `header_timeout_seconds` of the connection (or of the request's
  first byte on a kept-alive connection).
- `body_deadline`: ASGI middleware; a request whose body has not arrived in full within
  `body_timeout_seconds` of the first read answers `408 request_timeout`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from canonical.problems import GatewayError
from gateway.settings import Settings

__all__ = ["BodyTimeout", "HeadTimeoutProtocol", "body_deadline", "server_options"]


class BodyTimeout(GatewayError):
    status, code, title = 408, "request_timeout", "Request timeout"


class HeadTimeoutProtocol(HttpToolsProtocol):
    #: None: `CG_HEADER_TIMEOUT_SECONDS` (serve exports it for every server process), else 10 s.
    header_timeout: float | None = None
    _head_deadline: asyncio.TimerHandle | None = None

    def _timeout(self) -> float:
        if self.header_timeout is not None:
            return self.header_timeout
        return float(os.environ.get("CG_HEADER_TIMEOUT_SECONDS", "10"))

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self._timeout(), self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def body_deadline(app: Any, seconds: float) -> Any:
    """ASGI middleware: the request body must arrive within `seconds` of the first read."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        complete = False

        async def bounded() -> Any:
            nonlocal deadline, complete
            if complete:  # after the body: only a disconnect is left to hear, no deadline
                return await receive()
            if deadline is None:
                deadline = loop.time() + seconds
            try:
                async with asyncio.timeout_at(deadline):  # no task per message, unlike wait_for
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(f"the request body did not arrive within {seconds:g} s") from None
            if message.get("type") != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        await app(scope, bounded, send)

    return middleware


def server_options(settings: Settings) -> dict[str, Any]:
    """What `serve` passes to uvicorn besides the app, host, port and workers."""
    return {
        "http": HeadTimeoutProtocol,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "h11_max_incomplete_event_size": 64 * 1024,
    }
