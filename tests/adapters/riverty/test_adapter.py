"""The Riverty adapter against its sandbox over real HTTP: claims, follow-ups, lost answers."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import msgspec
import pytest

from adapters._upstream import UpstreamClient
from adapters.base import ClaimRef, Credential, Failed, OperationContext, Outcome, Submitted, Succeeded
from adapters.riverty.adapter import RivertyAdapter
from adapters.riverty.sandbox import AUDIENCE
from canonical import CreditNoteCreate, Money, PaymentReport, PaymentReversal, Withdrawal
from canonical.problems import AgencyAuthFailed, AgencyUnavailable, NotFound, OutcomeUnknown
from tests.adapters.riverty._support import (
    create_claim,
    eur,
    make_adapter,
    make_claim,
    op,
    pending_of,
    resolve,
    unique,
)


async def test_a_claim_is_submitted_then_succeeds_with_rivertys_claim_number(adapter, credential, riverty):
    operation = op("claim.create")
    outcome = await adapter.submit_claim(credential, operation, make_claim(3))
    assert isinstance(outcome, Submitted)  # Riverty answers 202 {requestId} only
    resolved = await resolve(adapter, credential, [pending_of(operation, outcome)])
    succeeded = resolved[operation.id]
    assert isinstance(succeeded, Succeeded)
    assert succeeded.agency_reference in riverty.sandbox.claims
    assert riverty.sandbox.claims[succeeded.agency_reference].contract_numbers == [operation.claim_id]


async def test_a_rejected_claim_fails_with_rivertys_reason_in_the_detail(adapter, credential):
    operation = op("claim.create")
    outcome = await adapter.submit_claim(
        credential, operation, make_claim(1, debtor_reference=unique("REJECT"))
    )
    failed = (await resolve(adapter, credential, [pending_of(operation, outcome)]))[operation.id]
    assert isinstance(failed, Failed)
    assert failed.problem.code == "agency_rejected"
    assert failed.problem.detail is not None and "CUSTOMER_REJECTED" in failed.problem.detail


async def test_a_claim_whose_answer_was_lost_is_found_again_not_sent_twice(adapter, credential, riverty):
    riverty.sandbox.kit.faults = type(riverty.sandbox.kit.faults)(
        commit_then_timeout=1, hang_seconds=1.5, paths=r"^/claims$"
    )
    operation = op("claim.create")
    claim = make_claim(2)
    with pytest.raises(OutcomeUnknown):
        await adapter.submit_claim(credential, operation, claim)
    retry = op("claim.create", claim_id=operation.claim_id, token=operation.id, maybe_sent=True)
    outcome = await adapter.submit_claim(credential, retry, claim)
    if isinstance(outcome, Submitted):
        outcome = (await resolve(adapter, credential, [pending_of(retry, outcome)]))[retry.id]
    assert isinstance(outcome, Succeeded)
    sent = [
        e for e in riverty.ledger("claim") if e.body["contracts"][0]["contractNumber"] == operation.claim_id
    ]
    assert len(sent) == 1
    assert sent[0].key == outcome.agency_reference


async def test_a_claim_retried_when_the_first_attempt_never_arrived_is_sent(adapter, credential, riverty):
    operation = op("claim.create", maybe_sent=True)  # e.g. the first attempt hit a 503
    outcome = await adapter.submit_claim(credential, operation, make_claim(1))
    assert isinstance(outcome, Submitted)
    sent = [
        e for e in riverty.ledger("claim") if e.body["contracts"][0]["contractNumber"] == operation.claim_id
    ]
    assert len(sent) == 1


async def test_a_payment_retried_after_commit_then_timeout_is_recorded_once(adapter, credential, riverty):
    ref = await create_claim(adapter, credential, make_claim(2))
    payment_id = unique("P")
    report = PaymentReport(payment_id=payment_id, amount=eur(5_000), paid_on=dt.date(2026, 3, 1))
    riverty.sandbox.kit.faults = type(riverty.sandbox.kit.faults)(
        commit_then_timeout=1, hang_seconds=1.5, paths=r"/payments$"
    )
    first = op("payment.report", claim_id=ref.claim_id)
    with pytest.raises(OutcomeUnknown):
        await adapter.report_payment(credential, first, ref, report)
    retry = op("payment.report", claim_id=ref.claim_id, token=first.id, maybe_sent=True)
    outcome = await adapter.report_payment(credential, retry, ref, report)
    assert isinstance(outcome, Succeeded)  # Riverty's duplicate answer: our first attempt is there
    assert len(riverty.ledger("payment", f"{ref.agency_reference}/{payment_id}")) == 1
    page = await adapter.list_payments(credential, ref, None, 10)
    assert [p.payment_id for p in page.items] == [payment_id]


async def test_a_reused_payment_number_on_a_first_attempt_is_rejected(adapter, credential, riverty):
    ref = await create_claim(adapter, credential, make_claim(1))
    report = PaymentReport(payment_id=unique("P"), amount=eur(100), paid_on=dt.date(2026, 3, 1))
    first = await adapter.report_payment(credential, op("payment.report"), ref, report)
    assert isinstance(first, Submitted)
    again = await adapter.report_payment(credential, op("payment.report"), ref, report)
    assert isinstance(again, Failed) and again.problem.code == "agency_rejected"
    assert "already exists" in (again.problem.detail or "")
    assert len(riverty.ledger("payment", f"{ref.agency_reference}/{report.payment_id}")) == 1


async def test_a_payment_resolves_and_lowers_the_remaining_amount_oldest_due_first(adapter, credential):
    ref = await create_claim(adapter, credential, make_claim([("A", 10_000), ("B", 20_000)]))
    operation = op("payment.report", claim_id=ref.claim_id)
    report = PaymentReport(payment_id=unique("P"), amount=eur(12_345), paid_on=dt.date(2026, 3, 1))
    outcome = await adapter.report_payment(credential, operation, ref, report)
    resolved = await resolve(
        adapter, credential, [pending_of(operation, outcome, agency_reference=ref.agency_reference)]
    )
    assert isinstance(resolved[operation.id], Succeeded)
    claim = await adapter.get_claim(credential, ref)
    assert [i.remaining.amount for i in claim.invoices] == [0, 17_655]
    assert claim.balance_amount == 17_655
    assert claim.status == "active"


async def test_a_payment_larger_than_the_open_amount_fails_with_rivertys_reason(adapter, credential):
    ref = await create_claim(adapter, credential, make_claim([("A", 1_000)]))
    operation = op("payment.report", claim_id=ref.claim_id)
    report = PaymentReport(payment_id=unique("P"), amount=eur(1_001), paid_on=dt.date(2026, 3, 1))
    outcome = await adapter.report_payment(credential, operation, ref, report)
    failed = (await resolve(adapter, credential, [pending_of(operation, outcome)]))[operation.id]
    assert isinstance(failed, Failed) and "AMOUNT_EXCEEDS_OPEN_AMOUNT" in (failed.problem.detail or "")


async def test_a_credit_note_becomes_a_credit_waiver_on_its_invoice(adapter, credential, riverty):
    ref = await create_claim(adapter, credential, make_claim([("A", 10_000), ("B", 20_000)]))
    operation = op("credit_note.create", claim_id=ref.claim_id)
    note = CreditNoteCreate(
        number=unique("CN"), invoice_number="B", amount=eur(2_500), issued_on=dt.date(2026, 3, 2)
    )
    outcome = await adapter.add_credit_note(credential, operation, ref, note)
    assert isinstance(
        (await resolve(adapter, credential, [pending_of(operation, outcome)]))[operation.id], Succeeded
    )
    claim = await adapter.get_claim(credential, ref)
    assert [i.remaining.amount for i in claim.invoices] == [10_000, 17_500]
    assert (
        riverty.ledger("credit_waiver", f"{ref.agency_reference}/{note.number}")[0].body["creditWaiverNumber"]
        == note.number
    )
    assert (await adapter.list_payments(credential, ref, None, 10)).items == []  # a waiver is no payment


async def test_a_partial_withdrawal_recalls_the_named_invoices_only(adapter, credential):
    ref = await create_claim(adapter, credential, make_claim([("A", 10_000), ("B", 20_000)]))
    operation = op("claim.withdraw", claim_id=ref.claim_id)
    outcome = await adapter.withdraw(
        credential, operation, ref, Withdrawal(reason="goods_returned", invoice_numbers=["A"])
    )
    assert isinstance(
        (await resolve(adapter, credential, [pending_of(operation, outcome)]))[operation.id], Succeeded
    )
    claim = await adapter.get_claim(credential, ref)
    assert claim.status == "active"
    assert [i.remaining.amount for i in claim.invoices] == [0, 20_000]


async def test_a_whole_withdrawal_closes_the_claim_and_a_lost_answer_is_not_resent(
    adapter, credential, riverty
):
    ref = await create_claim(adapter, credential, make_claim(2))
    operation = op("claim.withdraw", claim_id=ref.claim_id)
    outcome = await adapter.withdraw(credential, operation, ref, Withdrawal(reason="by_client"))
    assert isinstance(
        (await resolve(adapter, credential, [pending_of(operation, outcome)]))[operation.id], Succeeded
    )
    # Riverty says CLOSED; that the creditor withdrew it is the gateway's own knowledge (ledger)
    assert (await adapter.get_claim(credential, ref)).status == "closed"
    retry = op("claim.withdraw", claim_id=ref.claim_id, token=operation.id, maybe_sent=True)
    assert isinstance(
        await adapter.withdraw(credential, retry, ref, Withdrawal(reason="by_client")), Succeeded
    )
    assert len(riverty.ledger("recall", ref.agency_reference)) == 1


async def reversed_once_booked(
    adapter: RivertyAdapter,
    credential: Credential,
    operation: OperationContext,
    ref: ClaimRef,
    payment_id: str,
    reversal: PaymentReversal,
) -> Outcome:
    """A reversal is first sent once its payment's booking is older than twice the overlap
    (the adapter says to wait with AgencyUnavailable until then): the worker's retry, here."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            return await adapter.reverse_payment(credential, operation, ref, payment_id, reversal)
        except AgencyUnavailable as exc:
            assert "moments ago" in str(exc)
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.1)


