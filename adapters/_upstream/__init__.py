"""Shared upstream plumbing: the one path every adapter's HTTP call takes.

`UpstreamClient.request` sends, authenticates (static bearer or OAuth2 client credentials),
rate-limits per credential, retries safe calls, trips a per-agency breaker, and translates every
agency failure into the error tree of `canonical.problems` — adapters never see httpx errors.

    client.py     UpstreamClient, BearerAuth, UpstreamResponse: the call path
    tokens.py     OAuth2 client-credentials tokens: cached, single-flight, shared
    ratelimit.py  per-credential limits and the agency's pushback (429, X-RateLimit-*)
    shared.py     SharedState: MemorySharedState (one process), RedisSharedState (all replicas)
    breaker.py    per-agency circuit breaker
    errors.py     the table: agency failure → canonical error
    transport.py  the aiohttp-backed httpx transport
    metrics.py    Prometheus metrics
"""

from adapters._upstream.client import (
    Auth,
    BearerAuth,
    OAuth2ClientCredentials,
    UpstreamClient,
    UpstreamResponse,
    sync_budget,
)
from adapters._upstream.ratelimit import RateLimit
from adapters._upstream.shared import MemorySharedState, RatePausing, RedisSharedState, SharedState

__all__ = [
    "Auth",
    "BearerAuth",
    "MemorySharedState",
    "OAuth2ClientCredentials",
    "RateLimit",
    "RatePausing",
    "RedisSharedState",
    "SharedState",
    "UpstreamClient",
    "UpstreamResponse",
    "sync_budget",
]
