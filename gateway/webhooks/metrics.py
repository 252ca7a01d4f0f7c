"""Prometheus metrics of webhook delivery (the default registry, exposed at /metrics).

Labels carry the tenant and an outcome, never the endpoint's URL (it may hold a token).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = ["ATTEMPTS", "DISABLED", "DURATION", "ENDPOINTS_SERVED"]

ATTEMPTS = Counter(
    "cg_webhook_attempts",
    "Webhook delivery attempts by outcome: success (2xx), http_error (any other status), timeout, "
    "connect_error, refused (URL or address not allowed), error",
    ["tenant", "outcome"],
)
DURATION = Histogram(
    "cg_webhook_attempt_seconds",
    "Time from sending a webhook until its answer was read (one attempt)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DISABLED = Counter(
    "cg_webhook_endpoints_disabled",
    "Endpoints the worker disabled after failing for the whole retry window",
    ["tenant"],
)
ENDPOINTS_SERVED = Gauge(
    "cg_webhook_endpoints_served",
    "Endpoints this worker process is delivering to now (holding their lease)",
)
