"""Processes the webhook benchmark measures, each one process whose CPU /proc/<pid>/stat tells:

    python -m bench._webhook_servers receiver PORT                    answers every webhook 204
    python -m bench._webhook_servers gateway PORT SANDBOX_URL PREFIX   the API (run_worker = false)
    python -m bench._webhook_servers worker 0 SANDBOX_URL PREFIX       `collection-gateway worker`

Gateway and worker share the Redis store under PREFIX, Intrum's sandbox behind them, as the
production deployment runs them (API and worker scaled separately).
"""

from __future__ import annotations

import hashlib
import logging
import sys
from typing import Any

import uvicorn

from bench._servers import BENCH_KEY, UNLIMITED

ADMIN_KEY = "bench-admin-key"
REDIS_URL = "redis://127.0.0.1:6379/0"


async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An internal service that takes every webhook at once: 204, nothing else."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def document(sandbox_url: str, prefix: str, run_worker: bool = True) -> dict[str, Any]:
    from adapters.intrum import SPEC

    assert SPEC.sandbox is not None
    agency = SPEC.sandbox.agency_config(sandbox_url)
    agency.update(rate_limit_per_minute=UNLIMITED, rate_limit_per_day=UNLIMITED, poll_interval_seconds=0.5)
    return {
        "store_url": REDIS_URL,
        "store_prefix": prefix,
        "run_worker": run_worker,
        "log_level": "WARNING",
        "agencies": {"intrum": agency},
        "tenants": {
            "bench": {"default_agency": "intrum", "credentials": {"intrum": SPEC.sandbox.credentials()}}
        },
        "webhooks": {"allow_http_hosts": ["127.0.0.1"], "poll_interval_seconds": 0.05},
        "api_keys": [
            {
                "tenant": "bench",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": hashlib.sha256(BENCH_KEY.encode()).hexdigest(),
            },
            {"scopes": ["admin"], "key_sha256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest()},
        ],
    }


def settings(sandbox_url: str, prefix: str, run_worker: bool) -> Any:
    from adapters.intrum import SPEC
    from gateway.settings import settings_from_mapping

    assert SPEC.sandbox is not None
    return settings_from_mapping(
        document(sandbox_url, prefix, run_worker), SPEC.sandbox.secrets(), {"intrum": SPEC}
    )


def gateway_app(sandbox_url: str, prefix: str) -> object:
    from gateway.app import create_app

    return create_app(settings(sandbox_url, prefix, run_worker=False))


def run_worker(sandbox_url: str, prefix: str) -> None:
    import asyncio
    import signal

    from gateway.runtime import Runtime
    from gateway.worker import Worker

    async def work() -> None:
        runtime = Runtime(settings(sandbox_url, prefix, run_worker=True))
        await runtime.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await Worker(runtime).run(stop)
        finally:
            await runtime.stop()

    asyncio.run(work())


def main() -> None:
    role, port = sys.argv[1], int(sys.argv[2])
    logging.basicConfig(level=logging.WARNING)
    if role == "worker":
        run_worker(sys.argv[3], sys.argv[4])
        return
    app = receiver if role == "receiver" else gateway_app(sys.argv[3], sys.argv[4])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
