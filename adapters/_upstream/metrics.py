"""Prometheus metrics of the upstream client, defined once per process.

They live at module level in prometheus_client's default registry: every UpstreamClient (one per
agency, and many in tests) shares them through labels instead of registering its own, which
would fail as a duplicate. The gateway exposes the default registry.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["BREAKER_STATE", "LATENCY", "RATE_LIMITED", "RATE_WAIT", "REQUESTS", "TOKEN_REQUESTS"]

REQUESTS = Counter(
    "cg_upstream_requests",
    "Calls sent to an agency, by HTTP status or by failure (timeout, connect_error, transport_error)",
    ["agency", "status"],
)
LATENCY = Histogram(
    "cg_upstream_request_seconds",
    "Time from sending a call to an agency until its answer was read (one attempt)",
    ["agency"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BREAKER_STATE = Gauge(
    "cg_upstream_breaker_state",
    "Per-agency circuit breaker: 0 closed, 1 half-open (one probe), 2 open (failing fast)",
    ["agency"],
)
RATE_WAIT = Histogram(
    "cg_upstream_rate_limit_wait_seconds",
    "How long a call waited for its rate-limit slot (only calls that waited)",
    ["agency"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 60),
)
RATE_LIMITED = Counter(
    "cg_upstream_rate_limited",
    "Rate-limit events: no_slot_in_time (refused before sending), agency_429 (the agency said so)",
    ["agency", "reason"],
)
TOKEN_REQUESTS = Counter(
    "cg_upstream_token_requests",
    "OAuth2 client-credentials token requests, by outcome",
    ["agency", "outcome"],
)
