"""Benchmark: webhook deliveries per second per worker, and what webhooks cost the write path.

    .venv/bin/python -m bench.webhooks [--events 3000] [--rounds 3] [--seconds 5]

1. **Deliveries.** One dispatcher (what one worker runs) delivers a tenant's feed of `--events`
   events to 1 and to 8 endpoints of a local receiver (its own uvicorn process, answering 204),
   on the real Redis store: signed, one attempt record and one cursor step per delivery. "Direct"
   is the floor measured in the same run: the same bodies POSTed straight to the receiver with
   aiohttp by as many sequential senders as there are endpoints, nothing signed or stored.
   Reported: deliveries/s, CPU µs per delivery of this process, and the ratio.
2. **The write path.** Two deployments, each an API process (`run_worker = false`) and a worker
   process on one Redis store with Intrum's sandbox behind them, take `POST /claims` at c32 in
   interleaved rounds; one has 4 endpoints subscribed (every operation's events are delivered
   while the writes come in), the other none. Reported: accepted writes/s, the API's and the
   worker's CPU µs per accepted write, and the ratio of accepted writes/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import aiohttp
import redis

from bench._servers import BENCH_KEY
from bench._webhook_servers import ADMIN_KEY, REDIS_URL, document
from bench.proxy_read import cpu_seconds, free_port, load, wait_ready
from canonical import Event
from gateway.demo import DEMO_CLAIM

TENANT = "bench"


def spawn(*args: str) -> Any:
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, *args])


def events(count: int) -> list[Event]:
    from gateway.stores import new_id, utcnow

    return [
        Event(
            id=new_id("evt"),
            type="operation.succeeded",
            created_at=utcnow(),
            claim_id=new_id("clm"),
            data={"id": new_id("op"), "kind": "claim.create", "status": "succeeded", "agency": "intrum"},
        )
        for _ in range(count)
    ]


async def deliveries(receiver_url: str, count: int, endpoints: int) -> dict[str, float]:
    """One dispatcher, `endpoints` endpoints, `count` events each, from the start of the feed."""
    from adapters.intrum import SPEC
    from gateway.runtime import Runtime
    from gateway.services.webhooks import WebhookCreate, WebhookService
    from gateway.settings import settings_from_mapping
    from gateway.stores.redis import RedisStore
    from gateway.stores.webhooks import DeliveryState
    from gateway.webhooks.delivery import WebhookDispatcher

    assert SPEC.sandbox is not None
    prefix = f"cgbench:{uuid.uuid4().hex[:8]}"
    settings = settings_from_mapping(
        document("http://127.0.0.1:9", prefix, run_worker=False), SPEC.sandbox.secrets(), {"intrum": SPEC}
    )
    runtime = Runtime(settings, store=RedisStore(REDIS_URL, prefix), specs={"intrum": SPEC})
    await runtime.start()
    try:
        feed = events(count)
        for start in range(0, count, 500):
            await runtime.store.append_events(TENANT, feed[start : start + 500])
        service = WebhookService(runtime)
        for _ in range(endpoints):
            endpoint = await service.create(TENANT, WebhookCreate(url=receiver_url), None)
            await service.hooks.reset_state(endpoint.id, DeliveryState())  # from the feed's start
        total = count * endpoints
        sent = 0

        class Counting(WebhookDispatcher):
            async def send(self, *args: Any, **kwargs: Any) -> Any:
                nonlocal sent
                result = await super().send(*args, **kwargs)
                sent += 1
                if sent == total:
                    finished.set()
                return result

        finished = asyncio.Event()
        stop = asyncio.Event()
        cpu, wall = time.process_time(), time.perf_counter()
        task = asyncio.create_task(Counting(runtime, service, backoff=lambda a, r: 60.0).run(stop))
        await asyncio.wait_for(finished.wait(), 300)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        stop.set()
        await task
        return {"per_second": total / wall, "cpu_us": cpu / total * 1e6}
    finally:
        await runtime.stop()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


async def direct(receiver_url: str, count: int, senders: int) -> dict[str, float]:
    import msgspec

    bodies = [msgspec.json.encode(e) for e in events(count)]
    async with aiohttp.ClientSession() as session:

        async def sender() -> None:
            for body in bodies:
                async with session.post(
                    receiver_url, data=body, headers={"content-type": "application/json"}
                ) as r:
                    await r.read()

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = count * senders
    return {"per_second": total / wall, "cpu_us": cpu / total * 1e6}


async def writes(base: str, seconds: float, pid: int, worker_pid: int) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {BENCH_KEY}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(base_url=base) as session:

        async def write() -> None:
            body = {**DEMO_CLAIM, "client_reference": uuid.uuid4().hex}
            async with session.post(
                f"/v1/tenants/{TENANT}/claims",
                json=body,
                headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
            ) as response:
                assert response.status == 202, await response.text()
                await response.read()

        cpu, worker_cpu = cpu_seconds(pid), cpu_seconds(worker_pid)
        done, _ = await load(write, 32, seconds)
        used, worker_used = cpu_seconds(pid) - cpu, cpu_seconds(worker_pid) - worker_cpu
    return {
        "per_second": done / seconds,
        "cpu_us": used / done * 1e6,
        "worker_cpu_us": worker_used / done * 1e6,
    }


async def main(events_count: int, rounds: int, seconds: float) -> dict[str, Any]:
    receiver_port, sandbox_port = free_port(), free_port()
    receiver = spawn("-m", "bench._webhook_servers", "receiver", str(receiver_port))
    processes = [receiver]
    results: dict[str, list[dict[str, float]]] = {}
    prefixes = {name: f"cgbench:{uuid.uuid4().hex[:8]}" for name in ("without", "with")}
    try:
        receiver_url = f"http://127.0.0.1:{receiver_port}/hooks"
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, receiver_url)
        # 1. deliveries, with nothing else running
        for _ in range(rounds):
            for endpoints in (1, 8):
                results.setdefault(f"direct x{endpoints}", []).append(
                    await direct(receiver_url, events_count // endpoints, endpoints)
                )
                results.setdefault(f"dispatcher x{endpoints}", []).append(
                    await deliveries(receiver_url, events_count // endpoints, endpoints)
                )
        # 2. the write path, with and without endpoints
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        processes.append(spawn("-m", "bench._servers", "sandbox", str(sandbox_port)))
        gateways: dict[str, tuple[Any, str, Any]] = {}
        for name, prefix in prefixes.items():
            port = free_port()
            api = spawn("-m", "bench._webhook_servers", "gateway", str(port), sandbox_url, prefix)
            worker = spawn("-m", "bench._webhook_servers", "worker", "0", sandbox_url, prefix)
            processes += [api, worker]
            gateways[name] = (api, f"http://127.0.0.1:{port}", worker)
        async with aiohttp.ClientSession() as session:
            for _, base, _ in gateways.values():
                await wait_ready(session, f"{base}/health/live")
            for _ in range(4):
                async with session.post(
                    f"{gateways['with'][1]}/v1/admin/tenants/{TENANT}/webhooks",
                    json={"url": receiver_url},
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                ) as response:
                    assert response.status == 201, await response.text()
        for round_ in range(rounds):
            order = list(gateways.items())
            for name, (api, base, worker) in order if round_ % 2 == 0 else order[::-1]:  # no order bias
                results.setdefault(f"writes {name} webhooks", []).append(
                    await writes(base, seconds, api.pid, worker.pid)
                )
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        client = redis.Redis.from_url(REDIS_URL)
        for prefix in prefixes.values():
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        client.close()
    return {
        name: {key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}
        for name, runs in results.items()
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    options = parser.parse_args()
    summary = asyncio.run(main(options.events, options.rounds, options.seconds))
    print(json.dumps(summary, indent=2))
    for endpoints in (1, 8):
        ratio = (
            summary[f"dispatcher x{endpoints}"]["per_second"] / summary[f"direct x{endpoints}"]["per_second"]
        )
        print(f"dispatcher / direct, {endpoints} endpoint(s): {ratio:.2f}")
    ratio = summary["writes with webhooks"]["per_second"] / summary["writes without webhooks"]["per_second"]
    print(f"accepted writes/s with 4 endpoints / without: {ratio:.2f}")
