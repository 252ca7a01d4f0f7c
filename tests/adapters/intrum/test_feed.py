"""Intrum's change feed (`changes_since`) against its sandbox over real HTTP.

What Intrum does on its own is driven with the sandbox's controls (collections, their reversals,
closings); what the creditor does goes through the adapter's writes. The feed must report each
change once per record id, resume from its checkpoint, and set aside what it cannot read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.base import InvoiceChanged, PaymentCollected, StatusChanged, Succeeded, Unreadable
from adapters.intrum import SPEC
from canonical import Allocation, Money, PaymentReport
from tests.conformance.harness import Agency, running_agency, sample_claim


@pytest.fixture
async def intrum() -> AsyncIterator[Agency]:
    async with running_agency(SPEC) as agency:
        yield agency


def _remaining(records: list, reference: str) -> dict[str, int]:
    return {
        r.invoice_number: r.remaining.amount
        for r in records
        if isinstance(r, InvoiceChanged) and r.agency_reference == reference
    }


async def test_a_new_case_reads_active_with_its_invoices_open(intrum: Agency) -> None:
    claim = sample_claim(SPEC, invoices=2)
    ref = await intrum.create(claim)
    records, _ = await intrum.changes()
    assert _remaining(records, ref.agency_reference) == {i.number: i.amount.amount for i in claim.invoices}
    statuses = {
        r.status
        for r in records
        if isinstance(r, StatusChanged) and r.agency_reference == ref.agency_reference
    }
    assert statuses == {"active"}


async def test_a_payment_intrum_collects_is_one_payment_record_and_lowers_the_remaining_amount(
    intrum: Agency,
) -> None:
    claim = sample_claim(SPEC, invoices=2)
    ref = await intrum.create(claim)
    _, checkpoint = await intrum.changes()
    invoice = claim.invoices[0]
    collected = {"caseNumber": int(ref.agency_reference), "invoiceNumber": invoice.number, "amount": 12.5}
    await intrum.sandbox("POST", "/_sandbox/intrum/collections", json=collected)
    records, after = await intrum.changes(checkpoint)
    [payment] = [r for r in records if isinstance(r, PaymentCollected)]
    assert (payment.agency_reference, payment.kind, payment.source, payment.payment_id) == (
        ref.agency_reference,
        "payment",
        "agency",
        None,
    )
    assert payment.amount == Money(amount=1250, currency=claim.currency)
    assert [(a.invoice_number, a.amount.amount) for a in payment.allocations] == [(invoice.number, 1250)]
    assert _remaining(records, ref.agency_reference)[invoice.number] == invoice.amount.amount - 1250
    # read again from the same checkpoint: the same records, by the same ids (applied once)
    again, _ = await intrum.changes(checkpoint)
    assert {r.record_id for r in again} >= {r.record_id for r in records}
    # and from the new checkpoint nothing new is a payment
    later, _ = await intrum.changes(after)
    assert not [r for r in later if isinstance(r, PaymentCollected)]


async def test_a_reversed_collection_is_a_reversal_record(intrum: Agency) -> None:
    claim = sample_claim(SPEC)
    ref = await intrum.create(claim)
    invoice = claim.invoices[0]
    collected = {"caseNumber": int(ref.agency_reference), "invoiceNumber": invoice.number, "amount": 10}
    record = await intrum.sandbox("POST", "/_sandbox/intrum/collections", json=collected)
    _, checkpoint = await intrum.changes()
    await intrum.sandbox(
        "POST", "/_sandbox/intrum/collections/reversal", json={"intPaymentId": record["intPaymentId"]}
    )
    records, _ = await intrum.changes(checkpoint)
    [reversal] = [r for r in records if isinstance(r, PaymentCollected)]
    assert (reversal.kind, reversal.amount.amount) == ("reversal", 1000)
    assert _remaining(records, ref.agency_reference)[invoice.number] == invoice.amount.amount


async def test_intrum_closing_the_case_reads_closed(intrum: Agency) -> None:
    ref = await intrum.create(sample_claim(SPEC, invoices=2))
    _, checkpoint = await intrum.changes()
    await intrum.sandbox("POST", "/_sandbox/intrum/closings", json={"caseNumber": int(ref.agency_reference)})
    records, _ = await intrum.changes(checkpoint)
    statuses = [
        r for r in records if isinstance(r, StatusChanged) and r.agency_reference == ref.agency_reference
    ]
    assert statuses and {s.status for s in statuses} == {"closed"}
    assert all(s.reason for s in statuses)


async def test_a_payment_the_creditor_reported_lowers_the_remaining_amount_and_is_no_agency_payment(
    intrum: Agency,
) -> None:
    claim = sample_claim(SPEC)
    ref = await intrum.create(claim)
    _, checkpoint = await intrum.changes()
    invoice = claim.invoices[0]
    amount = Money(amount=700, currency=claim.currency)
    report = PaymentReport(
        payment_id="P-FEED",
        amount=amount,
        paid_on=invoice.due_on,
        allocations=[Allocation(invoice_number=invoice.number, amount=amount)],
    )
    outcome = await intrum.write(
        ref, "payment.report", lambda op: intrum.adapter.report_payment(intrum.credential, op, ref, report)
    )
    assert isinstance(outcome, Succeeded), outcome
    records, _ = await intrum.changes(checkpoint)
    assert not [r for r in records if isinstance(r, PaymentCollected)]
    assert _remaining(records, ref.agency_reference)[invoice.number] == invoice.amount.amount - 700


async def test_a_feed_read_in_small_batches_loses_and_repeats_nothing(intrum: Agency) -> None:
    claims = [sample_claim(SPEC, invoices=3) for _ in range(3)]
    refs = [await intrum.create(claim) for claim in claims]
    for ref, claim in zip(refs, claims, strict=True):
        for invoice in claim.invoices:
            collected = {
                "caseNumber": int(ref.agency_reference),
                "invoiceNumber": invoice.number,
                "amount": 0.01,
            }
            await intrum.sandbox("POST", "/_sandbox/intrum/collections", json=collected)
    whole, _ = await intrum.changes(limit=100)
    small, _ = await intrum.changes(limit=3)
    assert len({r.record_id for r in small}) == len(small)  # one batch never repeats another here
    assert {r.record_id for r in small} == {r.record_id for r in whole}
    assert len([r for r in small if isinstance(r, PaymentCollected)]) == 9


async def test_an_amount_that_is_not_exact_is_set_aside_and_the_feed_goes_on(intrum: Agency) -> None:
    claim = sample_claim(SPEC)
    ref = await intrum.create(claim)
    invoice = claim.invoices[0]
    _, checkpoint = await intrum.changes()
    poisoned = await intrum.sandbox("POST", "/_sandbox/feed/poison")
    collected = {"caseNumber": int(ref.agency_reference), "invoiceNumber": invoice.number, "amount": 2}
    await intrum.sandbox("POST", "/_sandbox/intrum/collections", json=collected)
    records, _ = await intrum.changes(checkpoint)
    [poison] = [r for r in records if isinstance(r, Unreadable)]
    assert poison.record_id == f"payment:{poisoned['poison']['recordId']}"
    assert "0.001" in poison.raw and poison.reason
    assert [r.amount.amount for r in records if isinstance(r, PaymentCollected)] == [200]
