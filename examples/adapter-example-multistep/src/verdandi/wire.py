"""Verdandi's JSON (docs/verdandi-api.md), as msgspec Structs that mirror it field for field.

- Amounts stay what Verdandi sends: `{"value": "12.50"}` objects (`VerdandiAmount`) holding a
  decimal string in major units; mapping.py alone turns them into integer minor units.
- Responses never set `forbid_unknown_fields` (`VerdandiStruct`): a field Verdandi adds must not
  break us. The bodies we send do (`VerdandiBody`), so the sandbox refuses what Verdandi would.
- Verdandi spells names camelCase (`rename="camel"`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

__all__ = [
    "VERDANDI_CURRENCIES",
    "VERDANDI_MAX_PAGE_SIZE",
    "VerdandiAmount",
    "VerdandiClaim",
    "VerdandiClaimCreate",
    "VerdandiDebtor",
    "VerdandiDebtorCreate",
    "VerdandiError",
    "VerdandiPage",
    "VerdandiPayment",
    "VerdandiPaymentCreate",
    "VerdandiRelease",
    "VerdandiReleaseCreate",
    "VerdandiWithdrawal",
]

T = TypeVar("T")

#: "Currencies: EUR, CHF. Other currencies are refused with 422."
VERDANDI_CURRENCIES = frozenset({"EUR", "CHF"})
#: "`page_size` 1-25".
VERDANDI_MAX_PAGE_SIZE = 25

#: "a decimal number in the claim currency's major unit, with a dot": "12.50", "0.5", "12".
Decimal = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]+)?$")]


class VerdandiStruct(msgspec.Struct, rename="camel", kw_only=True):
    """What Verdandi sends: camelCase, unknown fields ignored."""


class VerdandiBody(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """What we send: camelCase, and the sandbox refuses a field Verdandi does not know."""


class VerdandiAmount(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`{"value": "12.50"}`: never negative, the type of a payment says its direction."""

    value: Decimal


# --- bodies we send ------------------------------------------------------------------------------


class VerdandiDebtorCreate(VerdandiBody, kw_only=True):
    external_id: str
    type: Literal["PERSON", "COMPANY"]
    name: str
    email: str | None = None
    phone: str | None = None
    street: str
    postal_code: str
    city: str
    country: str
    customer_number: str


class VerdandiClaimCreate(VerdandiBody, kw_only=True):
    external_id: str
    debtor_id: str
    currency: str
    invoice_number: str
    invoice_date: dt.date
    due_date: dt.date
    reference: str
    principal: VerdandiAmount
    costs: VerdandiAmount | None = None


class VerdandiReleaseCreate(VerdandiBody, kw_only=True):
    external_id: str
    claim_ids: list[str]


class VerdandiPaymentCreate(VerdandiBody, kw_only=True):
    external_id: str
    amount: VerdandiAmount
    paid_on: dt.date


class VerdandiWithdrawal(VerdandiBody, kw_only=True):
    reason: Literal["CLIENT_REQUEST", "GOODS_RETURNED"]


# --- what Verdandi answers -----------------------------------------------------------------------


class VerdandiError(VerdandiStruct, kw_only=True):
    code: str = ""
    message: str = ""


class VerdandiDebtor(VerdandiStruct, kw_only=True):
    id: str
    external_id: str | None = None
    customer_number: str = ""
    name: str = ""


class VerdandiClaim(VerdandiStruct, kw_only=True):
    id: str
    external_id: str | None = None
    debtor_id: str
    release_id: str | None = None
    currency: str
    invoice_number: str
    invoice_date: dt.date
    due_date: dt.date
    reference: str | None = None
    principal: VerdandiAmount
    costs: VerdandiAmount | None = None
    outstanding: VerdandiAmount
    #: DRAFT, IN_REVIEW, OPEN, REFUSED, PAID, WITHDRAWN, ... ("more may be added")
    state: str
    refusal_reason: str | None = None


class VerdandiRelease(VerdandiStruct, kw_only=True):
    id: str
    external_id: str | None = None
    #: IN_REVIEW, DECIDED
    state: str
    claim_ids: list[str] = []
    #: All claims of a release belong to one debtor.
    debtor: VerdandiDebtor


class VerdandiPayment(VerdandiStruct, kw_only=True):
    id: str
    external_id: str | None = None
    claim_id: str
    invoice_number: str | None = None
    #: DIRECT, COLLECTED, REVERSAL, ...
    type: str
    amount: VerdandiAmount
    booked_on: dt.date


class VerdandiPage(VerdandiStruct, Generic[T], kw_only=True):
    """`count` items in the whole list; `next` / `previous` null at either end."""

    count: int
    next: str | None = None
    previous: str | None = None
    results: list[T] = []
