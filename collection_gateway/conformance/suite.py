"""The conformance suite: what every adapter must do against its sandbox, over real HTTP.

Collected by the `collection_gateway.conformance` plugin next to every conftest.py that defines
the fixture `conformance_spec` (an `AdapterSpec`, or the name its entry point registers), once
per value of that fixture. A follow-up write is checked only where the adapter declares the
capability; a declared capability must work.

What the suite expects of an adapter beyond the protocol's types:
- `get_claim(...).agency_data` carries the debtor's reference as the agency knows it, so that a
  claim read back can be matched to the debtor it was sent for;
- `balance_amount` of a claim nobody has paid yet is what was sent (principal plus costs);
- a payment the creditor reported lowers its invoice's `remaining` once the agency confirmed it
  (the gateway lists the payment itself from its own ledger: `list_payments` is what the agency
  lists, which for some agencies holds only what the agency collected).

The fixtures `spec` and `agency` are this module's own: an adapter package's fixtures of the
same names do not reach into the suite, nor the suite's into the package's tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import pytest_asyncio

from adapters.base import CAPABILITIES, AdapterSpec, Succeeded
from canonical import (
    Allocation,
    CreditNoteCreate,
    Money,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
    claim_total,
    is_currency,
    validate_claim_create,
)
from collection_gateway.conformance.harness import Agency, running_agency, sample_claim
from collection_gateway.conformance.specs import resolve_spec


@pytest.fixture
def spec(conformance_spec: Any) -> AdapterSpec:
    """The adapter under test, from the one fixture an adapter package defines."""
    return resolve_spec(conformance_spec)


@pytest_asyncio.fixture
async def agency(spec: AdapterSpec) -> AsyncIterator[Agency]:
    async with running_agency(spec) as running:
        yield running


def _contains(document: object, text: str) -> bool:
    match document:
        case str():
            return text in document
        case dict():
            return any(_contains(value, text) for value in document.values())
        case list() | tuple():
            return any(_contains(value, text) for value in document)
        case _:
            return False


def test_capabilities_are_well_formed(spec: AdapterSpec) -> None:
    capabilities = spec.capabilities
    assert capabilities.supported <= set(CAPABILITIES)
    assert "claim.create" in capabilities.supported, "an adapter that cannot create claims is of no use"
    assert 1 <= capabilities.max_page_size <= 100
    assert capabilities.currencies is None or all(is_currency(code) for code in capabilities.currencies)
    if "claim.withdraw_partial" in capabilities.supported:
        assert "claim.withdraw" in capabilities.supported
    assert validate_claim_create(sample_claim(spec)) == []


@pytest.mark.asyncio
async def test_adapter_names_itself_and_its_capabilities_as_its_spec(agency: Agency) -> None:
    assert agency.adapter.name == agency.spec.name
    assert agency.adapter.capabilities == agency.spec.capabilities


@pytest.mark.asyncio
async def test_a_submitted_claim_ends_succeeded_with_an_agency_reference(agency: Agency) -> None:
    ref = await agency.create(sample_claim(agency.spec))
    assert ref.agency_reference


@pytest.mark.asyncio
async def test_resubmitting_with_the_same_token_creates_the_claim_once(agency: Agency) -> None:
    claim = sample_claim(agency.spec)
    first = agency.op("claim.create", claim_id="clm_once")
    again = msgspec.structs.replace(first, attempt=2, maybe_sent=True)
    one = await agency.resolve(first, await agency.adapter.submit_claim(agency.credential, first, claim))
    two = await agency.resolve(again, await agency.adapter.submit_claim(agency.credential, again, claim))
    assert isinstance(one, Succeeded) and isinstance(two, Succeeded)
    assert one.agency_reference == two.agency_reference


@pytest.mark.asyncio
async def test_a_claim_reads_back_as_it_was_sent(agency: Agency) -> None:
    agency.require("claim.read")
    claim = sample_claim(agency.spec, invoices=3)
    ref = await agency.create(claim)
    read = await agency.adapter.get_claim(agency.credential, ref)
    assert read.status in ("pending", "active")
    sent = {invoice.number: invoice for invoice in claim.invoices}
    got = {invoice.number: invoice for invoice in read.invoices}
    assert sorted(got) == sorted(sent)
    for number, invoice in sent.items():
        back = got[number]
        assert back.amount == invoice.amount, number
        assert back.remaining == invoice.amount, number
        assert (back.costs.amount if back.costs else 0) == (invoice.costs.amount if invoice.costs else 0), (
            number
        )
        assert (back.issued_on, back.due_on) == (invoice.issued_on, invoice.due_on), number
    assert read.balance_amount == claim_total(claim)
    assert _contains(msgspec.to_builtins(read.agency_data), claim.debtor.reference), (
        "debtor not in agency_data"
    )


@pytest.mark.asyncio
async def test_invoice_pages_are_complete_and_never_repeat(agency: Agency) -> None:
    agency.require("invoices.list")
    claim = sample_claim(agency.spec, invoices=5)
    ref = await agency.create(claim)
    expected = sorted(invoice.number for invoice in claim.invoices)
    for limit in (1, 2, 3, agency.spec.capabilities.max_page_size):
        numbers = [invoice.number for invoice in await agency.all_invoices(ref, limit)]
        assert len(numbers) == len(set(numbers)), f"limit {limit}: an invoice came twice"
        assert sorted(numbers) == expected, f"limit {limit}"


async def _remaining(agency: Agency, ref: Any, number: str) -> Money:
    return {i.number: i.remaining for i in await agency.all_invoices(ref, 100)}[number]


@pytest.mark.asyncio
async def test_a_reported_payment_lowers_the_invoices_remaining_amount(agency: Agency) -> None:
    agency.require("payment.report")
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    invoice = claim.invoices[0]
    amount = Money(amount=1000, currency=claim.currency)
    report = PaymentReport(
        payment_id=f"P-{ref.claim_id}",
        amount=amount,
        paid_on=invoice.due_on,
        allocations=[Allocation(invoice_number=invoice.number, amount=amount)],
    )
    outcome = await agency.write(
        ref, "payment.report", lambda op: agency.adapter.report_payment(agency.credential, op, ref, report)
    )
    assert isinstance(outcome, Succeeded), outcome
    if agency.declares("invoices.list"):
        # The gateway lists the payment itself (source creditor) from its own ledger; what the
        # agency must show is that it booked it.
        assert await _remaining(agency, ref, invoice.number) == Money(
            amount=invoice.amount.amount - amount.amount, currency=claim.currency
        )


@pytest.mark.asyncio
async def test_a_reported_payment_can_be_reversed(agency: Agency) -> None:
    agency.require("payment.report", "payment.reverse")
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    invoice = claim.invoices[1]
    amount = Money(amount=invoice.amount.amount, currency=claim.currency)
    report = PaymentReport(
        payment_id=f"P-{ref.claim_id}",
        amount=amount,
        paid_on=invoice.due_on,
        allocations=[Allocation(invoice_number=invoice.number, amount=amount)],
    )
    paid = await agency.write(
        ref, "payment.report", lambda op: agency.adapter.report_payment(agency.credential, op, ref, report)
    )
    assert isinstance(paid, Succeeded), paid
    reversed_ = await agency.write(
        ref,
        "payment.reverse",
        lambda op: agency.adapter.reverse_payment(
            agency.credential, op, ref, report.payment_id, PaymentReversal(reason="entered twice")
        ),
    )
    assert isinstance(reversed_, Succeeded), reversed_
    if agency.declares("invoices.list"):
        assert await _remaining(agency, ref, invoice.number) == invoice.amount


@pytest.mark.asyncio
async def test_a_credit_note_lowers_the_invoices_remaining_amount(agency: Agency) -> None:
    agency.require("credit_note.create")
    claim = sample_claim(agency.spec)
    ref = await agency.create(claim)
    invoice = claim.invoices[0]
    credit = Money(amount=345, currency=claim.currency)
    note = CreditNoteCreate(
        number=f"CN-{ref.claim_id}", invoice_number=invoice.number, amount=credit, issued_on=invoice.due_on
    )
    outcome = await agency.write(
        ref, "credit_note.create", lambda op: agency.adapter.add_credit_note(agency.credential, op, ref, note)
    )
    assert isinstance(outcome, Succeeded), outcome
    if agency.declares("invoices.list"):
        remaining = {i.number: i.remaining for i in await agency.all_invoices(ref, 100)}
        assert remaining[invoice.number] == Money(
            amount=invoice.amount.amount - credit.amount, currency=claim.currency
        )


@pytest.mark.asyncio
async def test_withdrawing_the_whole_claim_leaves_it_withdrawn(agency: Agency) -> None:
    agency.require("claim.withdraw")
    ref = await agency.create(sample_claim(agency.spec, invoices=2))
    outcome = await agency.write(
        ref,
        "claim.withdraw",
        lambda op: agency.adapter.withdraw(agency.credential, op, ref, Withdrawal(reason="by_client")),
    )
    assert isinstance(outcome, Succeeded), outcome
    if agency.declares("claim.read"):
        assert (await agency.adapter.get_claim(agency.credential, ref)).status == "withdrawn"


@pytest.mark.asyncio
async def test_withdrawing_some_invoices_leaves_the_claim_open(agency: Agency) -> None:
    agency.require("claim.withdraw_partial")
    claim = sample_claim(agency.spec, invoices=3)
    ref = await agency.create(claim)
    withdrawal = Withdrawal(
        reason="goods_returned", invoice_numbers=[claim.invoices[0].number, claim.invoices[2].number]
    )
    outcome = await agency.write(
        ref, "claim.withdraw", lambda op: agency.adapter.withdraw(agency.credential, op, ref, withdrawal)
    )
    assert isinstance(outcome, Succeeded), outcome
    if agency.declares("claim.read"):
        assert (await agency.adapter.get_claim(agency.credential, ref)).status not in ("withdrawn", "closed")
