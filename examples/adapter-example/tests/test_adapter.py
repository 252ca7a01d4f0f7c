"""The Skuld adapter against its sandbox over real HTTP: what the conformance suite does not cover."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.sdk import ClaimRef, Failed, NotFound, Succeeded, Withdrawal
from collection_gateway.conformance import Agency, running_agency, sample_claim

from skuld import SPEC


async def _post(agency: Agency, ref: ClaimRef, type_: str, amount: str) -> None:
    body = {"type": type_, "amount": amount, "bookingDate": "2026-10-05"}
    await agency.sandbox("POST", f"/_sandbox/skuld/cases/{ref.agency_reference}/transactions", json=body)


async def test_a_registration_is_submitted_and_succeeds_once_skuld_has_validated_it() -> None:
    async with running_agency(SPEC) as agency:
        op = agency.op("claim.create", claim_id="clm_1")
        submitted = await agency.adapter.submit_claim(agency.credential, op, sample_claim(SPEC))
        outcome = await agency.resolve(op, submitted)
        assert isinstance(outcome, Succeeded) and outcome.agency_reference == getattr(
            submitted, "tracking", None
        )


async def test_a_case_skuld_refuses_fails_with_its_reason() -> None:
    async with running_agency(SPEC) as agency:
        await agency.sandbox("POST", "/_sandbox/skuld/refuse-next", json={"reason": "debtor is deceased"})
        op = agency.op("claim.create", claim_id="clm_1")
        outcome = await agency.resolve(
            op, await agency.adapter.submit_claim(agency.credential, op, sample_claim(SPEC))
        )
        assert not isinstance(outcome, Succeeded)
        assert outcome.problem.code == "agency_rejected" and "deceased" in (outcome.problem.detail or "")


async def test_a_registration_whose_answer_was_lost_is_registered_once() -> None:
    async with running_agency(SPEC, timeout=0.5) as agency:
        await agency.set_faults(commit_then_timeout=1, hang_seconds=1.0, paths=r"^/api/v2/cases$")
        await agency.create(sample_claim(SPEC))
        assert len(await agency.ledger("case.register")) == 1


async def test_pages_end_without_asking_skuld_for_an_empty_page() -> None:
    async with running_agency(SPEC) as agency:
        ref = await agency.create(sample_claim(SPEC, invoices=4))
        before = (await agency.sandbox("GET", "/_sandbox/ledger"))["requests"]
        invoices = await agency.all_invoices(ref, limit=2)
        after = (await agency.sandbox("GET", "/_sandbox/ledger"))["requests"]
        assert len(invoices) == 4
        assert after - before == 2  # two full pages, each known to be (or not be) the last


async def test_skulds_charges_are_left_out_of_payments_and_its_collections_listed() -> None:
    async with running_agency(SPEC) as agency:
        claim = sample_claim(SPEC)
        ref = await agency.create(claim)
        await _post(agency, ref, "FEE", "15.00")
        await _post(agency, ref, "PAYMENT", "-20.00")
        await _post(agency, ref, "PAYMENT_REVERSAL", "20.00")
        payments = await agency.all_payments(ref, limit=1)
        assert [(p.kind, p.source, p.amount.amount) for p in payments] == [
            ("payment", "agency", 2000),
            ("reversal", "agency", 2000),
        ]
        assert all(p.paid_on == dt.date(2026, 10, 5) for p in payments)


async def test_withdrawing_twice_is_harmless_and_partial_withdrawal_is_refused_without_a_call() -> None:
    async with running_agency(SPEC) as agency:
        claim = sample_claim(SPEC)
        ref = await agency.create(claim)
        partial = Withdrawal(reason="goods_returned", invoice_numbers=[claim.invoices[0].number])
        refused = await agency.adapter.withdraw(agency.credential, agency.op("claim.withdraw"), ref, partial)
        assert isinstance(refused, Failed) and refused.problem.code == "unsupported_by_agency"
        for _ in range(2):
            whole = await agency.adapter.withdraw(
                agency.credential, agency.op("claim.withdraw"), ref, Withdrawal(reason="by_client")
            )
            assert isinstance(whole, Succeeded)
        assert len(await agency.ledger("case.withdraw")) == 1
        assert (await agency.adapter.get_claim(agency.credential, ref)).status == "withdrawn"


async def test_a_case_skuld_does_not_know_is_not_found() -> None:
    async with running_agency(SPEC) as agency:
        ref = ClaimRef(claim_id="clm_unknown", agency_reference="SK-404404", currency="EUR")
        with pytest.raises(NotFound):
            await agency.adapter.get_claim(agency.credential, ref)
