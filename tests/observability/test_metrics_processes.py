"""Metrics as deployed: `serve --workers 2` and `worker` as real processes on the real Redis,
traffic through them, and every scrape adds up to exactly what was sent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters._upstream.tally import FLUSH_SECONDS
from adapters.registry import discover
from adapters.sandbox_kit import RunningServer, serve_in_thread
from tests.conftest import REDIS_URL
from tests.support.gateway import claim_body, sha

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

KEY = "obs-metrics-key"
CLAIMS = 6
ROOT = Path(__file__).resolve().parents[2]


class Process:
    """A CLI process whose stderr (JSON log lines) is collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.lines.append(line)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.strip()]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._reader.join(5)
        if self.popen.stderr is not None:
            self.popen.stderr.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def toml_document(sandbox: RunningServer, prefix: str) -> str:
    spec = discover()["intrum"].sandbox
    assert spec is not None
    agency = spec.agency_config(sandbox.base_url)
    lines = [
        f'store_url = "{REDIS_URL}"',
        f'store_prefix = "{prefix}"',
        "run_worker = false",
        "retry_base_seconds = 0.05",
        "[agencies.intrum]",
        *(f"{k} = {json.dumps(v)}" for k, v in agency.items() if k != "poll_interval_seconds"),
        "poll_interval_seconds = 0.2",
        "[tenants.acme]",
        'default_agency = "intrum"',
        "[tenants.acme.credentials.intrum]",
        *(f"{k} = {json.dumps(v)}" for k, v in spec.credentials().items()),
        "[[api_keys]]",
        'tenant = "acme"',
        'scopes = ["claims:read", "claims:write"]',
        f'key_sha256 = "{sha(KEY)}"',
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def sandbox() -> Iterator[RunningServer]:
    spec = discover()["intrum"].sandbox
    assert spec is not None
    server = serve_in_thread(spec.create_app())
    try:
        yield server
    finally:
        server.stop()


async def scrape(url: str) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    # a new connection each time: successive scrapes reach whichever server process accepts
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url, headers={"Connection": "close"})
    assert response.status_code == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return samples, response.headers["content-type"]


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **match: str) -> float:
    return sum(
        value
        for (sample, labels), value in samples.items()
        if sample == name and all(dict(labels).get(k) == v for k, v in match.items())
    )


async def _equal(reading: Any, expected: Any) -> bool:
    return bool(await reading == expected)


