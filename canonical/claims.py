"""Claims: a debtor and the unpaid invoices a creditor hands to an agency.

`ClaimCreate` is what clients send; `Claim` is what the gateway answers, built from its own
index plus what the claim's agency reports (status, remaining amounts, balance).
Cross-field rules live in `validate_claim_create`, which returns every broken rule at once with a
JSON pointer, so a client fixes its request in one round trip.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args

import msgspec

from canonical._base import Body, FieldError, Text, Value, View
from canonical._iso import COUNTRIES, LANGUAGES
from canonical.money import Money, is_currency

__all__ = [
    "CLAIM_STATUSES",
    "CLAIM_TYPES",
    "Address",
    "Attachment",
    "Claim",
    "ClaimCreate",
    "ClaimStatus",
    "ClaimType",
    "Debtor",
    "DebtorKind",
    "Invoice",
    "InvoiceCreate",
    "claim_total",
    "invoices_total",
    "money_errors",
    "validate_claim_create",
]

ClaimStatus = Literal["pending", "active", "paused", "closed", "rejected", "withdrawn"]
ClaimType = Literal["invoice", "goods_delivery", "medical", "account_statement", "purchase_agreement", "loan"]
DebtorKind = Literal["person", "company"]
CLAIM_STATUSES: tuple[ClaimStatus, ...] = get_args(ClaimStatus)
CLAIM_TYPES: tuple[ClaimType, ...] = get_args(ClaimType)

Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{1,14}$", description="E.164")]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
CountryCode = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
LanguageCode = Annotated[str, msgspec.Meta(pattern="^[a-z]{2}$", description="ISO 639-1")]
Rate = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(0|[1-9][0-9]{0,2})(\.[0-9]{1,4})?$", description="percent per year, e.g. '5.00'"
    ),
]
InvoiceNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class Address(Value, frozen=True, kw_only=True):
    street: Text
    house_number: Annotated[str, msgspec.Meta(max_length=20)] | None = None
    postal_code: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    city: Text
    country: CountryCode


class Debtor(Value, frozen=True, kw_only=True):
    kind: DebtorKind
    reference: Reference
    first_name: Text | None = None
    last_name: Text | None = None
    company_name: Text | None = None
    birth_date: dt.date | None = None
    email: Email | None = None
    phone: Phone | None = None
    language: LanguageCode = "en"
    address: Address


class Attachment(Value, frozen=True, kw_only=True):
    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    url: Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=2048)]
    media_type: Annotated[str, msgspec.Meta(min_length=3, max_length=100)] = "application/pdf"


class InvoiceCreate(Value, frozen=True, kw_only=True):
    number: InvoiceNumber
    issued_on: dt.date
    due_on: dt.date
    amount: Money
    costs: Money | None = None
    interest_rate: Rate | None = None
    references: dict[
        Annotated[str, msgspec.Meta(max_length=40)], Annotated[str, msgspec.Meta(max_length=200)]
    ] = {}
    attachments: list[Attachment] = []


class ClaimCreate(Body, kw_only=True):
    client_reference: Reference
    type: ClaimType = "invoice"
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
    debtor: Debtor
    invoices: Annotated[list[InvoiceCreate], msgspec.Meta(min_length=1, max_length=1000)]


class Invoice(View, kw_only=True):
    """An invoice as the claim's agency reports it now: `remaining` is still owed."""

    number: str
    issued_on: dt.date
    due_on: dt.date
    amount: Money
    costs: Money | None = None
    remaining: Money
    interest_rate: str | None = None
    references: dict[str, str] = {}
    attachments: list[Attachment] = []


class Claim(View, kw_only=True):
    id: str
    client_reference: str
    agency: str
    agency_reference: str | None = None
    status: ClaimStatus
    type: ClaimType
    currency: str
    debtor: Debtor
    invoices: list[Invoice]
    balance: Money
    created_at: dt.datetime
    updated_at: dt.datetime
    #: When the gateway's claim ledger last agreed with the agency; null until it confirmed the claim.
    synced_at: dt.datetime | None = None
    agency_data: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


def claim_total(claim: ClaimCreate) -> int:
    """Principal plus costs over all invoices, in minor units: what routing rules compare against."""
    return invoices_total(claim.invoices)


def invoices_total(invoices: Sequence[InvoiceCreate]) -> int:
    """Principal plus costs of these invoices, in minor units."""
    return sum(i.amount.amount + (i.costs.amount if i.costs else 0) for i in invoices)


def validate_claim_create(claim: ClaimCreate) -> list[FieldError]:
    """Every rule a well-typed claim can still break, each with the pointer of the field."""
    errors: list[FieldError] = []
    if not is_currency(claim.currency):
        errors.append(
            FieldError(pointer="/currency", detail=f"{claim.currency} is not an active ISO 4217 code")
        )
    errors += _debtor_errors(claim.debtor)
    seen: set[str] = set()
    for index, invoice in enumerate(claim.invoices):
        at = f"/invoices/{index}"
        if invoice.number in seen:
            errors.append(
                FieldError(pointer=f"{at}/number", detail=f"invoice number {invoice.number!r} repeats")
            )
        seen.add(invoice.number)
        if invoice.due_on < invoice.issued_on:
            errors.append(FieldError(pointer=f"{at}/due_on", detail="due_on must not be before issued_on"))
        errors += money_errors(f"{at}/amount", invoice.amount, claim.currency, positive=True)
        if invoice.costs is not None:
            errors += money_errors(f"{at}/costs", invoice.costs, claim.currency, positive=False)
    return errors


def money_errors(pointer: str, money: Money, currency: str, *, positive: bool) -> list[FieldError]:
    """An amount in the claim's currency (and > 0 where `positive`)."""
    errors = []
    if money.currency != currency:
        errors.append(
            FieldError(
                pointer=f"{pointer}/currency",
                detail=f"must be the claim currency {currency}, not {money.currency}",
            )
        )
    if positive and money.amount <= 0:
        errors.append(FieldError(pointer=f"{pointer}/amount", detail="must be greater than 0"))
    return errors


def _debtor_errors(debtor: Debtor) -> list[FieldError]:
    errors = []
    if debtor.kind == "person":
        for name in ("first_name", "last_name"):
            if getattr(debtor, name) is None:
                errors.append(FieldError(pointer=f"/debtor/{name}", detail="required for a person"))
    elif debtor.company_name is None:
        errors.append(FieldError(pointer="/debtor/company_name", detail="required for a company"))
    if debtor.language not in LANGUAGES:
        errors.append(
            FieldError(pointer="/debtor/language", detail=f"{debtor.language!r} is not an ISO 639-1 code")
        )
    if debtor.address.country not in COUNTRIES:
        errors.append(
            FieldError(
                pointer="/debtor/address/country",
                detail=f"{debtor.address.country!r} is not an ISO 3166-1 alpha-2 code",
            )
        )
    if debtor.birth_date is not None and debtor.birth_date.year < 1900:
        errors.append(FieldError(pointer="/debtor/birth_date", detail="must be after 1900"))
    return errors
