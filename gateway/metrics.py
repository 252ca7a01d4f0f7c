"""The gateway's Prometheus metrics, defined once; the upstream client's are in adapters/_upstream/metrics.py.

Every family is created here at import, in prometheus_client's default registry, so any module
(routes, worker, feeds, webhooks) imports the object it increments instead of registering its own.
Labels are bounded: route *templates*, agency and tenant names from the config, kinds and
outcomes from fixed lists — never a claim, operation, key or endpoint id.

Many processes: `serve --workers N` sets PROMETHEUS_MULTIPROC_DIR before the server processes
start (gateway/cli.py); each process then writes its samples to files there and `/metrics`
merges them (`exposition()`), so counters are totals over all processes. Gauges say how they
merge (`multiprocess_mode`): a value every process reads from the store (outbox depth) shows
the most recently read one, so a process that died leaves no stale value behind; a timestamp
(last feed read, loop heartbeat) the latest; a feed's lag the smallest (the process holding its
lease); endpoints failing the sum (each endpoint is served by one process); the breaker the most
open of the live processes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from adapters._upstream import tally

__all__ = [
    "CONTENT_TYPE",
    "DELIVERY_ATTEMPTS",
    "DELIVERY_SECONDS",
    "FEED_INTERVAL",
    "FEED_LAG",
    "FEED_LAST_SUCCESS",
    "HTTP_LATENCY",
    "HTTP_REQUESTS",
    "MEDIA_TYPE",
    "OPERATIONS",
    "OPERATIONS_AWAITING_OUTCOME",
    "OUTBOX_DEPTH",
    "OUTBOX_OLDEST_AGE",
    "QUARANTINED_RECORDS",
    "WEBHOOK_DELIVERIES",
    "WEBHOOK_DELIVERY_SECONDS",
    "WEBHOOK_ENDPOINTS_FAILING",
    "WORKER_LOOP_HEARTBEAT",
    "exposition",
]

#: prometheus_client's content type, which already ends in "; charset=utf-8".
CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The same without the charset, for Litestar, which appends "; charset=utf-8" to every text/* type.
MEDIA_TYPE = ";".join(part for part in CONTENT_TYPE.split(";") if "charset" not in part)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# HTTP (gateway/middleware.py)
HTTP_REQUESTS = Counter(
    "cg_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "cg_http_request_seconds",
    "Time from a request's arrival until its response was sent, by method and route template",
    ["method", "route"],
    buckets=_LATENCY_BUCKETS,
)

# Operations (gateway/services/writes.py accepts, gateway/worker.py delivers)
OPERATIONS = Counter(
    "cg_operations",
    "Operations reaching a status: queued (accepted), submitted, succeeded, failed",
    ["kind", "agency", "status"],
)
DELIVERY_ATTEMPTS = Counter(
    "cg_delivery_attempts",
    "Delivery attempts of queued operations, by outcome: succeeded, submitted, failed (final), "
    "retry (transient, re-queued), gave_up (transient, attempts used up), error (gateway fault)",
    ["agency", "kind", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "cg_delivery_attempt_seconds",
    "Time of one delivery attempt's agency call",
    ["agency"],
    buckets=_LATENCY_BUCKETS,
)

# Backlog, read from the store by the worker (every process reads the same store: keep the max)
OUTBOX_DEPTH = Gauge(
    "cg_outbox_depth",
    "Outbox entries not yet acknowledged (ready, held by a worker, or waiting for a retry)",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "cg_outbox_oldest_age_seconds",
    "Age of the oldest unacknowledged outbox entry (0 when the outbox is empty)",
    multiprocess_mode="mostrecent",
)
OPERATIONS_AWAITING_OUTCOME = Gauge(
    "cg_operations_awaiting_outcome",
    "Operations submitted to an agency whose outcome the poller has not learnt yet",
    ["agency"],
    multiprocess_mode="mostrecent",
)

# Change feeds and the ledger (the feed readers set these; labels per credential)
FEED_LAG = Gauge(
    "cg_feed_lag_seconds",
    "How far a credential's change feed is behind: now minus the time of its last successful read",
    ["agency", "tenant"],
    multiprocess_mode="min",
)
FEED_LAST_SUCCESS = Gauge(
    "cg_feed_last_success_timestamp_seconds",
    "Unix time of a credential's last successful change-feed read",
    ["agency", "tenant"],
    multiprocess_mode="max",
)
FEED_INTERVAL = Gauge(
    "cg_feed_interval_seconds",
    "The configured polling interval of an agency's change feeds (poll_interval_seconds)",
    ["agency"],
    multiprocess_mode="mostrecent",
)
QUARANTINED_RECORDS = Counter(
    "cg_quarantined_records",
    "Agency records set aside because they could not be read or applied (source: feed, callback)",
    ["agency", "source"],
)

# Webhooks (the webhook sender increments these; no endpoint ids in labels)
WEBHOOK_DELIVERIES = Counter(
    "cg_webhook_deliveries",
    "Webhook delivery attempts, by outcome: delivered, failed (will retry), gave_up",
    ["outcome"],
)
WEBHOOK_DELIVERY_SECONDS = Histogram(
    "cg_webhook_delivery_seconds",
    "Time of one webhook delivery attempt",
    buckets=_LATENCY_BUCKETS,
)
WEBHOOK_ENDPOINTS_FAILING = Gauge(
    "cg_webhook_endpoints_failing",
    "Webhook endpoints whose last delivery attempt failed",
    multiprocess_mode="sum",
)

# Worker health (gateway/worker.py)
WORKER_LOOP_HEARTBEAT = Gauge(
    "cg_worker_loop_heartbeat_timestamp_seconds",
    "Unix time a worker loop (deliver, poll, ...) last completed a round",
    ["loop"],
    multiprocess_mode="max",
)


def exposition() -> bytes:
    """The text exposition of every metric: this process's, or all processes' in multiprocess mode.

    This process's pending hot-path counts are added first (adapters/_upstream/tally.py): a
    scrape is exact for the process it reaches, another process's counts are ≤ ~1 s late."""
    tally.flush()
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
