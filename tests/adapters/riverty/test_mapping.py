"""Riverty mapping: exact amounts in decimal major units, round trips, the status table."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.riverty.client import _ENCODER
from adapters.riverty.mapping import (
    RivertyAmountTooLong,
    amount_from_wire,
    amount_to_wire,
    claim_status,
    from_wire_accounting_document,
    from_wire_claim,
    from_wire_invoice,
    rejection_detail,
    to_wire_cancellation,
    to_wire_claim,
    to_wire_payment,
    to_wire_recall,
)
from adapters.riverty.wire import (
    RivertyAccountingDocument,
    RivertyClaimCreate,
    RivertyInvoice,
    RivertyPage,
    RivertyReason,
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


def test_accounting_documents_become_payments_and_reversals_but_credit_waivers_do_not():
    def doc(**fields):
        base = {
            "documentNumber": "P-1",
            "documentType": "PAYMENT",
            "source": "CLIENT",
            "amount": 12.5,
            "currency": "EUR",
            "date": "2026-03-01",
            "allocations": [{"invoiceNumber": "I-1", "amount": 12.5}],
        }
        return msgspec.convert({**base, **fields}, RivertyAccountingDocument)

    payment = from_wire_accounting_document(doc(), "RC1")
    assert payment is not None
    assert (payment.kind, payment.source, payment.payment_id, payment.amount.amount) == (
        "payment",
        "creditor",
        "P-1",
        1250,
    )
    assert payment.allocations[0].amount.amount == 1250
    reversal = from_wire_accounting_document(
        doc(documentType="CANCELLATION", documentNumber="P-1-C", cancels="P-1"), "RC1"
    )
    assert reversal is not None and (reversal.kind, reversal.payment_id) == ("reversal", "P-1")
    assert reversal.id != payment.id
    collected = from_wire_accounting_document(doc(source="AGENCY", documentNumber="RP1"), "RC1")
    assert collected is not None and (collected.source, collected.payment_id) == ("agency", None)
    assert from_wire_accounting_document(doc(documentType="CREDIT_WAIVER"), "RC1") is None
    assert from_wire_accounting_document(doc(), "RC1") == payment  # the id is stable across reads
