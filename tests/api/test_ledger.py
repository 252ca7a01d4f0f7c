"""The claim ledger as a user sees it: reads never ask the agency, what happens at the agency
arrives through its change feed as events (once each), and the gateway's own writes show at once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from adapters.base import InvoiceChanged, PaymentCollected, StatusChanged, Unreadable
from adapters.sandbox_kit import serve_in_thread
from canonical import Money
from gateway.app import create_app
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import ADMIN_KEY, TENANT_KEY, claim_body, gateway_settings

CLAIMS = "/v1/tenants/acme/claims"
EVENTS = "/v1/tenants/acme/events"


def auth(key: str = TENANT_KEY, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


@pytest.fixture
def agency() -> FakeAgency:
    return FakeAgency()


@pytest.fixture
async def client(agency: FakeAgency) -> AsyncIterator[httpx.AsyncClient]:
    specs = {"fake": fake_spec(agency, feeds=True)}
    server = serve_in_thread(create_app(gateway_settings(specs), specs=specs))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield http
    finally:
        server.stop()


async def until(check: Callable[[], Awaitable[Any]], seconds: float = 10.0) -> Any:
    """Poll `check` until it answers something truthy (bounded)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def confirmed_claim(http: httpx.AsyncClient, reference: str = "ORD-1") -> dict[str, Any]:
    operation = (
        await http.post(
            CLAIMS,
            json=claim_body(reference),
            headers=auth(**{"Idempotency-Key": reference, "Prefer": "wait=5"}),
        )
    ).json()
    assert operation["status"] == "succeeded", operation
    claim: dict[str, Any] = (await http.get(f"{CLAIMS}/{operation['claim_id']}", headers=auth())).json()
    return claim


async def events_of(http: httpx.AsyncClient, claim_id: str) -> list[dict[str, Any]]:
    events = (await http.get(f"{EVENTS}?limit=100", headers=auth())).json()["data"]
    return [e for e in events if e["claim_id"] == claim_id]


