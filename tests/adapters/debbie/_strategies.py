"""Hypothesis strategies for valid canonical claims in Debbie's currencies, and Debbie's echo of a write.

(Written here because tests/conformance/strategies.py did not exist yet when these tests were.)
"""

from __future__ import annotations

import datetime as dt
import itertools

import msgspec
from hypothesis import strategies as st

from adapters.debbie.sandbox import DEMO_VOUCHER_TYPES
from adapters.debbie.wire import DEBBIE_CURRENCIES, DebbieCaseVoucher, DebbieCaseVoucherCreate
from canonical import (
    MAX_AMOUNT,
    Address,
    ClaimCreate,
    Debtor,
    InvoiceCreate,
    Money,
    validate_claim_create,
)

#: Printable ASCII, including the characters referenceId links must escape ("|", "%", "/", " ").
_NUMBER_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
invoice_numbers = st.text(_NUMBER_CHARS, min_size=1, max_size=40)
references = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
currencies = st.sampled_from(sorted(DEBBIE_CURRENCIES))
amounts = st.integers(min_value=1, max_value=MAX_AMOUNT)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))

TYPES_BY_ID = {type_id: kind for kind, type_id in DEMO_VOUCHER_TYPES.items()}
_CATEGORY = {
    "principal": "principal",
    "cost": "cost",
    "interest": "interest",
    "payment": "transaction",
    "credit_note": "principal",
}


@st.composite
def debtors(draw: st.DrawFn) -> Debtor:
    address = Address(
        street="Storgatan", house_number="1", postal_code="11122", city="Stockholm", country="SE"
    )
    if draw(st.booleans()):
        return Debtor(
            kind="person", reference=draw(references), first_name="Anna", last_name="Berg", address=address
        )
    return Debtor(kind="company", reference=draw(references), company_name="Berg AB", address=address)


@st.composite
def invoices(draw: st.DrawFn, currency: str, number: str) -> InvoiceCreate:
    issued = draw(dates)
    due = issued + dt.timedelta(days=draw(st.integers(0, 120)))
    costs = draw(st.none() | st.integers(0, 10**9))
    return InvoiceCreate(
        number=number,
        issued_on=issued,
        due_on=due,
        amount=Money(amount=draw(amounts), currency=currency),
        costs=None if costs is None else Money(amount=costs, currency=currency),
    )


@st.composite
def claims(draw: st.DrawFn, max_invoices: int = 8) -> ClaimCreate:
    """A claim the gateway accepts (validate_claim_create finds nothing) in a Debbie currency."""
    currency = draw(currencies)
    numbers = draw(st.lists(invoice_numbers, min_size=1, max_size=max_invoices, unique=True))
    claim = ClaimCreate(
        client_reference=draw(references),
        currency=currency,
        debtor=draw(debtors()),
        invoices=[draw(invoices(currency, number)) for number in numbers],
    )
    assert validate_claim_create(claim) == []
    return claim


_ids = itertools.count(1)


def as_read(voucher: DebbieCaseVoucherCreate, *, source: str | None = None) -> DebbieCaseVoucher:
    """A written voucher as Debbie lists it back (its category follows from the voucher type)."""
    kind = TYPES_BY_ID.get(voucher.voucher_type_id)
    seq = next(_ids)
    return msgspec.convert(
        {
            **msgspec.to_builtins(voucher),
            "source": source or voucher.source,
            "id": seq,
            "caseVoucherId": f"cv-{seq}",
            "category": _CATEGORY[kind] if kind else None,
        },
        DebbieCaseVoucher,
    )
