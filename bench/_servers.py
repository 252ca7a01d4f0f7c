"""Processes the benchmarks measure: `python -m bench._servers sandbox PORT` / `gateway PORT SANDBOX_URL`.

Each is one uvicorn process (one event loop), so its CPU can be read from /proc/<pid>/stat.
Rate limits are lifted on both sides: the benchmark measures proxying cost, not Intrum's quota.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO

import uvicorn

BENCH_KEY = "bench-key"
UNLIMITED = 10**9


def sandbox_app() -> object:
    from adapters.intrum.sandbox import SandboxOptions, create_app

    return create_app(options=SandboxOptions(per_minute=UNLIMITED, per_day=UNLIMITED))


def gateway_app(sandbox_url: str, store_url: str = "memory://", prefix: str = "cg-bench") -> object:
    from adapters.intrum import SPEC
    from gateway.app import create_app
    from gateway.settings import settings_from_mapping

    assert SPEC.sandbox is not None
    agency = SPEC.sandbox.agency_config(sandbox_url)
    agency.update(rate_limit_per_minute=UNLIMITED, rate_limit_per_day=UNLIMITED)
    document = {
        "store_url": store_url,
        "store_prefix": prefix,
        "log_level": "WARNING",
        "claim_cache_seconds": 0,  # every read goes to the agency: the proxy path is what is measured
        "agencies": {"intrum": agency},
        "tenants": {
            "bench": {"default_agency": "intrum", "credentials": {"intrum": SPEC.sandbox.credentials()}}
        },
        "api_keys": [
            {
                "tenant": "bench",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": hashlib.sha256(BENCH_KEY.encode()).hexdigest(),
            }
        ],
    }
    return create_app(settings_from_mapping(document, SPEC.sandbox.secrets(), {"intrum": SPEC}))


def writer_app(sandbox_url: str, redis_url: str, prefix: str) -> object:
    """The accepted-write gateway: the Redis store, no worker (what is measured is accepting)."""
    from adapters.intrum import SPEC
    from gateway.app import create_app
    from gateway.settings import settings_from_mapping

    assert SPEC.sandbox is not None
    agency = SPEC.sandbox.agency_config(sandbox_url)
    document = {
        "store_url": redis_url,
        "store_prefix": prefix,
        "run_worker": False,
        "log_level": "WARNING",
        "agencies": {"intrum": agency},
        "tenants": {
            "bench": {"default_agency": "intrum", "credentials": {"intrum": SPEC.sandbox.credentials()}}
        },
        "api_keys": [
            {
                "tenant": "bench",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": hashlib.sha256(BENCH_KEY.encode()).hexdigest(),
            }
        ],
    }
    return create_app(settings_from_mapping(document, SPEC.sandbox.secrets(), {"intrum": SPEC}))


def identified(app: Any) -> Any:
    """What the REST contract asks of every request with logs and metrics off: a request id,
    decided as the access layer decides it (gateway/middleware.py), in the scope state (a 500's
    problem quotes it) and on the response as `X-Request-Id` (api.md). The "off" side of the
    logs-and-metrics benchmark: the difference to the access layer is what logs and metrics cost."""
    from gateway import middleware

    async def layer(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id")
        rid = (
            text
            if sent is not None and middleware._VALID_ID.match(text := sent.decode("latin-1"))
            else next(middleware._ids)
        )
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state["request_id"] = rid

        def send_identified(message: Any) -> Any:
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                if type(headers) is list:
                    headers.append((b"x-request-id", rid.encode()))
                else:
                    message["headers"] = [*(headers or ()), (b"x-request-id", rid.encode())]
            return send(message)

        await app(scope, receive, send_identified)

    return layer


def observable_app(
    sandbox_url: str, stream: TextIO, store_url: str = "memory://", prefix: str = "cg-bench"
) -> tuple[Any, Callable[[bool], None]]:
    """The gateway as `serve` runs it (JSON logs at INFO to `stream`, its metrics), and its switch:
    off replaces the access layer by `identified` (no access line, log context or request
    metrics; the contract's request id stays) and sets logging to WARNING; on puts both back."""
    from gateway.logs import configure_logging

    configure_logging("INFO", "json", stream)
    app: Any = gateway_app(sandbox_url, store_url, prefix)
    observed = app.asgi_handler
    bare = identified(observed.__wrapped__)

    def observe(on: bool) -> None:
        configure_logging("INFO" if on else "WARNING", "json", stream)
        app.asgi_handler = observed if on else bare

    return app, observe


def stop_worker() -> None:
    """Cancel the in-process delivery worker (gateway/app.py's task): its loops poll on wall-clock
    intervals, so under callgrind (~50x slower, its speed moving with the machine's load) their
    share of a request's instructions would move from run to run."""
    for task in asyncio.all_tasks():
        if task.get_name() == "delivery-worker":
            task.cancel()


def observed_app(sandbox_url: str, store_url: str = "memory://", prefix: str = "cg-bench") -> object:
    """`observable_app` logging to stderr, switched over HTTP: `POST /_bench/observe/off|on`. One
    process measured both ways, interleaved, so that the difference is the access layer's, not
    two processes' layouts. `POST /_bench/worker/stop` stops its delivery worker (`stop_worker`)."""
    app, observe = observable_app(sandbox_url, sys.stderr, store_url, prefix)
    controls = {
        "/_bench/observe/on": lambda: observe(True),
        "/_bench/observe/off": lambda: observe(False),
        "/_bench/worker/stop": stop_worker,
    }

    async def switch(scope: Any, receive: Any, send: Any) -> None:
        control = controls.get(scope.get("path", "")) if scope["type"] == "http" else None
        if control is not None:
            control()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    return switch


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    if not role.startswith("observed"):
        logging.basicConfig(level=logging.WARNING)
    if role == "sandbox":
        app = sandbox_app()
    elif role == "writer":
        app = writer_app(sys.argv[3], sys.argv[4], sys.argv[5])
    elif role == "observed":
        app = observed_app(*sys.argv[3:6])
    else:
        app = gateway_app(sys.argv[3])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
