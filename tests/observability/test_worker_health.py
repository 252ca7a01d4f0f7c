"""The worker's own port: liveness follows its loops, readiness its store, /metrics its counters."""

from __future__ import annotations

import asyncio
import time

import httpx

from gateway.runtime import Runtime
from gateway.worker import Worker
from gateway.worker_http import bound_port, start_worker_http
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import gateway_settings, sha


async def test_liveness_names_a_loop_that_stopped_turning_and_readiness_follows_the_store() -> None:
    specs = {"fake": fake_spec(FakeAgency())}
    runtime = Runtime(gateway_settings(specs, worker_stall_seconds=30), specs=specs)
    await runtime.start()
    worker = Worker(runtime)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    server = await start_worker_http(worker, runtime, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound_port(server)}") as http:
            assert (await http.get("/health/live")).json() == {"status": "ok"}
            assert (await http.get("/health/ready")).json() == {"status": "ok"}
            scrape = await http.get("/metrics")
            assert scrape.headers["content-type"].count("charset") == 1
            assert 'cg_worker_loop_heartbeat_timestamp_seconds{loop="backlog"}' in scrape.text

            stop.set()  # the loops stop turning; once past the limit, liveness says so
            await running
            for loop in worker.heartbeats:
                worker.heartbeats[loop] = time.monotonic() - 31
            stalled = await http.get("/health/live")
            assert stalled.status_code == 503
            assert stalled.json() == {
                "status": "stalled",
                "stalled": ["backlog", "deliver", "feeds", "poll", "webhooks"],
            }
    finally:
        stop.set()
        await server.cleanup()
        await runtime.stop()


async def test_private_metrics_need_a_metrics_key_on_the_worker_port_as_on_the_api() -> None:
    specs = {"fake": fake_spec(FakeAgency())}
    keys = [
        {"name": "scraper", "scopes": ["metrics"], "key_sha256": sha("scrape-key")},
        {"name": "acme", "tenant": "acme", "scopes": ["claims:read"], "key_sha256": sha("tenant-key")},
    ]
    runtime = Runtime(gateway_settings(specs, metrics_public=False, api_keys=keys), specs=specs)
    await runtime.start()
    server = await start_worker_http(Worker(runtime), runtime, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound_port(server)}") as http:
            assert (await http.get("/metrics")).status_code == 401
            tenant = await http.get("/metrics", headers={"Authorization": "Bearer tenant-key"})
            assert tenant.status_code == 403 and tenant.json()["code"] == "forbidden"
            scraper = await http.get("/metrics", headers={"Authorization": "Bearer scrape-key"})
            assert scraper.status_code == 200 and "cg_outbox_depth" in scraper.text
            assert (await http.get("/health/live")).status_code == 200  # probes need no key
    finally:
        await server.cleanup()
        await runtime.stop()


async def test_readiness_fails_while_the_store_does_not_answer() -> None:
    specs = {"fake": fake_spec(FakeAgency())}
    settings = gateway_settings(specs, store_url="redis://127.0.0.1:1/0")
    runtime = Runtime(settings, specs=specs)
    await runtime.start()
    server = await start_worker_http(Worker(runtime), runtime, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound_port(server)}") as http:
            answer = await http.get("/health/ready")
            assert answer.status_code == 503
            assert answer.json() == {"status": "unavailable", "code": "store_unavailable"}
            assert (
                await http.get("/health/live")
            ).status_code == 200  # a store outage is no reason to restart
    finally:
        await server.cleanup()
        await runtime.stop()
