"""Client-side cost of one upstream GET: stock httpx vs httpx's API on aiohttp (and raw aiohttp).

    python -m bench.transport [--requests 4000] [--rounds 3] [--concurrency 32] [--loop uvloop|asyncio]

A small JSON endpoint (~2 KB, like one claim) runs under uvicorn in a *separate process* (via
adapters.sandbox_kit.serve_in_thread), so this process's CPU time is the client's alone. Every
variant runs in every round, interleaved, and the median round is reported: the machines these
run on are shared and noisy, so compare the rows of one run, not numbers across runs.

CPU µs/request = this process's user+system time / requests (process_time()); req/s = wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

_BODY = json.dumps(
    {
        "caseNumber": "IN-000123456",
        "status": "IN_PROGRESS",
        "currency": "EUR",
        "invoices": [
            {
                "invoiceNumber": f"INV-{i:06d}",
                "amount": 1234.56,
                "openAmount": 1000.01,
                "dueDate": "2026-01-31",
            }
            for i in range(20)
        ],
    }
).encode()


async def _json_app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": _BODY})


def _serve() -> None:
    from adapters.sandbox_kit import serve_in_thread

    server = serve_in_thread(_json_app)
    print(server.port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


Send = Callable[[], Awaitable[None]]


async def _drive(send: Send, requests: int, concurrency: int) -> tuple[float, float]:
    """Run `requests` calls at `concurrency`; (CPU µs per request, requests per second)."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await send()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return cpu / requests * 1e6, requests / wall


async def _variants(base_url: str, redis_url: str) -> dict[str, tuple[Send, Callable[[], Awaitable[None]]]]:
    import aiohttp
    import httpx
    import redis.asyncio as aioredis

    from adapters._upstream import BearerAuth, RedisSharedState, UpstreamClient
    from adapters._upstream.transport import fast_transport
    from adapters.base import Credential

    stock = httpx.AsyncClient(base_url=base_url, limits=httpx.Limits(max_connections=100))
    fast = httpx.AsyncClient(base_url=base_url, transport=fast_transport())
    raw = aiohttp.ClientSession(base_url=base_url, connector=aiohttp.TCPConnector(limit=100))
    credential = Credential(agency="bench", tenant="t", key="bench:t", fields={})
    auth = BearerAuth(token="x")
    up_stock = UpstreamClient(
        "bench", base_url, transport=httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=100))
    )
    up_fast = UpstreamClient("bench", base_url)
    # The same, with every call taking a slot from the Redis GCRA (limits far above the load).
    prefix = f"bench-transport:{uuid.uuid4().hex[:8]}"
    candidate = aioredis.Redis.from_url(redis_url)
    redis: aioredis.Redis | None = candidate
    try:
        await candidate.ping()
    except Exception:  # no Redis here: that row is left out
        await candidate.aclose()
        redis = None
    up_redis = UpstreamClient(
        "bench",
        base_url,
        shared=RedisSharedState(redis, prefix) if redis else None,
        rate_limits=[(1_000_000, 1.0), (10**9, 86400.0)],
    )

    async def close_redis() -> None:
        await up_redis.aclose()
        if redis is not None:
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

    async def get_stock() -> None:
        (await stock.get("/claim")).raise_for_status()

    async def get_fast() -> None:
        (await fast.get("/claim")).raise_for_status()

    async def get_raw() -> None:
        async with raw.get("/claim") as r:
            r.raise_for_status()
            await r.read()

    async def up_get_stock() -> None:
        await up_stock.request("GET", "/claim", credential=credential, auth=auth)

    async def up_get_fast() -> None:
        await up_fast.request("GET", "/claim", credential=credential, auth=auth)

    async def up_get_redis() -> None:
        await up_redis.request("GET", "/claim", credential=credential, auth=auth)

    variants: dict[str, tuple[Send, Callable[[], Awaitable[None]]]] = {
        "httpx, stock transport": (get_stock, stock.aclose),
        "httpx on httpx-aiohttp": (get_fast, fast.aclose),
        "aiohttp alone (reference)": (get_raw, raw.close),
        "UpstreamClient, stock": (up_get_stock, up_stock.aclose),
        "UpstreamClient, aiohttp (default)": (up_get_fast, up_fast.aclose),
    }
    if redis is not None:
        variants["  + Redis rate limiter (1 EVALSHA)"] = (up_get_redis, close_redis)
    else:
        await up_redis.aclose()
    return variants


async def _bench(
    base_url: str, redis_url: str, requests: int, rounds: int, concurrency: int
) -> dict[str, list[tuple[float, float]]]:
    variants = await _variants(base_url, redis_url)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    try:
        for send, _ in variants.values():  # warm up: pools filled, code paths imported
            await _drive(send, 300, concurrency)
        for _ in range(rounds):
            for name, (send, _) in variants.items():
                results[name].append(await _drive(send, requests, concurrency))
    finally:
        for _, close in variants.values():
            await close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument(
        "--redis", default="redis://127.0.0.1:6379/0", help="for the limiter row (skipped if down)"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve()
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.transport", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        if args.loop == "uvloop":
            import uvloop

            results = uvloop.run(_bench(base_url, args.redis, args.requests, args.rounds, args.concurrency))
        else:
            results = asyncio.run(_bench(base_url, args.redis, args.requests, args.rounds, args.concurrency))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
    print(
        f"GET ~{len(_BODY)} B JSON, c={args.concurrency}, {args.requests} requests x {args.rounds} rounds, "
        f"loop={args.loop}, server: uvicorn in its own process; median round"
    )
    print(f"{'client':36} {'CPU µs/req':>11} {'req/s':>8}")
    for name, rows in results.items():
        cpu = statistics.median(r[0] for r in rows)
        rps = statistics.median(r[1] for r in rows)
        print(f"{name:36} {cpu:11.0f} {rps:8.0f}")


if __name__ == "__main__":
    main()