async def test_reads_come_from_the_ledger_without_asking_the_agency(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    claim = await confirmed_claim(client)
    assert claim["synced_at"] is not None and claim["status"] == "active"
    before = agency.claim_reads
    for _ in range(5):
        assert (await client.get(f"{CLAIMS}/{claim['id']}", headers=auth())).status_code == 200
        assert (await client.get(f"{CLAIMS}/{claim['id']}/invoices", headers=auth())).status_code == 200
        assert (await client.get(f"{CLAIMS}/{claim['id']}/payments", headers=auth())).status_code == 200
        assert (await client.get(CLAIMS, headers=auth())).status_code == 200
    assert agency.claim_reads == before
    # refresh=true is the one read that asks the agency.
    refreshed = await client.get(f"{CLAIMS}/{claim['id']}?refresh=true", headers=auth())
    assert refreshed.status_code == 200 and agency.claim_reads == before + 1


async def test_a_claim_not_yet_confirmed_has_no_synced_at(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    agency.asynchronous = True
    agency.undecided = True  # the agency has not decided yet: the claim stays pending
    response = await client.post(CLAIMS, json=claim_body(), headers=auth(**{"Idempotency-Key": "k"}))
    claim = (await client.get(f"{CLAIMS}/{response.json()['claim_id']}", headers=auth())).json()
    assert claim["status"] == "pending" and claim["synced_at"] is None


async def test_agency_activity_arrives_through_the_feed_as_one_event_each(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    claim = await confirmed_claim(client)
    reference, claim_id = claim["agency_reference"], claim["id"]
    payment = PaymentCollected(
        record_id="pay-1", agency_reference=reference, amount=eur(3000), paid_on=dt.date(2026, 11, 20)
    )
    agency.feed += [
        payment,
        StatusChanged(record_id="st-1", agency_reference=reference, status="paused", reason="DEBTOR_DISPUTE"),
    ]

    async def both_seen() -> list[dict[str, Any]] | None:
        events = await events_of(client, claim_id)
        types = [e["type"] for e in events]
        return events if "payment.received" in types and "claim.status_changed" in types[2:] else None

    events = await until(both_seen)
    # The same records again (an overlap window, a replayed page) change nothing.
    agency.feed += [payment, StatusChanged(record_id="st-1", agency_reference=reference, status="paused")]
    await drained(agency)
    again = await events_of(client, claim_id)
    assert [e["type"] for e in again] == [e["type"] for e in events]
    assert [e["type"] for e in events] == [
        "operation.succeeded",
        "claim.status_changed",  # pending → active (the gateway's own create)
        "payment.received",
        "invoice.updated",
        "claim.status_changed",
    ]
    received = events[2]["data"]
    assert received["source"] == "agency" and received["amount"] == {"amount": 3000, "currency": "EUR"}
    assert events[3]["data"] == {"invoice_number": "INV-1", "remaining": {"amount": 9000, "currency": "EUR"}}
    assert events[4]["data"] == {"from": "active", "to": "paused"}

    payments = (await client.get(f"{CLAIMS}/{claim_id}/payments", headers=auth())).json()["data"]
    assert [(p["source"], p["amount"]["amount"]) for p in payments] == [("agency", 3000)]
    invoices = (await client.get(f"{CLAIMS}/{claim_id}/invoices", headers=auth())).json()["data"]
    assert invoices[0]["remaining"] == {"amount": 9000, "currency": "EUR"}
    read = (await client.get(f"{CLAIMS}/{claim_id}", headers=auth())).json()
    assert read["status"] == "paused" and read["balance"] == {"amount": 9500, "currency": "EUR"}


async def drained(agency: FakeAgency) -> None:
    """Until the worker has read the feed twice more: whatever it held has been applied."""
    calls = agency.feed_calls

    async def read_twice() -> bool:
        return agency.feed_calls >= calls + 2

    await until(read_twice)


async def test_the_gateways_own_writes_show_at_once_and_the_agencys_copy_adds_nothing(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    claim = await confirmed_claim(client)
    claim_id, reference = claim["id"], claim["agency_reference"]
    report = {"payment_id": "P-1", "amount": {"amount": 2000, "currency": "EUR"}, "paid_on": "2026-11-20"}
    done = await client.post(
        f"{CLAIMS}/{claim_id}/payments",
        json=report,
        headers=auth(**{"Idempotency-Key": "p", "Prefer": "wait=5"}),
    )
    assert done.json()["status"] == "succeeded"
    note = {
        "number": "CN-1",
        "invoice_number": "INV-1",
        "amount": {"amount": 1000, "currency": "EUR"},
        "issued_on": "2026-11-21",
    }
    done = await client.post(
        f"{CLAIMS}/{claim_id}/credit-notes",
        json=note,
        headers=auth(**{"Idempotency-Key": "c", "Prefer": "wait=5"}),
    )
    assert done.json()["status"] == "succeeded"
    payments = (await client.get(f"{CLAIMS}/{claim_id}/payments", headers=auth())).json()["data"]
    assert [(p["payment_id"], p["source"], p["kind"]) for p in payments] == [("P-1", "creditor", "payment")]
    assert payments[0]["allocations"] == [
        {"invoice_number": "INV-1", "amount": {"amount": 2000, "currency": "EUR"}}
    ]
    invoices = (await client.get(f"{CLAIMS}/{claim_id}/invoices", headers=auth())).json()["data"]
    assert invoices[0]["remaining"]["amount"] == 12000 - 2000 - 1000

    # The agency books the reported payment too: its copy is not a second payment.
    agency.feed.append(
        PaymentCollected(
            record_id="copy-1",
            agency_reference=reference,
            amount=eur(2000),
            paid_on=dt.date(2026, 11, 20),
            source="creditor",
            payment_id="P-1",
        )
    )
    await drained(agency)
    payments = (await client.get(f"{CLAIMS}/{claim_id}/payments", headers=auth())).json()["data"]
    assert len(payments) == 1
    assert "payment.received" not in [e["type"] for e in await events_of(client, claim_id)]


async def test_a_full_withdrawal_reads_withdrawn_whatever_code_the_agency_closes_it_with(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    claim = await confirmed_claim(client)
    done = await client.post(
        f"{CLAIMS}/{claim['id']}/withdrawal",
        json={"reason": "by_client"},
        headers=auth(**{"Idempotency-Key": "w", "Prefer": "wait=5"}),
    )
    assert done.json()["status"] == "succeeded"
    assert (await client.get(f"{CLAIMS}/{claim['id']}", headers=auth())).json()["status"] == "withdrawn"
    agency.feed.append(
        StatusChanged(
            record_id="close-1", agency_reference=claim["agency_reference"], status="closed", reason="X9"
        )
    )
    await drained(agency)
    assert (await client.get(f"{CLAIMS}/{claim['id']}", headers=auth())).json()["status"] == "withdrawn"
    listed = (await client.get(f"{CLAIMS}?status=withdrawn", headers=auth())).json()["data"]
    assert [c["id"] for c in listed] == [claim["id"]]
    assert (await client.get(f"{CLAIMS}?status=active", headers=auth())).json()["data"] == []


async def test_an_unreadable_record_is_quarantined_and_the_feed_goes_on(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    claim = await confirmed_claim(client)
    reference = claim["agency_reference"]
    agency.feed += [
        Unreadable(
            record_id="bad-1",
            agency_reference=reference,
            raw='{"amount": "12,5x"}',
            reason="amount: not a number",
        ),
        PaymentCollected(
            record_id="chf-1",
            agency_reference=reference,
            amount=Money(amount=100, currency="CHF"),
            paid_on=dt.date(2026, 11, 1),
        ),
        InvoiceChanged(
            record_id="inv-1", agency_reference=reference, invoice_number="INV-1", remaining=eur(7000)
        ),
    ]

    async def remaining() -> bool:
        invoices = (await client.get(f"{CLAIMS}/{claim['id']}/invoices", headers=auth())).json()["data"]
        return bool(invoices[0]["remaining"]["amount"] == 7000)

    await until(remaining)
    quarantine = await client.get("/v1/admin/quarantine", headers=auth(ADMIN_KEY))
    assert quarantine.status_code == 200
    entries = quarantine.json()["data"]
    assert [(e["record_id"], e["agency"]) for e in entries] == [("chf-1", "fake"), ("bad-1", "fake")]
    assert entries[1]["reason"] == "amount: not a number" and entries[1]["raw"] == '{"amount": "12,5x"}'
    assert "CHF" in entries[0]["reason"]
    # Seen again, a quarantined record is not listed twice.
    agency.feed.append(Unreadable(record_id="bad-1", agency_reference=reference, raw="x", reason="y"))
    await drained(agency)
    assert len((await client.get("/v1/admin/quarantine", headers=auth(ADMIN_KEY))).json()["data"]) == 2
    assert (await client.get("/v1/admin/quarantine", headers=auth())).status_code == 403


async def test_created_after_without_a_time_zone_is_a_bad_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{CLAIMS}?created_after=2026-11-25T10:00:00", headers=auth())
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter" and "created_after" in response.json()["detail"]
    fine = await client.get(f"{CLAIMS}?created_after=2026-11-25T10:00:00Z", headers=auth())
    assert fine.status_code == 200


async def test_list_filters_combine(client: httpx.AsyncClient) -> None:
    first = await confirmed_claim(client, "ORD-A")
    cutoff = dt.datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    second = await confirmed_claim(client, "ORD-B")
    after = cutoff.isoformat().replace("+00:00", "Z")
    listed = (await client.get(f"{CLAIMS}?status=active&created_after={after}", headers=auth())).json()[
        "data"
    ]
    assert [c["id"] for c in listed] == [second["id"]]
    by_agency = (await client.get(f"{CLAIMS}?agency=fake&limit=1", headers=auth())).json()
    assert [c["id"] for c in by_agency["data"]] == [second["id"]] and by_agency["has_more"]
    page_two = await client.get(
        f"{CLAIMS}?agency=fake&limit=1&cursor={by_agency['next_cursor']}", headers=auth()
    )
    assert [c["id"] for c in page_two.json()["data"]] == [first["id"]]
    assert all(c["synced_at"] for c in listed)


async def test_synced_at_follows_the_feed_even_when_nothing_changed(client: httpx.AsyncClient) -> None:
    claim = await confirmed_claim(client)
    confirmed_at = dt.datetime.fromisoformat(claim["synced_at"])

    async def later() -> bool:
        read = (await client.get(f"{CLAIMS}/{claim['id']}", headers=auth())).json()
        return dt.datetime.fromisoformat(read["synced_at"]) > confirmed_at

    await until(later)  # the feed was read to its end after the claim was confirmed


async def test_erasing_a_claims_personal_data_blanks_its_quarantined_agency_records(
    client: httpx.AsyncClient, agency: FakeAgency
) -> None:
    claim = await confirmed_claim(client)
    agency.feed.append(
        Unreadable(
            record_id="bad-pii",
            agency_reference=claim["agency_reference"],
            raw='{"debtorName": "Anna Muster", "amount": "?"}',
            reason="amount: not a number",
        )
    )

    async def quarantined() -> list[dict[str, Any]]:
        return (await client.get("/v1/admin/quarantine", headers=auth(ADMIN_KEY))).json()["data"]  # type: ignore[no-any-return]

    assert "Muster" in (await until(quarantined))[0]["raw"]
    erased = await client.delete(f"{CLAIMS}/{claim['id']}/personal-data", headers=auth(ADMIN_KEY))
    assert erased.status_code == 204
    [entry] = await quarantined()
    assert entry["raw"] == "[erased]" and entry["record_id"] == "bad-pii"


async def test_agencies_say_what_their_change_feed_reports(client: httpx.AsyncClient) -> None:
    agencies = (await client.get("/v1/agencies", headers=auth())).json()["data"]
    assert [(a["name"], a["feeds"]) for a in agencies] == [("fake", ["invoices", "payments", "status"])]
