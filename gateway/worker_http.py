"""The standalone worker's own HTTP port: /metrics, /health/live, /health/ready.

`collection-gateway worker` has no API to answer, so a small aiohttp server (aiohttp is already
the HTTP client's transport) runs on its event loop:

- `/health/live`: 200 while every worker loop (deliver, poll, backlog, and any a feature adds
  with `Worker.beat`) has completed a round within `worker_stall_seconds`; 503 naming the stalled
  loops otherwise — restart the process.
- `/health/ready`: 200 when the store answers; 503 otherwise (nothing to deliver with).
- `/metrics`: Prometheus text, this process's metrics (or every process's in multiprocess mode);
  with `metrics_public = false`, like the API's, only for a key with the `metrics` or `admin` scope.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from canonical.problems import GatewayError
from gateway import metrics
from gateway.auth import ScopeRefused, authenticate
from gateway.problems import problem_bytes
from gateway.runtime import Runtime
from gateway.worker import Worker

__all__ = ["bound_port", "start_worker_http"]


class _Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str
    stalled: list[str] = []
    code: str | None = None


def _json(body: _Health, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")


async def start_worker_http(worker: Worker, runtime: Runtime, host: str, port: int) -> web.AppRunner:
    """Serve the worker's port until the returned runner is cleaned up; the bound port is `bound_port`."""

    async def live(request: web.Request) -> web.Response:
        stalled = worker.stalled(runtime.settings.worker_stall_seconds)
        if stalled:
            return _json(_Health(status="stalled", stalled=stalled), 503)
        return _json(_Health(status="ok"))

    async def ready(request: web.Request) -> web.Response:
        try:
            await runtime.store.ping()
            await runtime.ensure_ready()
        except Exception as exc:  # any store failure means not ready; its code, never its text
            return _json(_Health(status="unavailable", code=getattr(exc, "code", type(exc).__name__)), 503)
        return _json(_Health(status="ok"))

    async def scrape(request: web.Request) -> web.Response:
        if not runtime.settings.metrics_public:  # the API's rule (routes/system.py), one option for both
            try:
                principal = await authenticate(runtime.store, request.headers.get("Authorization"))
                if not principal.scopes & {"metrics", "admin"}:
                    raise ScopeRefused("this needs the metrics scope", principal)
            except GatewayError as exc:
                problem = problem_bytes(exc.problem(instance="/metrics"))
                return web.Response(body=problem, status=exc.status, content_type="application/problem+json")
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = metrics.CONTENT_TYPE
        return response

    app = web.Application()
    app.add_routes(
        [web.get("/health/live", live), web.get("/health/ready", ready), web.get("/metrics", scrape)]
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the worker's server listens on (the configured one, or the free one port 0 got)."""
    for address in runner.addresses:
        return int(address[1])
    raise RuntimeError("the worker's HTTP server is not listening")
