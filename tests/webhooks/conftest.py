"""A gateway (real HTTP, Redis store) plus, in the test's own loop, its runtime and a dispatcher
whose retry delays the test chooses — so retries happen at once and nothing sleeps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from adapters.sandbox_kit import serve_in_thread
from canonical import Event
from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.services.webhooks import WebhookService
from gateway.settings import Settings
from gateway.stores import new_id, utcnow
from gateway.stores.redis import RedisStore
from gateway.webhooks.delivery import Backoff, WebhookDispatcher
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import ADMIN_KEY, auth, gateway_settings
from tests.support.receiver import Receiver


def no_wait(attempt: int, retry_after: float | None) -> float:
    return 0.0


class Harness:
    def __init__(self, settings: Settings, runtime: Runtime, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.runtime = runtime
        self.http = http
        self.service = WebhookService(runtime)
        self._running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    def dispatcher(self, backoff: Backoff = no_wait, **kwargs: Any) -> WebhookDispatcher:
        return WebhookDispatcher(self.runtime, WebhookService(self.runtime), backoff=backoff, **kwargs)

    def run(self, dispatcher: WebhookDispatcher) -> asyncio.Event:
        stop = asyncio.Event()
        self._running.append((stop, asyncio.create_task(dispatcher.run(stop))))
        return stop

    async def subscribe(self, url: str, tenant: str = "acme", **body: Any) -> dict[str, Any]:
        response = await self.http.post(
            f"/v1/admin/tenants/{tenant}/webhooks", json={"url": url, **body}, headers=auth(ADMIN_KEY)
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def emit(self, tenant: str = "acme", type_: str = "operation.succeeded", **data: Any) -> Event:
        event = Event(id=new_id("evt"), type=type_, created_at=utcnow(), claim_id="clm_1", data=data)  # type: ignore[arg-type]
        await self.runtime.store.append_events(tenant, [event])
        return event

    async def deliveries(self, webhook_id: str, tenant: str = "acme") -> list[dict[str, Any]]:
        response = await self.http.get(
            f"/v1/admin/tenants/{tenant}/webhooks/{webhook_id}/deliveries", headers=auth(ADMIN_KEY)
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    async def attempts(self, webhook_id: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The endpoint's attempts (newest first) once there are at least `count` (polled, bounded)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found := await self.deliveries(webhook_id)) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(found)} of {count} attempts"
            await asyncio.sleep(0.01)
        return found

    async def stop(self) -> None:
        for stop, task in self._running:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15)


def webhook_settings(specs: dict[str, Any], prefix: str, **webhooks: Any) -> Settings:
    return gateway_settings(
        specs,
        store_url=REDIS_URL,
        store_prefix=prefix,
        run_worker=False,
        webhooks={"allow_http_hosts": ["127.0.0.1"], "poll_interval_seconds": 0.02, **webhooks},
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def harness(redis_prefix: str) -> AsyncIterator[Harness]:
    specs = {"fake": fake_spec(FakeAgency())}
    settings = webhook_settings(specs, redis_prefix)
    server = serve_in_thread(create_app(settings, specs=specs))
    runtime = Runtime(settings, store=RedisStore(REDIS_URL, redis_prefix), specs=specs)
    await runtime.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            made = Harness(settings, runtime, http)
            try:
                yield made
            finally:
                await made.stop()
    finally:
        await runtime.stop()
        server.stop()
