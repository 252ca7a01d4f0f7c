"""Benchmark: each ops console page with 10,000 operations in the store.

    .venv/bin/python -m bench.console_pages [--operations 10000] [--rounds 30] [--store redis|memory]

The gateway (demo configuration, worker off, no agency is called by a page) runs in its own
uvicorn process on the Redis store at 127.0.0.1:6379 (a fresh key prefix, deleted afterwards) or
the memory store; the store is filled first with `--operations` operations of tenant `acme`
(5 % failed, 3 % queued, 2 % submitted, the rest succeeded) plus a few routing versions and audit
entries. Then every page is fetched `--rounds` times, interleaved with `GET /health/live` (the
direct call: the same server's cheapest answer) and `GET /v1/tenants/acme/operations` (the API's
own page of operations), in one run. Reported per page: p50 / p95 latency at c1, the ratio of its
p50 to the direct call's, and the server's CPU per request from /proc/<pid>/stat.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

TICKS = os.sysconf("SC_CLK_TCK")
REDIS_URL = os.environ.get("CG_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def settings_document(store_url: str, prefix: str) -> tuple[dict[str, object], dict[str, str], object]:
    from adapters.registry import discover
    from gateway.demo import demo_document

    specs = discover()
    urls = {name: "http://127.0.0.1:9" for name, spec in specs.items() if spec.sandbox is not None}
    document, env = demo_document(specs, urls, store_url)
    document.update(run_worker=False, store_prefix=prefix, log_level="WARNING")
    return document, env, specs


async def fill(store_url: str, prefix: str, count: int) -> str:
    """`count` operations for tenant acme; the id of a failed one."""
    from gateway.stores import OperationRecord, create_store, new_id, utcnow
    from gateway.stores.records import AuditEntry

    store = create_store(store_url, prefix)
    failed_id = ""
    start = utcnow() - dt.timedelta(hours=2)
    batch: list[OperationRecord] = []

    async def flush() -> None:
        await asyncio.gather(*(store.accept(op, None, None) for op in batch))
        finals = [op for op in batch if op.status != "queued"]
        await asyncio.gather(*(store.save_operation(op) for op in finals))
        batch.clear()

    for i in range(count):
        created = start + dt.timedelta(milliseconds=i * 500)
        share = i % 100
        status = (
            "failed" if share < 5 else "queued" if share < 8 else "submitted" if share < 10 else "succeeded"
        )
        op = OperationRecord(
            id=new_id("op"),
            tenant="acme",
            kind="claim.create",
            status="queued",
            claim_id=f"clm_bench{i:06d}",
            agency="intrum",
            payload={},
            created_at=created,
            updated_at=created,
        )
        op.status = status  # type: ignore[assignment]
        if status == "failed":
            from canonical.problems import AgencyUnavailable

            op.error = AgencyUnavailable("bench: 503 (gave up after 8 attempts)").problem()
            op.attempts = 8
            for attempt in range(1, 9):
                op.attempts = attempt
                op.record_step("retry" if attempt < 8 else "gave_up", code="agency_unavailable", detail="503")
            failed_id = op.id
        batch.append(op)
        if len(batch) == 50:
            await flush()
    if batch:
        await flush()
    for i in range(200):
        await store.append_audit(
            AuditEntry(id=new_id("aud"), at=utcnow(), actor="bench", action="bench.entry", detail={"i": i})
        )
    await store.aclose()
    return failed_id


def serve(store_url: str, prefix: str, port: int) -> None:
    """The gateway process (`python -m bench.console_pages --serve ...`)."""
    import logging

    import uvicorn

    from gateway.app import create_app
    from gateway.settings import settings_from_mapping

    logging.basicConfig(level=logging.WARNING)
    document, env, specs = settings_document(store_url, prefix)
    app = create_app(settings_from_mapping(document, env, specs))  # type: ignore[arg-type]
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--operations", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--store", choices=["redis", "memory"], default="redis")
    parser.add_argument("--serve", nargs=3, metavar=("STORE_URL", "PREFIX", "PORT"))
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return
    if args.store == "memory":
        sys.exit("the memory store lives in one process: fill and serve would not share it; use redis")
    prefix = f"cgbench:{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    failed_id = asyncio.run(fill(REDIS_URL, prefix, args.operations))
    print(f"filled {args.operations} operations in {time.perf_counter() - started:.1f} s (prefix {prefix})")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.console_pages", "--serve", REDIS_URL, prefix, str(port)]
    )
    try:
        run(f"http://127.0.0.1:{port}", server.pid, failed_id, args.rounds)
    finally:
        server.terminate()
        server.wait(10)
        cleanup(prefix)


def cleanup(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for i in range(0, len(keys), 1000):
        client.delete(*keys[i : i + 1000])
    client.close()


def run(base: str, pid: int, failed_id: str, rounds: int) -> None:
    from gateway.demo import DEMO_KEYS

    client = httpx.Client(base_url=base, timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.get("/health/live").status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the gateway did not come up")
        time.sleep(0.1)
    form = client.get("/console/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    login = client.post("/console/login", data={"csrf_token": token.group(1), "api_key": DEMO_KEYS["admin"]})
    assert login.status_code == 303, login.text
    api = {"Authorization": f"Bearer {DEMO_KEYS['acme']}"}
    pages = {
        "direct: GET /health/live": ("/health/live", {}),
        "API: GET /v1/tenants/acme/operations": ("/v1/tenants/acme/operations", api),
        "API: …/operations?status=failed": ("/v1/tenants/acme/operations?status=failed", api),
        "tenants": ("/console/tenants", {}),
        "tenant acme (versions, diff)": ("/console/tenants/acme", {}),
        "agencies": ("/console/agencies", {}),
        "operations (stuck, failed, all)": ("/console/operations?tenant=acme", {}),
        "operations, status failed": ("/console/operations?tenant=acme&status=failed", {}),
        "operations, agency + older than 30 min": (
            "/console/operations?tenant=acme&agency=intrum&older_than=30",
            {},
        ),
        "operation (history)": (f"/console/operations/{failed_id}", {}),
        "webhooks": ("/console/webhooks?tenant=acme", {}),
        "audit": ("/console/audit", {}),
    }
    for path, headers in pages.values():  # warm up (template compilation, connections)
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    timings: dict[str, list[float]] = {name: [] for name in pages}
    cpu: dict[str, float] = dict.fromkeys(pages, 0.0)
    for _ in range(rounds):
        for name, (path, headers) in pages.items():
            before = cpu_seconds(pid)
            began = time.perf_counter()
            answer = client.get(path, headers=headers)
            timings[name].append((time.perf_counter() - began) * 1000)
            cpu[name] += cpu_seconds(pid) - before
            assert answer.status_code == 200
    direct = statistics.median(timings["direct: GET /health/live"])
    print(f"\n{rounds} rounds, interleaved; latency at c1 in ms; CPU from the server's /proc/<pid>/stat\n")
    print("| page | p50 ms | p95 ms | p50 / direct | server CPU ms/request |")
    print("|---|---:|---:|---:|---:|")
    for name, values in timings.items():
        values.sort()
        p50 = statistics.median(values)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / direct:.1f} | {cpu[name] / rounds * 1000:.1f} |")


if __name__ == "__main__":
    main()
