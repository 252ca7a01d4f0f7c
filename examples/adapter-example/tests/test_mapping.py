"""Skuld mapping, property-tested: decimal strings exact both ways, signs by type, states safe."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sdk import (
    CLAIM_STATUSES,
    Allocation,
    ClaimCreate,
    Money,
    MoneyError,
    PaymentReport,
    claim_total,
)
from collection_gateway.conformance import sample_claim
from collection_gateway.conformance.strategies import amounts, claim_creates

from skuld import SPEC
from skuld.mapping import (
    SkuldDataError,
    from_wire_amount,
    from_wire_case,
    from_wire_state,
    from_wire_transaction,
    registration_outcome,
    to_wire_amount,
    to_wire_case,
    to_wire_direct_payment,
)
from skuld.wire import SKULD_CURRENCIES, SkuldCase, SkuldDebtorSummary, SkuldInvoice, SkuldTransaction

CURRENCIES = sorted(SKULD_CURRENCIES)
KNOWN_STATES = (
    "RECEIVED",
    "REGISTERED",
    "REFUSED",
    "IN_COLLECTION",
    "PAUSED",
    "SETTLED",
    "WRITTEN_OFF",
    "WITHDRAWN",
)
skuld_claims = claim_creates(currencies=CURRENCIES)


@given(amount=amounts(), currency=st.sampled_from(CURRENCIES))
def test_an_amount_survives_the_trip_through_a_decimal_string(amount: int, currency: str) -> None:
    text = to_wire_amount(Money(amount=amount, currency=currency))
    assert "e" not in text.lower() and "," not in text
    assert from_wire_amount(text, currency) == amount


@pytest.mark.parametrize(
    ("text", "minor"), [("123.45", 12345), ("0.5", 50), ("12", 1200), ("-10.00", -1000), ("0", 0)]
)
def test_skulds_decimal_strings_read_as_minor_units(text: str, minor: int) -> None:
    assert from_wire_amount(text, "EUR") == minor


@pytest.mark.parametrize("text", ["1.005", "12,50", "1e3", " 12", "", "+1", "12.", ".5", "NaN"])
def test_anything_else_is_not_an_amount_and_is_never_rounded(text: str) -> None:
    with pytest.raises(MoneyError):
        from_wire_amount(text, "EUR")


@settings(deadline=None)
@given(skuld_claims)
def test_every_amount_sent_is_conserved(claim: ClaimCreate) -> None:
    body = to_wire_case(claim, "token")
    sent = sum(
        from_wire_amount(i.principal, claim.currency) + from_wire_amount(i.fees, claim.currency)
        for i in body.invoices
    )
    assert sent == claim_total(claim)


@settings(deadline=None)
@given(skuld_claims)
def test_a_registered_case_reads_back_as_it_was_sent(claim: ClaimCreate) -> None:
    body = to_wire_case(claim, "token")
    case = SkuldCase(
        case_id="SK-1",
        currency=claim.currency,
        state="REGISTERED",
        debtor=SkuldDebtorSummary(customer_no=body.debtor.customer_no),
        balance=to_wire_amount(Money(amount=claim_total(claim), currency=claim.currency)),
    )
    invoices = [
        SkuldInvoice(
            number=i.number,
            issued_on=i.issued_on,
            due_on=i.due_on,
            principal=i.principal,
            fees=i.fees,
            outstanding=i.principal,
        )
        for i in body.invoices
    ]
    read = from_wire_case(case, invoices)
    assert read.status == "active" and read.balance_amount == claim_total(claim)
    assert read.agency_data["debtor"]["customerNo"] == claim.debtor.reference
    for sent, back in zip(claim.invoices, read.invoices, strict=True):
        assert (back.number, back.amount, back.remaining) == (sent.number, sent.amount, sent.amount)
        assert back.costs == (sent.costs if sent.costs and sent.costs.amount else None)


def test_the_same_operation_always_registers_under_the_same_client_case_id() -> None:
    claim_a = to_wire_case(_claim(), "op-token-1")
    claim_b = to_wire_case(_claim(), "op-token-1")
    assert (
        claim_a.client_case_id
        == claim_b.client_case_id
        != to_wire_case(_claim(), "op-token-2").client_case_id
    )


def _transaction(type_: str, amount: str) -> SkuldTransaction:
    return SkuldTransaction(
        transaction_id="TX-1", type=type_, amount=amount, booking_date=dt.date(2026, 10, 1)
    )


@given(minor=amounts(), currency=st.sampled_from(CURRENCIES))
def test_payments_listed_negative_are_positive_canonical_payments(minor: int, currency: str) -> None:
    text = to_wire_amount(Money(amount=minor, currency=currency))
    for type_ in ("PAYMENT", "DIRECT_PAYMENT"):
        payment = from_wire_transaction(_transaction(type_, f"-{text}"), currency)
        assert payment is not None and payment.kind == "payment" and payment.amount.amount == minor
    reversal = from_wire_transaction(_transaction("PAYMENT_REVERSAL", text), currency)
    assert reversal is not None and reversal.kind == "reversal" and reversal.amount.amount == minor


@pytest.mark.parametrize(
    ("type_", "amount"), [("PAYMENT", "10.00"), ("DIRECT_PAYMENT", "0"), ("PAYMENT_REVERSAL", "-1")]
)
def test_a_transaction_signed_against_its_type_is_skulds_data_error(type_: str, amount: str) -> None:
    with pytest.raises(SkuldDataError):
        from_wire_transaction(_transaction(type_, amount), "EUR")


def test_skulds_charges_are_not_payments() -> None:
    assert from_wire_transaction(_transaction("FEE", "5.00"), "EUR") is None
    assert from_wire_transaction(_transaction("INTEREST", "0.12"), "EUR") is None


def test_a_direct_payment_is_posted_positive_for_one_invoice_at_most() -> None:
    paid = Money(amount=1000, currency="EUR")
    report = PaymentReport(
        payment_id="P-1",
        amount=paid,
        paid_on=dt.date(2026, 10, 1),
        allocations=[Allocation(invoice_number="INV-1", amount=paid)],
    )
    body = to_wire_direct_payment(report)
    assert (body.amount, body.invoice_no, body.client_transaction_id) == ("10.00", "INV-1", "P-1")
    split = [
        Allocation(invoice_number=n, amount=Money(amount=500, currency="EUR")) for n in ("INV-1", "INV-2")
    ]
    with pytest.raises(MoneyError):
        to_wire_direct_payment(
            PaymentReport(payment_id="P-2", amount=paid, paid_on=dt.date(2026, 10, 1), allocations=split)
        )


def test_every_known_state_has_a_canonical_meaning() -> None:
    assert {from_wire_state(s) for s in KNOWN_STATES} <= set(CLAIM_STATUSES)


@given(st.text().filter(lambda s: s not in KNOWN_STATES))
def test_a_state_skuld_adds_later_reads_as_pending_and_decides_nothing(state: str) -> None:
    assert from_wire_state(state) == "pending"
    case = SkuldCase(
        case_id="SK-1", currency="EUR", state=state, debtor=SkuldDebtorSummary(customer_no="C"), balance="0"
    )
    assert registration_outcome(case) is None


def _claim() -> ClaimCreate:
    return sample_claim(SPEC, tag="SAME")
