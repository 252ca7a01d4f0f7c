"""Benchmark: the accepted write, `POST /v1/tenants/{t}/claims` → 202, on the Redis store with the
worker off (issue 18), beside a direct call measured in the same run.

    python -m bench.accepted_write [--seconds 5] [--rounds 3] [--redis redis://127.0.0.1:6379/0]

`make bench` runs it after the read benchmark (bench.proxy_read). Each write has a fresh
Idempotency-Key and client_reference. "Direct" is the floor under it: the same number of Redis
round trips an accepted write needs at best (one `EVALSHA` of a script storing a claim-sized
value), sent by the load generator itself. Reported: writes/s at c32, CPU µs per write of the
gateway process (one uvicorn process, one event loop: /proc/<pid>/stat), and p50/p99 at c1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench._servers import BENCH_KEY
from bench.proxy_read import cpu_seconds, free_port, load, percentile, spawn, wait_ready
from gateway.demo import DEMO_CLAIM

_FLOOR = "redis.call('SET', KEYS[1], ARGV[1], 'EX', 60) return 1"


async def run(seconds: float, rounds: int, redis_url: str) -> dict[str, Any]:
    prefix = f"cgbench:{uuid.uuid4().hex[:8]}"
    sandbox_port, gateway_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    sandbox = spawn("sandbox", str(sandbox_port))
    gateway = spawn("writer", str(gateway_port), sandbox_url, redis_url, prefix)
    auth = {"Authorization": f"Bearer {BENCH_KEY}"}
    counter = itertools.count()
    claim = json.dumps(DEMO_CLAIM)
    client = aioredis.Redis.from_url(redis_url)
    floor = client.register_script(_FLOOR)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            await wait_ready(session, f"{gateway_url}/health/live")
            url = f"{gateway_url}/v1/tenants/bench/claims"

            async def write() -> None:
                n = next(counter)
                body = claim.replace('"client_reference": "', f'"client_reference": "W{n}-', 1)
                headers = {**auth, "Idempotency-Key": f"w-{n}", "Content-Type": "application/json"}
                async with session.post(url, data=body, headers=headers) as r:
                    assert r.status == 202, await r.text()
                    await r.read()

            async def direct() -> None:
                await floor(keys=[f"{prefix}:floor:{next(counter) % 1000}"], args=[claim])

            assert '"client_reference": "' in claim
            await load(write, 8, 1.0)  # warm up
            results: dict[str, list[float]] = {"direct": [], "writes": [], "cpu": []}
            for _ in range(rounds):
                count, _ = await load(direct, 32, seconds / 2)
                results["direct"].append(count / (seconds / 2))
                before = cpu_seconds(gateway.pid)
                count, _ = await load(write, 32, seconds)
                results["cpu"].append((cpu_seconds(gateway.pid) - before) / count * 1e6)
                results["writes"].append(count / seconds)
            _, c1 = await load(write, 1, seconds / 2)
    finally:
        for process in (gateway, sandbox):
            process.terminate()
        for process in (gateway, sandbox):
            process.wait(timeout=10)
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
        await client.aclose()
    writes = statistics.median(results["writes"])
    cpu = statistics.median(results["cpu"])
    return {
        "accepted_writes_per_s_c32": round(writes),
        "direct_redis_scripts_per_s_c32": round(statistics.median(results["direct"])),
        "gateway_cpu_us_per_accepted_write": round(cpu),
        # What one worker process (one event loop, one core) accepts when CPU is the limit.
        "accepted_writes_per_cpu_second": round(1e6 / cpu),
        "write_p50_ms_c1": round(percentile(c1, 0.5), 2),
        "write_p99_ms_c1": round(percentile(c1, 0.99), 2),
        "rounds": rounds,
        "seconds_per_round": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    report = asyncio.run(run(args.seconds, args.rounds, args.redis))
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "accepted_write.json").write_text(json.dumps(report, indent=2))
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
