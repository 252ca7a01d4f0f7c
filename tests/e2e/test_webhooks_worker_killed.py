"""A worker SIGKILLed in the middle of a webhook delivery: after a restart the event arrives.

Real processes (`collection-gateway worker`), the real Redis, a real receiver: the first worker is
killed while the receiver holds its request; a new worker takes the endpoint over when the dead
one's lease runs out and sends the event again, with the same `webhook-id` and a valid signature.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adapters.registry import discover
from canonical import Event
from gateway.runtime import Runtime
from gateway.services.webhooks import WebhookCreate, WebhookService
from gateway.settings import load_settings
from gateway.stores import new_id, utcnow
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.support.receiver import Receiver

pytestmark = pytest.mark.e2e


def config(path: Path, prefix: str) -> None:
    intrum = discover()["intrum"].sandbox
    assert intrum is not None
    agency = intrum.agency_config("http://127.0.0.1:9")
    credentials = intrum.credentials()
    lines = [
        f'store_url = "{REDIS_URL}"',
        f'store_prefix = "{prefix}"',
        "worker_port = 0",  # a free port: another worker on this host may hold the default
        "",
        "[webhooks]",
        'allow_http_hosts = ["127.0.0.1"]',
        'secret_key_env = "CG_TEST_WEBHOOK_KEY"',
        "lease_seconds = 1.0",
        "poll_interval_seconds = 0.05",
        "",
        "[agencies.intrum]",
        *(f"{k} = {v!r}".replace("'", '"') for k, v in agency.items()),
        "",
        "[tenants.acme]",
        'default_agency = "intrum"',
        "",
        "[tenants.acme.credentials.intrum]",
        *(f'{k} = "{v}"' for k, v in credentials.items()),
    ]
    path.write_text("\n".join(lines) + "\n")


def env() -> dict[str, str]:
    intrum = discover()["intrum"].sandbox
    assert intrum is not None
    return {
        **os.environ,
        **intrum.secrets(),
        "CG_TEST_WEBHOOK_KEY": "e2e-webhook-key",
        "CG_LOG_LEVEL": "WARNING",
    }


def start_worker(path: Path, log: Path) -> subprocess.Popen[bytes]:
    # Logs to a file, not a pipe nobody reads (a full pipe would stop the worker mid-test); its
    # /metrics port is a free one (the default 9000 may be taken on a shared machine).
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "worker", "--config", str(path), "--port", "0"],
            env=env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def test_worker_killed_mid_delivery_leads_to_a_delivery_after_restart(
    redis_prefix: str, tmp_path: Path
) -> None:
    path = tmp_path / "gateway.toml"
    config(path, redis_prefix)
    settings = load_settings(str(path), env())
    runtime = Runtime(settings, store=RedisStore(REDIS_URL, redis_prefix))
    await runtime.start()
    receiver = Receiver().start()
    receiver.hold = threading.Event()
    workers: list[subprocess.Popen[bytes]] = []
    try:
        service = WebhookService(runtime)
        endpoint = await service.create("acme", WebhookCreate(url=receiver.url), None)
        event = Event(
            id=new_id("evt"), type="operation.succeeded", created_at=utcnow(), claim_id="clm_1", data={}
        )
        await runtime.store.append_events("acme", [event])

        log = tmp_path / "workers.log"
        workers.append(start_worker(path, log))
        called = await asyncio.to_thread(receiver.entered.wait, 60)
        assert called, f"the first worker never called the receiver; its log ends:\n{log.read_text()[-1500:]}"
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        held, receiver.hold = receiver.hold, None
        held.set()  # the dead worker's request: its answer goes nowhere

        workers.append(start_worker(path, log))
        got = await receiver.wait_for(2, timeout=60)
        assert [r.webhook_id for r in got] == [event.id, event.id]
        assert got[1].verifies_with(endpoint.secret)  # type: ignore[arg-type]

        async def delivered() -> list[str]:
            page = await service.deliveries("acme", endpoint.id, None, 10)
            return [d.event_id for d in page.data if d.status_code == 200]

        deadline = asyncio.get_running_loop().time() + 10
        while not await delivered():
            assert asyncio.get_running_loop().time() < deadline, "the delivery was not recorded"
            await asyncio.sleep(0.05)
        assert await delivered() == [event.id]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.terminate()
                worker.wait(10)
        receiver.stop()
        await runtime.stop()
