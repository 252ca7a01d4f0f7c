"""Hypothesis strategies for every canonical struct, valid by construction.

Claims come from the shared conformance strategies (`tests.conformance.strategies`), which every
adapter's property tests use too; this module adds the views the gateway answers (Claim, Invoice,
Payment, Operation, Event, Problem, Page) and the follow-up bodies clients send.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from canonical import (
    CLAIM_STATUSES,
    CODES,
    OPERATION_KINDS,
    Allocation,
    Claim,
    CreditNoteCreate,
    Debtor,
    Event,
    FieldError,
    Invoice,
    Money,
    Operation,
    Payment,
    PaymentReport,
    PaymentReversal,
    Problem,
    Withdrawal,
)
from canonical.operations import OPERATION_STATUSES
from tests.conformance.strategies import (
    CURRENCIES,
    amounts,
    attachments,
    claim_creates,
    debtors,
    invoices,
    references,
    texts,
)

__all__ = [
    "CURRENCIES",
    "allocations",
    "amounts",
    "claim_creates",
    "claims",
    "credit_notes",
    "dates",
    "debtors",
    "events",
    "field_errors",
    "invoice_views",
    "invoices",
    "json_objects",
    "moneys",
    "operations",
    "payment_reports",
    "payment_reversals",
    "payments",
    "problems",
    "reference_texts",
    "texts",
    "timestamps",
    "withdrawals",
]

_REFERENCE_CHARS = "".join(chr(code) for code in range(0x21, 0x7F))
_REASONS = ("by_client", "goods_returned")


def reference_texts(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(_REFERENCE_CHARS, min_size=1, max_size=max_size)


def timestamps() -> st.SearchStrategy[dt.datetime]:
    """RFC 3339 UTC timestamps, as the gateway writes them."""
    return st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC))


def dates() -> st.SearchStrategy[dt.date]:
    return st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31))


def moneys(currency: str | None = None, *, minimum: int = 1) -> st.SearchStrategy[Money]:
    currency_strategy = st.just(currency) if currency else st.sampled_from(CURRENCIES)
    return st.builds(Money, amount=amounts(minimum=minimum), currency=currency_strategy)


def json_objects() -> st.SearchStrategy[dict[str, Any]]:
    """Free-form JSON objects (event data, agency data); no floats, as nothing in ours carries one."""
    scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts()
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts(10), inner, max_size=3),
        max_leaves=8,
    )
    return st.dictionaries(texts(10), values, max_size=4)


def field_errors() -> st.SearchStrategy[FieldError]:
    pointer = st.lists(st.text("abcdefghij_0123456789", min_size=1, max_size=8), max_size=4).map(
        lambda parts: "".join("/" + part for part in parts)
    )
    return st.builds(FieldError, pointer=pointer, detail=texts())


def problems() -> st.SearchStrategy[Problem]:
    def build(code: str, status: int, **rest: Any) -> Problem:
        return Problem(
            type=f"https://collection-gateway.dev/problems/{code}", code=code, status=status, **rest
        )

    return st.builds(
        build,
        code=st.sampled_from(sorted(CODES)),
        status=st.sampled_from([400, 401, 403, 404, 409, 412, 422, 428, 500, 502, 503]),
        title=texts(),
        detail=st.none() | texts(),
        instance=st.none() | st.just("/v1/tenants/acme/claims"),
        errors=st.none() | st.lists(field_errors(), max_size=3),
        agency=st.none() | st.sampled_from(["intrum", "debbie", "riverty"]),
        retry_after=st.none() | st.integers(1, 3600),
    )


@st.composite
def invoice_views(draw: st.DrawFn, currency: str | None = None) -> Invoice:
    currency = currency or draw(st.sampled_from(CURRENCIES))
    issued = draw(dates())
    amount = draw(amounts())
    return Invoice(
        number=draw(reference_texts()),
        issued_on=issued,
        due_on=issued + dt.timedelta(days=draw(st.integers(0, 365))),
        amount=Money(amount=amount, currency=currency),
        costs=draw(st.none() | moneys(currency, minimum=0)),
        remaining=Money(amount=draw(st.integers(0, amount)), currency=currency),
        interest_rate=draw(st.none() | st.sampled_from(["5.00", "0", "12.5"])),
        references=draw(references(None)),
        attachments=draw(st.lists(attachments(media_type_from_extension=True), max_size=2)),
    )


@st.composite
def claims(draw: st.DrawFn) -> Claim:
    currency = draw(st.sampled_from(CURRENCIES))
    created = draw(timestamps())
    debtor: Debtor = draw(debtors())
    agency_data = draw(st.just(None) | json_objects())
    claim = Claim(
        id="clm_" + draw(st.text("0123456789abcdef", min_size=8, max_size=26)),
        client_reference=draw(reference_texts()),
        agency=draw(st.sampled_from(["intrum", "debbie", "riverty"])),
        agency_reference=draw(st.none() | reference_texts()),
        status=draw(st.sampled_from(CLAIM_STATUSES)),
        type=draw(st.sampled_from(["invoice", "loan", "medical"])),
        currency=currency,
        debtor=debtor,
        invoices=draw(st.lists(invoice_views(currency), min_size=1, max_size=3)),
        balance=draw(moneys(currency, minimum=0)),
        created_at=created,
        updated_at=created + dt.timedelta(seconds=draw(st.integers(0, 10**6))),
    )
    if agency_data is not None:
        claim.agency_data = agency_data
    return claim


def allocations(currency: str) -> st.SearchStrategy[Allocation]:
    return st.builds(Allocation, invoice_number=reference_texts(), amount=moneys(currency))


@st.composite
def payment_reports(draw: st.DrawFn) -> PaymentReport:
    currency = draw(st.sampled_from(CURRENCIES))
    return PaymentReport(
        payment_id=draw(reference_texts()),
        amount=draw(moneys(currency)),
        paid_on=draw(dates()),
        allocations=draw(st.none() | st.lists(allocations(currency), max_size=3)),
    )


def payment_reversals() -> st.SearchStrategy[PaymentReversal]:
    return st.builds(PaymentReversal, reason=st.none() | texts(100))


def credit_notes() -> st.SearchStrategy[CreditNoteCreate]:
    return st.builds(
        CreditNoteCreate,
        number=reference_texts(),
        invoice_number=reference_texts(),
        amount=moneys(),
        issued_on=dates(),
        reason=st.none() | texts(100),
    )


def withdrawals() -> st.SearchStrategy[Withdrawal]:
    return st.builds(
        Withdrawal,
        reason=st.sampled_from(_REASONS),
        invoice_numbers=st.none() | st.lists(reference_texts(), min_size=1, max_size=3),
    )


@st.composite
def payments(draw: st.DrawFn) -> Payment:
    currency = draw(st.sampled_from(CURRENCIES))
    return Payment(
        id="pay_" + draw(st.text("0123456789abcdef", min_size=8, max_size=26)),
        payment_id=draw(st.none() | reference_texts()),
        source=draw(st.sampled_from(["creditor", "agency"])),
        kind=draw(st.sampled_from(["payment", "reversal"])),
        amount=draw(moneys(currency)),
        paid_on=draw(dates()),
        allocations=draw(st.lists(allocations(currency), max_size=3)),
    )


@st.composite
def operations(draw: st.DrawFn) -> Operation:
    created = draw(timestamps())
    status = draw(st.sampled_from(OPERATION_STATUSES))
    return Operation(
        id="op_" + draw(st.text("0123456789abcdef", min_size=8, max_size=26)),
        kind=draw(st.sampled_from(OPERATION_KINDS)),
        status=status,
        claim_id="clm_" + draw(st.text("0123456789abcdef", min_size=8, max_size=26)),
        agency=draw(st.sampled_from(["intrum", "debbie", "riverty"])),
        agency_reference=draw(st.none() | reference_texts()),
        error=draw(problems()) if status == "failed" else None,
        created_at=created,
        updated_at=created + dt.timedelta(seconds=draw(st.integers(0, 10**6))),
    )


def events() -> st.SearchStrategy[Event]:
    return st.builds(
        Event,
        id=st.text("0123456789abcdef", min_size=8, max_size=26).map(lambda s: "evt_" + s),
        type=st.sampled_from(
            ["operation.succeeded", "operation.failed", "claim.status_changed", "payment.received"]
        ),
        created_at=timestamps(),
        claim_id=st.none() | st.just("clm_1"),
        data=json_objects(),
    )
