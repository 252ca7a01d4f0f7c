"""A worker killed mid-feed loses and repeats nothing — with each real agency adapter against its
sandbox, two worker replicas on the real Redis. The store "dies" (as far as the worker can tell)
between reading a feed batch and storing it; the other replica then reads the same feed from the
stored checkpoint and every agency-side payment is one event, once."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest

from adapters.registry import discover
from adapters.sandbox_kit import RunningServer, serve_in_thread
from canonical import ClaimCreate
from canonical.problems import ServiceUnavailable
from gateway.demo import demo_document
from gateway.runtime import Runtime
from gateway.services.writes import Idempotency, WriteService
from gateway.settings import settings_from_mapping
from gateway.stores.records import LedgerStep
from gateway.stores.redis import RedisStore
from gateway.worker import Worker
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

#: agency → (tenant, currency)
TENANTS = {"intrum": ("acme", "EUR"), "debbie": ("acme", "SEK"), "riverty": ("globex", "EUR")}


class CrashingStore(RedisStore):
    """Dies (as far as the worker can tell) when about to store the first feed batch that changes
    something: the records were read, the checkpoint moved past them, and nothing is stored."""

    crash_next_feed_step = False

    async def commit_ledger(self, step: LedgerStep) -> bool:
        if step.feed is not None and step.events and self.crash_next_feed_step:
            self.crash_next_feed_step = False
            raise ServiceUnavailable("killed mid-feed")
        return await super().commit_ledger(step)


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[dict[str, RunningServer]]:
    specs = discover()
    servers = {
        name: serve_in_thread(spec.sandbox.create_app()) for name, spec in specs.items() if spec.sandbox
    }
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
async def replicas(sandboxes: dict[str, RunningServer], redis_prefix: str) -> AsyncIterator[list[Runtime]]:
    specs = discover()
    document, secrets = demo_document(specs, {n: s.base_url for n, s in sandboxes.items()}, REDIS_URL)
    document["store_prefix"] = redis_prefix
    document["run_worker"] = False
    for agency in document["agencies"].values():
        agency["poll_interval_seconds"] = 0.05
    made = []
    for _ in range(2):
        settings = settings_from_mapping(document, secrets, specs)
        runtime = Runtime(settings, store=CrashingStore(REDIS_URL, redis_prefix), specs=specs)
        await runtime.start()
        made.append(runtime)
    try:
        yield made
    finally:
        for runtime in made:
            await runtime.stop()


def _claim(currency: str) -> ClaimCreate:
    prefix = uuid.uuid4().hex[:6]
    body = {
        "client_reference": f"ORD-{prefix}",
        "currency": currency,
        "debtor": {
            "kind": "person",
            "reference": f"CUST-{prefix}",
            "first_name": "Anna",
            "last_name": "Muster",
            "address": {"street": "Bahnhofstrasse", "postal_code": "8001", "city": "Zurich", "country": "CH"},
        },
        "invoices": [
            {"number": f"{prefix}-1", "issued_on": "2026-10-01", "due_on": "2026-10-31",
             "amount": {"amount": 12000, "currency": currency}},
        ],
    }  # fmt: skip
    return msgspec.convert(body, ClaimCreate)


async def _confirmed(runtime: Runtime, tenant: str, claim: ClaimCreate) -> Any:
    idem = Idempotency(tenant=tenant, key=uuid.uuid4().hex, fingerprint="f", ttl_seconds=60)
    await WriteService(runtime).submit_claim(tenant, claim, idem)
    worker = Worker(runtime)
    for _ in range(400):  # bounded: deliver, then poll the asynchronous agencies' outcomes
        await worker.deliver_once()
        await worker.poll_once(force=True)
        found = await runtime.store.find_claim(tenant, claim.client_reference)
        if found is not None and found.agency_reference and found.status == "active":
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("the claim was not confirmed")


async def _collect(server: RunningServer, agency: str, reference: str, invoice: str, times: int) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as sandbox:
        for _ in range(times):
            match agency:
                case "intrum":
                    body = {"caseNumber": int(reference), "invoiceNumber": invoice, "amount": 1}
                    answer = await sandbox.post("/_sandbox/intrum/collections", json=body)
                case "riverty":
                    answer = await sandbox.post(
                        f"/_sandbox/riverty/claims/{reference}/collected", json={"amount": 1}
                    )
                case _:
                    answer = await sandbox.post(
                        f"/_sandbox/debbie/cases/{reference}/collected", json={"amount": 100}
                    )
            assert answer.status_code < 300, answer.text


async def _payments_received(runtime: Runtime, tenant: str, claim_id: str) -> int:
    events, _ = await runtime.store.list_events(tenant, None, 1000)
    return sum(1 for e in events if e.type == "payment.received" and e.claim_id == claim_id)


async def _requests(server: RunningServer) -> int:
    async with httpx.AsyncClient(base_url=server.base_url) as sandbox:
        return int((await sandbox.get("/_sandbox/ledger")).json()["requests"])


async def _read_until(runtime: Runtime, done: Any, what: str) -> None:
    """Let `runtime`'s worker read the feeds until `done()` (bounded; the sync budget paces it)."""
    worker = Worker(runtime)
    deadline = asyncio.get_running_loop().time() + 20
    while not await done():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.06)  # the previous read's lease (0.9 x 0.05 s) runs out
        await worker.feed_once(force=True)


@pytest.mark.parametrize("agency", ["intrum", "riverty", "debbie"])
async def test_a_worker_killed_mid_feed_loses_and_repeats_nothing(
    agency: str, replicas: list[Runtime], sandboxes: dict[str, RunningServer]
) -> None:
    first, second = replicas
    server = sandboxes[agency]
    tenant, currency = TENANTS[agency]
    claim = _claim(currency)
    record = await _confirmed(first, tenant, claim)
    await _collect(server, agency, record.agency_reference, claim.invoices[0].number, 3)

    store = first.store
    assert isinstance(store, CrashingStore)
    store.crash_next_feed_step = True
    worker = Worker(first)
    deadline = asyncio.get_running_loop().time() + 20
    while store.crash_next_feed_step:  # the batch with the payments is not stored: the worker "dies"
        assert asyncio.get_running_loop().time() < deadline, "the feed was never read"
        await asyncio.sleep(0.06)
        with contextlib.suppress(ServiceUnavailable):
            await worker.feed_once(force=True)
    assert await _payments_received(first, tenant, record.id) == 0

    async def all_three() -> bool:
        return await _payments_received(second, tenant, record.id) >= 3

    await _read_until(second, all_three, "the other replica reads the feed on")  # from the checkpoint
    asked = await _requests(server)

    async def read_twice_more() -> bool:
        return await _requests(server) >= asked + 2

    await _read_until(first, read_twice_more, "the feed read again")  # overlaps, sweeps: nothing new
    assert await _payments_received(first, tenant, record.id) == 3
    ledger = await second.store.get_ledger(record.id)
    assert ledger is not None and [p.source for p in ledger.payments] == ["agency"] * 3
