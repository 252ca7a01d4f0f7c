"""The default transport: httpx's API on aiohttp's connection pool, and what its errors mean.

Why not httpx's own transport: at concurrency its pool re-checks every pooled connection on each
request (encode/httpx#3215); `python -m bench.transport` measures both on this machine and the
numbers are in bench/README.md. The httpx API stays so that tests and the demo can inject
`httpx.ASGITransport` (or any other `httpx.AsyncBaseTransport`) instead.
"""

from __future__ import annotations

import logging

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["fast_transport", "may_have_been_sent"]

# httpx logs every request at INFO and httpcore every pool step at DEBUG: on a proxied read that
# costs more than our whole mapping (design/performance.md). Our own metrics count requests.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def fast_transport(*, max_connections: int = 100, keepalive_expiry: float = 30.0) -> httpx.AsyncBaseTransport:
    """An aiohttp-backed transport. Its session opens on the first request, inside the running loop."""

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=max_connections, keepalive_timeout=keepalive_expiry, ttl_dns_cache=300
        )
        # One client serves every tenant of an agency: cookies an agency sets for one tenant's
        # credential must never ride along on another's request.
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(
        limits=httpx.Limits(max_connections=max_connections, keepalive_expiry=keepalive_expiry),
        client=session,
    )


# Failures that happen before a single byte of the request leaves this process.
_NOT_SENT_HTTPX = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_NOT_SENT_AIOHTTP = (
    aiohttp.ClientConnectorError,  # refused, DNS, TLS handshake
    aiohttp.ConnectionTimeoutError,  # no connection (or pool slot) within the connect timeout
    aiohttp.InvalidURL,
    aiohttp.NonHttpUrlClientError,
)


def may_have_been_sent(exc: BaseException) -> bool:
    """Whether the agency may have received the request that failed with `exc`.

    httpx-aiohttp maps aiohttp's errors lossily (a `ServerDisconnectedError` after the body was
    sent becomes `httpx.ConnectTimeout`), so the aiohttp cause decides when there is one.
    Anything not known to fail before sending counts as sent: for a write that means
    `OutcomeUnknown` (reconcile first), never a blind resend.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return not isinstance(cause, _NOT_SENT_AIOHTTP)
    return not isinstance(exc, _NOT_SENT_HTTPX)
