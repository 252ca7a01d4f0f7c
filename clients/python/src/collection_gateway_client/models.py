"""The API's documents as msgspec Structs (api.md), made for this client.

Written here rather than imported from the gateway's `canonical` package: a service that calls
the gateway must not install the server (Litestar, Redis, the adapters) to get types, and the
client reads answers tolerantly where the server is strict — unknown members are ignored and
response enums are plain strings, so a gateway that adds a status or a field never breaks a
deployed caller. Request bodies keep the contract's Literals so that mypy catches a typo.
tests/client/test_models.py checks every Struct against the gateway's OpenAPI document.

Money is `Money(amount=<integer minor units>, currency="EUR")`, never a float.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

import msgspec

__all__ = [
    "Address",
    "Agency",
    "Allocation",
    "Attachment",
    "Claim",
    "ClaimCreate",
    "ClaimStatus",
    "ClaimType",
    "CreditNoteCreate",
    "Debtor",
    "Event",
    "FieldError",
    "Invoice",
    "InvoiceCreate",
    "Money",
    "Operation",
    "OperationKind",
    "OperationStatus",
    "Page",
    "Payment",
    "PaymentReport",
    "PaymentReversal",
    "Problem",
    "RefusedInvoice",
    "Withdrawal",
]

T = TypeVar("T")

ClaimStatus = Literal["pending", "active", "paused", "closed", "rejected", "withdrawn"]
ClaimType = Literal["invoice", "goods_delivery", "medical", "account_statement", "purchase_agreement", "loan"]
OperationKind = Literal[
    "claim.create", "payment.report", "payment.reverse", "credit_note.create", "claim.withdraw"
]
OperationStatus = Literal["queued", "submitted", "succeeded", "failed"]
FINAL_STATUSES = frozenset({"succeeded", "failed"})


class _Body(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the client sends: members left at their default are not sent."""


class _View(msgspec.Struct, kw_only=True):
    """What the gateway answers: read tolerantly."""


class Money(msgspec.Struct, frozen=True, kw_only=True):
    amount: int
    currency: str


class Address(_Body, kw_only=True):
    street: str
    postal_code: str
    city: str
    country: str
    house_number: str | None = None


class Debtor(_Body, kw_only=True):
    kind: Literal["person", "company"]
    reference: str
    address: Address
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    birth_date: dt.date | None = None
    email: str | None = None
    phone: str | None = None
    language: str = "en"


class Attachment(_Body, kw_only=True):
    filename: str
    url: str
    media_type: str = "application/pdf"


class InvoiceCreate(_Body, kw_only=True):
    number: str
    issued_on: dt.date
    due_on: dt.date
    amount: Money
    costs: Money | None = None
    interest_rate: str | None = None
    references: dict[str, str] = {}
    attachments: list[Attachment] = []


class ClaimCreate(_Body, kw_only=True):
    client_reference: str
    currency: str
    debtor: Debtor
    invoices: list[InvoiceCreate]
    type: ClaimType = "invoice"


class Allocation(_Body, kw_only=True):
    invoice_number: str
    amount: Money


class PaymentReport(_Body, kw_only=True):
    payment_id: str
    amount: Money
    paid_on: dt.date
    allocations: list[Allocation] | None = None


class PaymentReversal(_Body, kw_only=True):
    reason: str | None = None


class CreditNoteCreate(_Body, kw_only=True):
    number: str
    invoice_number: str
    amount: Money
    issued_on: dt.date
    reason: str | None = None


class Withdrawal(_Body, kw_only=True):
    reason: Literal["by_client", "goods_returned"]
    #: None withdraws the whole claim.
    invoice_numbers: list[str] | None = None


class FieldError(_View, kw_only=True):
    pointer: str
    detail: str


class Problem(_View, kw_only=True):
    """RFC 9457 problem details with the gateway's stable `code`."""

    type: str = "about:blank"
    title: str = ""
    status: int = 0
    code: str = "unknown"
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
    agency: str | None = None
    retry_after: int | None = None


class Invoice(_View, kw_only=True):
    number: str
    issued_on: dt.date
    due_on: dt.date
    amount: Money
    remaining: Money
    costs: Money | None = None
    interest_rate: str | None = None
    references: dict[str, str] = {}
    attachments: list[Attachment] = []


class Claim(_View, kw_only=True):
    id: str
    client_reference: str
    agency: str
    status: str
    type: str
    currency: str
    debtor: Debtor
    invoices: list[Invoice]
    balance: Money
    created_at: dt.datetime
    updated_at: dt.datetime
    agency_reference: str | None = None
    #: When the gateway's ledger last agreed with the agency (None until the agency confirmed).
    synced_at: dt.datetime | None = None
    #: The agency's own record: only with `get(..., expand_agency_data=True)`.
    agency_data: dict[str, Any] | None = None


class RefusedInvoice(_View, kw_only=True):
    """An invoice of a created claim that the agency refused: not at the agency, owes nothing
    through the claim. Fix it and submit it in a new claim."""

    invoice_number: str
    problem: Problem


class Operation(_View, kw_only=True):
    """A write as the gateway delivers it: `queued` → `submitted` → `succeeded` | `failed`."""

    id: str
    kind: str
    status: str
    claim_id: str
    agency: str
    created_at: dt.datetime
    updated_at: dt.datetime
    agency_reference: str | None = None
    error: Problem | None = None
    #: A `claim.create` that succeeded in part (agencies keeping one claim per invoice): the
    #: invoices the agency refused. Empty otherwise.
    refused_invoices: list[RefusedInvoice] = []

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def raise_for_failure(self) -> Operation:
        """This operation, unless it failed: then its `error` as the typed exception
        (AgencyRejected, UnsupportedByAgency, ServiceUnavailable for agency_unavailable, ...)."""
        if self.status != "failed":
            return self
        from collection_gateway_client.errors import problem_class

        problem = self.error or Problem(status=502, code="agency_error", title="The operation failed")
        raise problem_class(problem.status, problem.code)(problem)


class Payment(_View, kw_only=True):
    id: str
    source: str
    amount: Money
    paid_on: dt.date
    payment_id: str | None = None
    kind: str = "payment"
    allocations: list[Allocation] = []


class Event(_View, kw_only=True):
    id: str
    type: str
    created_at: dt.datetime
    data: dict[str, Any]
    claim_id: str | None = None


class Agency(_View, kw_only=True):
    name: str
    capabilities: dict[str, bool]
    currencies: list[str] | None = None
    configured: bool = True


class Page(_View, Generic[T], kw_only=True):
    data: list[T]
    has_more: bool
    next_cursor: str | None = None
