"""The Verdandi adapter against its sandbox over real HTTP: what the conformance suite does not
cover — a create resumed at each of its steps, partial acceptance, per-invoice follow-ups."""

from __future__ import annotations

import pytest

from adapters.sdk import (
    Allocation,
    ClaimRef,
    Failed,
    Money,
    PartiallyAccepted,
    PaymentReport,
    Succeeded,
    Withdrawal,
)
from collection_gateway.conformance import Agency, running_agency, sample_claim

from verdandi import SPEC
from verdandi.sandbox import REFUSE_INVOICE_PATH

#: A clean create of a claim with three invoices, as Verdandi's ledger records it.
CLEAN = ["debtor.create", "claim.create", "claim.create", "claim.create", "release.create"]
STEPS = [r"^/v1/debtors$", r"^/v1/claims$", r"^/v1/releases$"]


async def _created(agency: Agency, invoices: int = 3) -> tuple[ClaimRef, list[str]]:
    claim = sample_claim(SPEC, invoices=invoices)
    return await agency.create(claim), [invoice.number for invoice in claim.invoices]


async def _kinds(agency: Agency) -> list[str]:
    return [entry["kind"] for entry in await agency.ledger()]


async def test_a_create_is_a_debtor_a_claim_per_invoice_and_a_release_under_review() -> None:
    async with running_agency(SPEC) as agency:
        ref, numbers = await _created(agency)
        assert await _kinds(agency) == CLEAN
        assert ref.agency_reference.startswith("R-")
        assert sorted(ref.invoice_references) == sorted(numbers)
        assert all(claim_id.startswith("C-") for claim_id in ref.invoice_references.values())


@pytest.mark.parametrize("path", STEPS, ids=["debtor", "claims", "release"])
async def test_a_step_whose_answer_was_lost_is_looked_up_and_nothing_is_created_twice(path: str) -> None:
    async with running_agency(SPEC, timeout=0.5) as agency:
        await agency.set_faults(commit_then_timeout=1, hang_seconds=0.8, paths=path)
        await _created(agency)
        assert await _kinds(agency) == CLEAN


@pytest.mark.parametrize("path", STEPS, ids=["debtor", "claims", "release"])
async def test_a_step_refused_with_a_503_is_sent_again_once(path: str) -> None:
    async with running_agency(SPEC) as agency:
        await agency.set_faults(fail_5xx=1, paths=path)
        await _created(agency)
        assert await _kinds(agency) == CLEAN


async def test_verdandi_refusing_one_invoice_is_a_partial_acceptance_listing_it() -> None:
    async with running_agency(SPEC) as agency:
        claim = sample_claim(SPEC, invoices=3)
        refused = claim.invoices[1].number
        await agency.sandbox(
            "POST", REFUSE_INVOICE_PATH, json={"invoice_number": refused, "reason": "too old"}
        )
        op = agency.op("claim.create", claim_id="clm_1")
        outcome = await agency.resolve(op, await agency.adapter.submit_claim(agency.credential, op, claim))
        assert isinstance(outcome, PartiallyAccepted)
        assert [(r.invoice_number, r.problem.code) for r in outcome.refused] == [(refused, "agency_rejected")]
        assert "too old" in (outcome.refused[0].problem.detail or "")
        assert sorted(outcome.invoice_references) == sorted(
            i.number for i in claim.invoices if i.number != refused
        )
        ref = ClaimRef(
            claim_id="clm_1",
            agency_reference=outcome.agency_reference,
            currency=claim.currency,
            invoice_references=outcome.invoice_references,
        )
        read = await agency.adapter.get_claim(agency.credential, ref)
        assert read.status == "active"
        owed = {i.number: i.amount.amount + (i.costs.amount if i.costs else 0) for i in claim.invoices}
        assert read.balance_amount == sum(owed.values()) - owed[refused]


async def test_verdandi_refusing_every_invoice_fails_the_create_with_its_reasons() -> None:
    async with running_agency(SPEC) as agency:
        claim = sample_claim(SPEC, invoices=2)
        for invoice in claim.invoices:
            await agency.sandbox("POST", REFUSE_INVOICE_PATH, json={"invoice_number": invoice.number})
        op = agency.op("claim.create", claim_id="clm_1")
        outcome = await agency.resolve(op, await agency.adapter.submit_claim(agency.credential, op, claim))
        assert isinstance(outcome, Failed) and outcome.problem.code == "agency_rejected"


async def test_a_payment_over_two_invoices_is_one_verdandi_payment_on_each_claim() -> None:
    async with running_agency(SPEC) as agency:
        ref, numbers = await _created(agency)
        report = PaymentReport(
            payment_id="P-1",
            amount=Money(amount=300, currency="EUR"),
            paid_on=sample_claim(SPEC).invoices[0].due_on,
            allocations=[
                Allocation(invoice_number=numbers[0], amount=Money(amount=100, currency="EUR")),
                Allocation(invoice_number=numbers[2], amount=Money(amount=200, currency="EUR")),
            ],
        )
        before = (await agency.adapter.get_claim(agency.credential, ref)).balance_amount
        await agency.set_faults(commit_then_timeout=1, hang_seconds=0.8, paths=r"/payments$")
        outcome = await agency.write(
            ref,
            "payment.report",
            lambda op: agency.adapter.report_payment(agency.credential, op, ref, report),
        )
        assert isinstance(outcome, Succeeded)
        assert [e["key"] for e in await agency.ledger("payment.create")] == [
            f"P-1/{numbers[0]}",
            f"P-1/{numbers[2]}",
        ]
        assert (await agency.adapter.get_claim(agency.credential, ref)).balance_amount == before - 300
        listed = await agency.all_payments(ref, limit=1)
        assert [(p.payment_id, p.amount.amount) for p in listed] == [("P-1", 100), ("P-1", 200)]


async def test_withdrawing_twice_is_harmless() -> None:
    async with running_agency(SPEC) as agency:
        ref, _ = await _created(agency, invoices=2)
        for _ in range(2):
            outcome = await agency.adapter.withdraw(
                agency.credential, agency.op("claim.withdraw"), ref, Withdrawal(reason="by_client")
            )
            assert isinstance(outcome, Succeeded)
        assert len(await agency.ledger("claim.withdraw")) == 2  # one per Verdandi claim, once each
        assert (await agency.adapter.get_claim(agency.credential, ref)).status == "withdrawn"
