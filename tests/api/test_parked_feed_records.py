"""A payment the agency reports for a claim it accepted while the gateway does not know its
reference yet (the creation still `submitted`: Intrum, Riverty) is parked, not lost: once the
outcome resolves it is listed, `remaining` drops, and `payment.received` is emitted once — even
when the gateway restarts in between. On the real Redis, through the HTTP API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from adapters.base import PaymentCollected
from adapters.sandbox_kit import serve_in_thread
from canonical import Money
from gateway.app import create_app
from gateway.stores.redis import RedisStore
from tests.api.test_ledger import CLAIMS, auth, drained, events_of, until
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import claim_body, gateway_settings


@contextmanager
def gateway(agency: FakeAgency, prefix: str) -> Iterator[str]:
    """One gateway process's app (API + worker) on the shared Redis; stopped on exit."""
    specs = {"fake": fake_spec(agency, feeds=True)}
    settings = gateway_settings(specs, store_url=REDIS_URL, store_prefix=prefix)
    server = serve_in_thread(create_app(settings, specs=specs))
    try:
        yield server.base_url
    finally:
        server.stop()


def collected(record_id: str) -> PaymentCollected:
    return PaymentCollected(
        record_id=record_id,
        agency_reference="AG-1",
        amount=Money(amount=3000, currency="EUR"),
        paid_on=dt.date(2026, 11, 2),
    )


async def test_a_payment_reported_before_the_creation_resolved_is_applied_once(
    agency: FakeAgency, redis_prefix: str
) -> None:
    agency.asynchronous = True  # the claim.create answers "submitted"; the reference comes later
    agency.undecided = True  # ... and not before this test says so
    store = RedisStore(REDIS_URL, redis_prefix)
    try:
        with gateway(agency, redis_prefix) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                accepted = await http.post(
                    CLAIMS, json=claim_body(), headers=auth(**{"Idempotency-Key": "k1"})
                )
                assert accepted.status_code == 202, accepted.text
                claim_id = accepted.json()["claim_id"]

                async def submitted() -> bool:
                    operation = await store.get_operation(accepted.json()["id"])
                    return operation is not None and operation.status == "submitted"

                await until(submitted)
                # The agency holds the claim as AG-1 and reports a payment on it, twice.
                agency.feed = [collected("pay-1"), collected("pay-1")]

                async def parked() -> bool:
                    state = await store.get_feed("fake:acme-1")
                    return state is not None and state.checkpoint == "2"

                await until(parked)
                assert len(await store.parked_records("acme", "fake", "AG-1")) == 1
                assert [e["type"] for e in await events_of(http, claim_id)] == []
        # The gateway restarts; now the agency's outcome resolves (AG-1).
        agency.undecided = False
        with gateway(agency, redis_prefix) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:

                async def listed() -> list[dict[str, object]]:
                    answer = await http.get(f"{CLAIMS}/{claim_id}/payments", headers=auth())
                    return list(answer.json()["data"])

                payments = await until(listed)
                assert [(p["source"], p["amount"]) for p in payments] == [
                    ("agency", {"amount": 3000, "currency": "EUR"})
                ]
                claim = (await http.get(f"{CLAIMS}/{claim_id}", headers=auth())).json()
                assert claim["status"] == "active" and claim["agency_reference"] == "AG-1"
                invoices = (await http.get(f"{CLAIMS}/{claim_id}/invoices", headers=auth())).json()["data"]
                assert invoices[0]["remaining"] == {"amount": 9000, "currency": "EUR"}
                assert await store.parked_records("acme", "fake", "AG-1") == []

                # The agency repeats the record, now for a known claim: nothing new.
                agency.feed.append(collected("pay-1"))
                await drained(agency)
                types = [e["type"] for e in await events_of(http, claim_id)]
                assert types.count("payment.received") == 1, types
                assert types == [
                    "operation.succeeded",
                    "claim.status_changed",
                    "payment.received",
                    "invoice.updated",
                ]
                again = (await http.get(f"{CLAIMS}/{claim_id}/payments", headers=auth())).json()["data"]
                assert again == payments
    finally:
        await store.aclose()


@pytest.fixture
def agency() -> FakeAgency:
    return FakeAgency()
