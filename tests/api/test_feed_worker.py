"""The worker's feed loop on the real Redis: a lease per credential, a checkpoint stored with the
records it covers (a worker killed mid-feed loses and repeats nothing), store outages survived."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable

import msgspec
import pytest

from adapters.base import PaymentCollected, StatusChanged
from canonical import ClaimCreate, Money
from canonical.problems import ServiceUnavailable
from gateway.runtime import Runtime
from gateway.services.writes import Idempotency, WriteService
from gateway.stores.records import LedgerStep
from gateway.stores.redis import RedisStore
from gateway.worker import Worker
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import claim_body, gateway_settings
from tests.support.redis_server import OwnRedis


class CrashingStore(RedisStore):
    """Dies (as far as the worker can tell) between reading a feed batch and storing it."""

    crash_next_feed_step = False

    async def commit_ledger(self, step: LedgerStep) -> bool:
        if step.feed is not None and self.crash_next_feed_step:
            self.crash_next_feed_step = False
            raise ServiceUnavailable("killed mid-feed")
        return await super().commit_ledger(step)


@pytest.fixture
def agency() -> FakeAgency:
    return FakeAgency()


@pytest.fixture
async def runtimes(agency: FakeAgency, redis_prefix: str) -> AsyncIterator[list[Runtime]]:
    """Two worker replicas on one Redis."""
    specs = {"fake": fake_spec(agency, feeds=True)}
    made = []
    for _ in range(2):
        settings = gateway_settings(specs, store_url=REDIS_URL, store_prefix=redis_prefix, run_worker=False)
        runtime = Runtime(settings, store=CrashingStore(REDIS_URL, redis_prefix), specs=specs)
        await runtime.start()
        made.append(runtime)
    try:
        yield made
    finally:
        for runtime in made:
            await runtime.stop()


async def confirmed_claim(runtime: Runtime) -> str:
    """A claim accepted and delivered (the fake agency confirms it as AG-1)."""
    body = msgspec.convert(claim_body(), ClaimCreate)
    idem = Idempotency(tenant="acme", key="k", fingerprint="f", ttl_seconds=60)
    await WriteService(runtime).submit_claim("acme", body, idem)
    worker = Worker(runtime)
    while await worker.deliver_once():
        pass
    claim = await runtime.store.find_claim("acme", "ORD-1")
    assert claim is not None and claim.agency_reference == "AG-1"
    return claim.id


def activity(count: int) -> list[PaymentCollected | StatusChanged]:
    records: list[PaymentCollected | StatusChanged] = [
        PaymentCollected(
            record_id=f"pay-{n}",
            agency_reference="AG-1",
            amount=Money(amount=10, currency="EUR"),
            paid_on=dt.date(2026, 11, 1),
        )
        for n in range(count)
    ]
    records.append(StatusChanged(record_id="st-1", agency_reference="AG-1", status="paused"))
    return records


async def event_types(runtime: Runtime) -> list[str]:
    events, _ = await runtime.store.list_events("acme", None, 1000)
    return [e.type for e in events]


async def test_a_worker_killed_mid_feed_loses_and_repeats_nothing(
    agency: FakeAgency, runtimes: list[Runtime]
) -> None:
    first, second = runtimes
    claim_id = await confirmed_claim(first)
    agency.feed_overlap = 3  # every batch repeats the last three records of the one before
    agency.feed = list(activity(250))  # three batches of 100
    store = first.store
    assert isinstance(store, CrashingStore)
    store.crash_next_feed_step = True
    with pytest.raises(ServiceUnavailable):  # the first batch was read, then the worker "died"
        await Worker(first).feed_once(force=True)
    assert await first.store.get_feed("fake:acme-1") is None
    assert "payment.received" not in await event_types(first)

    await asyncio.sleep(0.03)  # the dead worker's lease (0.9 x the 0.02 s interval) runs out
    applied = await Worker(second).feed_once(force=True)
    assert applied >= 251
    types = await event_types(second)
    assert types.count("payment.received") == 250 and types.count("claim.status_changed") == 2
    ledger = await second.store.get_ledger(claim_id)
    assert ledger is not None and len(ledger.payments) == 250
    assert ledger.invoices[0].remaining == 12000 - 250 * 10
    state = await second.store.get_feed("fake:acme-1")
    assert state is not None and state.drained_at is not None

    # Read again from the stored checkpoint (it overlaps): nothing new, nothing twice.
    await asyncio.sleep(0.03)
    await Worker(first).feed_once(force=True)
    assert await event_types(first) == types


async def test_one_worker_reads_a_credentials_feed_per_interval(
    agency: FakeAgency, runtimes: list[Runtime]
) -> None:
    await confirmed_claim(runtimes[0])
    agency.feed = list(activity(2))
    workers = [Worker(runtime) for runtime in runtimes]
    await asyncio.gather(*(worker.feed_once(force=True) for worker in workers))
    assert agency.feed_calls == 1


async def test_a_failing_feed_keeps_its_checkpoint_and_other_work_goes_on(
    agency: FakeAgency, runtimes: list[Runtime]
) -> None:
    runtime = runtimes[0]
    await confirmed_claim(runtime)
    agency.feed = list(activity(1))
    agency.feed_fail_next = 1
    assert await Worker(runtime).feed_once(force=True) == 0
    assert await runtime.store.get_feed("fake:acme-1") is None
    await asyncio.sleep(0.03)
    assert await Worker(runtime).feed_once(force=True) == 2


async def test_the_feed_loop_survives_a_store_outage(agency: FakeAgency) -> None:
    own = OwnRedis()
    own.start()
    specs = {"fake": fake_spec(agency, feeds=True)}
    settings = gateway_settings(specs, store_url=own.url, store_prefix="cg-outage", run_worker=False)
    runtime = Runtime(settings, store=RedisStore(own.url, "cg-outage"), specs=specs)
    await runtime.start()
    stop = asyncio.Event()
    try:
        await confirmed_claim(runtime)
        worker = Worker(runtime)
        own.kill()
        agency.feed = list(activity(1))
        loop = asyncio.create_task(worker._feed_loop(stop))
        turned = worker.heartbeats.get("feeds", 0.0)

        async def turning() -> bool:  # rounds complete (and fail) while the store is down
            return worker.heartbeats.get("feeds", 0.0) > turned

        await until(turning)
        assert agency.feed_calls == 0 and not loop.done()
        own.start()

        async def applied() -> bool:
            return "payment.received" in await event_types(runtime)

        await until(applied)
        stop.set()
        await loop
    finally:
        stop.set()
        await runtime.stop()
        own.close()


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
