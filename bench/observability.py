"""Benchmark: what logging and metrics cost per request (goal: at most 5 % of the request's CPU).

    make bench            # or: .venv/bin/python -m bench.observability [--rounds 12] [--requests 1500]

"On" is the gateway as `serve --workers N` runs it: JSON lines at INFO on stderr (a pipe, read
by another party, as in a container), one access line per request, the request metrics, and
prometheus_client in multiprocess mode. "Off" replaces the access layer (access line, log context,
request metrics) by what the REST contract asks of every request anyway — a request id, in the
scope state and on the response as X-Request-Id (bench/_servers.identified) — and sets logging to
WARNING. Upstream call metrics stay in both (they are part of the agency client). Each variant
takes ledger reads (`GET /claims/{id}`, no agency call) and refreshing reads (`?refresh=true`:
the Intrum sandbox is read, 1 + 1 per invoice calls).

1. **In the app** (the reported number): the real gateway app in this process, driven through
   ASGI with no network client, switched between on and off every block of requests, over many
   rounds. CPU is this thread's (`thread_time`); the log pipe's reader is another process, as a
   container's is. The cost is the median of each round's paired
   difference (on - off, back to back); it is divided by the CPU of the same request served
   over HTTP (2.), which is what a request costs in production.
2. **Served**: one gateway process (uvicorn) with the same switch, at c32 over HTTP from this
   process; CPU µs per request from /proc/<pid>/stat. It gives the denominator, and its own
   on - off difference, which on a shared 2-core machine is within the noise (an A/A pair of
   identical code differs by up to ±20 µs there), so it is reported but not judged.
3. **Components**, in isolation: the access layer around an ASGI app that does nothing, and the
   metric updates of one agency call.
4. **Instructions** (when valgrind is installed; `--no-instructions` skips it): the same ledger
   read counted in CPU instructions under callgrind, which gives nearly the same count run after
   run where the CPU times above swing by a factor of two on a shared machine (the delivery
   worker is stopped once the claim is in: its loops run per wall-clock second, and callgrind's
   speed moves with the machine's load; batches flush when full). In the app, on and
   off, each at two request counts (the difference between the two is per request, start-up
   cancels out); served off, likewise, for the denominator. Instructions do not see cache
   misses or the kernel (the log pipe's write(2), the sockets), so they are the floor of the
   cost; the CPU-time figures above are its ceiling on a noisy machine.
"""

from __future__ import annotations

import os
import tempfile

# As `serve --workers N` runs (gateway/cli.py): prometheus_client writes every value to a
# shared file. Set before anything imports prometheus_client; the servers spawned inherit it.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="cg-bench-metrics-"))

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from bench._servers import BENCH_KEY, identified, observable_app, stop_worker
from bench.proxy_read import cpu_seconds, free_port, load, spawn, wait_ready
from gateway.demo import DEMO_CLAIM

#: Agency calls of one refreshing Intrum read (the case + one /invoices/query per invoice).
CALLS_PER_REFRESH = 1 + len(DEMO_CLAIM["invoices"])
PATHS = ("ledger", "refresh")
#: A store as observable_app takes it: URL and key prefix (the prefix also tells the runs apart).
Store = tuple[str, str]


def _claim(tag: str) -> dict[str, Any]:
    """The demo claim with its own references: both parts submit one to the same sandbox."""
    claim: dict[str, Any] = {**DEMO_CLAIM, "client_reference": f"BENCH-{tag}"}
    claim["invoices"] = [{**i, "number": f"{tag}-{i['number']}"} for i in DEMO_CLAIM["invoices"]]
    return claim


def _log_pipe() -> TextIO:
    """A pipe whose reader is another process (`cat` to /dev/null), as a container's log reader
    is: the lines cost their writes, and no reader thread contends for this process's GIL."""
    reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert reader.stdin is not None
    return os.fdopen(reader.stdin.fileno(), "w")