async def test_a_reversal_cancels_the_payment_and_is_listed_as_one(credential, riverty, upstream):
    adapter = make_adapter(riverty.base_url, upstream, options={"transactions_overlap_seconds": 1})
    ref = await create_claim(adapter, credential, make_claim([("A", 10_000)]))
    payment_id = unique("P")
    pay = op("payment.report", claim_id=ref.claim_id)
    report = PaymentReport(payment_id=payment_id, amount=eur(4_000), paid_on=dt.date(2026, 3, 1))
    await resolve(
        adapter, credential, [pending_of(pay, await adapter.report_payment(credential, pay, ref, report))]
    )
    fixed: list[str] = []

    async def keep(request: str) -> None:  # the worker stores the request fixed at the first attempt
        fixed.append(request)

    reverse = msgspec.structs.replace(op("payment.reverse", claim_id=ref.claim_id), fix_request=keep)
    outcome = await reversed_once_booked(
        adapter, credential, reverse, ref, payment_id, PaymentReversal(reason="bounced")
    )
    assert isinstance(
        (await resolve(adapter, credential, [pending_of(reverse, outcome)]))[reverse.id], Succeeded
    )
    payments = (await adapter.list_payments(credential, ref, None, 10)).items
    assert [(p.kind, p.payment_id, p.amount.amount) for p in payments] == [
        ("payment", payment_id, 4_000),
        ("reversal", payment_id, 4_000),
    ]
    assert (await adapter.get_claim(credential, ref)).invoices[0].remaining.amount == 10_000
    retry = msgspec.structs.replace(
        op("payment.reverse", claim_id=ref.claim_id, token=reverse.id, maybe_sent=True), request=fixed[0]
    )
    assert isinstance(
        await adapter.reverse_payment(credential, retry, ref, payment_id, PaymentReversal()), Succeeded
    )
    assert len(riverty.ledger("cancellation", f"{ref.agency_reference}/{payment_id}")) == 1


