"""Hypothesis strategies for Debbie's tests (claims come from the shared conformance strategies),
and Debbie's echo of a written voucher."""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import strategies as st

from adapters.debbie.sandbox import DEMO_VOUCHER_TYPES
from adapters.debbie.wire import DEBBIE_CURRENCIES, DebbieCaseVoucher, DebbieCaseVoucherCreate
from canonical import MAX_AMOUNT, ClaimCreate
from tests.conformance.strategies import claim_creates

#: Printable ASCII, including the characters referenceId links must escape ("|", "%", "/", " ").
_NUMBER_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
invoice_numbers = st.text(_NUMBER_CHARS, min_size=1, max_size=40)
references = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
amounts = st.integers(min_value=1, max_value=MAX_AMOUNT)

TYPES_BY_ID = {type_id: kind for kind, type_id in DEMO_VOUCHER_TYPES.items()}
_CATEGORY = {
    "principal": "principal",
    "cost": "cost",
    "interest": "interest",
    "payment": "transaction",
    "credit_note": "principal",
}


def claims(max_invoices: int = 4) -> st.SearchStrategy[ClaimCreate]:
    """Every valid claim Debbie can carry: the shared conformance strategy, in Debbie's currencies."""
    return claim_creates(currencies=sorted(DEBBIE_CURRENCIES), max_invoices=max_invoices)


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
