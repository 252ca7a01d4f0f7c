"""Skuld's JSON (docs/skuld-api.md), as msgspec Structs that mirror it field for field.

- Amounts stay what Skuld sends: decimal **strings** in major units (`SkuldAmount`); mapping.py
  alone turns them into integer minor units, exactly, or refuses them.
- Responses never set `forbid_unknown_fields` (`SkuldStruct`): a field Skuld adds must not
  break us. The bodies we send do (`SkuldBody`), so the sandbox refuses what Skuld would.
- Skuld spells most names camelCase (`rename="camel"`); the address uses its own short names.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

__all__ = [
    "SKULD_CURRENCIES",
    "SKULD_MAX_LIMIT",
    "SkuldAddress",
    "SkuldAmount",
    "SkuldCase",
    "SkuldCaseAccepted",
    "SkuldCaseCreate",
    "SkuldDebtor",
    "SkuldDebtorSummary",
    "SkuldDirectPayment",
    "SkuldError",
    "SkuldInvoice",
    "SkuldInvoiceCreate",
    "SkuldInvoicePage",
    "SkuldTransaction",
    "SkuldTransactionPage",
    "SkuldWithdrawal",
]

#: "Currencies: EUR, SEK, NOK, DKK. Other currencies are refused with 422."
SKULD_CURRENCIES = frozenset({"EUR", "SEK", "NOK", "DKK"})
#: "`limit` 1-50 (default 20; more is 400)."
SKULD_MAX_LIMIT = 50

#: "a decimal number in the currency's major unit, with a dot": "1250.00", "0.5", "12", "-10.00".
SkuldAmount = Annotated[str, msgspec.Meta(pattern=r"^-?[0-9]+(\.[0-9]+)?$")]


class SkuldStruct(msgspec.Struct, rename="camel", kw_only=True):
    """What Skuld sends: camelCase, unknown fields ignored."""


class SkuldBody(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """What we send: camelCase, and the sandbox refuses a field Skuld does not know."""


# --- bodies we send ------------------------------------------------------------------------------


class SkuldAddress(SkuldBody, kw_only=True, rename={"postal_code": "zip", "street": "line1"}):
    street: str
    postal_code: str
    city: str
    country: str


class SkuldDebtor(SkuldBody, kw_only=True):
    customer_no: str
    name: str
    is_company: bool = False
    email: str | None = None
    phone: str | None = None
    language: str = "en"
    address: SkuldAddress


class SkuldInvoiceCreate(
    SkuldBody, kw_only=True, rename={"number": "invoiceNo", "issued_on": "issueDate", "due_on": "dueDate"}
):
    number: str
    issued_on: dt.date
    due_on: dt.date
    principal: SkuldAmount
    fees: SkuldAmount = "0"


class SkuldCaseCreate(SkuldBody, kw_only=True):
    #: Unique per client account: Skuld's idempotency key for registrations.
    client_case_id: str
    client_reference: str
    currency: str
    debtor: SkuldDebtor
    invoices: list[SkuldInvoiceCreate]


class SkuldDirectPayment(SkuldBody, kw_only=True):
    #: Unique per case: Skuld's idempotency key for direct payments.
    client_transaction_id: str
    #: Positive here (what was paid); listed as a negative DIRECT_PAYMENT.
    amount: SkuldAmount
    payment_date: dt.date
    invoice_no: str | None = None


class SkuldWithdrawal(SkuldBody, kw_only=True):
    reason: Literal["CREDITOR_REQUEST", "GOODS_RETURNED"]


# --- what Skuld answers --------------------------------------------------------------------------


class SkuldError(SkuldStruct, kw_only=True):
    error: str = ""
    detail: str = ""
    #: On 409 duplicate_case: the case registered earlier under the same clientCaseId.
    case_id: str | None = None
    #: On 409 duplicate_transaction.
    transaction_id: str | None = None


class SkuldCaseAccepted(SkuldStruct, kw_only=True):
    case_id: str
    state: str


class SkuldDebtorSummary(SkuldStruct, kw_only=True):
    customer_no: str
    name: str = ""


class SkuldCase(SkuldStruct, kw_only=True):
    case_id: str
    client_case_id: str | None = None
    client_reference: str | None = None
    currency: str
    #: RECEIVED, REGISTERED, REFUSED, IN_COLLECTION, PAUSED, SETTLED, WRITTEN_OFF, WITHDRAWN, ...
    state: str
    refusal_reason: str | None = None
    debtor: SkuldDebtorSummary
    balance: str


class SkuldInvoice(
    SkuldStruct, kw_only=True, rename={"number": "invoiceNo", "issued_on": "issueDate", "due_on": "dueDate"}
):
    number: str
    issued_on: dt.date
    due_on: dt.date
    principal: str
    fees: str = "0"
    outstanding: str


class SkuldTransaction(SkuldStruct, kw_only=True):
    transaction_id: str
    client_transaction_id: str | None = None
    #: PAYMENT, DIRECT_PAYMENT, PAYMENT_REVERSAL, FEE, INTEREST, ... (signed from the debtor's side)
    type: str
    amount: str
    booking_date: dt.date
    invoice_no: str | None = None


class SkuldInvoicePage(SkuldStruct, kw_only=True):
    """No total and no "has more": a page shorter than `limit` is the last one."""

    items: list[SkuldInvoice]
    offset: int = 0
    limit: int = 20


class SkuldTransactionPage(SkuldStruct, kw_only=True):
    items: list[SkuldTransaction]
    offset: int = 0
    limit: int = 20
