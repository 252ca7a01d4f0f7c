"""The three agency sandboxes over real HTTP, and a gateway on them driven by the test's own worker.

`Sandboxes` serves Intrum, Debbie and Riverty on free ports (their state objects stay readable
where a test needs them) and steers their fault switches (`adapters.sandbox_kit`). `gateway()`
builds the demo setup (`gateway.demo`: acme → Intrum, its SEK/DKK/NOK → Debbie, globex →
Riverty) on those sandboxes with the worker *not* running: the test drives a `Worker` itself, on
the same runtime and store, so every delivery and poll happens when the test says.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from adapters._upstream.transport import fast_transport
from adapters.debbie.sandbox import DebbieSandbox
from adapters.debbie.sandbox import create_app as debbie_app
from adapters.intrum.sandbox import SandboxOptions
from adapters.intrum.sandbox import create_app as intrum_app
from adapters.registry import discover
from adapters.riverty.sandbox import RivertySandbox
from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.demo import DEMO_KEYS, demo_document
from gateway.runtime import Runtime
from gateway.settings import settings_from_mapping
from gateway.stores import Store
from gateway.worker import Worker

__all__ = ["Recording", "Sandboxes", "claim_body", "gateway", "headers", "wait_for"]


class Recording(httpx.AsyncBaseTransport):
    """The gateway's own transport, noting every request it sends (method, path, body)."""

    def __init__(self) -> None:
        self._inner = fast_transport()
        self.sent: list[tuple[str, str, bytes]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path, await request.aread()))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def bodies(self, method: str, path_end: str) -> list[bytes]:
        return [body for m, path, body in self.sent if m == method and path.endswith(path_end)]


class Sandboxes:
    def __init__(
        self,
        *,
        riverty: RivertySandbox | None = None,
        intrum: SandboxOptions | None = None,
        debbie: DebbieSandbox | None = None,
    ) -> None:
        self.riverty = riverty or RivertySandbox()
        self.debbie = debbie or DebbieSandbox()
        apps = {
            "intrum": intrum_app(options=intrum or SandboxOptions(step_seconds=0.05)),
            "debbie": debbie_app(self.debbie),
            "riverty": self.riverty.app,
        }
        self.servers: dict[str, RunningServer] = {}
        try:
            for name, app in apps.items():
                self.servers[name] = serve_in_thread(app)
        except BaseException:
            self.stop()
            raise

    def url(self, agency: str) -> str:
        return self.servers[agency].base_url

    def faults(self, agency: str, **plan: Any) -> None:
        """`PUT /_sandbox/faults` (a new plan replaces the old one; no arguments = no faults)."""
        httpx.put(f"{self.url(agency)}/_sandbox/faults", json=plan).raise_for_status()

    def ledger(self, agency: str, kind: str | None = None) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = httpx.get(f"{self.url(agency)}/_sandbox/ledger").json()["entries"]
        return [e for e in entries if kind is None or e["kind"] == kind]

    def late_commits(self, agency: str) -> int:
        return int(httpx.get(f"{self.url(agency)}/_sandbox/ledger").json()["late_commits"])

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def settings_document(
    sandboxes: Sandboxes, store_url: str = "memory://", **overrides: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """The demo config on these sandboxes, tuned for tests: short timeouts, quick retries."""
    specs = discover()
    document, secrets = demo_document(specs, {n: sandboxes.url(n) for n in sandboxes.servers}, store_url)
    document.update(
        run_worker=False,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        max_attempts=12,
        reclaim_idle_seconds=5,
        claim_cache_seconds=0,
    )
    for agency in document["agencies"].values():
        agency["poll_interval_seconds"] = 0.1
        agency["timeout_seconds"] = 0.5
        agency["commit_latency_seconds"] = 0.5
    agency_overrides = overrides.pop("agencies", {})
    document.update(overrides)
    for name, values in agency_overrides.items():
        document["agencies"][name].update(values)
    return document, secrets


@contextlib.asynccontextmanager
async def gateway(
    sandboxes: Sandboxes,
    store: Store | None = None,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[httpx.AsyncClient, Worker]]:
    """The gateway's API (in this event loop) and a worker on its runtime, not running by itself."""
    specs = discover()
    document, secrets = settings_document(sandboxes, **overrides)
    settings = settings_from_mapping(document, secrets, specs)
    app = create_app(settings, store=store, specs=specs, transports=transports)
    # The app is served in this event loop (ASGI transport, no lifespan): its runtime is started
    # here, so that the test's worker and the API share one runtime, store and loop.
    runtime: Runtime = app.state.runtime
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
            yield client, Worker(runtime, consumer=f"test-{uuid.uuid4().hex[:6]}")
    finally:
        await runtime.stop()


def headers(tenant: str = "acme", key: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {DEMO_KEYS[tenant]}", "Idempotency-Key": key or uuid.uuid4().hex}


def claim_body(
    currency: str = "EUR", invoices: int = 1, amount: int = 12000, costs: int = 500
) -> dict[str, Any]:
    """A claim whose invoice numbers and reference are unique (Intrum refuses a number it has)."""
    prefix = uuid.uuid4().hex[:8]
    return {
        "client_reference": f"ORD-{prefix}",
        "currency": currency,
        "debtor": {
            "kind": "person",
            "reference": f"CUST-{prefix}",
            "first_name": "Anna",
            "last_name": "Muster",
            "language": "de",
            "address": {
                "street": "Bahnhofstrasse",
                "house_number": "1",
                "postal_code": "8001",
                "city": "Zurich",
                "country": "CH",
            },
        },
        "invoices": [
            {
                "number": f"{prefix}-{n + 1}",
                "issued_on": "2026-10-01",
                "due_on": f"2026-10-{n + 10:02d}",
                "amount": {"amount": amount + n, "currency": currency},
                **({"costs": {"amount": costs, "currency": currency}} if costs else {}),
            }
            for n in range(invoices)
        ],
    }


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "") -> None:
    """Poll `condition` until it holds (bounded; no sleeping for time)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"not in time: {what}"
        await asyncio.sleep(0.02)
