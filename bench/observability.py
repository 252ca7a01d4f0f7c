"""Benchmark: what logging and metrics cost per request (goal: at most 5 % of the request's CPU).

    make bench            # or: .venv/bin/python -m bench.observability [--seconds 5] [--rounds 3]

Two measurements in one run:

1. A/B, interleaved over rounds: two gateway processes of the same build against one Intrum
   sandbox, "on" as `serve` runs it (JSON logs at INFO, one access line per request, request
   metrics) and "off" (logging at WARNING, the access layer removed). Each takes ledger reads
   (`GET /claims/{id}`, no agency call) and refreshing reads (`?refresh=true`, the agency is read)
   at c32; CPU µs per request from each process's /proc/<pid>/stat. The difference is the cost;
   on a shared machine it is within the noise, so the run also measures:
2. The same work in isolation, in this process: the access layer around an ASGI app that does
   nothing (request id, context binding, HTTP counter + histogram, one JSON access line written
   to /dev/null) minus that app alone, and the metric updates of one agency call (request
   counter, latency histogram, rate-slot counter). Their sum over a request's agency calls,
   divided by the "off" CPU of that request, is the overhead reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench._servers import BENCH_KEY
from bench.proxy_read import cpu_seconds, free_port, load, spawn, wait_ready
from gateway.demo import DEMO_CLAIM

#: Agency calls of one refreshing Intrum read (the case + one /invoices/query per invoice).
CALLS_PER_REFRESH = 1 + len(DEMO_CLAIM["invoices"])


async def isolated_costs(iterations: int = 20000) -> dict[str, float]:
    """µs per request of the access layer, and per agency call of the upstream metrics."""
    from adapters._upstream import metrics as upstream
    from gateway.logs import configure_logging
    from gateway.middleware import observe_requests

    configure_logging("INFO", "json", open(os.devnull, "w"))  # noqa: SIM115, ASYNC230

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: Any) -> None:
        return None

    async def receive() -> Any:
        return {"type": "http.request"}

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "method": "GET",
            "path": "/v1/tenants/bench/claims/clm_1",
            "path_template": "/v1/tenants/{tenant}/claims/{claim_id}",
            "headers": [],
            "state": {"tenant": "bench", "key_id": "key_1"},
        }

    observed = observe_requests(app)

    async def timed(target: Any) -> float:
        started = time.process_time()
        for _ in range(iterations):
            await target(scope(), receive, send)
        return (time.process_time() - started) / iterations * 1e6

    async def both() -> tuple[float, float]:
        await timed(observed)  # warm: label children created, loggers built
        return await timed(observed), await timed(app)

    with_layer, bare = await both()
    counters = upstream.REQUESTS.labels("bench", "/invoices/query", "200")
    latency = upstream.LATENCY.labels("bench", "/invoices/query")
    slots = upstream.RATE_SLOTS.labels("bench", "bench")
    started = time.process_time()
    for _ in range(iterations):
        upstream.agency_route("/invoices/query")
        counters.inc()
        latency.observe(0.004)
        slots.inc()
    per_call = (time.process_time() - started) / iterations * 1e6
    return {"access_layer_us": with_layer - bare, "metrics_per_agency_call_us": per_call}


async def run(seconds: float, rounds: int) -> dict[str, object]:
    sandbox_port, on_port, off_port = free_port(), free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = spawn("sandbox", str(sandbox_port))
    gateways = {
        "on": spawn("observed-on", str(on_port), sandbox_url),
        "off": spawn("observed-off", str(off_port), sandbox_url),
    }
    urls = {"on": f"http://127.0.0.1:{on_port}", "off": f"http://127.0.0.1:{off_port}"}
    auth = {"Authorization": f"Bearer {BENCH_KEY}"}
    results: dict[str, list[float]] = {f"{v}_{p}": [] for v in gateways for p in ("ledger", "refresh")}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            await wait_ready(session, f"{sandbox_url}/_sandbox/ledger")
            claims = {}
            for variant, url in urls.items():
                await wait_ready(session, f"{url}/health/live")
                claim = {**DEMO_CLAIM, "client_reference": f"BENCH-{variant}"}
                claim["invoices"] = [{**i, "number": f"{variant}-{i['number']}"} for i in claim["invoices"]]
                async with session.post(
                    f"{url}/v1/tenants/bench/claims",
                    json=claim,
                    headers={**auth, "Idempotency-Key": f"bench-{variant}", "Prefer": "wait=20"},
                ) as response:
                    operation = await response.json()
                    assert operation["status"] == "succeeded", operation
                claims[variant] = f"{url}/v1/tenants/bench/claims/{operation['claim_id']}"

            def reader(variant: str, refresh: bool) -> Callable[[], Awaitable[None]]:
                target = f"{claims[variant]}?refresh=true" if refresh else claims[variant]

                async def read() -> None:
                    async with session.get(target, headers=auth) as response:
                        assert response.status == 200, await response.text()
                        await response.read()

                return read

            for variant in gateways:  # warm up every path
                await load(reader(variant, False), 8, 1.0)
                await load(reader(variant, True), 8, 1.0)
            for _ in range(rounds):
                for path, refresh in (("ledger", False), ("refresh", True)):
                    for variant, process in gateways.items():
                        before = cpu_seconds(process.pid)
                        count, _ = await load(reader(variant, refresh), 32, seconds)
                        results[f"{variant}_{path}"].append((cpu_seconds(process.pid) - before) / count * 1e6)
    finally:
        for process in (*gateways.values(), sandbox):
            process.terminate()
        for process in (*gateways.values(), sandbox):
            process.wait(timeout=10)
    isolated = await isolated_costs()
    cpu = {key: statistics.median(values) for key, values in results.items()}
    ledger_cost = isolated["access_layer_us"]
    refresh_cost = ledger_cost + CALLS_PER_REFRESH * isolated["metrics_per_agency_call_us"]
    return {
        "ledger_cpu_us_on": round(cpu["on_ledger"]),
        "ledger_cpu_us_off": round(cpu["off_ledger"]),
        "ledger_ab_overhead_pct": round((cpu["on_ledger"] / cpu["off_ledger"] - 1) * 100, 1),
        "refresh_cpu_us_on": round(cpu["on_refresh"]),
        "refresh_cpu_us_off": round(cpu["off_refresh"]),
        "refresh_ab_overhead_pct": round((cpu["on_refresh"] / cpu["off_refresh"] - 1) * 100, 1),
        "access_layer_us_isolated": round(isolated["access_layer_us"], 1),
        "metrics_per_agency_call_us_isolated": round(isolated["metrics_per_agency_call_us"], 2),
        "ledger_overhead_pct_isolated": round(ledger_cost / cpu["off_ledger"] * 100, 1),
        "refresh_overhead_pct_isolated": round(refresh_cost / cpu["off_refresh"] * 100, 1),
        "rounds": rounds,
        "seconds_per_round": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report = asyncio.run(run(args.seconds, args.rounds))
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "observability.json").write_text(json.dumps(report, indent=2))
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
