"""Prometheus metrics of the upstream client, defined once per process.

They live at module level in prometheus_client's default registry: every UpstreamClient (one per
agency, and many in tests) shares them through labels instead of registering its own, which
would fail as a duplicate. The gateway exposes the default registry (gateway/metrics.py, which
also merges the processes of `serve --workers N`).

Labels are bounded: `route` is the call's path with every id-like segment replaced by `{id}`
(`agency_route`), `tenant` a configured tenant name.
"""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

from adapters._upstream.tally import Tally

__all__ = [
    "BREAKER_STATE",
    "CALLS",
    "LATENCY",
    "RATE_LIMITED",
    "RATE_LIMIT_PER_MINUTE",
    "RATE_SLOTS",
    "RATE_WAIT",
    "REQUESTS",
    "SLOTS_TAKEN",
    "TOKEN_REQUESTS",
    "agency_route",
]

REQUESTS = Counter(
    "cg_upstream_requests",
    "Calls sent to an agency, by route and HTTP status or failure (timeout, no_answer)",
    ["agency", "route", "status"],
)
LATENCY = Histogram(
    "cg_upstream_request_seconds",
    "Time from sending a call to an agency until its answer was read (one attempt), by route",
    ["agency", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
BREAKER_STATE = Gauge(
    "cg_upstream_breaker_state",
    "Per-agency circuit breaker: 0 closed, 1 half-open (one probe), 2 open (failing fast); "
    "each process keeps its own, the most open of the live processes is shown",
    ["agency"],
    multiprocess_mode="livemax",
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
RATE_SLOTS = Counter(
    "cg_upstream_rate_slots",
    "Rate-limit slots taken per credential (one per call sent); the budget used is "
    "rate(...[1m]) * 60 / cg_upstream_rate_limit_per_minute",
    ["agency", "tenant"],
)
RATE_LIMIT_PER_MINUTE = Gauge(
    "cg_upstream_rate_limit_per_minute",
    "The per-minute call budget of each credential of an agency (rate_limit_per_minute)",
    ["agency"],
    multiprocess_mode="mostrecent",
)
TOKEN_REQUESTS = Counter(
    "cg_upstream_token_requests",
    "OAuth2 client-credentials token requests, by outcome",
    ["agency", "outcome"],
)

#: The per-call updates (one of each per call sent), added to the families above in bulk (tally.py):
#: CALLS.add((agency, route, status), seconds) counts a call and observes its latency.
CALLS = Tally(REQUESTS, LATENCY)
SLOTS_TAKEN = Tally(RATE_SLOTS)

_WORD = re.compile(r"^(?:[A-Za-z][A-Za-z_-]{0,39}|v[0-9]{1,2})$")


def agency_route(path: str) -> str:
    """`path` as a bounded label: segments that are not plain words (ids, numbers, uuids, encoded
    text) become `{id}`, and so does whatever follows a `by-…` lookup segment (a client's reference)."""
    query = path.find("?")
    if query >= 0:
        path = path[:query]
    parts = []
    after_lookup = False
    for segment in path.split("/"):
        if segment and (after_lookup or not _WORD.match(segment)):
            parts.append("{id}")
        else:
            parts.append(segment)
        after_lookup = segment.startswith("by-")
    return "/".join(parts)
