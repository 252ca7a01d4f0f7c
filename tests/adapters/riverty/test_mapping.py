"""Riverty mapping: exact amounts in decimal major units, round trips, the status table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import PaymentCollected, StatusChanged
from adapters.riverty.client import _ENCODER
from adapters.riverty.mapping import (
    RivertyAmountTooLong,
    RivertyFeedError,
    amount_from_wire,
    amount_to_wire,
    claim_status,
    feed_status,
    from_wire_claim,
    from_wire_invoice,
    rejection_detail,
    to_wire_cancellation,
    to_wire_claim,
    to_wire_payment,
    to_wire_recall,
    transaction_changes,
)
from adapters.riverty.wire import (
    RivertyClaimCreate,
    RivertyInvoice,
    RivertyPage,
    RivertyReason,
    RivertyTransaction,
)
from canonical import Allocation, Money, MoneyError, PaymentReport, PaymentReversal, Withdrawal, to_major
from tests.adapters.riverty._strategies import CURRENCIES, claims, max_minor, money


def _over_the_wire(claim_body: RivertyClaimCreate) -> RivertyClaimCreate:
    """Encode as the client sends it (amounts as JSON numbers) and decode as Riverty reads it."""
    return msgspec.json.decode(_ENCODER.encode(claim_body), type=RivertyClaimCreate)


@given(claims())
def test_claim_round_trips_through_riverty_json(claim):
    wire = _over_the_wire(to_wire_claim(claim, "clm_1"))
    back = from_wire_claim(wire, client_reference=claim.client_reference, claim_type=claim.type)
    assert back == claim


@given(claims())
def test_claim_amounts_are_conserved_exactly_and_positive(claim):
    wire = to_wire_claim(claim, "clm_1")
    items = [i for contract in wire.contracts for i in contract.invoices]
    assert sum(i.original_amount for i in items) == to_major(
        sum(i.amount.amount for i in claim.invoices), claim.currency
    )
    assert all(i.original_amount > 0 and i.remaining_amount == i.original_amount for i in items)
    assert all(cost.amount > 0 for cost in wire.costs)


@given(claims())
def test_amounts_travel_as_json_numbers_never_strings(claim):
    raw = msgspec.json.decode(_ENCODER.encode(to_wire_claim(claim, "clm_1")))
    for item in raw["contracts"][0]["invoices"]:
        assert isinstance(item["originalAmount"], int | float)


def test_the_gateway_claim_id_is_the_contract_number():
    from tests.adapters.riverty._support import make_claim

    wire = to_wire_claim(make_claim(2), "clm_abc")
    assert [c.contract_number for c in wire.contracts] == ["clm_abc"]


def test_zero_costs_are_left_out_because_riverty_takes_no_zero_amounts():
    from tests.adapters.riverty._support import eur, make_claim

    claim = make_claim(1, costs=0)
    assert to_wire_claim(claim, "clm_1").costs == []
    assert eur(0).amount == 0


@given(st.sampled_from(CURRENCIES).flatmap(lambda c: money(c, low=0)))
def test_amount_round_trip_is_exact(amount):
    wire = amount_to_wire(amount)
    assert len(str(wire)) <= 12
    assert amount_from_wire(wire, amount.currency) == amount


@pytest.mark.parametrize("currency", CURRENCIES)
def test_an_amount_longer_than_twelve_characters_is_refused(currency):
    amount_to_wire(Money(amount=max_minor(currency), currency=currency))
    with pytest.raises(RivertyAmountTooLong):
        amount_to_wire(Money(amount=max_minor(currency) + 1, currency=currency))


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        (Decimal("535.37"), "EUR", 53537),
        (Decimal("0.01"), "EUR", 1),
        (Decimal("500"), "JPY", 500),
        (Decimal("1.000"), "KWD", 1000),
        (Decimal("1E+3"), "EUR", 100000),
    ],
)
def test_riverty_amounts_become_exact_minor_units(value, currency, minor):
    assert amount_from_wire(value, currency) == Money(amount=minor, currency=currency)


@pytest.mark.parametrize(("value", "currency"), [(Decimal("535.375"), "EUR"), (Decimal("0.5"), "JPY")])
def test_a_fraction_of_a_minor_unit_from_riverty_is_an_error_not_a_rounding(value, currency):
    with pytest.raises(MoneyError):
        amount_from_wire(value, currency)


# The first item of the document's own response example (riverty-claim-invoices.txt).
DOC_PAGE = b"""{
 "items": [{
   "dueDate": "2022-10-27", "currency": "EUR", "disputed": false,
   "legalBase": "1UX1TELBztyvMSnmYH9NWgberF2cKCD", "description": "Sed maxime consequatur.",
   "dunningDate": "2024-07-20", "invoiceDate": "2022-10-05", "invoiceNumber": "I1684932565",
   "placementDate": "2024-05-22", "originalAmount": 877.2, "remainingAmount": 535.37,
   "secondDunningDate": "2025-08-20",
   "interestCalculation": {"rate": 7.254381189568966, "type": "REFERENCE", "lastCalculationDate": "2024-01-21"},
   "additionalProperties": [{"key": "natus", "value": "Ad ipsa eum.", "additionalProperties": {}}]
 }],
 "pagination": {"totalItems": 10, "additionalProperties": {}},
 "additionalProperties": {}
}"""


def test_the_documents_example_page_reads_exactly():
    page = msgspec.json.decode(DOC_PAGE, type=RivertyPage)
    assert page.pagination is not None and page.pagination.total_items == 10
    assert page.pagination.page_size is None  # the example carries only totalItems: accepted
    invoice = from_wire_invoice(msgspec.json.decode(page.items[0], type=RivertyInvoice))
    assert invoice.number == "I1684932565"
    assert invoice.amount == Money(amount=87720, currency="EUR")
    assert invoice.remaining == Money(amount=53537, currency="EUR")
    assert invoice.interest_rate == "7.254381189568966"
    assert invoice.issued_on == dt.date(2022, 10, 5) and invoice.due_on == dt.date(2022, 10, 27)
    assert invoice.references == {"natus": "Ad ipsa eum."}


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("IN_CREATION", None, "pending"),
        ("PROCESSING", None, "active"),
        ("PAUSED", None, "paused"),
        ("CLOSED", "PAID", "closed"),
        ("CLOSED", None, "closed"),
        # no document defines the closing reasons: withdrawn is the gateway's own knowledge
        ("CLOSED", "RECALLED", "closed"),
        ("REJECTED", None, "rejected"),
        ("SOMETHING_NEW", None, "pending"),
    ],
)
def test_riverty_claim_states_map_onto_canonical_status(status, reason, expected):
    assert claim_status(status, reason) == expected


@given(st.text(max_size=20))
def test_an_unknown_state_is_never_taken_for_success(status):
    assert claim_status(status) in ("pending", "active", "paused", "closed", "rejected", "withdrawn")
    if status not in ("IN_CREATION", "PROCESSING", "PAUSED", "CLOSED", "REJECTED"):
        assert claim_status(status) == "pending"


def test_rejection_detail_carries_rivertys_reasons():
    detail = rejection_detail([RivertyReason(code="CUSTOMER_REJECTED", message="no address"), "free text"])
    assert "CUSTOMER_REJECTED: no address" in detail and "free text" in detail


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=5))
def test_payment_allocations_add_up_to_the_payment_on_the_wire(parts):
    report = PaymentReport(
        payment_id="P-1",
        amount=Money(amount=sum(parts), currency="EUR"),
        paid_on=dt.date(2026, 3, 1),
        allocations=[
            Allocation(invoice_number=f"INV-{i}", amount=Money(amount=p, currency="EUR"))
            for i, p in enumerate(parts)
        ],
    )
    wire = to_wire_payment(report)
    assert wire.payment_number == "P-1"
    assert sum(a.amount for a in wire.allocate_to) == wire.amount == to_major(sum(parts), "EUR")


def test_a_whole_claim_recall_names_no_invoices_and_a_partial_one_names_them():
    whole = msgspec.json.decode(_ENCODER.encode(to_wire_recall(Withdrawal(reason="by_client"))))
    partial = to_wire_recall(Withdrawal(reason="goods_returned", invoice_numbers=["INV-1"]))
    assert whole == {"reason": "CLIENT_REQUEST"}
    assert partial.invoice_numbers == ["INV-1"] and partial.reason == "GOODS_RETURNED"


def test_a_reversal_cancels_the_payments_accounting_document():
    wire = to_wire_cancellation("P-7", PaymentReversal(reason="bounced"))
    assert (wire.document_number, wire.document_type, wire.reason) == ("P-7", "PAYMENT", "bounced")


# --- the change feed (/transactions) ----------------------------------------------------------

_STAMP = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def _tx(**fields: Any) -> RivertyTransaction:
    base = {
        "transactionId": "T1",
        "type": "ACCOUNTING_DOCUMENT",
        "createdAt": "2026-11-02T10:00:00Z",
        "claimNumber": "RC1",
    }
    return msgspec.json.decode(msgspec.json.encode({**base, **fields}), type=RivertyTransaction)


def _document(**fields: Any) -> RivertyTransaction:
    document = {
        "documentNumber": "P-1",
        "documentType": "PAYMENT",
        "amount": 12.5,
        "currency": "EUR",
        "date": "2026-11-01",
    }
    return _tx(**{**document, **fields})


@given(
    cents=st.integers(min_value=1, max_value=10**11),
    kind=st.sampled_from(["PAYMENT", "CANCELLATION"]),
    reported=st.booleans(),
)
def test_an_accounting_document_is_one_payment_or_reversal_by_its_transaction_id(
    cents: int, kind: str, reported: bool
) -> None:
    amount = to_major(cents, "EUR")
    tx = msgspec.structs.replace(_document(), document_type=kind, amount=amount)
    [change] = transaction_changes(tx, reported_by_creditor=reported)
    assert isinstance(change, PaymentCollected)
    assert (change.record_id, change.agency_reference) == ("tx:T1", "RC1")
    assert change.amount == Money(amount=cents, currency="EUR")
    assert change.kind == ("payment" if kind == "PAYMENT" else "reversal")
    assert (change.source, change.payment_id) == (("creditor", "P-1") if reported else ("agency", None))
    assert change.remaining_reported
    assert transaction_changes(tx, reported_by_creditor=reported) == [change]  # the same on every read


def test_a_credit_waiver_and_the_outcomes_of_our_own_writes_are_no_change() -> None:
    assert transaction_changes(_document(documentType="CREDIT_WAIVER"), reported_by_creditor=True) == []
    assert transaction_changes(_tx(type="CONFIRMATION", requestId="r"), reported_by_creditor=False) == []
    assert transaction_changes(_tx(type="SOMETHING_NEW"), reported_by_creditor=False) == []


@pytest.mark.parametrize(
    ("kind", "status", "expected"),
    [
        ("STATUS", "PAUSED", ["paused"]),
        ("STATUS", "PROCESSING", ["active"]),
        ("CLOSING", "CLOSED", ["closed"]),
        ("CLOSING", None, ["closed"]),
        ("STATUS", "SOMETHING_NEW", []),  # a state we do not know leaves the status as it is
        ("STATUS", None, []),
    ],
)
def test_status_and_closing_entries_are_the_claims_status(
    kind: str, status: str | None, expected: list[str]
) -> None:
    changes = transaction_changes(_tx(type=kind, status=status), reported_by_creditor=False)
    assert [c.status for c in changes if isinstance(c, StatusChanged)] == expected
    assert all(c.record_id == "tx:T1" for c in changes)


@given(st.text(max_size=12))
def test_feed_status_never_reads_progress_into_a_state_it_does_not_know(status: str) -> None:
    assert feed_status(status) == (
        claim_status(status)
        if status in ("IN_CREATION", "PROCESSING", "PAUSED", "CLOSED", "REJECTED")
        else None
    )


def test_an_entry_without_its_claim_or_amount_or_with_an_inexact_amount_cannot_be_read() -> None:
    with pytest.raises(RivertyFeedError):
        transaction_changes(_tx(type="STATUS", status="PAUSED", claimNumber=None), reported_by_creditor=False)
    with pytest.raises(RivertyFeedError):
        transaction_changes(_tx(documentType="PAYMENT", documentNumber="P-1"), reported_by_creditor=False)
    with pytest.raises(MoneyError):
        transaction_changes(_document(amount=0.001), reported_by_creditor=False)
