"""Delivery guarantees on the real Redis: a dead worker loses nothing, a dead store accepts nothing."""

from __future__ import annotations

import asyncio
import threading

import httpx

from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.stores.redis import RedisStore
from gateway.worker import Worker
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import auth, claim_body, gateway_settings


async def wait_until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_worker_killed_between_agency_call_and_ack_loses_nothing_and_sends_once(
    redis_prefix: str,
) -> None:
    agency = FakeAgency()
    specs = {"fake": fake_spec(agency)}
    settings = gateway_settings(
        specs, store_url=REDIS_URL, store_prefix=redis_prefix, run_worker=False, reclaim_idle_seconds=0.2
    )
    server = serve_in_thread(create_app(settings, specs=specs))
    runtime = Runtime(settings, store=RedisStore(REDIS_URL, redis_prefix), specs=specs)
    await runtime.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            accepted = await http.post(
                "/v1/tenants/acme/claims", json=claim_body(), headers=auth(idempotency_key="k")
            )
            assert accepted.status_code == 202
            operation_id = accepted.json()["id"]

            # Worker A reaches the agency, the agency records the write, and A dies before acknowledging.
            agency.hang_after_commit = threading.Event()
            doomed = asyncio.create_task(Worker(runtime, consumer="worker-a").deliver_once(block_seconds=1))
            assert await asyncio.to_thread(agency.committed.wait, 5)
            doomed.cancel()
            await asyncio.gather(doomed, return_exceptions=True)
            agency.hang_after_commit = None

            # Worker B reclaims the pending entry and delivers with the same agency-side key.
            survivor = Worker(runtime, consumer="worker-b")

            async def delivered() -> bool:
                await survivor.deliver_once(block_seconds=0.1)
                op = await runtime.store.get_operation(operation_id)
                return op is not None and op.status == "succeeded"

            await wait_until(delivered)
            assert len(agency.ledger) == 1  # the agency holds the claim once
            retry = agency.calls[-1]
            assert retry[2] is True  # the retry knew the first attempt may have reached the agency
            operation = (await http.get(f"/v1/tenants/acme/operations/{operation_id}", headers=auth())).json()
            assert operation["status"] == "succeeded"
    finally:
        await runtime.stop()
        server.stop()


async def test_unreachable_store_answers_503_and_stores_nothing() -> None:
    agency = FakeAgency()
    specs = {"fake": fake_spec(agency)}
    settings = gateway_settings(specs, store_url="redis://127.0.0.1:1/0", run_worker=False)
    server = serve_in_thread(create_app(settings, specs=specs))
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            response = await http.post(
                "/v1/tenants/acme/claims", json=claim_body(), headers=auth(idempotency_key="k")
            )
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "store_unavailable"
            ready = await http.get("/health/ready")
            assert ready.status_code == 503
            assert (await http.get("/health/live")).status_code == 200
    finally:
        server.stop()
    assert agency.calls == []
