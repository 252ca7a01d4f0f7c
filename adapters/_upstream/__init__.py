"""Shared upstream plumbing: the one path every adapter's HTTP call takes.

`UpstreamClient.request` sends, authenticates (static bearer or OAuth2 client credentials),
rate-limits per credential, retries safe calls, trips a per-agency breaker, and translates every
agency failure into the error tree of `canonical.problems` — adapters never see httpx errors.
"""

from adapters._upstream.client import (
    Auth,
    BearerAuth,
    OAuth2ClientCredentials,
    SharedState,
    UpstreamClient,
    UpstreamResponse,
)
from adapters._upstream.shared import MemorySharedState

__all__ = [
    "Auth",
    "BearerAuth",
    "MemorySharedState",
    "OAuth2ClientCredentials",
    "SharedState",
    "UpstreamClient",
    "UpstreamResponse",
]
