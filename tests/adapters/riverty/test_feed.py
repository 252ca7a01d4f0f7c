"""Riverty's change feed (`changes_since` over GET /transactions) against its sandbox over real
HTTP. Payments come from the feed's accounting documents and remaining amounts from the
documented invoice read — never from GET /claims/{n}/accountingDocuments, which no document names."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.base import (
    ClaimRef,
    Credential,
    InvoiceChanged,
    PaymentCollected,
    StatusChanged,
    Succeeded,
    Unreadable,
)
from adapters.riverty.adapter import RivertyAdapter
from canonical import Allocation, PaymentReport
from tests.adapters.riverty._support import Riverty, create_claim, eur, make_claim, op, pending_of, resolve


async def _changes(
    adapter: RivertyAdapter, credential: Credential, checkpoint: str | None, limit: int = 100
) -> tuple[list[Any], str | None]:
    records: list[Any] = []
    for _ in range(200):
        batch = await adapter.changes_since(credential, checkpoint, limit)
        records += batch.records
        checkpoint = batch.checkpoint
        if not batch.has_more:
            return records, checkpoint
    raise AssertionError("the feed never caught up")


def _of(records: list[Any], number: str, kind: type) -> list[Any]:
    return [r for r in records if isinstance(r, kind) and r.agency_reference == number]


async def _claim(adapter: RivertyAdapter, credential: Credential, invoices: int = 2) -> ClaimRef:
    return await create_claim(adapter, credential, make_claim(invoices=invoices))


async def test_a_payment_riverty_collects_is_one_record_and_the_invoices_are_read_after_it(
    adapter: RivertyAdapter, credential: Credential, riverty: Riverty
) -> None:
    claim = make_claim(invoices=2)
    ref = await create_claim(adapter, credential, claim)
    _, checkpoint = await _changes(adapter, credential, None)
    async with httpx.AsyncClient(base_url=riverty.base_url) as http:
        answer = await http.post(
            f"/_sandbox/riverty/claims/{ref.agency_reference}/collected", json={"amount": 10}
        )
        assert answer.status_code == 204, answer.text
    records, after = await _changes(adapter, credential, checkpoint)
    [payment] = _of(records, ref.agency_reference, PaymentCollected)
    assert (payment.kind, payment.source, payment.payment_id, payment.amount) == (
        "payment",
        "agency",
        None,
        eur(1000),
    )
    assert payment.remaining_reported and payment.allocations
    remaining = {
        r.invoice_number: r.remaining.amount for r in _of(records, ref.agency_reference, InvoiceChanged)
    }
    assert remaining == {i.number: i.remaining.amount for i in await _invoices(adapter, credential, ref)}
    assert sum(remaining.values()) == sum(i.amount.amount for i in claim.invoices) - 1000
    again, _ = await _changes(adapter, credential, after)
    assert not _of(again, ref.agency_reference, PaymentCollected)  # read once past the checkpoint


async def _invoices(adapter: RivertyAdapter, credential: Credential, ref: ClaimRef) -> list[Any]:
    page = await adapter.list_invoices(credential, ref, None, 100)
    return page.items


async def test_riverty_pausing_and_closing_a_claim_are_status_records(
    adapter: RivertyAdapter, credential: Credential, riverty: Riverty
) -> None:
    ref = await _claim(adapter, credential)
    _, checkpoint = await _changes(adapter, credential, None)
    async with httpx.AsyncClient(base_url=riverty.base_url) as http:
        for status in ("PAUSED", "CLOSED"):
            answer = await http.post(
                f"/_sandbox/riverty/claims/{ref.agency_reference}/status", json={"status": status}
            )
            assert answer.status_code == 204, answer.text
    records, _ = await _changes(adapter, credential, checkpoint)
    assert [r.status for r in _of(records, ref.agency_reference, StatusChanged)] == ["paused", "closed"]


async def test_a_payment_the_creditor_reported_is_their_own_and_a_cancellation_is_its_reversal(
    adapter: RivertyAdapter, credential: Credential
) -> None:
    claim = make_claim(invoices=1)
    ref = await create_claim(adapter, credential, claim)
    _, checkpoint = await _changes(adapter, credential, None)
    invoice = claim.invoices[0]
    report = PaymentReport(
        payment_id="P-RIV-FEED",
        amount=eur(500),
        paid_on=invoice.due_on,
        allocations=[Allocation(invoice_number=invoice.number, amount=eur(500))],
    )
    operation = op("payment.report")
    outcome = await adapter.report_payment(credential, operation, ref, report)
    done = await resolve(
        adapter, credential, [pending_of(operation, outcome, agency_reference=ref.agency_reference)]
    )
    assert isinstance(done[operation.id], Succeeded)
    records, _ = await _changes(adapter, credential, checkpoint)
    [payment] = _of(records, ref.agency_reference, PaymentCollected)
    assert (payment.source, payment.payment_id, payment.kind) == ("creditor", "P-RIV-FEED", "payment")
    listed = (await adapter.list_payments(credential, ref, None, 10)).items
    assert [(p.payment_id, p.source, p.amount) for p in listed] == [("P-RIV-FEED", "creditor", eur(500))]


async def test_a_feed_read_in_small_batches_loses_and_repeats_nothing(
    adapter: RivertyAdapter, credential: Credential, riverty: Riverty
) -> None:
    refs = [await _claim(adapter, credential, invoices=1) for _ in range(3)]
    _, checkpoint = await _changes(adapter, credential, None)
    async with httpx.AsyncClient(base_url=riverty.base_url) as http:
        for ref in refs:
            for _ in range(2):
                await http.post(
                    f"/_sandbox/riverty/claims/{ref.agency_reference}/collected", json={"amount": 0.01}
                )
    whole, _ = await _changes(adapter, credential, checkpoint, limit=100)
    small, _ = await _changes(adapter, credential, checkpoint, limit=1)
    payments = [r.record_id for r in small if isinstance(r, PaymentCollected)]
    assert len(payments) == len(set(payments)) == 6
    assert set(payments) == {r.record_id for r in whole if isinstance(r, PaymentCollected)}


async def test_an_entry_that_cannot_be_read_is_set_aside_and_a_numeric_id_is_read(
    adapter: RivertyAdapter, credential: Credential, riverty: Riverty
) -> None:
    ref = await _claim(adapter, credential, invoices=1)
    _, checkpoint = await _changes(adapter, credential, None)
    async with httpx.AsyncClient(base_url=riverty.base_url) as http:
        poisoned = (await http.post("/_sandbox/feed/poison")).json()["poison"]
        await http.post(f"/_sandbox/riverty/claims/{ref.agency_reference}/status", json={"status": "PAUSED"})
    # Riverty sends an id as a number: read as text, not set aside
    riverty.sandbox.transactions[-1]["transactionId"] = 987654321
    records, _ = await _changes(adapter, credential, checkpoint)
    [bad] = [r for r in records if isinstance(r, Unreadable)]
    assert poisoned["transactionId"] in bad.raw and "twelve" in bad.raw
    [status] = _of(records, ref.agency_reference, StatusChanged)
    assert (status.record_id, status.status) == ("tx:987654321", "paused")
