"""Debbie mapping, pure: the sign lives here, amounts are conserved, remaining is computed as documented."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import InvoiceChanged, PaymentCollected, StatusChanged
from adapters.debbie.mapping import (
    VOUCHER_KINDS,
    DebbieDataError,
    VoucherTypes,
    case_changes,
    case_reference,
    case_status_change,
    classify,
    credit_note_voucher,
    from_wire_balance,
    from_wire_invoices,
    from_wire_payments,
    from_wire_status,
    live_vouchers,
    payment_vouchers,
    sequence_of,
    sign_of,
    signed_amount,
    to_wire_case,
    unsigned_amount,
)
from adapters.debbie.sandbox import DEMO_VOUCHER_TYPES, EXTRA_VOUCHER_TYPES
from adapters.debbie.wire import DebbieCase, DebbieCaseVoucher
from canonical import Allocation, CreditNoteCreate, Money, MoneyError, PaymentReport, claim_total
from tests.adapters.debbie._strategies import amounts, as_read, claims, invoice_numbers, references

TYPES = VoucherTypes.from_config(DEMO_VOUCHER_TYPES)
DEBT_KINDS = {"principal", "cost", "interest"}


def _voucher(
    amount: int, *, kind: str = "principal", reference: str | None = "INV-1", **extra: object
) -> DebbieCaseVoucher:
    return msgspec.convert(
        {
            "voucherTypeId": DEMO_VOUCHER_TYPES.get(kind) or EXTRA_VOUCHER_TYPES[kind],
            "amount": amount,
            "currency": "SEK",
            "date": "2026-01-01",
            "referenceId": reference,
            "source": "CREDITOR",
            **extra,
        },
        DebbieCaseVoucher,
    )


# --- the sign -------------------------------------------------------------------------------------


@given(st.sampled_from(VOUCHER_KINDS), amounts)
def test_a_voucher_amount_has_the_sign_of_its_kind_and_reads_back_unsigned(kind: str, magnitude: int) -> None:
    signed = signed_amount(kind, magnitude)  # type: ignore[arg-type]
    assert (signed < 0) == (kind in DEBT_KINDS)
    assert abs(signed) == magnitude
    assert unsigned_amount(kind, signed) == magnitude  # type: ignore[arg-type]


@given(st.sampled_from(VOUCHER_KINDS), st.integers(max_value=0))
def test_no_voucher_can_be_made_for_zero_or_a_negative_amount(kind: str, magnitude: int) -> None:
    with pytest.raises(MoneyError):
        signed_amount(kind, magnitude)  # type: ignore[arg-type]


def test_debts_are_negative_and_credits_positive() -> None:
    assert {kind: sign_of(kind) for kind in VOUCHER_KINDS} == {
        "principal": -1,
        "cost": -1,
        "interest": -1,
        "payment": 1,
        "credit_note": 1,
    }


@given(claims(max_invoices=8))
def test_every_voucher_of_a_claim_is_a_debt_and_they_sum_to_minus_the_claim_total(claim: object) -> None:
    case = to_wire_case(claim, "cust-1", TYPES, "op_1")  # type: ignore[arg-type]
    assert all(v.amount < 0 for v in case.case_vouchers)
    assert sum(v.amount for v in case.case_vouchers) == -claim_total(claim)  # type: ignore[arg-type]
    assert all(v.source == "CREDITOR" and v.currency == case.currency for v in case.case_vouchers)


@given(claims(max_invoices=8))
def test_a_claim_mapped_to_vouchers_and_back_keeps_every_amount(claim: object) -> None:
    case = to_wire_case(claim, "cust-1", TYPES, "op_1")  # type: ignore[arg-type]
    read = live_vouchers([as_read(v) for v in case.case_vouchers], case.currency)
    invoices = from_wire_invoices(read, TYPES, case.currency)
    sent = claim.invoices  # type: ignore[attr-defined]
    assert [i.number for i in invoices] == [i.number for i in sent]
    for got, want in zip(invoices, sent, strict=True):
        assert (got.amount, got.issued_on, got.due_on) == (want.amount, want.issued_on, want.due_on)
        assert got.costs == (want.costs if want.costs and want.costs.amount else None)
        assert got.remaining == want.amount  # nothing paid yet
    assert from_wire_balance(read) == claim_total(claim)  # type: ignore[arg-type]


@given(
    references,
    st.lists(st.tuples(invoice_numbers, amounts), min_size=1, max_size=5, unique_by=lambda t: t[0]),
)
def test_an_allocated_payment_is_positive_vouchers_that_read_back_as_one_payment(
    payment_id: str, parts: list[tuple[str, int]]
) -> None:
    report = PaymentReport(
        payment_id=payment_id,
        amount=Money(amount=sum(a for _, a in parts), currency="SEK"),
        paid_on=dt.date(2026, 3, 1),
        allocations=[Allocation(invoice_number=n, amount=Money(amount=a, currency="SEK")) for n, a in parts],
    )
    vouchers = payment_vouchers(report, TYPES)
    assert all(v.amount > 0 for v in vouchers)
    assert sum(v.amount for v in vouchers) == report.amount.amount
    [payment] = from_wire_payments([as_read(v) for v in vouchers], TYPES, "SEK")
    assert (payment.payment_id, payment.source, payment.kind) == (payment_id, "creditor", "payment")
    assert payment.amount == report.amount
    assert payment.allocations == report.allocations


def test_a_payment_without_allocations_is_one_voucher_whose_reference_is_the_payment_id() -> None:
    report = PaymentReport(
        payment_id="P-1", amount=Money(amount=5000, currency="SEK"), paid_on=dt.date(2026, 3, 1)
    )
    [voucher] = payment_vouchers(report, TYPES)
    assert (voucher.amount, voucher.reference_id, voucher.voucher_type_id) == (5000, "P-1", TYPES.payment)


@given(invoice_numbers, invoice_numbers, amounts)
def test_a_credit_note_is_a_positive_voucher_linked_to_its_invoice(
    invoice: str, number: str, amount: int
) -> None:
    note = CreditNoteCreate(
        number=number,
        invoice_number=invoice,
        amount=Money(amount=amount, currency="SEK"),
        issued_on=dt.date(2026, 3, 1),
    )
    voucher = credit_note_voucher(note, TYPES)
    assert voucher.amount == amount > 0
    principal = _voucher(-(amount + 100), reference=invoice)
    [read] = from_wire_invoices([principal, as_read(voucher)], TYPES, "SEK")
    assert read.remaining.amount == 100


# --- remaining and balance ------------------------------------------------------------------------


def test_a_credit_note_reduces_only_the_invoice_it_names() -> None:
    vouchers = [
        _voucher(-10000, reference="INV-1", dueDate="2026-01-10"),
        _voucher(-5000, reference="INV-2", dueDate="2026-01-05"),
        _voucher(2500, kind="credit_note", reference="INV-1|CN-1"),
    ]
    remaining = {i.number: i.remaining.amount for i in from_wire_invoices(vouchers, TYPES, "SEK")}
    assert remaining == {"INV-1": 7500, "INV-2": 5000}


def test_an_unallocated_payment_pays_the_oldest_due_invoice_first_and_never_below_zero() -> None:
    vouchers = [
        _voucher(-10000, reference="INV-1", dueDate="2026-02-01"),
        _voucher(-5000, reference="INV-2", dueDate="2026-01-05"),
        _voucher(-700, kind="cost", reference="INV-2"),
        _voucher(6000, kind="payment", reference="P-1"),
    ]
    invoices = {i.number: i for i in from_wire_invoices(vouchers, TYPES, "SEK")}
    assert invoices["INV-2"].remaining.amount == 0
    assert invoices["INV-1"].remaining.amount == 9000
    assert invoices["INV-2"].costs == Money(amount=700, currency="SEK")
    assert from_wire_balance(vouchers) == 10000 + 5000 + 700 - 6000


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=6), st.lists(st.integers(1, 10**6), max_size=6))
def test_credits_reduce_invoices_by_exactly_what_was_paid_up_to_what_was_owed(
    principals: list[int], credits: list[int]
) -> None:
    vouchers = [_voucher(-p, reference=f"INV-{i}") for i, p in enumerate(principals)]
    vouchers += [_voucher(c, kind="payment", reference=f"P-{i}") for i, c in enumerate(credits)]
    invoices = from_wire_invoices(vouchers, TYPES, "SEK")
    assert all(0 <= i.remaining.amount <= i.amount.amount for i in invoices)
    paid_off = sum(i.amount.amount - i.remaining.amount for i in invoices)
    assert paid_off == min(sum(credits), sum(principals))


def test_deleted_vouchers_and_vouchers_in_another_currency_do_not_count() -> None:
    vouchers = [
        _voucher(-10000, reference="INV-1"),
        _voucher(-999, reference="INV-GONE", deletedAt="2026-02-01T00:00:00Z"),
        _voucher(4000, kind="payment", reference="P-1", deletedAt="2026-02-01T00:00:00Z"),
        _voucher(-1, reference="INV-EUR", currency="EUR"),
    ]
    live = live_vouchers(vouchers, "SEK")
    assert [i.number for i in from_wire_invoices(live, TYPES, "SEK")] == ["INV-1"]
    assert from_wire_payments(live, TYPES, "SEK") == []
    assert from_wire_balance(live) == 10000


def test_vouchers_debbie_made_with_types_we_do_not_configure_are_read_by_category() -> None:
    collector_payment = _voucher(
        3000, kind="collector_payment", reference="DEB-77", source="COLLECTOR", category="transaction"
    )
    court_fee = _voucher(-400, kind="court_fee", reference="INV-1", category="courtcost")
    mystery = _voucher(-50, kind="court_fee", reference=None, category="something-new")
    vouchers = [_voucher(-10000, reference="INV-1"), collector_payment, court_fee, mystery]
    assert [classify(v, TYPES) for v in vouchers] == ["principal", "payment", "cost", None]
    [payment] = from_wire_payments(vouchers, TYPES, "SEK")
    assert (payment.source, payment.payment_id, payment.amount.amount) == ("agency", None, 3000)
    [invoice] = from_wire_invoices(vouchers, TYPES, "SEK")
    assert (invoice.remaining.amount, invoice.costs) == (7000, Money(amount=400, currency="SEK"))
    assert from_wire_balance(vouchers) == 10000 + 400 + 50 - 3000  # the unknown voucher still counts


def test_a_negative_transaction_reads_as_a_reversal() -> None:
    vouchers = [
        _voucher(-10000),
        _voucher(2000, kind="payment", reference="P-1"),
        _voucher(-2000, kind="payment", reference="P-1"),
    ]
    payments = from_wire_payments(vouchers, TYPES, "SEK")
    assert [(p.kind, p.payment_id, p.amount.amount) for p in payments] == [
        ("payment", "P-1", 2000),
        ("reversal", "P-1", 2000),
    ]


def test_an_overpaid_case_owes_nothing() -> None:
    assert from_wire_balance([_voucher(-100), _voucher(250, kind="payment", reference="P-1")]) == 0


# --- status and references ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exit_reason", "expected"),
    [
        ("PENDING", None, "pending"),
        ("VERIFIED", None, "active"),
        ("ENDED", "WITHDRAWN", "withdrawn"),
        ("ENDED", "PAID", "closed"),
        ("ENDED", None, "closed"),
        ("ON_HOLD_SOMETHING_NEW", None, "pending"),
        (None, None, "pending"),
    ],
)
def test_case_status_maps_to_one_canonical_status(
    status: str | None, exit_reason: str | None, expected: str
) -> None:
    assert from_wire_status(DebbieCase(id="c", status=status, exit_reason=exit_reason)) == expected


@given(st.text(min_size=1, max_size=300))
def test_the_case_reference_is_stable_and_short(token: str) -> None:
    reference = case_reference(token)
    assert reference == case_reference(token)
    assert 1 <= len(reference) <= 64
    if len(token) <= 64 and token.isprintable():
        assert reference == token


def test_voucher_types_config_missing_a_kind_is_refused() -> None:
    broken = {k: v for k, v in DEMO_VOUCHER_TYPES.items() if k != "credit_note"}
    with pytest.raises(msgspec.ValidationError, match="credit_note"):
        VoucherTypes.from_config(broken)


def test_two_allocations_to_one_invoice_are_one_voucher_for_their_sum() -> None:
    report = PaymentReport(
        payment_id="P-2X",
        amount=Money(amount=300, currency="SEK"),
        paid_on=dt.date(2026, 3, 1),
        allocations=[
            Allocation(invoice_number="INV-1", amount=Money(amount=100, currency="SEK")),
            Allocation(invoice_number="INV-2", amount=Money(amount=50, currency="SEK")),
            Allocation(invoice_number="INV-1", amount=Money(amount=150, currency="SEK")),
        ],
    )
    vouchers = payment_vouchers(report, TYPES)
    assert [(v.reference_id, v.amount) for v in vouchers] == [("P-2X|INV-1", 250), ("P-2X|INV-2", 50)]


# --- the change feed: one case's records ------------------------------------------------------------

_KINDS = st.sampled_from(["principal", "cost", "payment", "credit_note", "collector_payment"])


@st.composite
def _cases(draw: st.DrawFn) -> tuple[DebbieCase, list[DebbieCaseVoucher]]:
    vouchers = []
    for n in range(draw(st.integers(min_value=1, max_value=8))):
        kind = draw(_KINDS)
        magnitude = draw(st.integers(min_value=1, max_value=10**9))
        debt = kind in ("principal", "cost")
        vouchers.append(
            _voucher(
                -magnitude
                if debt
                else draw(st.sampled_from([magnitude, -magnitude]))
                if "payment" in kind
                else magnitude,
                kind=kind,
                reference=f"INV-{draw(st.integers(0, 2))}" if kind != "collector_payment" else None,
                id=n + 1,
                caseVoucherId=f"cv-{n + 1}",
                source="COLLECTOR" if kind == "collector_payment" else "CREDITOR",
                deletedAt=draw(st.sampled_from([None, None, None, "2026-02-01T00:00:00Z"])),
            )
        )
    status = draw(st.sampled_from(["PENDING", "VERIFIED", "ENDED", "SOMETHING_NEW"]))
    case = DebbieCase(
        id="case-1", currency="SEK", status=status, exit_reason="WITHDRAWN" if status == "ENDED" else None
    )
    return case, vouchers


@given(_cases())
def test_a_case_reads_as_its_status_its_payment_vouchers_and_its_invoices_remaining(
    case_and_vouchers: tuple[DebbieCase, list[DebbieCaseVoucher]],
) -> None:
    case, vouchers = case_and_vouchers
    changes = case_changes(case, vouchers, TYPES)
    assert changes == case_changes(case, vouchers, TYPES)  # the same case read again: the same records
    assert len({c.record_id for c in changes}) == len(changes)
    assert all(c.agency_reference == "case-1" for c in changes)
    statuses = [c for c in changes if isinstance(c, StatusChanged)]
    assert len(statuses) == (case.status != "SOMETHING_NEW")  # an unknown status: no record
    live = live_vouchers(vouchers, "SEK")
    payments = [c for c in changes if isinstance(c, PaymentCollected)]
    expected = [v for v in live if classify(v, TYPES) == "payment"]
    assert [p.record_id for p in payments] == [f"voucher:{v.case_voucher_id}" for v in expected]
    for payment, voucher in zip(payments, expected, strict=True):
        assert payment.amount.amount == abs(voucher.amount)
        assert payment.kind == ("payment" if voucher.amount > 0 else "reversal")
        assert payment.source == ("agency" if voucher.source == "COLLECTOR" else "creditor")
        assert payment.remaining_reported
    remaining = {c.invoice_number: c.remaining for c in changes if isinstance(c, InvoiceChanged)}
    assert remaining == {i.number: i.remaining for i in from_wire_invoices(live, TYPES, "SEK")}


def test_a_webhook_and_the_sweep_name_a_status_the_same_way() -> None:
    case = DebbieCase(id="c-9", currency="SEK", status="ENDED", exit_reason="WITHDRAWN")
    change = case_status_change(case)
    assert change is not None and (change.record_id, change.status) == (
        "case:c-9:status:ENDED:WITHDRAWN",
        "withdrawn",
    )
    assert case_status_change(msgspec.structs.replace(case, status="ARCHIVED")) is None
    as_text = msgspec.json.decode(b'{"id": 7, "amount": 100, "caseVoucherId": null}', type=DebbieCaseVoucher)
    assert sequence_of(as_text) == 7
    assert sequence_of(msgspec.json.decode(b'{"id": "12", "amount": 1}', type=DebbieCaseVoucher)) == 12


def test_a_case_without_a_currency_we_know_cannot_be_read() -> None:
    with pytest.raises(DebbieDataError):
        case_changes(DebbieCase(id="c-1", currency="XXX", status="PENDING"), [], TYPES)
