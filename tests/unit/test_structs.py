"""The canonical structs: JSON round trips, strict client bodies, and the cross-field claim rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canonical import (
    MAX_AMOUNT,
    Address,
    Claim,
    ClaimCreate,
    CreditNoteCreate,
    Debtor,
    Event,
    FieldError,
    Invoice,
    InvoiceCreate,
    Money,
    Operation,
    Page,
    Payment,
    PaymentReport,
    PaymentReversal,
    Problem,
    Withdrawal,
    claim_total,
    validate_claim_create,
    validate_credit_note,
    validate_payment_report,
    validate_withdrawal,
)
from canonical.payments import Allocation
from tests.unit import strategies as s

ROUND_TRIPS: dict[str, tuple[Any, st.SearchStrategy[Any]]] = {
    "ClaimCreate": (ClaimCreate, s.claim_creates()),
    "Claim": (Claim, s.claims()),
    "Invoice": (Invoice, s.invoice_views()),
    "InvoiceCreate": (InvoiceCreate, s.claim_creates(max_invoices=1).map(lambda c: c.invoices[0])),
    "Debtor": (Debtor, s.debtors()),
    "Address": (Address, s.debtors().map(lambda d: d.address)),
    "PaymentReport": (PaymentReport, s.payment_reports()),
    "PaymentReversal": (PaymentReversal, s.payment_reversals()),
    "CreditNoteCreate": (CreditNoteCreate, s.credit_notes()),
    "Withdrawal": (Withdrawal, s.withdrawals()),
    "Payment": (Payment, s.payments()),
    "Operation": (Operation, s.operations()),
    "Event": (Event, s.events()),
    "Problem": (Problem, s.problems()),
    "Page[Claim]": (
        Page[Claim],
        st.builds(Page, data=st.lists(s.claims(), max_size=2), has_more=st.booleans()),
    ),
    "Page[Operation]": (
        Page[Operation],
        st.builds(
            Page,
            data=st.lists(s.operations(), max_size=3),
            has_more=st.booleans(),
            next_cursor=st.none() | st.text("abcdefABCDEF0123456789-_", min_size=1, max_size=40),
        ),
    ),
    "Page[Payment]": (
        Page[Payment],
        st.builds(Page, data=st.lists(s.payments(), max_size=3), has_more=st.booleans()),
    ),
    "Page[Event]": (
        Page[Event],
        st.builds(Page, data=st.lists(s.events(), max_size=3), has_more=st.booleans()),
    ),
}

CLIENT_BODIES = [ClaimCreate, PaymentReport, PaymentReversal, CreditNoteCreate, Withdrawal]


# --- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_struct_survives_a_json_round_trip(name: str, data: st.DataObject) -> None:
    kind, strategy = ROUND_TRIPS[name]
    value = data.draw(strategy)
    raw = msgspec.json.encode(value)
    assert msgspec.json.decode(raw, type=kind) == value
    # Clients' bodies decode strictly: what we encode is exactly what we accept.
    assert msgspec.json.decode(raw, type=kind, strict=True) == value


@settings(max_examples=50, deadline=None)
@given(claim=s.claim_creates())
def test_valid_claims_have_no_errors(claim: ClaimCreate) -> None:
    assert validate_claim_create(claim) == []


def test_json_field_names_are_the_documented_snake_case() -> None:
    claim = msgspec.json.decode(msgspec.json.encode(_claim()), type=dict[str, Any])
    assert set(claim) == {"client_reference", "type", "currency", "debtor", "invoices"}
    assert set(claim["invoices"][0]) >= {"number", "issued_on", "due_on", "amount", "costs"}
    assert claim["invoices"][0]["issued_on"] == "2026-10-01"
    operation = Operation(
        id="op_1",
        kind="claim.create",
        status="queued",
        claim_id="clm_1",
        agency="intrum",
        created_at=dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC),
    )
    assert msgspec.json.decode(msgspec.json.encode(operation)) == {
        "id": "op_1",
        "kind": "claim.create",
        "status": "queued",
        "claim_id": "clm_1",
        "agency": "intrum",
        "agency_reference": None,
        "error": None,
        "created_at": "2026-11-25T10:00:00Z",
        "updated_at": "2026-11-25T10:00:00Z",
    }


def test_a_problem_leaves_out_the_members_it_does_not_have() -> None:
    # RFC 9457 3.1.1: an absent "type" means "about:blank", so the default need not be sent.
    problem = Problem(title="Not found", status=404, code="not_found")
    assert msgspec.json.decode(msgspec.json.encode(problem)) == {
        "title": "Not found",
        "status": 404,
        "code": "not_found",
    }
    assert (
        msgspec.json.decode(b'{"title": "Not found", "status": 404, "code": "not_found"}', type=Problem)
        == problem
    )


# --- strict client bodies -------------------------------------------------------------------------


def _objects(document: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Every JSON object inside `document` with its msgspec path ($.debtor.address, $.invoices[0])."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(document, dict):
        found.append((path, document))
        for key, value in document.items():
            if key != "references":  # a free map of the creditor's own references, not a struct
                found += _objects(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _objects(value, f"{path}[{index}]")
    return found


BODIES = {
    "ClaimCreate": (ClaimCreate, s.claim_creates()),
    "PaymentReport": (PaymentReport, s.payment_reports()),
    "PaymentReversal": (PaymentReversal, s.payment_reversals()),
    "CreditNoteCreate": (CreditNoteCreate, s.credit_notes()),
    "Withdrawal": (Withdrawal, s.withdrawals()),
}


@pytest.mark.parametrize("name", sorted(BODIES))
@settings(max_examples=40, deadline=None)
@given(data=st.data(), field=st.sampled_from(["ammount", "extra", "currency_code", "debtorName"]))
def test_client_bodies_refuse_an_unknown_field_wherever_it_is(
    name: str, data: st.DataObject, field: str
) -> None:
    kind, strategy = BODIES[name]
    document = msgspec.to_builtins(data.draw(strategy))
    objects = [(path, obj) for path, obj in _objects(document) if field not in obj]
    path, target = data.draw(st.sampled_from(objects), label="object")
    target[field] = 1
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.json.decode(msgspec.json.encode(document), type=kind)
    message = str(caught.value)
    assert f"unknown field `{field}`" in message
    assert path == "$" or f"at `{path}`" in message


@pytest.mark.parametrize("name", ["Claim", "Operation", "Payment", "Event", "Invoice", "Problem"])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_views_the_gateway_stores_tolerate_fields_a_newer_version_added(
    name: str, data: st.DataObject
) -> None:
    kind, strategy = ROUND_TRIPS[name]
    value = data.draw(strategy)
    document = msgspec.to_builtins(value)
    document["added_in_v2"] = {"anything": [1, 2]}
    assert msgspec.json.decode(msgspec.json.encode(document), type=kind) == value


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"invoices": [{"amount": {"amount": 120.0, "currency": "EUR"}}]}, "$.invoices[0].amount.amount"),
        ({"invoices": [{"amount": {"amount": "12000", "currency": "EUR"}}]}, "$.invoices[0].amount.amount"),
        ({"invoices": [{"amount": {"amount": -1, "currency": "EUR"}}]}, "$.invoices[0].amount.amount"),
        ({"invoices": [{"costs": {"amount": True, "currency": "EUR"}}]}, "$.invoices[0].costs.amount"),
        ({"debtor": {"phone": "0041441234567"}}, "$.debtor.phone"),
        ({"debtor": {"phone": "+41 44 123 45 67"}}, "$.debtor.phone"),
        ({"debtor": {"phone": "+0441234567"}}, "$.debtor.phone"),
        ({"debtor": {"address": {"country": "che"}}}, "$.debtor.address.country"),
        ({"debtor": {"language": "deu"}}, "$.debtor.language"),
        ({"debtor": {"kind": "robot"}}, "$.debtor.kind"),
        ({"invoices": [{"issued_on": "01.10.2026"}]}, "$.invoices[0].issued_on"),
        ({"invoices": []}, "$.invoices"),
        ({"currency": "eur"}, "$.currency"),
        ({"client_reference": "has space"}, "$.client_reference"),
        ({"type": "parking_ticket"}, "$.type"),
    ],
)
def test_claim_bodies_of_the_wrong_shape_fail_at_their_path(change: dict[str, Any], path: str) -> None:
    document = _merge(msgspec.to_builtins(_claim()), change)
    with pytest.raises(msgspec.ValidationError, match=f"at `{_escape(path)}`"):
        msgspec.json.decode(msgspec.json.encode(document), type=ClaimCreate)


def test_a_missing_required_field_is_named() -> None:
    document = msgspec.to_builtins(_claim())
    del document["debtor"]["address"]["city"]
    with pytest.raises(
        msgspec.ValidationError, match=r"missing required field `city` - at `\$.debtor.address`"
    ):
        msgspec.json.decode(msgspec.json.encode(document), type=ClaimCreate)


# --- validate_claim_create: each broken rule with its pointer ------------------------------------


def _pointers(errors: list[FieldError]) -> list[str]:
    return [error.pointer for error in errors]


@pytest.mark.parametrize(
    ("claim", "pointer"),
    [
        (lambda c: _invoice(c, 0, amount=Money(amount=12000, currency="CHF")), "/invoices/0/amount/currency"),
        (lambda c: _invoice(c, 0, costs=Money(amount=500, currency="USD")), "/invoices/0/costs/currency"),
        (lambda c: _invoice(c, 0, amount=Money(amount=0, currency="EUR")), "/invoices/0/amount/amount"),
        (lambda c: _invoice(c, 0, due_on=dt.date(2026, 9, 30)), "/invoices/0/due_on"),
        (lambda c: _debtor(c, language="xx"), "/debtor/language"),
        (
            lambda c: _debtor(c, address=msgspec.structs.replace(c.debtor.address, country="XX")),
            "/debtor/address/country",
        ),
        (lambda c: _debtor(c, first_name=None), "/debtor/first_name"),
        (lambda c: _debtor(c, kind="company"), "/debtor/company_name"),
        (lambda c: _debtor(c, birth_date=dt.date(1899, 12, 31)), "/debtor/birth_date"),
        (lambda c: msgspec.structs.replace(c, currency="ZZZ"), "/currency"),
    ],
    ids=[
        "invoice_currency_differs",
        "costs_currency_differs",
        "amount_zero",
        "due_before_issued",
        "unknown_language",
        "unknown_country",
        "person_without_first_name",
        "company_without_name",
        "birth_before_1900",
        "unknown_claim_currency",
    ],
)
def test_each_broken_claim_rule_is_reported_at_its_pointer(claim: Any, pointer: str) -> None:
    errors = validate_claim_create(claim(_claim()))
    assert pointer in _pointers(errors)
    if pointer != "/currency":  # an unknown claim currency also makes every invoice currency differ
        assert _pointers(errors) == [pointer]
    assert all(error.detail for error in errors)


def test_zero_costs_are_allowed_but_zero_amounts_are_not() -> None:
    assert validate_claim_create(_invoice(_claim(), 0, costs=Money(amount=0, currency="EUR"))) == []


def test_duplicate_invoice_numbers_point_at_the_repeat() -> None:
    claim = _claim()
    second = msgspec.structs.replace(claim.invoices[0])
    claim = msgspec.structs.replace(claim, invoices=[claim.invoices[0], _other_invoice(), second])
    assert _pointers(validate_claim_create(claim)) == ["/invoices/2/number"]


def test_due_on_the_issue_day_is_allowed() -> None:
    assert validate_claim_create(_invoice(_claim(), 0, due_on=dt.date(2026, 10, 1))) == []


def test_every_broken_rule_is_reported_at_once() -> None:
    claim = _debtor(_claim(), language="xx")
    claim = _invoice(claim, 0, amount=Money(amount=0, currency="SEK"), due_on=dt.date(2026, 1, 1))
    assert sorted(_pointers(validate_claim_create(claim))) == [
        "/debtor/language",
        "/invoices/0/amount/amount",
        "/invoices/0/amount/currency",
        "/invoices/0/due_on",
    ]


DEFECTS = ["currency", "zero_amount", "due_before_issued", "duplicate_number"]


@settings(max_examples=100, deadline=None)
@given(claim=s.claim_creates(), defect=st.sampled_from(DEFECTS), data=st.data())
def test_one_defect_in_a_valid_claim_is_reported_exactly_at_its_pointer(
    claim: ClaimCreate, defect: str, data: st.DataObject
) -> None:
    if defect == "duplicate_number" and len(claim.invoices) < 2:
        claim = msgspec.structs.replace(claim, invoices=[*claim.invoices, *claim.invoices])
    index = data.draw(st.integers(1 if defect == "duplicate_number" else 0, len(claim.invoices) - 1))
    invoice = claim.invoices[index]
    if defect == "currency":
        other = data.draw(st.sampled_from([c for c in s.CURRENCIES if c != claim.currency]))
        changed, pointer = {"amount": Money(amount=invoice.amount.amount, currency=other)}, "amount/currency"
    elif defect == "zero_amount":
        changed, pointer = {"amount": Money(amount=0, currency=claim.currency)}, "amount/amount"
    elif defect == "due_before_issued":
        changed, pointer = {"due_on": invoice.issued_on - dt.timedelta(days=1)}, "due_on"
    else:
        changed, pointer = {"number": claim.invoices[0].number}, "number"
    broken = _invoice(claim, index, **changed)
    assert _pointers(validate_claim_create(broken)) == [f"/invoices/{index}/{pointer}"]


def test_claim_total_adds_principal_and_costs_in_minor_units() -> None:
    claim = _claim()
    assert claim_total(claim) == 12500
    big = Money(amount=5 * 10**11, currency="EUR")
    claim = msgspec.structs.replace(
        claim,
        invoices=[
            _invoice(claim, 0, amount=big, costs=None).invoices[0],
            msgspec.structs.replace(_other_invoice(), amount=big),
        ],
    )
    assert claim_total(claim) == 10**12
    assert validate_claim_create(claim) == []


def test_the_largest_amount_is_a_valid_invoice_in_jpy_and_kwd() -> None:
    for currency in ("JPY", "KWD"):
        claim = msgspec.structs.replace(_claim(), currency=currency)
        claim = _invoice(claim, 0, amount=Money(amount=MAX_AMOUNT, currency=currency), costs=None)
        assert validate_claim_create(claim) == []


# --- follow-up rules ------------------------------------------------------------------------------


def _report(amount: int, *allocations: tuple[str, int], currency: str = "EUR") -> PaymentReport:
    return PaymentReport(
        payment_id="P-1",
        amount=Money(amount=amount, currency=currency),
        paid_on=dt.date(2026, 11, 20),
        allocations=[
            Allocation(invoice_number=number, amount=Money(amount=part, currency=currency))
            for number, part in allocations
        ]
        or None,
    )


def test_payment_report_rules() -> None:
    numbers = {"INV-1", "INV-2"}
    assert validate_payment_report(_report(1000), "EUR", numbers) == []
    assert validate_payment_report(_report(1000, ("INV-1", 400), ("INV-2", 600)), "EUR", numbers) == []
    assert _pointers(validate_payment_report(_report(0), "EUR", numbers)) == ["/amount/amount"]
    assert _pointers(validate_payment_report(_report(1000, currency="JPY"), "EUR", numbers)) == [
        "/amount/currency"
    ]
    assert _pointers(validate_payment_report(_report(1000, ("INV-9", 1000)), "EUR", numbers)) == [
        "/allocations/0/invoice_number"
    ]
    assert _pointers(validate_payment_report(_report(1000, ("INV-1", 400)), "EUR", numbers)) == [
        "/allocations"
    ]
    assert _pointers(
        validate_payment_report(_report(1000, ("INV-1", 1000), ("INV-2", 0)), "EUR", numbers)
    ) == ["/allocations/1/amount/amount"]


def test_credit_note_and_withdrawal_rules() -> None:
    note = CreditNoteCreate(
        number="CN-1",
        invoice_number="INV-1",
        amount=Money(amount=1, currency="KWD"),
        issued_on=dt.date(2026, 11, 1),
    )
    assert validate_credit_note(note, "KWD", {"INV-1"}) == []
    assert _pointers(validate_credit_note(note, "EUR", {"INV-2"})) == ["/amount/currency", "/invoice_number"]
    zero = msgspec.structs.replace(note, amount=Money(amount=0, currency="KWD"))
    assert _pointers(validate_credit_note(zero, "KWD", {"INV-1"})) == ["/amount/amount"]
    assert validate_withdrawal(Withdrawal(reason="by_client"), {"INV-1"}) == []
    partial = Withdrawal(reason="goods_returned", invoice_numbers=["INV-1", "INV-3"])
    assert _pointers(validate_withdrawal(partial, {"INV-1"})) == ["/invoice_numbers/1"]


@pytest.mark.parametrize(
    "body", [b'{"reason": "by_client", "invoice_numbers": []}', b'{"reason": "because"}']
)
def test_withdrawal_bodies_of_the_wrong_shape_are_refused(body: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=Withdrawal)


# --- helpers --------------------------------------------------------------------------------------


def _claim() -> ClaimCreate:
    return ClaimCreate(
        client_reference="ORD-2026-0001",
        currency="EUR",
        debtor=Debtor(
            kind="person",
            reference="CUST-42",
            first_name="Anna",
            last_name="Muster",
            phone="+41441234567",
            language="de",
            address=Address(
                street="Bahnhofstrasse", house_number="1", postal_code="8001", city="Zürich", country="CH"
            ),
        ),
        invoices=[
            InvoiceCreate(
                number="INV-1",
                issued_on=dt.date(2026, 10, 1),
                due_on=dt.date(2026, 10, 31),
                amount=Money(amount=12000, currency="EUR"),
                costs=Money(amount=500, currency="EUR"),
            )
        ],
    )


def _other_invoice() -> InvoiceCreate:
    return InvoiceCreate(
        number="INV-2",
        issued_on=dt.date(2026, 10, 2),
        due_on=dt.date(2026, 11, 1),
        amount=Money(amount=1, currency="EUR"),
    )


def _invoice(claim: ClaimCreate, index: int, **changes: Any) -> ClaimCreate:
    invoices = list(claim.invoices)
    invoices[index] = msgspec.structs.replace(invoices[index], **changes)
    return msgspec.structs.replace(claim, invoices=invoices)


def _debtor(claim: ClaimCreate, **changes: Any) -> ClaimCreate:
    return msgspec.structs.replace(claim, debtor=msgspec.structs.replace(claim.debtor, **changes))


def _merge(document: Any, change: Any) -> Any:
    if isinstance(change, dict):
        return {**document, **{k: _merge(document.get(k), v) for k, v in change.items()}}
    if isinstance(change, list) and change and isinstance(document, list):
        return [_merge(document[i], v) for i, v in enumerate(change)] + document[len(change) :]
    return change


def _escape(path: str) -> str:
    return path.replace("$", r"\$").replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
