"""Benchmark: `GET /claims/{id}` (Intrum) from the claim ledger and proxied (`?refresh=true`),
against the same upstream calls made directly.

    make bench            # or: .venv/bin/python -m bench.proxy_read [--seconds 5] [--rounds 3]

All three run in one run, interleaved over rounds (these machines are shared and noisy), and the
results are ratios. "Direct" is what the adapter itself sends for one claim read — the
/portfolio/query for the case and an /invoices/query per invoice — sent by the load generator
straight to the sandbox. "Proxied" is a read with `?refresh=true` (the agency is read, then the
ledger answers); "ledger" a plain read (the store answers; no agency call). Reported: requests/s
at c32, p50/p99 at c1, CPU µs per request of the gateway process (one process, one event loop:
from /proc/<pid>/stat), and upstream calls per gateway request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench._servers import BENCH_KEY
from gateway.demo import DEMO_CLAIM

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench._servers", *args])


async def wait_ready(session: aiohttp.ClientSession, url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            async with session.get(url) as response:
                if response.status < 500:
                    return
        except aiohttp.ClientError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        await asyncio.sleep(0.1)


async def load(
    call: Callable[[], Awaitable[None]], concurrency: int, seconds: float
) -> tuple[int, list[float]]:
    done = 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def user() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)
            done += 1

    await asyncio.gather(*(user() for _ in range(concurrency)))
    return done, latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


async def run(seconds: float, rounds: int, store: str = "memory://") -> dict[str, object]:
    sandbox_port, gateway_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    sandbox = spawn("sandbox", str(sandbox_port))
    prefix = f"cgbench:{uuid.uuid4().hex[:8]}"
    gateway = spawn("gateway", str(gateway_port), sandbox_url, store, prefix)
    auth = {"Authorization": f"Bearer {BENCH_KEY}"}
    try:
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_ready(session, f"{sandbox_url}/_sandbox/ledger")
            await wait_ready(session, f"{gateway_url}/health/live")
            claim = {**DEMO_CLAIM, "client_reference": "BENCH-1"}
            async with session.post(
                f"{gateway_url}/v1/tenants/bench/claims",
                json=claim,
                headers={**auth, "Idempotency-Key": "bench-1", "Prefer": "wait=20"},
            ) as response:
                operation = await response.json()
                assert operation["status"] == "succeeded", operation
            claim_url = f"{gateway_url}/v1/tenants/bench/claims/{operation['claim_id']}"
            case_number = operation["agency_reference"]
            async with session.post(
                f"{sandbox_url}/auth/realms/debt-collection-api/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "demo-ro",
                    "client_secret": "demo-ro-secret",
                },
            ) as response:
                token = (await response.json())["access_token"]
            upstream = {"Authorization": f"Bearer {token}"}
            api = f"{sandbox_url}/restServices/v1"
            invoice_numbers = [invoice["number"] for invoice in claim["invoices"]]

            async def direct() -> None:
                params = {"limit": "1", "caseNumber": case_number}
                async with session.get(f"{api}/portfolio/query", params=params, headers=upstream) as r:
                    assert r.status == 200, await r.text()
                    await r.read()
                for number in invoice_numbers:
                    params = {"invoiceNumber": number, "addInvoiceAttributes": "true"}
                    async with session.get(f"{api}/invoices/query", params=params, headers=upstream) as r:
                        assert r.status == 200, await r.text()
                        await r.read()

            async def proxied() -> None:
                async with session.get(f"{claim_url}?refresh=true", headers=auth) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

            async def ledger() -> None:
                async with session.get(claim_url, headers=auth) as r:
                    assert r.status == 200, await r.text()
                    await r.read()

            async def upstream_requests() -> int:
                async with session.get(f"{sandbox_url}/_sandbox/ledger") as r:
                    return int((await r.json())["requests"])

            await load(proxied, 8, 1.0)  # warm up every path
            await load(ledger, 8, 1.0)
            await load(direct, 8, 1.0)
            results: dict[str, list[float]] = {
                "direct_rps": [],
                "gateway_rps": [],
                "gateway_cpu_us": [],
                "gateway_upstream": [],
                "ledger_rps": [],
                "ledger_cpu_us": [],
                "ledger_upstream": [],
            }

            async def measure(call: Callable[[], Awaitable[None]], name: str) -> None:
                before_cpu, before_up = cpu_seconds(gateway.pid), await upstream_requests()
                count, _ = await load(call, 32, seconds)
                after_cpu, after_up = cpu_seconds(gateway.pid), await upstream_requests()
                results[f"{name}_rps"].append(count / seconds)
                results[f"{name}_cpu_us"].append((after_cpu - before_cpu) / count * 1e6)
                # the sandbox counts its own ledger read too: minus 1
                results[f"{name}_upstream"].append((after_up - before_up - 1) / count)

            for _ in range(rounds):
                count, _ = await load(direct, 32, seconds)
                results["direct_rps"].append(count / seconds)
                await measure(proxied, "gateway")
                await measure(ledger, "ledger")
            _, direct_c1 = await load(direct, 1, seconds / 2)
            _, proxied_c1 = await load(proxied, 1, seconds / 2)
            _, ledger_c1 = await load(ledger, 1, seconds / 2)
    finally:
        for process in (gateway, sandbox):
            process.terminate()
        for process in (gateway, sandbox):
            process.wait(timeout=10)
        if store.startswith("redis"):
            await _forget(store, prefix)
    direct_rps = statistics.median(results["direct_rps"])
    gateway_rps = statistics.median(results["gateway_rps"])
    ledger_rps = statistics.median(results["ledger_rps"])
    return {
        "direct_reads_per_s_c32": round(direct_rps),
        "gateway_reads_per_s_c32": round(gateway_rps),
        "ratio_gateway_to_direct": round(gateway_rps / direct_rps, 3),
        "gateway_cpu_us_per_request": round(statistics.median(results["gateway_cpu_us"])),
        "upstream_calls_per_request": round(statistics.median(results["gateway_upstream"]), 2),
        "ledger_reads_per_s_c32": round(ledger_rps),
        "ratio_ledger_to_direct": round(ledger_rps / direct_rps, 3),
        "ledger_cpu_us_per_request": round(statistics.median(results["ledger_cpu_us"])),
        # What one worker process (one event loop, one core) can serve when CPU is the limit.
        "ledger_reads_per_cpu_second": round(1e6 / statistics.median(results["ledger_cpu_us"])),
        "ledger_upstream_calls_per_request": round(
            max(0.0, statistics.median(results["ledger_upstream"])), 3
        ),
        "direct_p50_ms_c1": round(percentile(direct_c1, 0.5), 2),
        "direct_p99_ms_c1": round(percentile(direct_c1, 0.99), 2),
        "gateway_p50_ms_c1": round(percentile(proxied_c1, 0.5), 2),
        "gateway_p99_ms_c1": round(percentile(proxied_c1, 0.99), 2),
        "ledger_p50_ms_c1": round(percentile(ledger_c1, 0.5), 2),
        "ledger_p99_ms_c1": round(percentile(ledger_c1, 0.99), 2),
        "store": store.split("@")[-1],
        "rounds": rounds,
        "seconds_per_round": seconds,
    }


async def _forget(url: str, prefix: str) -> None:
    """Delete the benchmark's keys from a shared Redis."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--store", default="memory://", help="the gateway's store_url (e.g. redis://127.0.0.1:6379/0)"
    )
    args = parser.parse_args()
    report = asyncio.run(run(args.seconds, args.rounds, args.store))
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "proxy_read.json").write_text(json.dumps(report, indent=2))
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
