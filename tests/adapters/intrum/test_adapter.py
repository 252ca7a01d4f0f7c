"""The Intrum adapter against its sandbox over real HTTP: faults, exactly-once writes, readings.

Retries of writes are the worker's (Agency.deliver: same token, `maybe_sent`, Retry-After
honoured); the upstream client retries reads itself. The sandbox's ledger is the witness of what
Intrum carried out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from adapters.base import AdapterContext, Failed, Submitted, Succeeded
from adapters.intrum import SPEC
from adapters.intrum.adapter import IntrumAdapter
from adapters.intrum.mapping import CLAIM_TYPES, REFERENCE_ATTRIBUTES, intrum_view, withdrawal_key
from adapters.intrum.sandbox import SandboxOptions, create_app
from canonical import (
    Allocation,
    ClaimCreate,
    CreditNoteCreate,
    Money,
    PaymentReport,
    Withdrawal,
)
from canonical.problems import OutcomeUnknown
from tests.conformance.harness import Agency, running_agency, sample_claim
from tests.conformance.strategies import claim_creates

REGISTRATION = "/portfolio/registration"


@pytest.fixture
async def intrum() -> AsyncIterator[Agency]:
    async with running_agency(SPEC) as agency:
        yield agency


async def _submit(agency: Agency, claim: ClaimCreate) -> Succeeded | Failed:
    op = agency.op("claim.create", claim_id="clm_test")
    return await agency.resolve(
        op, await agency.deliver(op, lambda o: agency.adapter.submit_claim(agency.credential, o, claim))
    )


# --- faults ---


async def test_a_registration_retried_through_a_5xx_burst_is_registered_once(intrum: Agency) -> None:
    await intrum.set_faults(fail_5xx=3, paths=REGISTRATION)
    outcome = await _submit(intrum, sample_claim(SPEC))
    assert isinstance(outcome, Succeeded) and outcome.agency_reference
    assert len(await intrum.ledger("registration")) == 1


async def test_reads_ride_out_a_5xx_burst(intrum: Agency) -> None:
    ref = await intrum.create(sample_claim(SPEC))
    await intrum.set_faults(fail_5xx=2, paths="/portfolio/query")
    claim = await intrum.adapter.get_claim(intrum.credential, ref)
    assert claim.status == "active"


async def test_a_429_with_retry_after_is_waited_out_and_the_write_lands_once(intrum: Agency) -> None:
    await intrum.set_faults(rate_limit_429=1, retry_after=1, paths=REGISTRATION)
    started = time.monotonic()
    outcome = await _submit(intrum, sample_claim(SPEC))
    assert isinstance(outcome, Succeeded)
    assert time.monotonic() - started >= 0.9, "the agency's Retry-After was not honoured"
    assert len(await intrum.ledger("registration")) == 1


async def test_commit_then_timeout_on_registration_leaves_exactly_one_registration() -> None:
    async with running_agency(SPEC, timeout=0.5) as intrum:
        await intrum.set_faults(commit_then_timeout=1, hang_seconds=1.5, paths=REGISTRATION)
        claim = sample_claim(SPEC)
        op = intrum.op("claim.create")
        with pytest.raises(OutcomeUnknown):
            await intrum.adapter.submit_claim(intrum.credential, op, claim)
        assert len(await intrum.ledger("registration")) == 1  # Intrum did it; we did not hear
        retry = msgspec.structs.replace(op, attempt=2, maybe_sent=True)
        outcome = await intrum.resolve(
            retry, await intrum.adapter.submit_claim(intrum.credential, retry, claim)
        )
        assert isinstance(outcome, Succeeded) and outcome.agency_reference
        registrations = await intrum.ledger("registration")
        assert [entry["key"] for entry in registrations] == [op.idempotency_token]


# --- credentials ---


async def test_reads_use_the_read_only_client_and_writes_the_read_write_one(intrum: Agency) -> None:
    ref = await intrum.create(sample_claim(SPEC, invoices=2))
    before = (await intrum.sandbox("GET", "/_sandbox/intrum/clients"))["requests"]
    await intrum.adapter.get_claim(intrum.credential, ref)
    after = (await intrum.sandbox("GET", "/_sandbox/intrum/clients"))["requests"]
    assert after.get("demo-ro", 0) - before.get("demo-ro", 0) == 3  # the case and its two invoices
    assert after["demo-rw"] == before["demo-rw"]


# --- refusals ---


async def test_a_refused_debtor_fails_with_agency_rejected_and_intrums_message(intrum: Agency) -> None:
    claim = sample_claim(SPEC)
    claim = msgspec.structs.replace(claim, debtor=msgspec.structs.replace(claim.debtor, reference="REJECT-7"))
    outcome = await _submit(intrum, claim)
    assert isinstance(outcome, Failed)
    assert outcome.problem.code == "agency_rejected"
    assert outcome.problem.detail and "REJECT-7" in outcome.problem.detail


async def test_a_loan_fails_before_anything_reaches_intrum(intrum: Agency) -> None:
    outcome = await _submit(intrum, msgspec.structs.replace(sample_claim(SPEC), type="loan"))
    assert isinstance(outcome, Failed)
    assert outcome.problem.code == "unsupported_by_agency"
    assert (await intrum.sandbox("GET", "/_sandbox/ledger"))["requests"] == 0


async def test_a_write_intrum_refuses_fails_with_its_message(intrum: Agency) -> None:
    claim = sample_claim(SPEC)
    ref = await intrum.create(claim)
    invoice = claim.invoices[1]
    note = CreditNoteCreate(
        number="CN-TOO-MUCH",
        invoice_number=invoice.number,
        amount=Money(amount=invoice.amount.amount + 1, currency=claim.currency),
        issued_on=invoice.due_on,
    )
    outcome = await intrum.write(
        ref, "credit_note.create", lambda op: intrum.adapter.add_credit_note(intrum.credential, op, ref, note)
    )
    assert isinstance(outcome, Failed)
    assert outcome.problem.code == "agency_rejected"
    assert outcome.problem.detail and "exceeds the remaining amount" in outcome.problem.detail


# --- follow-up writes as Intrum needs them ---


async def test_an_unallocated_payment_goes_to_the_oldest_due_invoice_first(intrum: Agency) -> None:
    claim = sample_claim(SPEC, invoices=3)  # due dates ascend with the index
    ref = await intrum.create(claim)
    first, second = claim.invoices[0], claim.invoices[1]
    open_first = first.amount.amount + (first.costs.amount if first.costs else 0)
    amount = Money(amount=open_first + 1, currency=claim.currency)
    report = PaymentReport(payment_id="P-OLDEST", amount=amount, paid_on=dt.date(2026, 11, 1))
    outcome = await intrum.write(
        ref, "payment.report", lambda op: intrum.adapter.report_payment(intrum.credential, op, ref, report)
    )
    assert isinstance(outcome, Succeeded), outcome
    [sent] = await intrum.ledger("payment")
    parts = [(i["invoiceNumber"], Decimal(str(i["paymentAmount"]))) for i in sent["body"]["invoices"]]
    assert parts == [
        (first.number, Decimal("128.45")),
        (second.number, Decimal("0.01")),
    ]  # 123.45 + 5.00 costs
    assert Decimal(str(sent["body"]["totalPaymentAmount"])) == Decimal("128.46")


async def test_a_withdrawal_of_several_invoices_is_one_request_per_invoice_each_once(intrum: Agency) -> None:
    claim = sample_claim(SPEC, invoices=3)
    ref = await intrum.create(claim)
    numbers = [claim.invoices[0].number, claim.invoices[2].number]
    withdrawal = Withdrawal(reason="by_client", invoice_numbers=numbers)
    op = intrum.op("claim.withdraw", claim_id=ref.claim_id)
    first = await intrum.adapter.withdraw(intrum.credential, op, ref, withdrawal)
    again = await intrum.adapter.withdraw(
        intrum.credential, msgspec.structs.replace(op, attempt=2, maybe_sent=True), ref, withdrawal
    )
    assert first == again
    sent = await intrum.ledger("withdrawal")
    assert [(entry["key"], entry["body"]) for entry in sent] == [
        (withdrawal_key(op.idempotency_token, number), {"invoiceNumber": number, "reasonCode": "BY_CLIENT"})
        for number in numbers
    ]
    assert isinstance(await intrum.resolve(op, first), Succeeded)


async def test_withdrawing_the_whole_claim_sends_only_the_invoices_still_open(intrum: Agency) -> None:
    claim = sample_claim(SPEC, invoices=3)
    ref = await intrum.create(claim)
    partial = Withdrawal(reason="goods_returned", invoice_numbers=[claim.invoices[1].number])
    done = await intrum.write(
        ref, "claim.withdraw", lambda op: intrum.adapter.withdraw(intrum.credential, op, ref, partial)
    )
    assert isinstance(done, Succeeded)
    whole = await intrum.write(
        ref,
        "claim.withdraw",
        lambda op: intrum.adapter.withdraw(intrum.credential, op, ref, Withdrawal(reason="by_client")),
    )
    assert isinstance(whole, Succeeded), whole
    sent = [entry["body"]["invoiceNumber"] for entry in await intrum.ledger("withdrawal")]
    assert sent == [claim.invoices[1].number, claim.invoices[0].number, claim.invoices[2].number]
    # Intrum closes the case; "withdrawn" is the gateway's own knowledge (the ledger), not a code
    assert (await intrum.adapter.get_claim(intrum.credential, ref)).status == "closed"


async def test_a_claim_paid_in_full_reads_closed_with_no_balance(intrum: Agency) -> None:
    claim = sample_claim(SPEC, invoices=2)
    ref = await intrum.create(claim)
    total = sum(i.amount.amount + (i.costs.amount if i.costs else 0) for i in claim.invoices)
    report = PaymentReport(
        payment_id="P-ALL", amount=Money(amount=total, currency=claim.currency), paid_on=dt.date(2026, 11, 1)
    )
    outcome = await intrum.write(
        ref, "payment.report", lambda op: intrum.adapter.report_payment(intrum.credential, op, ref, report)
    )
    assert isinstance(outcome, Succeeded), outcome
    read = await intrum.adapter.get_claim(intrum.credential, ref)
    assert (read.status, read.balance_amount) == ("closed", 0)


# --- payments feed ---


async def test_payments_intrum_collected_are_listed_as_the_agencys(intrum: Agency) -> None:
    claim = sample_claim(SPEC)
    ref = await intrum.create(claim)
    collected = {
        "caseNumber": int(ref.agency_reference),
        "invoiceNumber": claim.invoices[0].number,
        "amount": 12.5,
    }
    await intrum.sandbox("POST", "/_sandbox/intrum/collections", json=collected)
    [payment] = await intrum.all_payments(ref)
    assert (payment.source, payment.payment_id, payment.kind) == ("agency", None, "payment")
    assert payment.amount == Money(amount=1250, currency=claim.currency)


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.now, dt.UTC).date()


async def test_payments_are_found_across_100_day_windows_page_by_page() -> None:
    clock = _Clock()
    app = create_app(options=SandboxOptions(step_seconds=None), clock=clock)

    def adapter(context: AdapterContext) -> IntrumAdapter:
        return IntrumAdapter(context, today=clock.today)

    async with running_agency(SPEC, app=app, create=adapter) as intrum:
        claim = sample_claim(SPEC, invoices=3)
        ref = await intrum.create(claim)
        for days, invoice in ((120, claim.invoices[0]), (230, claim.invoices[2])):
            clock.now += days * 86400  # tokens expire meanwhile: the upstream fetches fresh ones
            collected = {
                "caseNumber": int(ref.agency_reference),
                "invoiceNumber": invoice.number,
                "amount": (100 + days) / 100,
            }
            await intrum.sandbox("POST", "/_sandbox/intrum/collections", json=collected)
        payments = await intrum.all_payments(ref, limit=1)
        assert [(p.source, p.amount.amount) for p in payments] == [("agency", 220), ("agency", 330)]


# --- every claim Intrum can hold, over HTTP ---


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    claim_creates(
        claim_types=sorted(CLAIM_TYPES),
        languages=("de", "en", "fr", "it"),
        reference_keys=sorted(REFERENCE_ATTRIBUTES),
        media_type_from_extension=True,
        max_invoices=3,
    )
)
def test_any_claim_intrum_can_hold_reads_back_as_sent(claim: ClaimCreate) -> None:
    asyncio.run(_reads_back(claim))


async def _reads_back(claim: ClaimCreate) -> None:
    async with running_agency(SPEC) as intrum:
        ref = await intrum.create(claim)
        read = await intrum.adapter.get_claim(intrum.credential, ref)
        held = intrum_view(claim)
        got: dict[str, Any] = {i.number: i for i in read.invoices}
        for invoice in held.invoices:
            back = got[invoice.number]
            assert (back.amount, back.remaining, back.issued_on, back.due_on) == (
                invoice.amount,
                invoice.amount,
                invoice.issued_on,
                invoice.due_on,
            )
            assert (back.costs.amount if back.costs else 0) == (invoice.costs.amount if invoice.costs else 0)
            assert back.interest_rate == invoice.interest_rate
            assert back.references == invoice.references


async def test_an_operation_intrum_does_not_know_fails_instead_of_waiting_forever(intrum: Agency) -> None:
    op = intrum.op("payment.report")
    outcome = await intrum.resolve(op, Submitted(tracking="999999"))
    assert isinstance(outcome, Failed)
    assert outcome.problem.code == "agency_rejected"


async def test_allocations_that_do_not_add_up_fail_before_reaching_intrum(intrum: Agency) -> None:
    claim = sample_claim(SPEC)
    ref = await intrum.create(claim)
    report = PaymentReport(
        payment_id="P-ODD",
        amount=Money(amount=100, currency=claim.currency),
        paid_on=dt.date(2026, 11, 1),
        allocations=[
            Allocation(invoice_number=claim.invoices[0].number, amount=Money(amount=99, currency="EUR"))
        ],
    )
    outcome = await intrum.adapter.report_payment(intrum.credential, intrum.op("payment.report"), ref, report)
    assert isinstance(outcome, Failed) and outcome.problem.code == "validation_failed"
    assert await intrum.ledger("payment") == []
