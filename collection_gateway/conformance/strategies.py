"""Hypothesis strategies for valid canonical values, shared by every adapter's property tests.

`claim_creates()` builds `ClaimCreate` values that pass `validate_claim_create`: each keyword
narrows it to what one agency can carry (its currencies, claim types, languages, reference
keys), so an adapter's tests can ask for "every claim" or "every claim this agency represents".
Amounts lean on the corners that matter to money: 1 minor unit, 10^12, the maximum, currencies
with exponents 0, 2, 3 and 4.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from canonical import (
    CLAIM_TYPES,
    MAX_AMOUNT,
    Address,
    Attachment,
    ClaimCreate,
    ClaimType,
    Debtor,
    InvoiceCreate,
    Money,
)

__all__ = [
    "CURRENCIES",
    "FILE_TYPES",
    "KIT_PROFILE",
    "KIT_PROFILE_CI",
    "LANGUAGES",
    "amounts",
    "attachments",
    "claim_creates",
    "debtors",
    "invoices",
    "references",
    "texts",
]

#: Hypothesis profiles for adapter packages' property tests, registered when this module is
#: imported (`settings.load_profile(KIT_PROFILE)` in a conftest.py; the scaffold does). Bounded:
#: 50 examples, no per-example deadline on a busy 2-core machine; a failing property shrinks in
#: seconds instead of minutes. The CI profile also derandomizes, so a run is decided by the code.
KIT_PROFILE = "collection-gateway-kit"
KIT_PROFILE_CI = "collection-gateway-kit-ci"
settings.register_profile(
    KIT_PROFILE, max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(KIT_PROFILE_CI, parent=settings.get_profile(KIT_PROFILE), derandomize=True)

#: A spread of exponents: JPY 0, EUR/CHF/SEK/USD 2, KWD/BHD 3, CLF 4.
CURRENCIES: tuple[str, ...] = ("EUR", "CHF", "SEK", "USD", "JPY", "KWD", "BHD", "CLF")
LANGUAGES: tuple[str, ...] = ("de", "en", "fr", "it", "sv", "da", "nb", "fi", "pl", "es")
#: extension → the media type a reader would infer from it
FILE_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "tiff": "image/tiff",
    "xml": "application/xml",
}
_COUNTRIES = ("CH", "DE", "AT", "FR", "IT", "SE", "DK", "NO", "FI", "NL", "GB", "US")
#: Identifiers (client and debtor references, invoice and credit-note numbers, payment ids) are
#: drawn from printable ASCII without spaces, `!` to `~` — the API's `Reference` pattern. All
#: of it, on purpose: `|`, `/`, `?`, `#` and `%` must reach the agency intact (escaped in paths).
_REFERENCE_CHARS = "".join(chr(code) for code in range(0x21, 0x7F))


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any non-empty text a JSON body can carry (no lone surrogates)."""
    return st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=max_size)


def _references_text(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(_REFERENCE_CHARS, min_size=1, max_size=max_size)


def amounts(*, minimum: int = 1, maximum: int = MAX_AMOUNT) -> st.SearchStrategy[int]:
    """Minor units, with the corners: the smallest, 10^12, the largest."""
    corners = [value for value in (minimum, 1, 100, 10**12, maximum) if minimum <= value <= maximum]
    return st.one_of(
        st.integers(min_value=minimum, max_value=min(maximum, 10**7)),
        st.integers(min_value=minimum, max_value=maximum),
        st.sampled_from(corners),
    )


def _rates() -> st.SearchStrategy[str]:
    # canonical Rate: "(0|[1-9][0-9]{0,2})(\.[0-9]{1,4})?"
    whole = st.integers(min_value=0, max_value=999).map(str)
    fraction = st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=4).map(lambda f: "." + f))
    return st.builds(lambda w, f: w + f, whole, fraction)


