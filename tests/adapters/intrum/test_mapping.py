"""Intrum's mapping: round trips, exact amounts on the wire, and the status and outcome tables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from adapters.base import Failed, InvoiceChanged, StatusChanged, Succeeded
from adapters.intrum import SPEC
from adapters.intrum.mapping import (
    CLAIM_TYPES,
    REFERENCE_ATTRIBUTES,
    IntrumFeedError,
    allocate_oldest_due_first,
    claim_status,
    feed_status,
    from_wire_invoice,
    from_wire_payment_record,
    from_wire_registration,
    intrum_view,
    payment_change,
    status_update_changes,
    to_wire_credit_note,
    to_wire_language,
    to_wire_payment,
    to_wire_registration,
    to_wire_withdrawal,
    tracking_outcome,
    withdrawal_key,
)
from adapters.intrum.wire import (
    ENCODER,
    IntrumInvoice,
    IntrumPaymentRecord,
    IntrumRegistration,
    IntrumStatusUpdate,
    IntrumTracking,
    IntrumTrackingTransaction,
)
from canonical import (
    MAX_AMOUNT,
    Allocation,
    ClaimCreate,
    CreditNoteCreate,
    Money,
    MoneyError,
    PaymentReport,
    from_major,
    to_major,
    validate_claim_create,
)
from canonical.problems import UnsupportedByAgency
from tests.conformance.harness import sample_claim
from tests.conformance.strategies import claim_creates

INTRUM_TYPES = sorted(CLAIM_TYPES)
#: every claim Intrum can hold as it is: its languages, its attribute types, media types the
#: file names imply
intrum_claims = claim_creates(
    claim_types=INTRUM_TYPES,
    languages=("de", "en", "fr", "it"),
    reference_keys=sorted(REFERENCE_ATTRIBUTES),
    media_type_from_extension=True,
)
#: every valid claim of a type Intrum has
any_claims = claim_creates(claim_types=INTRUM_TYPES)

_GENERIC = msgspec.json.Decoder(float_hook=Decimal)


def _through_json(claim: ClaimCreate) -> tuple[bytes, IntrumRegistration]:
    body = ENCODER.encode(to_wire_registration(claim))
    return body, msgspec.json.decode(body, type=IntrumRegistration)


@settings(max_examples=100)
@given(intrum_claims)
def test_every_claim_intrum_can_hold_comes_back_identical_from_the_wire(claim: ClaimCreate) -> None:
    assert validate_claim_create(claim) == []
    _, wire = _through_json(claim)
    assert from_wire_registration(wire, claim.client_reference) == claim


@settings(max_examples=100)
@given(any_claims)
def test_every_valid_claim_comes_back_as_what_intrum_can_hold_of_it(claim: ClaimCreate) -> None:
    _, wire = _through_json(claim)
    back = from_wire_registration(wire, claim.client_reference)
    assert back == intrum_view(claim)
    assert intrum_view(back) == back
    # what Intrum cannot hold never touches money or identity
    assert [(i.number, i.amount, i.costs, i.issued_on, i.due_on, i.interest_rate) for i in back.invoices] == [
        (i.number, i.amount, i.costs, i.issued_on, i.due_on, i.interest_rate) for i in claim.invoices
    ]
    assert back.debtor.reference == claim.debtor.reference


@settings(max_examples=100)
@given(any_claims)
def test_every_amount_on_the_wire_is_a_json_number_equal_to_its_minor_units(claim: ClaimCreate) -> None:
    body, _ = _through_json(claim)
    sent: dict[str, Any] = _GENERIC.decode(body)
    for invoice, wire in zip(claim.invoices, sent["invoices"], strict=True):
        claimed = wire["invoiceClaimedAmount"]
        assert isinstance(claimed, int | Decimal) and not isinstance(claimed, bool)
        assert Decimal(claimed) == to_major(invoice.amount.amount, claim.currency)
        assert from_major(claimed, claim.currency) == invoice.amount.amount
        if invoice.costs is None:
            assert "invoiceClientCosts" not in wire
        else:
            assert from_major(wire["invoiceClientCosts"], claim.currency) == invoice.costs.amount


@pytest.mark.parametrize(
    ("currency", "minor", "text"),
    [
        ("EUR", 1, b"0.01"),
        ("EUR", 12345, b"123.45"),
        ("EUR", 10**12, b"10000000000.00"),
        ("CHF", MAX_AMOUNT, b"9999999999999.99"),
        ("JPY", 500, b"500"),
        ("KWD", 1, b"0.001"),
        ("CLF", 12345, b"1.2345"),
    ],
)
def test_amounts_are_written_digit_for_digit(currency: str, minor: int, text: bytes) -> None:
    report = PaymentReport(
        payment_id="P-1", amount=Money(amount=minor, currency=currency), paid_on=dt.date(2026, 11, 1)
    )
    allocation = Allocation(invoice_number="INV-1", amount=report.amount)
    body = ENCODER.encode(to_wire_payment(report, [allocation]))
    assert b'"totalPaymentAmount":' + text + b"," in body
    assert b'"paymentAmount":' + text + b"," in body


@settings(max_examples=100)
@given(st.lists(st.integers(min_value=1, max_value=MAX_AMOUNT // 10), min_size=1, max_size=6))
def test_total_payment_amount_is_exactly_the_sum_of_the_invoice_amounts(parts: list[int]) -> None:
    allocations = [
        Allocation(invoice_number=f"INV-{index}", amount=Money(amount=part, currency="EUR"))
        for index, part in enumerate(parts)
    ]
    report = PaymentReport(
        payment_id="P", amount=Money(amount=sum(parts), currency="EUR"), paid_on=dt.date(2026, 1, 1)
    )
    sent = _GENERIC.decode(ENCODER.encode(to_wire_payment(report, allocations)))
    total = sum((Decimal(i["paymentAmount"]) for i in sent["invoices"]), Decimal(0))
    assert Decimal(sent["totalPaymentAmount"]) == total
    assert from_major(sent["totalPaymentAmount"], "EUR") == sum(parts)


def test_allocations_that_do_not_add_up_are_never_sent() -> None:
    report = PaymentReport(
        payment_id="P", amount=Money(amount=100, currency="EUR"), paid_on=dt.date(2026, 1, 1)
    )
    with pytest.raises(ValueError, match="add up"):
        to_wire_payment(report, [Allocation(invoice_number="I", amount=Money(amount=99, currency="EUR"))])


def test_a_loan_is_refused_because_intrum_has_no_claim_type_for_it() -> None:
    claim = msgspec.structs.replace(sample_claim(SPEC), type="loan")
    with pytest.raises(UnsupportedByAgency):
        to_wire_registration(claim)


@pytest.mark.parametrize(
    ("language", "wire"), [("de", "DE"), ("en", "EN"), ("fr", "FR"), ("it", "IT"), ("sv", "EN"), ("rm", "EN")]
)
def test_languages_outside_de_en_fr_it_go_as_english(language: str, wire: str) -> None:
    assert to_wire_language(language) == wire


@pytest.mark.parametrize(
    ("main", "closing", "status"),
    [
        (1, None, "active"),
        (2, None, "active"),
        (3, None, "active"),
        (4, None, "paused"),
        (9, None, "closed"),
        (9, 1, "closed"),
        # closing codes are not documented: a closed case is closed, whatever its code; that the
        # creditor withdrew it is the gateway's own knowledge (its confirmed withdrawal)
        (9, 2, "closed"),
        (1, 2, "closed"),
        (9, 3, "closed"),
        (9, 77, "closed"),
        (42, None, "pending"),
        (None, None, "pending"),
    ],
)
def test_case_status_maps_to_one_claim_status(main: int | None, closing: int | None, status: str) -> None:
    assert claim_status(main, closing) == status


def _tracking(*transactions: tuple[str, dict[str, str | int]]) -> IntrumTracking:
    return IntrumTracking(
        tracking_id=1,
        transactions=[
            IntrumTrackingTransaction(status=status, message=f"it is {status}", identifiers=identifiers)
            for status, identifiers in transactions
        ],
    )


def test_a_completed_registration_succeeds_with_the_case_number() -> None:
    outcome = tracking_outcome([_tracking(("COMPLETED", {"invoiceNumber": "A", "caseNumber": 123456}))])
    assert outcome == Succeeded(agency_reference="123456")


@pytest.mark.parametrize("other", ["REGISTERED", "IN_PROGRESS", "SOMETHING_NEW"])
def test_an_operation_is_pending_while_any_transaction_is_not_final(other: str) -> None:
    assert tracking_outcome([_tracking(("COMPLETED", {}), (other, {}))]) is None
    assert tracking_outcome([_tracking()]) is None


def test_a_failed_transaction_fails_the_operation_with_intrums_message() -> None:
    outcome = tracking_outcome([_tracking(("COMPLETED", {})), _tracking(("FAILED", {}), ("IN_PROGRESS", {}))])
    assert isinstance(outcome, Failed)
    assert outcome.problem.code == "agency_rejected"
    assert outcome.problem.detail == "it is FAILED"


@settings(max_examples=100)
@given(
    st.integers(min_value=1, max_value=10**9),
    st.lists(
        st.tuples(
            st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)), st.integers(min_value=0, max_value=10**8)
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_an_unallocated_payment_fills_the_oldest_due_invoices_first(
    amount: int, invoices: list[tuple[dt.date, int]]
) -> None:
    open_invoices = [(f"INV-{index}", due, open_amount) for index, (due, open_amount) in enumerate(invoices)]
    parts = allocate_oldest_due_first(amount, open_invoices)
    assert sum(part for _, part in parts) == amount
    assert all(part > 0 for _, part in parts)
    ordered = sorted(open_invoices, key=lambda i: (i[1], i[0]))
    touched = {number for number, _ in parts}
    last = max(index for index, invoice in enumerate(ordered) if invoice[0] in touched)
    given_to = dict(parts)
    for number, _, open_amount in ordered[:last]:
        assert given_to.get(number, 0) == open_amount, "a later invoice was paid before an older one was full"


def test_a_credit_note_keeps_its_amount_and_invoice() -> None:
    note = CreditNoteCreate(
        number="CN-1",
        invoice_number="INV-1",
        amount=Money(amount=4550, currency="CHF"),
        issued_on=dt.date(2026, 11, 2),
    )
    assert ENCODER.encode(to_wire_credit_note(note)) == (
        b'{"creditNoteAmount":45.50,"creditNoteDate":"2026-11-02","invoiceNumber":"INV-1"}'
    )


def test_withdrawal_reasons_are_intrums_codes() -> None:
    assert to_wire_withdrawal("A", "by_client").reason_code == "BY_CLIENT"
    assert to_wire_withdrawal("A", "goods_returned").reason_code == "RETURN_GOODS_TO_CLIENT"


@given(st.text(min_size=1), st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=5, unique=True))
def test_withdrawal_keys_are_stable_and_one_per_invoice(token: str, numbers: list[str]) -> None:
    keys = [withdrawal_key(token, number) for number in numbers]
    assert keys == [withdrawal_key(token, number) for number in numbers]
    assert len(set(keys)) == len(keys)
    assert withdrawal_key(token + "x", numbers[0]) != keys[0]


def test_the_documents_invoice_example_reads_exactly() -> None:
    # intrum-cps-api-v1.md, /invoices/query, "response with invoice attributes"
    example = b"""{"invoiceDate": "2023-06-19", "dueDate": "2023-07-19", "invoiceNumber": "12345",
      "invoiceReason": "Testing is fun", "currency": "CHF", "interestRate": 5, "invoiceClaimedAmount": 500.5,
      "invoiceClientCosts": 20, "invoiceRemainingAmount": 500.5, "invoiceRemainingClientCosts": 20,
      "currentMainStatusCode": 1, "caseNumber": 123456, "customerReference": "Testing", "someNewField": true,
      "invoiceAttributes": [{"attributeType": "itemId", "attributeValue": "INV-123"}]}"""
    invoice = from_wire_invoice(msgspec.json.decode(example, type=IntrumInvoice))
    assert invoice.amount == Money(amount=50050, currency="CHF")
    assert invoice.costs == Money(amount=2000, currency="CHF")
    assert invoice.remaining == Money(amount=50050, currency="CHF")
    assert invoice.interest_rate == "5"
    assert invoice.references == {"item_id": "INV-123"}


def test_a_fraction_of_a_minor_unit_from_intrum_is_an_error_not_a_rounding() -> None:
    example = b"""{"invoiceDate": "2023-06-19", "dueDate": "2023-07-19", "invoiceNumber": "1", "currency": "CHF",
      "invoiceClaimedAmount": 500.005, "invoiceRemainingAmount": 500}"""
    with pytest.raises(MoneyError):
        from_wire_invoice(msgspec.json.decode(example, type=IntrumInvoice))


def test_payment_records_read_as_payments_and_reversals() -> None:
    record = IntrumPaymentRecord(
        record_id=7,
        int_payment_id="P-1",
        paid_invoice_amount=Decimal("10.00"),
        paid_client_cost_amount=Decimal("0.50"),
        currency="EUR",
        case_number=1,
        invoice_number="INV-1",
        payment_date=dt.date(2026, 11, 1),
        type="REVERSAL",
    )
    reversal = from_wire_payment_record(record, reported_by_creditor=True)
    assert (reversal.kind, reversal.amount, reversal.payment_id, reversal.source) == (
        "reversal",
        Money(amount=1050, currency="EUR"),
        "P-1",
        "creditor",
    )
    assert reversal.allocations == [
        Allocation(invoice_number="INV-1", amount=Money(amount=1050, currency="EUR"))
    ]
    collected = from_wire_payment_record(
        msgspec.structs.replace(record, type="PAYMENT"), reported_by_creditor=False
    )
    assert (collected.kind, collected.payment_id, collected.source) == ("payment", None, "agency")


# --- the change feed ---------------------------------------------------------------------------

_stamps = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
).map(lambda moment: moment.replace(microsecond=0))
_cents = st.integers(min_value=0, max_value=10**12)
_ids = st.one_of(
    st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**9).map(str)
)


@st.composite
def _status_updates(draw: st.DrawFn) -> IntrumStatusUpdate:
    return IntrumStatusUpdate(
        invoice_number=draw(st.text(alphabet="ABC-0123456789", min_size=1, max_size=12)),
        last_updated_timestamp=draw(_stamps),
        case_number=draw(_ids),
        invoice_remaining_amount=draw(st.none() | _cents.map(lambda c: to_major(c, "EUR"))),
        client_costs_remaining_amount=draw(st.none() | _cents.map(lambda c: to_major(c, "EUR"))),
        main_status_code=draw(st.none() | st.integers(min_value=-1, max_value=12)),
        closing_code=draw(st.none() | st.integers(min_value=0, max_value=9)),
    )


def test_a_main_status_we_do_not_know_leaves_the_claims_status_as_it_is() -> None:
    assert [feed_status(code) for code in (1, 2, 3, 4, 9)] == [
        "active",
        "active",
        "active",
        "paused",
        "closed",
    ]
    assert {feed_status(code) for code in (None, 0, 5, 6, 7, 8, 10, 99)} == {None}


@given(_status_updates())
def test_a_status_update_reads_as_the_invoices_remaining_amounts_and_the_cases_status(
    update: IntrumStatusUpdate,
) -> None:
    changes = status_update_changes(update, "EUR")
    invoices = [c for c in changes if isinstance(c, InvoiceChanged)]
    statuses = [c for c in changes if isinstance(c, StatusChanged)]
    assert len(invoices) == (update.invoice_remaining_amount is not None)
    assert len(statuses) == (feed_status(update.main_status_code) is not None)
    for change in changes:
        assert change.agency_reference == str(update.case_number)
    for invoice in invoices:
        assert invoice.remaining.amount == from_major(update.invoice_remaining_amount or 0, "EUR")
        assert invoice.invoice_number == update.invoice_number
    assert len({c.record_id for c in changes}) == len(changes)
    # the same snapshot read again is the same records
    assert status_update_changes(update, "EUR") == changes


@given(_status_updates(), _cents)
def test_another_remaining_amount_in_the_same_second_is_another_record(
    update: IntrumStatusUpdate, cents: int
) -> None:
    assume(update.invoice_remaining_amount is not None)
    other = msgspec.structs.replace(update, invoice_remaining_amount=to_major(cents, "EUR"))
    assume(
        from_major(other.invoice_remaining_amount or 0, "EUR")
        != from_major(update.invoice_remaining_amount or 0, "EUR")
    )
    ids = {c.record_id for c in status_update_changes(update, "EUR")}
    assert not ids & {c.record_id for c in status_update_changes(other, "EUR")}


def test_a_number_or_a_string_names_the_same_case() -> None:
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    as_number = IntrumStatusUpdate(invoice_number="I-1", last_updated_timestamp=at, case_number=123)
    as_text = msgspec.json.decode(
        b'{"invoiceNumber":"I-1","lastUpdatedTimestamp":"2026-11-01T00:00:00Z","caseNumber":"123"}',
        type=IntrumStatusUpdate,
    )
    assert status_update_changes(as_number, "EUR") == status_update_changes(as_text, "EUR")


def test_a_status_update_without_a_case_or_with_an_inexact_amount_cannot_be_read() -> None:
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with pytest.raises(IntrumFeedError):
        status_update_changes(IntrumStatusUpdate(invoice_number="I-1", last_updated_timestamp=at), "EUR")
    inexact = IntrumStatusUpdate(
        invoice_number="I-1",
        last_updated_timestamp=at,
        case_number=1,
        invoice_remaining_amount=Decimal("0.001"),
    )
    with pytest.raises(MoneyError):
        status_update_changes(inexact, "EUR")


@given(
    record_id=_ids,
    case=_ids,
    principal=_cents,
    costs=_cents,
    kind=st.sampled_from(["PAYMENT", "REVERSAL", "SOMETHING_NEW"]),
)
def test_a_journalized_record_is_one_payment_of_principal_and_costs_by_its_record_id(
    record_id: int | str, case: int | str, principal: int, costs: int, kind: str
) -> None:
    assume(principal + costs > 0)
    record = IntrumPaymentRecord(
        record_id=record_id,
        paid_invoice_amount=to_major(principal, "CHF"),
        paid_client_cost_amount=to_major(costs, "CHF"),
        currency="CHF",
        case_number=case,
        invoice_number="I-1",
        payment_date=dt.date(2026, 11, 1),
        type=kind,
    )
    change = payment_change(record, reported_by_creditor=False)
    assert change.record_id == f"payment:{record_id}"
    assert change.agency_reference == str(case)
    assert change.amount == Money(amount=principal + costs, currency="CHF")
    assert change.kind == ("reversal" if kind == "REVERSAL" else "payment")
    assert (change.source, change.payment_id) == ("agency", None)


def test_a_payment_record_without_a_case_or_an_amount_cannot_be_read() -> None:
    record = IntrumPaymentRecord(record_id=1, currency="EUR", payment_date=dt.date(2026, 11, 1))
    with pytest.raises(IntrumFeedError):
        payment_change(record, reported_by_creditor=False)
    with pytest.raises(IntrumFeedError):
        payment_change(msgspec.structs.replace(record, case_number=5), reported_by_creditor=False)