async def test_a_payment_riverty_collected_itself_is_listed_as_the_agencys(adapter, credential, riverty):
    ref = await create_claim(adapter, credential, make_claim([("A", 10_000)]))
    async with httpx.AsyncClient(base_url=riverty.base_url) as http:
        answer = await http.post(
            f"/_sandbox/riverty/claims/{ref.agency_reference}/collected", json={"amount": 10.5}
        )
        assert answer.status_code == 204
    (payment,) = (await adapter.list_payments(credential, ref, None, 10)).items
    assert (payment.source, payment.payment_id, payment.amount) == (
        "agency",
        None,
        Money(amount=1050, currency="EUR"),
    )


async def test_an_amount_riverty_cannot_carry_is_refused_before_anything_is_sent(
    adapter, credential, riverty
):
    before = riverty.calls("POST /claims")
    claim = make_claim([("A", 100_000_000_000)])  # 1000000000.00 EUR: 13 characters
    outcome = await adapter.submit_claim(credential, op("claim.create"), claim)
    assert isinstance(outcome, Failed) and outcome.problem.code == "unsupported_by_agency"
    assert riverty.calls("POST /claims") == before


async def test_reading_a_claim_riverty_does_not_know_is_not_found(adapter, credential):
    ref = ClaimRef(claim_id="clm_x", agency_reference="RC404", currency="EUR")
    with pytest.raises(NotFound):
        await adapter.get_claim(credential, ref)
    with pytest.raises(NotFound):
        await adapter.list_invoices(credential, ref, None, 10)


async def test_a_token_for_another_audience_is_refused(riverty, credential):
    upstream = UpstreamClient("riverty", riverty.base_url, timeout=2.0)
    try:
        wrong = make_adapter(riverty.base_url, upstream, audience=AUDIENCE + "/other")
        with pytest.raises(AgencyAuthFailed):
            await wrong.submit_claim(credential, op("claim.create"), make_claim(1))
    finally:
        await upstream.aclose()


async def test_a_client_global_id_of_another_client_is_refused(adapter, credential):
    other = credential.__class__(
        agency=credential.agency,
        tenant=credential.tenant,
        key=credential.key,
        fields={**credential.fields, "client_global_id": 999},
    )
    with pytest.raises(AgencyAuthFailed):
        await adapter.submit_claim(other, op("claim.create"), make_claim(1))