def debtors(languages: Sequence[str] = LANGUAGES) -> st.SearchStrategy[Debtor]:
    address = st.builds(
        Address,
        street=texts(),
        house_number=st.none() | st.text("0123456789abc", min_size=1, max_size=6),
        postal_code=st.text("0123456789", min_size=4, max_size=6),
        city=texts(),
        country=st.sampled_from(_COUNTRIES),
    )
    email = st.builds(
        lambda local, domain: f"{local}@{domain}.example",
        st.text("abcdefghij0123456789", min_size=1, max_size=10),
        st.text("abcdefghij", min_size=1, max_size=10),
    )
    phone = st.from_regex(r"\A\+[1-9][0-9]{6,14}\Z")
    common = {
        "reference": _references_text(),
        "email": st.none() | email,
        "phone": st.none() | phone,
        "language": st.sampled_from(list(languages)),
        "address": address,
    }
    person = st.builds(
        Debtor,
        kind=st.just("person"),
        first_name=texts(),
        last_name=texts(),
        birth_date=st.none() | st.dates(dt.date(1900, 1, 1), dt.date(2008, 12, 31)),
        **common,
    )
    company = st.builds(Debtor, kind=st.just("company"), company_name=texts(), **common)
    return st.one_of(person, company)


def references(keys: Sequence[str] | None) -> st.SearchStrategy[dict[str, str]]:
    key = st.sampled_from(list(keys)) if keys else st.text("abcdefghijklmnop_", min_size=1, max_size=20)
    return st.dictionaries(key, _references_text(30), max_size=4)


def attachments(*, media_type_from_extension: bool) -> st.SearchStrategy[Attachment]:
    """Attachments; with `media_type_from_extension` the media type is the one the name implies."""

    def build(stem: str, extension: str, other: str) -> Attachment:
        media = FILE_TYPES[extension] if media_type_from_extension else other
        return Attachment(
            filename=f"{stem}.{extension}", url=f"https://files.example/{stem}.{extension}", media_type=media
        )

    return st.builds(
        build,
        st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20),
        st.sampled_from(sorted(FILE_TYPES)),
        st.sampled_from(["application/pdf", "image/png", "text/csv", "application/octet-stream"]),
    )


def invoices(
    currency: str,
    number: str,
    *,
    reference_keys: Sequence[str] | None = None,
    media_type_from_extension: bool = False,
) -> st.SearchStrategy[InvoiceCreate]:
    def build(
        issued: dt.date,
        due_in: int,
        amount: int,
        costs: int | None,
        rate: str | None,
        refs: dict[str, str],
        files: list[Attachment],
    ) -> InvoiceCreate:
        return InvoiceCreate(
            number=number,
            issued_on=issued,
            due_on=issued + dt.timedelta(days=due_in),
            amount=Money(amount=amount, currency=currency),
            costs=Money(amount=costs, currency=currency) if costs is not None else None,
            interest_rate=rate,
            references=refs,
            attachments=files,
        )

    return st.builds(
        build,
        st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)),
        st.integers(min_value=0, max_value=365),
        amounts(),
        st.none() | amounts(minimum=0),
        st.none() | _rates(),
        references(reference_keys),
        st.lists(attachments(media_type_from_extension=media_type_from_extension), max_size=3),
    )


@st.composite
def claim_creates(
    draw: st.DrawFn,
    *,
    currencies: Sequence[str] = CURRENCIES,
    claim_types: Sequence[ClaimType] = CLAIM_TYPES,
    languages: Sequence[str] = LANGUAGES,
    reference_keys: Sequence[str] | None = None,
    media_type_from_extension: bool = False,
    max_invoices: int = 4,
) -> ClaimCreate:
    """A valid `ClaimCreate` (passes `validate_claim_create`) within the given limits."""
    currency = draw(st.sampled_from(list(currencies)))
    numbers = draw(
        st.lists(
            st.text(_REFERENCE_CHARS, min_size=1, max_size=12), min_size=1, max_size=max_invoices, unique=True
        )
    )
    return ClaimCreate(
        client_reference=draw(_references_text()),
        type=draw(st.sampled_from(list(claim_types))),
        currency=currency,
        debtor=draw(debtors(languages)),
        invoices=[
            draw(
                invoices(
                    currency,
                    number,
                    reference_keys=reference_keys,
                    media_type_from_extension=media_type_from_extension,
                )
            )
            for number in numbers
        ],
    )
