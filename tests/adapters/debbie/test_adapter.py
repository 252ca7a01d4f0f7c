"""The Debbie adapter against its sandbox over real HTTP (UpstreamClient → uvicorn → sandbox)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings

from adapters._upstream import MemorySharedState, UpstreamClient
from adapters.base import AdapterContext, ClaimRef, Credential, Failed, Succeeded
from adapters.debbie import SPEC
from adapters.debbie.adapter import DebbieAdapter
from adapters.debbie.client import DebbieClient
from adapters.debbie.mapping import VoucherTypes
from adapters.debbie.sandbox import DEMO_VOUCHER_TYPES, EXTRA_VOUCHER_TYPES
from adapters.sandbox_kit import RunningServer
from canonical import (
    Allocation,
    ClaimCreate,
    CreditNoteCreate,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
    claim_total,
)
from canonical.problems import NotFound, OutcomeUnknown
from tests.adapters.debbie._strategies import claims
from tests.adapters.debbie._support import SandboxControl, make_claim, op, sek


async def _submit(adapter: DebbieAdapter, credential: Credential, claim: ClaimCreate) -> ClaimRef:
    outcome = await adapter.submit_claim(credential, op("claim.create"), claim)
    assert isinstance(outcome, Succeeded), outcome
    assert outcome.agency_reference
    return ClaimRef(claim_id="clm_test", agency_reference=outcome.agency_reference, currency=claim.currency)


async def _cases_with_reference(control: SandboxControl, reference: str) -> list[str]:
    items = (await control.debbie("GET", "/cases", params={"page": 0, "pageSize": 100})).json()["items"]
    assert len(items) < 100  # one page holds every case of this module
    return [c["id"] for c in items if c["referenceId"] == reference]


async def test_a_claim_with_two_invoices_and_costs_is_negative_vouchers_summing_to_its_total(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    claim = make_claim([("INV-1", 12000, 500), ("INV-2", 3050, 125)], debtor_reference="CUST-TWO")
    ref = await _submit(adapter, credential, claim)

    [entry] = await control.ledger("case.create")
    assert entry["key"] == ref.agency_reference
    amounts = [v["amount"] for v in entry["body"]["caseVouchers"]]
    assert amounts == [-12000, -500, -3050, -125]
    assert sum(amounts) == -claim_total(claim) == -15675

    read = await adapter.get_claim(credential, ref)
    assert read.status == "pending"  # Debbie has not verified the case yet
    assert read.balance_amount == 15675
    assert [(i.number, i.amount.amount, i.costs.amount if i.costs else None) for i in read.invoices] == [
        ("INV-1", 12000, 500),
        ("INV-2", 3050, 125),
    ]


async def test_a_reported_payment_of_50_sek_arrives_as_plus_5000_and_reads_back_with_its_payment_id(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(
        adapter, credential, make_claim([("INV-1", 12000, None)], debtor_reference="CUST-PAY")
    )
    report = PaymentReport(payment_id="P-50", amount=sek(5000), paid_on=dt.date(2026, 3, 1))
    outcome = await adapter.report_payment(credential, op("payment.report"), ref, report)
    assert isinstance(outcome, Succeeded)

    [entry] = await control.ledger("case_voucher.create")
    body = entry["body"]
    assert (body["amount"], body["source"], body["referenceId"]) == (5000, "CREDITOR", "P-50")
    assert body["voucherTypeId"] == DEMO_VOUCHER_TYPES["payment"]

    page = await adapter.list_payments(credential, ref, None, 10)
    [payment] = page.items
    assert (payment.payment_id, payment.source, payment.kind, payment.amount) == (
        "P-50",
        "creditor",
        "payment",
        sek(5000),
    )
    assert page.next_position is None
    assert (await adapter.get_claim(credential, ref)).balance_amount == 7000


async def test_a_payment_with_allocations_reduces_the_invoices_it_names(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(
        adapter, credential, make_claim([("A", 1000, None), ("B", 2000, None)], debtor_reference="CUST-ALLOC")
    )
    report = PaymentReport(
        payment_id="P-AL",
        amount=sek(1500),
        paid_on=dt.date(2026, 3, 1),
        allocations=[Allocation(invoice_number="B", amount=sek(1500))],
    )
    assert isinstance(await adapter.report_payment(credential, op("payment.report"), ref, report), Succeeded)
    invoices = (await adapter.list_invoices(credential, ref, None, 10)).items
    assert {i.number: i.remaining.amount for i in invoices} == {"A": 1000, "B": 500}
    [payment] = (await adapter.list_payments(credential, ref, None, 10)).items
    assert payment.allocations == report.allocations


async def test_a_credit_note_reduces_the_remaining_of_its_invoice_read_back(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(
        adapter,
        credential,
        make_claim([("INV-1", 12000, 500), ("INV-2", 3000, None)], debtor_reference="CUST-CN"),
    )
    note = CreditNoteCreate(
        number="CN-1", invoice_number="INV-2", amount=sek(1000), issued_on=dt.date(2026, 3, 2)
    )
    outcome = await adapter.add_credit_note(credential, op("credit_note.create"), ref, note)
    assert isinstance(outcome, Succeeded)
    [entry] = await control.ledger("case_voucher.create")
    assert (entry["body"]["amount"], entry["body"]["voucherTypeId"]) == (
        1000,
        DEMO_VOUCHER_TYPES["credit_note"],
    )

    invoices = (await adapter.list_invoices(credential, ref, None, 10)).items
    assert {i.number: i.remaining.amount for i in invoices} == {"INV-1": 12000, "INV-2": 2000}
    assert (await adapter.get_claim(credential, ref)).balance_amount == 12000 + 500 + 2000


async def test_listing_a_case_with_57_vouchers_10_at_a_time_returns_each_invoice_exactly_once(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    invoices = [
        (f"INV-{n:02}", 1000 + n, 50 if n < 12 else None) for n in range(45)
    ]  # 45 principal + 12 cost
    ref = await _submit(adapter, credential, make_claim(invoices, debtor_reference="CUST-57"))
    vouchers = (await control.debbie("GET", f"/case-vouchers/{ref.agency_reference}")).json()
    assert len(vouchers) == 57

    seen: list[str] = []
    position: str | None = None
    pages = 0
    before = await control.requests()
    while True:
        page = await adapter.list_invoices(credential, ref, position, 10)
        pages += 1
        assert len(page.items) <= 10
        seen += [i.number for i in page.items]
        position = page.next_position
        if position is None:
            break
    assert seen == [number for number, _, _ in invoices]
    assert pages == 5
    assert await control.requests() - before == pages  # has_more cost no extra round trip


async def test_a_case_created_but_answered_too_late_is_found_not_created_again(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    claim = make_claim([("INV-1", 12000, 500)], debtor_reference="CUST-LOST")
    first = op("claim.create")
    await control.faults(commit_then_timeout=1, hang_seconds=1.5, paths=r"/cases$")
    with pytest.raises(OutcomeUnknown):
        await adapter.submit_claim(credential, first, claim)
    assert len(await control.ledger("case.create")) == 1  # it did happen

    retry = op("claim.create", maybe_sent=True, token=first.idempotency_token)
    outcome = await adapter.submit_claim(credential, retry, claim)
    assert isinstance(outcome, Succeeded)
    assert len(await control.ledger("case.create")) == 1
    assert await _cases_with_reference(control, first.idempotency_token) == [outcome.agency_reference]


async def test_a_payment_answered_too_late_is_recorded_once_after_the_retry(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(
        adapter, credential, make_claim([("INV-1", 12000, None)], debtor_reference="CUST-LOSTPAY")
    )
    report = PaymentReport(payment_id="P-LATE", amount=sek(2500), paid_on=dt.date(2026, 3, 1))
    first = op("payment.report")
    await control.faults(commit_then_timeout=1, hang_seconds=1.5, paths=r"/case-vouchers/")
    with pytest.raises(OutcomeUnknown):
        await adapter.report_payment(credential, first, ref, report)
    retry = op("payment.report", maybe_sent=True, token=first.idempotency_token)
    assert isinstance(await adapter.report_payment(credential, retry, ref, report), Succeeded)
    assert len(await control.ledger("case_voucher.create")) == 1
    assert len((await adapter.list_payments(credential, ref, None, 10)).items) == 1


async def test_a_retried_claim_whose_case_never_arrived_is_sent_once(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    claim = make_claim([("INV-1", 100, None)], debtor_reference="CUST-NEVER")
    retry = op("claim.create", maybe_sent=True)
    assert isinstance(await adapter.submit_claim(credential, retry, claim), Succeeded)
    assert len(await control.ledger("case.create")) == 1


async def test_a_second_claim_for_the_same_debtor_reuses_the_customer(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    await _submit(adapter, credential, make_claim([("INV-1", 100, None)], debtor_reference="CUST-AGAIN"))
    await _submit(adapter, credential, make_claim([("INV-2", 200, None)], debtor_reference="CUST-AGAIN"))
    assert len(await control.ledger("customer.create")) == 1
    assert len(await control.ledger("case.create")) == 2


async def test_withdrawal_ends_the_whole_case(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(adapter, credential, make_claim([("INV-1", 100, None)], debtor_reference="CUST-WD"))
    outcome = await adapter.withdraw(credential, op("claim.withdraw"), ref, Withdrawal(reason="by_client"))
    assert isinstance(outcome, Succeeded)
    [entry] = await control.ledger("case.status")
    assert entry["body"] == {"status": "ENDED", "exitReason": "WITHDRAWN"}
    assert (await adapter.get_claim(credential, ref)).status == "withdrawn"
    retry = op("claim.withdraw", maybe_sent=True)
    assert isinstance(
        await adapter.withdraw(credential, retry, ref, Withdrawal(reason="by_client")), Succeeded
    )
    assert len(await control.ledger("case.status")) == 1  # found ended: not sent again


async def test_partial_withdrawal_reversal_and_foreign_currency_are_refused_without_a_call(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(adapter, credential, make_claim([("INV-1", 100, None)], debtor_reference="CUST-NO"))
    before = await control.requests()
    partial = await adapter.withdraw(
        credential, op("claim.withdraw"), ref, Withdrawal(reason="by_client", invoice_numbers=["INV-1"])
    )
    reversal = await adapter.reverse_payment(credential, op("payment.reverse"), ref, "P-1", PaymentReversal())
    yen = await adapter.submit_claim(
        credential,
        op("claim.create"),
        make_claim([("INV-1", 100, None)], debtor_reference="CUST-JPY", currency="JPY"),
    )
    for refused, capability in ((partial, "withdraw_partial"), (reversal, "reverse"), (yen, "JPY")):
        assert isinstance(refused, Failed)
        assert refused.problem.code == "unsupported_by_agency"
        assert capability in (refused.problem.detail or "")
    assert await control.requests() == before
    assert SPEC.capabilities.supported.isdisjoint({"claim.withdraw_partial", "payment.reverse"})


async def test_deleted_vouchers_and_debbies_own_payments_are_read_deliberately(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(
        adapter, credential, make_claim([("INV-1", 10000, None)], debtor_reference="CUST-DEB")
    )
    report = PaymentReport(payment_id="P-DEL", amount=sek(4000), paid_on=dt.date(2026, 3, 1))
    written = await adapter.report_payment(credential, op("payment.report"), ref, report)
    assert isinstance(written, Succeeded) and written.agency_reference
    deleted = await control.http.post(f"/_sandbox/debbie/case-vouchers/{written.agency_reference}/delete")
    assert deleted.status_code == 204
    collected = {
        "voucherTypeId": EXTRA_VOUCHER_TYPES["collector_payment"],
        "amount": 1500,
        "currency": "SEK",
        "date": "2026-03-05",
        "source": "COLLECTOR",
        "referenceId": "DEBBIE-DEPOSIT-9",
    }
    assert (
        await control.debbie("POST", f"/case-vouchers/{ref.agency_reference}", json=collected)
    ).status_code == 201

    [payment] = (await adapter.list_payments(credential, ref, None, 10)).items
    assert (payment.source, payment.payment_id, payment.amount) == ("agency", None, sek(1500))
    claim = await adapter.get_claim(credential, ref)
    assert claim.balance_amount == 8500
    assert claim.invoices[0].remaining == sek(8500)


async def test_finding_a_case_walks_zero_based_pages_until_a_short_one(
    sandbox: RunningServer, upstream: UpstreamClient, credential: Credential, control: SandboxControl
) -> None:
    small_pages = DebbieAdapter(
        DebbieClient(upstream, case_page_size=2), VoucherTypes.from_config(DEMO_VOUCHER_TYPES)
    )
    tokens = [op("claim.create") for _ in range(5)]
    for n, token in enumerate(tokens):
        claim = make_claim([("INV-1", 100 + n, None)], debtor_reference="CUST-PAGES")
        assert isinstance(await small_pages.submit_claim(credential, token, claim), Succeeded)
    retry = op("claim.create", maybe_sent=True, token=tokens[-1].idempotency_token)
    found = await small_pages.submit_claim(
        credential, retry, make_claim([("INV-1", 104, None)], debtor_reference="CUST-PAGES")
    )
    assert isinstance(found, Succeeded)
    assert await _cases_with_reference(control, tokens[-1].idempotency_token) == [found.agency_reference]
    assert len(await control.ledger("case.create")) == 5


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claim=claims(max_invoices=4))
def test_any_valid_claim_reads_back_from_the_sandbox_with_every_amount(
    sandbox: RunningServer, credential: Credential, claim: ClaimCreate
) -> None:
    async def round_trip() -> None:
        upstream = UpstreamClient("debbie", sandbox.base_url, shared=MemorySharedState())
        try:
            assert SPEC.sandbox is not None
            adapter = SPEC.create(
                AdapterContext(
                    agency="debbie",
                    config=SPEC.sandbox.agency_config(sandbox.base_url),
                    http=upstream,
                    checkpoints=None,
                )
            )
            assert isinstance(adapter, DebbieAdapter)
            ref = await _submit(adapter, credential, claim)
            read = await adapter.get_claim(credential, ref)
        finally:
            await upstream.aclose()
        assert read.balance_amount == claim_total(claim)
        assert [(i.number, i.amount, i.remaining, i.due_on) for i in read.invoices] == [
            (i.number, i.amount, i.amount, i.due_on) for i in claim.invoices
        ]
        assert [i.costs for i in read.invoices] == [
            i.costs if i.costs and i.costs.amount else None for i in claim.invoices
        ]

    asyncio.run(round_trip())


async def test_a_case_debbie_does_not_know_is_not_found(
    adapter: DebbieAdapter, credential: Credential
) -> None:
    ref = ClaimRef(claim_id="clm_x", agency_reference="00000000-0000-4000-8000-000000000000", currency="SEK")
    with pytest.raises(NotFound):
        await adapter.get_claim(credential, ref)
    with pytest.raises(NotFound):
        await adapter.list_invoices(credential, ref, None, 10)


async def test_a_claim_read_names_its_debtor_even_by_an_adapter_that_did_not_create_it(
    adapter: DebbieAdapter, upstream: UpstreamClient, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(adapter, credential, make_claim([("INV-1", 100, None)], debtor_reference="CUST-WHO"))
    fresh = DebbieAdapter(DebbieClient(upstream), VoucherTypes.from_config(DEMO_VOUCHER_TYPES))
    for reader in (adapter, fresh):
        read = await reader.get_claim(credential, ref)
        assert read.agency_data["customer"]["referenceId"] == "CUST-WHO"