async def wait_for(condition: Any, timeout: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await condition()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_two_api_processes_and_a_worker_count_exactly_the_traffic_sent(
    tmp_path: Path, redis_prefix: str, sandbox: RunningServer
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(toml_document(sandbox, redis_prefix))
    spec = discover()["intrum"].sandbox
    assert spec is not None
    env = {
        **os.environ,
        **spec.secrets(),
        "PYTHONPATH": str(ROOT),
        "CG_CONFIG": str(config),
        "CG_LOG_FORMAT": "json",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the CLI must set it up by itself
    port = free_port()
    api = Process(["serve", "--workers", "2", "--port", str(port)], env)
    worker = Process(["worker", "--port", "0"], env)
    base = f"http://127.0.0.1:{port}"
    try:

        async def worker_port() -> int | None:
            assert worker.popen.poll() is None, "".join(worker.lines)
            started = [r for r in worker.records() if r.get("message") == "worker started"]
            return started[0]["port"] if started else None

        async def api_ready() -> bool:
            assert api.popen.poll() is None, "".join(api.lines)
            try:
                async with httpx.AsyncClient(timeout=10) as http:
                    answer = await http.get(f"{base}/health/ready", headers={"Connection": "close"})
            except httpx.TransportError:
                return False
            return answer.status_code == 200

        worker_base = f"http://127.0.0.1:{await wait_for(worker_port)}"
        await wait_for(api_ready)
        sent: dict[tuple[str, str, str], int] = {}

        def count(method: str, route: str, status: int) -> None:
            sent[(method, route, str(status))] = sent.get((method, route, str(status)), 0) + 1

        auth = {"Authorization": f"Bearer {KEY}", "Connection": "close"}
        operations = []
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for n in range(CLAIMS):
                body = claim_body(f"ORD-{uuid.uuid4().hex[:8]}")
                body["invoices"][0]["number"] = uuid.uuid4().hex[:10]
                accepted = await http.post(
                    "/v1/tenants/acme/claims", json=body, headers={**auth, "Idempotency-Key": f"m-{n}"}
                )
                assert accepted.status_code == 202, accepted.text
                count("POST", "/v1/tenants/{tenant}/claims", 202)
                operations.append(accepted.json()["id"])
            for _ in range(3):
                assert (await http.get("/v1/agencies", headers=auth)).status_code == 200
                count("GET", "/v1/agencies", 200)
                assert (await http.get("/v1/nowhere", headers=auth)).status_code == 404
                count("GET", "unmatched", 404)
                assert (await http.get("/v1/agencies", headers={"Connection": "close"})).status_code == 401
                count("GET", "/v1/agencies", 401)
            for operation_id in operations:

                async def final(operation_id: str = operation_id) -> bool:
                    answer = await http.get(f"/v1/tenants/acme/operations/{operation_id}", headers=auth)
                    count("GET", "/v1/tenants/{tenant}/operations/{operation_id}", answer.status_code)
                    return answer.json()["status"] in ("succeeded", "failed")

                await wait_for(final)

        async def reading() -> dict[tuple[str, str, str], float]:
            samples, content_type = await scrape(f"{base}/metrics")
            assert content_type.count("charset") == 1
            return {
                key: total(samples, "cg_http_requests_total", method=key[0], route=key[1], status=key[2])
                for key in sent
            }

        # A process adds its counts to the shared files within FLUSH_SECONDS (adapters/_upstream/
        # tally.py); from then on every scrape, whichever process answers it, has both totals.
        await wait_for(lambda: _equal(reading(), sent), timeout=FLUSH_SECONDS + 10)
        readings = [await reading() for _ in range(6)]
        assert readings == [sent] * 6, readings
        samples, _ = await scrape(f"{base}/metrics")
        assert total(samples, "cg_operations_total", status="queued") == CLAIMS
        assert total(samples, "cg_http_request_seconds_count", route="/v1/tenants/{tenant}/claims") == CLAIMS

        # The worker serves its own: every claim delivered once and finished, nothing left waiting.
        async def drained() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            samples, content_type = await scrape(f"{worker_base}/metrics")
            assert content_type.count("charset") == 1
            done = total(samples, "cg_operations_total", status="succeeded")
            waiting = total(samples, "cg_outbox_depth") + total(samples, "cg_operations_awaiting_outcome")
            return samples if done == CLAIMS and waiting == 0 else None

        samples = await wait_for(drained)
        attempts = total(samples, "cg_delivery_attempts_total", agency="intrum")
        assert (
            total(samples, "cg_delivery_attempts_total", outcome="submitted")
            + total(samples, "cg_delivery_attempts_total", outcome="succeeded")
            == CLAIMS
            == attempts
        )
        assert total(samples, "cg_delivery_attempt_seconds_count", agency="intrum") == attempts
        assert (
            total(samples, "cg_upstream_requests_total", agency="intrum", route="/portfolio/registration")
            == CLAIMS
        )
        assert total(samples, "cg_outbox_oldest_age_seconds") == 0
        assert total(samples, "cg_operations_awaiting_outcome", agency="intrum") == 0
        assert total(samples, "cg_upstream_breaker_state", agency="intrum") == 0
        assert total(samples, "cg_upstream_rate_slots_total", agency="intrum", tenant="acme") >= CLAIMS
        async with httpx.AsyncClient(base_url=worker_base) as http:
            for path in ("/health/live", "/health/ready"):
                assert (await http.get(path)).json() == {"status": "ok"}
    finally:
        api.stop()
        worker.stop()
    for process in (api, worker):
        records = process.records()  # every line of both processes is JSON
        assert records and all({"timestamp", "level", "message"} <= r.keys() for r in records)