def _piped_server(*args: str, under: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    """A bench server whose stderr (its JSON lines) is a pipe read by another process; `under`
    runs it under a tool (callgrind)."""
    reader = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    return subprocess.Popen([*under, sys.executable, "-m", "bench._servers", *args], stderr=reader.stdin)


# -- 1. in the app ----------------------------------------------------------------------------


class _Driver:
    """Requests straight into the ASGI app: what is measured is the gateway, not an HTTP client."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        task = asyncio.create_task(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
        )
        await inbox.put({"type": "lifespan.startup"})
        assert (await outbox.get())["type"] == "lifespan.startup.complete"
        try:
            yield
        finally:
            await inbox.put({"type": "lifespan.shutdown"})
            await outbox.get()
            await task

    async def call(
        self,
        method: str,
        path: str,
        query: bytes = b"",
        body: bytes = b"",
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {BENCH_KEY}".encode()), *headers],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
        }
        received = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never goes away
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)

    async def submit(self, tag: str, key: str) -> str:
        """Submit the demo claim (its references made unique by `tag`) and wait for it to be
        delivered; answers the claim's path."""
        status, answer = await self.call(
            "POST",
            "/v1/tenants/bench/claims",
            body=json.dumps(_claim(tag)).encode(),
            headers=(
                (b"content-type", b"application/json"),
                (b"idempotency-key", key.encode()),
                (b"prefer", b"wait=20"),
            ),
        )
        operation = json.loads(answer)
        assert status in (200, 201) and operation["status"] == "succeeded", answer
        return f"/v1/tenants/bench/claims/{operation['claim_id']}"


async def in_app(
    sandbox_url: str, store: Store, rounds: int, requests: int
) -> dict[str, dict[str, list[float]]]:
    """CPU µs per request of each round, per path and variant, in this process."""
    app, switch = observable_app(sandbox_url, _log_pipe(), *store)
    driver = _Driver(app)

    results: dict[str, dict[str, list[float]]] = {p: {"on": [], "off": []} for p in PATHS}
    async with driver.running():
        path = await driver.submit(f"app-{store[1]}", f"bench-in-app-{store[1]}")
        queries = {"ledger": b"", "refresh": b"refresh=true"}

        async def block(kind: str, count: int) -> float:
            """`count` reads by 32 concurrent callers, as the served part reads: the event loop's
            own work per request (and the background loops', per second) is what it is at load."""

            async def caller(share: int) -> None:
                for _ in range(share):
                    status, answer = await driver.call("GET", path, queries[kind])
                    assert status == 200, answer

            started = time.thread_time()
            await asyncio.gather(*(caller(count // 32) for _ in range(32)))
            return (time.thread_time() - started) / (count // 32 * 32) * 1e6

        for on in (True, False):  # warm every path both ways
            switch(on)
            for kind in PATHS:
                await block(kind, requests // 5)
        for round_ in range(rounds):
            for kind in PATHS:
                # Alternate which goes first: a drift in the machine's load favours neither.
                for on in (True, False) if round_ % 2 == 0 else (False, True):
                    switch(on)
                    results[kind]["on" if on else "off"].append(
                        await block(kind, requests if kind == "ledger" else requests // 4)
                    )
        switch(True)
    return results


# -- 2. served over HTTP ----------------------------------------------------------------------


async def _submit_served(session: aiohttp.ClientSession, url: str, tag: str, key: str, wait: int = 20) -> str:
    """`_Driver.submit` over HTTP: the demo claim, delivered; answers the claim's URL."""
    async with session.post(
        f"{url}/v1/tenants/bench/claims",
        json=_claim(tag),
        headers={"Authorization": f"Bearer {BENCH_KEY}", "Idempotency-Key": key, "Prefer": f"wait={wait}"},
    ) as response:
        operation = await response.json()
        assert operation["status"] == "succeeded", operation
    return f"{url}/v1/tenants/bench/claims/{operation['claim_id']}"


async def served(
    sandbox_url: str, store: Store, seconds: float, rounds: int
) -> dict[str, dict[str, list[float]]]:
    port = free_port()
    gateway = _piped_server("observed", str(port), sandbox_url, *store)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {BENCH_KEY}"}
    results: dict[str, dict[str, list[float]]] = {p: {"on": [], "off": []} for p in PATHS}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            await wait_ready(session, f"{url}/health/live")
            claim = await _submit_served(session, url, f"served-{store[1]}", f"bench-served-{store[1]}")

            def reader(kind: str) -> Callable[[], Awaitable[None]]:
                target = f"{claim}?refresh=true" if kind == "refresh" else claim

                async def read() -> None:
                    async with session.get(target, headers=auth) as response:
                        assert response.status == 200, await response.text()
                        await response.read()

                return read

            async def switch(on: bool) -> None:
                async with session.post(f"{url}/_bench/observe/{'on' if on else 'off'}") as response:
                    assert response.status == 204

            for on in (True, False):
                await switch(on)
                for kind in PATHS:
                    await load(reader(kind), 8, 1.0)
            for round_ in range(rounds):
                for kind in PATHS:
                    for on in (True, False) if round_ % 2 == 0 else (False, True):
                        await switch(on)
                        before = cpu_seconds(gateway.pid)
                        count, _ = await load(reader(kind), 32, seconds)
                        used = (cpu_seconds(gateway.pid) - before) / count * 1e6
                        results[kind]["on" if on else "off"].append(used)
    finally:
        gateway.terminate()
        gateway.wait(timeout=10)
    return results


# -- 3. components ----------------------------------------------------------------------------


async def components(iterations: int = 20000) -> dict[str, float]:
    """µs per request of the access layer alone (over the contract's request id), and per agency
    call of the upstream metrics."""
    from adapters._upstream import metrics as upstream
    from adapters._upstream import tally
    from gateway.logs import configure_logging
    from gateway.middleware import observe_requests

    configure_logging("INFO", "json", _log_pipe())

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
        started = time.thread_time()
        for _ in range(iterations):
            await target(scope(), receive, send)
        return (time.thread_time() - started) / iterations * 1e6

    await timed(observed)  # warm: label children created, loggers built
    with_layer, bare = await timed(observed), await timed(identified(app))
    started = time.thread_time()
    for _ in range(iterations):
        route = upstream.agency_route("/invoices/query")
        upstream.CALLS.add(("bench", route, "200"), 0.004)
        upstream.SLOTS_TAKEN.add(("bench", "bench"))
    tally.flush()  # its share of the bulk update belongs to these calls
    per_call = (time.thread_time() - started) / iterations * 1e6
    return {"access_layer_us": with_layer - bare, "metrics_per_agency_call_us": per_call}


# -- 4. instructions ---------------------------------------------------------------------------

#: Ledger reads per counted run; a run at each count, per variant, gives instructions per request.
COUNTED_READS = (1600, 4800)


async def _ledger_reads(app: Any, switch: Callable[[bool], None], on: bool, reads: int, tag: str) -> None:
    """Submit the demo claim, set the variant, then `reads` ledger reads by 32 callers (a child
    run under callgrind: everything it executes is counted)."""
    driver = _Driver(app)
    async with driver.running():
        path = await driver.submit(tag, tag)
        stop_worker()
        switch(on)

        async def caller(share: int) -> None:
            for _ in range(share):
                status, answer = await driver.call("GET", path)
                assert status == 200, answer

        await asyncio.gather(*(caller(reads // 32) for _ in range(32)))


def _counted(out: Path) -> int:
    """The instructions a callgrind run executed (its `summary:` line)."""
    for line in out.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no callgrind summary in {out}")


def _callgrind(out: Path) -> tuple[str, ...]:
    return ("valgrind", "--tool=callgrind", f"--callgrind-out-file={out}")


async def _served_counted(sandbox_url: str, out: Path, reads: int) -> None:
    """A served gateway, off, under callgrind: the demo claim, then `reads` ledger reads at c32."""
    port = free_port()
    server = _piped_server(
        "observed", str(port), sandbox_url, "memory://", f"counted-{reads}", under=_callgrind(out)
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {BENCH_KEY}"}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            await wait_ready(session, f"{url}/health/live", seconds=300)  # valgrind starts slowly
            claim = await _submit_served(  # wait longer: valgrind runs it ~50x slower
                session, url, f"s{reads}-{uuid.uuid4().hex[:6]}", f"counted-{reads}-{uuid.uuid4().hex}", 60
            )
            for control in ("worker/stop", "observe/off"):
                async with session.post(f"{url}/_bench/{control}") as response:
                    assert response.status == 204

            async def caller(share: int) -> None:
                for _ in range(share):
                    async with session.get(claim, headers=auth) as response:
                        assert response.status == 200, await response.text()
                        await response.read()

            await asyncio.gather(*(caller(reads // 32) for _ in range(32)))
    finally:
        server.send_signal(signal.SIGTERM)  # callgrind writes its counts as the process exits
        await asyncio.to_thread(server.wait, 300)


async def instructions(sandbox_url: str) -> dict[str, float]:
    """Instructions per ledger read (embedded store): in the app on and off, served off."""
    low, high = COUNTED_READS
    with tempfile.TemporaryDirectory(prefix="cg-bench-callgrind-") as directory:
        outs = Path(directory)

        async def in_app_run(variant: str, reads: int) -> None:
            child = await asyncio.create_subprocess_exec(
                *_callgrind(outs / f"{variant}-{reads}"), sys.executable, "-m", "bench.observability",
                "--counted-child", variant, str(reads), sandbox_url,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            _, said = await child.communicate()  # valgrind's report, and any failure
            assert child.returncode == 0, f"counted run {variant} {reads} failed: {said.decode()[-3000:]}"

        # Two at a time: these machines have two cores.
        for variant in ("on", "off"):
            await asyncio.gather(in_app_run(variant, low), in_app_run(variant, high))
        await asyncio.gather(*(_served_counted(sandbox_url, outs / f"served-{n}", n) for n in (low, high)))

        def per_request(name: str) -> float:
            return (_counted(outs / f"{name}-{high}") - _counted(outs / f"{name}-{low}")) / (high - low)

        on, off, served = per_request("on"), per_request("off"), per_request("served")
    return {
        "instructions_ledger_in_app_off": round(off),
        "instructions_ledger_in_app_on": round(on),
        "instructions_ledger_cost": round(on - off),
        "instructions_ledger_served_off": round(served),
        "instructions_ledger_overhead_pct": round((on - off) / served * 100, 1),
    }


def _counted_child(variant: str, reads: int, sandbox_url: str) -> None:
    from adapters._upstream import tally

    # Batches flush when full (256 requests), as in a gateway busy enough for its CPU to matter;
    # under callgrind (~50x slower) the 1 s timer would cut them by wall-clock time instead, and
    # the count would move with the machine's load.
    tally._timer._seconds = 3600.0
    app, switch = observable_app(sandbox_url, _log_pipe())
    asyncio.run(_ledger_reads(app, switch, variant == "on", reads, f"c-{variant}-{uuid.uuid4().hex[:8]}"))


def _paired(results: dict[str, list[float]]) -> float:
    """The median over rounds of on - off (each round's two blocks ran back to back)."""
    return statistics.median(on - off for on, off in zip(results["on"], results["off"], strict=True))


async def _redis_answers(url: str) -> bool:
    import redis.asyncio as redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except (OSError, redis.RedisError):
        return False
    finally:
        await client.aclose()


async def run(
    rounds: int, requests: int, served_rounds: int, seconds: float, redis_url: str, counted: bool
) -> dict[str, object]:
    sandbox_port = free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    sandbox = spawn("sandbox", str(sandbox_port))
    stores: dict[str, Store] = {"memory": ("memory://", "memory")}
    if await _redis_answers(redis_url):
        stores["redis"] = (redis_url, f"cg-bench-obs-{uuid.uuid4().hex[:8]}")
    else:
        print(f"no Redis at {redis_url}: measuring the embedded store only", file=sys.stderr)
    report: dict[str, object] = {}
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, f"{sandbox_url}/_sandbox/ledger")
        for name, store in stores.items():
            app = await in_app(sandbox_url, store, rounds, requests)
            http = await served(sandbox_url, store, seconds, served_rounds) if served_rounds else app
            for kind in PATHS:
                cost = _paired(app[kind])
                served_off = statistics.median(http[kind]["off"])
                report |= {
                    f"{name}_{kind}_cost_us": round(cost, 1),
                    f"{name}_{kind}_overhead_pct": round(cost / served_off * 100, 1),
                    f"{name}_{kind}_served_cpu_us_off": round(served_off, 1),
                    f"{name}_{kind}_served_ab_us_noisy": round(_paired(http[kind]), 1),
                    f"{name}_{kind}_in_app_cpu_us_off": round(statistics.median(app[kind]["off"]), 1),
                }
        if counted:
            report |= await instructions(sandbox_url)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    parts = await components()
    report |= {
        "access_layer_us_alone": round(parts["access_layer_us"], 1),
        "metrics_per_agency_call_us_alone": round(parts["metrics_per_agency_call_us"], 2),
        "rounds": rounds,
        "requests_per_block": requests,
        "served_rounds": served_rounds,
        "served_seconds_per_round": seconds,
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=12, help="in-app rounds (on and off blocks)")
    parser.add_argument("--requests", type=int, default=1500, help="ledger reads per in-app block")
    parser.add_argument("--served-rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per served round and variant")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="the deployed store")
    parser.add_argument(
        "--no-instructions", action="store_true", help="skip the instruction counts (part 4, ~6 min)"
    )
    parser.add_argument(
        "--counted-child", nargs=3, metavar=("VARIANT", "READS", "SANDBOX"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.counted_child:
        variant, reads, sandbox_url = args.counted_child
        _counted_child(variant, int(reads), sandbox_url)
        return
    counted = not args.no_instructions and shutil.which("valgrind") is not None
    if not counted and not args.no_instructions:
        print("valgrind is not installed: no instruction counts (part 4)", file=sys.stderr)
    report = asyncio.run(
        run(args.rounds, args.requests, args.served_rounds, args.seconds, args.redis, counted)
    )
    out = Path(".bench")
    out.mkdir(exist_ok=True)
    (out / "observability.json").write_text(json.dumps(report, indent=2))
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
