"""Hypothesis strategies for canonical claims that Riverty can carry."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from canonical import Address, ClaimCreate, Debtor, InvoiceCreate, Money, exponent_of

#: Currencies with every ISO 4217 exponent (0, 2, 3, 4).
CURRENCIES = ("EUR", "JPY", "KWD", "CLF", "CHF")

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)
ref = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)


def max_minor(currency: str) -> int:
    """The largest amount whose decimal form fits Riverty's 12 characters."""
    exponent = exponent_of(currency)
    return 10**12 - 1 if exponent == 0 else 10**11 - 1


def money(currency: str, *, low: int = 1) -> st.SearchStrategy[Money]:
    return st.builds(Money, amount=st.integers(low, max_minor(currency)), currency=st.just(currency))


addresses = st.builds(
    Address,
    street=text,
    house_number=st.none() | st.from_regex(r"[0-9]{1,4}[a-z]?", fullmatch=True),
    postal_code=st.from_regex(r"[0-9]{4,6}", fullmatch=True),
    city=text,
    country=st.sampled_from(["DE", "AT", "NL", "SE", "FI"]),
)


@st.composite
def debtors(draw: st.DrawFn) -> Debtor:
    person = draw(st.booleans())
    return Debtor(
        kind="person" if person else "company",
        reference=draw(ref),
        first_name=draw(text) if person else None,
        last_name=draw(text) if person else None,
        company_name=None if person else draw(text),
        birth_date=draw(st.none() | st.dates(dt.date(1920, 1, 1), dt.date(2005, 12, 31))) if person else None,
        email=draw(st.none() | st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(de|com)", fullmatch=True)),
        phone=draw(st.none() | st.from_regex(r"\+49[1-9][0-9]{6,10}", fullmatch=True)),
        language=draw(st.sampled_from(["de", "en", "nl", "sv"])),
        address=draw(addresses),
    )


@st.composite
def claims(draw: st.DrawFn) -> ClaimCreate:
    currency = draw(st.sampled_from(CURRENCIES))
    numbers = draw(st.lists(ref, min_size=1, max_size=6, unique=True))
    invoices = []
    for number in numbers:
        issued = draw(st.dates(dt.date(2020, 1, 1), dt.date(2026, 12, 31)))
        invoices.append(
            InvoiceCreate(
                number=number,
                issued_on=issued,
                due_on=issued + dt.timedelta(days=draw(st.integers(0, 90))),
                amount=draw(money(currency)),
                costs=draw(st.none() | money(currency)),
                interest_rate=draw(
                    st.none() | st.from_regex(r"(0|[1-9][0-9]{0,2})(\.[0-9]{1,4})?", fullmatch=True)
                ),
                references=draw(
                    st.dictionaries(st.from_regex(r"[a-z_]{1,12}", fullmatch=True), text, max_size=3)
                ),
            )
        )
    return ClaimCreate(
        client_reference=draw(ref),
        type=draw(st.sampled_from(["invoice", "goods_delivery", "medical", "loan"])),
        currency=currency,
        debtor=draw(debtors()),
        invoices=invoices,
    )
