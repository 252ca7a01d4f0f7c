"""Riverty (Back in Flow) wire types: msgspec Structs that mirror Riverty's JSON exactly.

Sources: `riverty-claim-invoices.txt` (the invoice read, its pagination object) and the Riverty
section of `agency-api-notes.md` (claims, transactions, follow-up writes). Where those are silent
the simplest reading is taken and said so on the field.

Every Struct here is `rename="camel"` and tolerant of unknown fields: Riverty adding a member
must never become our outage. Amounts are `Decimal` in **major units**; Riverty sends and takes
them as JSON numbers (the client encodes with `decimal_format="number"`). Dates are `yyyy-MM-dd`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

import msgspec

__all__ = [
    "RivertyAdditionalProperty",
    "RivertyAddress",
    "RivertyAllocation",
    "RivertyCancellation",
    "RivertyClaimCreate",
    "RivertyClaimSummary",
    "RivertyCommunicationChannel",
    "RivertyContract",
    "RivertyCost",
    "RivertyCreditWaiver",
    "RivertyCustomer",
    "RivertyInterest",
    "RivertyInterestCalculation",
    "RivertyInvoice",
    "RivertyInvoiceCosts",
    "RivertyInvoiceCreate",
    "RivertyPage",
    "RivertyPagination",
    "RivertyPayment",
    "RivertyReason",
    "RivertyRecall",
    "RivertyRequestAccepted",
    "RivertyTransaction",
]


class _Wire(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    """Riverty's JSON: camelCase, unknown members ignored (never `forbid_unknown_fields`).

    `omit_defaults` keeps optional members out of what we send rather than sending `null`,
    which Riverty's schema does not allow for most fields.
    """


# --- shared pieces ---------------------------------------------------------------------------


class RivertyPagination(_Wire, kw_only=True):
    """`pagination` of every list. The schema requires all four members, the document's own
    example carries only `totalItems` (agency-api-notes, "Readings"): accept either."""

    total_items: int | None = None
    page_size: int | None = None
    current_page: int | None = None
    total_pages: int | None = None


class RivertyPage(_Wire, kw_only=True):
    """`{items, pagination}`: pages are 1-based (`page=1` is the first)."""

    items: list[msgspec.Raw] = []
    pagination: RivertyPagination | None = None


class RivertyAdditionalProperty(_Wire, kw_only=True):
    key: str
    value: str


class RivertyRequestAccepted(_Wire, kw_only=True):
    """`202 {requestId}`: every write is asynchronous; its outcome appears in /transactions."""

    request_id: str


# --- claim submission: POST /claims ----------------------------------------------------------


class RivertyAddress(_Wire, kw_only=True):
    street: str
    house_number: str | None = None
    postal_code: str
    city: str
    country: str  # ISO 3166-1 alpha-2


class RivertyCommunicationChannel(_Wire, kw_only=True):
    type: str  # EMAIL | PHONE
    value: str


class RivertyCustomer(_Wire, kw_only=True):
    customer_number: str
    type: str  # PRIVATE | COMPANY
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    birth_date: dt.date | None = None
    #: Not in the notes' abridged field list; ISO 639-1, the simplest reading of "language".
    language: str | None = None
    addresses: list[RivertyAddress] = []
    communication_channels: list[RivertyCommunicationChannel] = []
    bank_accounts: list[dict[str, Any]] = []


class RivertyInvoiceCreate(_Wire, kw_only=True):
    invoice_number: str  # max 40
    invoice_date: dt.date
    due_date: dt.date
    original_amount: Decimal  # major units, > 0, at most 12 characters
    remaining_amount: Decimal
    currency: str
    claim_type: str  # PRINCIPAL_CLAIM | INTEREST_BEARING_COMPENSATION | NON_INTEREST_BEARING_...
    additional_properties: list[RivertyAdditionalProperty] = []


class RivertyContract(_Wire, kw_only=True):
    #: The client's own number for the contract: we send the gateway's claim id here, so that a
    #: claim whose 202 was lost is found again with `/claims/search?contractNumber=`.
    contract_number: str
    invoices: list[RivertyInvoiceCreate]


class RivertyCost(_Wire, kw_only=True):
    """A cost the debtor owes on top of an invoice (notes: `costs[]` on the claim)."""

    invoice_number: str
    amount: Decimal
    currency: str
    type: str  # COLLECTION_COSTS (the only kind the gateway sends)


class RivertyInterest(_Wire, kw_only=True):
    """An interest agreement on an invoice (notes: `interests[]`; the invoice read shows it back
    as `interestCalculation{type, rate, lastCalculationDate}`)."""

    invoice_number: str
    type: str  # FIXED | REFERENCE | ABOVE_REFERENCE | EURIBOR_1 | EURIBOR_3
    rate: Decimal  # percent per year
    last_calculation_date: dt.date | None = None


class RivertyClaimCreate(_Wire, kw_only=True):
    customer: RivertyCustomer
    contracts: list[RivertyContract]
    costs: list[RivertyCost] = []
    interests: list[RivertyInterest] = []


# --- reads -----------------------------------------------------------------------------------


class RivertyInterestCalculation(_Wire, kw_only=True):
    type: str | None = None
    last_calculation_date: dt.date | None = None
    rate: Decimal | None = None


class RivertyInvoiceCosts(_Wire, kw_only=True):
    """The invoice document's untitled "object — Costs are occurring debts to pay by the
    customer": the simplest reading is an amount with its currency."""

    amount: Decimal
    currency: str | None = None


class RivertyInvoice(_Wire, kw_only=True):
    """One item of `GET /claims/{claimNumber}/invoices` (riverty-claim-invoices.txt)."""

    invoice_number: str
    reference_number: str | None = None
    invoice_date: dt.date
    due_date: dt.date
    remaining_amount: Decimal
    original_amount: Decimal
    tax_rate: Decimal | None = None
    currency: str
    placement_date: dt.date | None = None
    costs: RivertyInvoiceCosts | None = None
    interest_calculation: RivertyInterestCalculation | None = None
    dunning_date: dt.date | None = None
    second_dunning_date: dt.date | None = None
    claim_type: str | None = None
    legal_base: str | None = None
    description: str | None = None
    disputed: bool = False
    additional_properties: list[RivertyAdditionalProperty] = []


class RivertyClaimSummary(_Wire, kw_only=True):
    """One item of `GET /claims/search`."""

    claim_number: str
    #: REJECTED | IN_CREATION | PROCESSING | PAUSED | CLOSED — a plain `str`: a state Riverty adds
    #: later must decode (and map to "pending"), not fail.
    status: str
    customer_number: str | None = None
    contract_numbers: list[str] = []
    #: Why a CLOSED claim closed (the CLOSING transaction's reason): RECALLED | PAID | ... .
    closing_reason: str | None = None
    currency: str | None = None


class RivertyAllocation(_Wire, kw_only=True):
    invoice_number: str
    amount: Decimal


class RivertyReason(_Wire, kw_only=True):
    code: str | None = None
    message: str | None = None


class RivertyTransaction(_Wire, kw_only=True):
    """One item of the outcome feed `GET /transactions?from=&to=&type=`.

    CONFIRMATION carries the requestId and (for a new claim) the new claimNumber; REJECTION the
    requestId and the reasons. The feed is ordered by `createdAt`; several entries may share one
    timestamp, and `transactionId` tells them apart.
    """

    transaction_id: str
    type: str  # CONFIRMATION | REJECTION | STATUS | ACCOUNTING_DOCUMENT | CLOSING
    created_at: dt.datetime
    request_id: str | None = None
    claim_number: str | None = None
    reasons: list[RivertyReason | str] = []
    #: STATUS and CLOSING: the claim's new status (REJECTED | IN_CREATION | PROCESSING | PAUSED | CLOSED)
    status: str | None = None
    # ACCOUNTING_DOCUMENT (reading: the notes name the type, not its members; these are the
    # members the write bodies use for the same document):
    #: the paymentNumber / creditWaiverNumber, Riverty's own number for a payment it collected,
    #: or — for a CANCELLATION — the number of the document it cancels
    document_number: str | None = None
    #: PAYMENT | CREDIT_WAIVER | CANCELLATION
    document_type: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    date: dt.date | None = None
    allocate_to: list[RivertyAllocation] = []


# --- follow-up writes (each → 202 {requestId}) ----------------------------------------------


class RivertyPayment(_Wire, kw_only=True):
    """`POST /claims/{n}/payments`: a payment the client received directly.

    `paymentNumber` is the client's key: Riverty rejects a repeat as a duplicate."""

    payment_number: str
    payment_date: dt.date
    amount: Decimal
    currency: str
    allocate_to: list[RivertyAllocation] = []


class RivertyCreditWaiver(_Wire, kw_only=True):
    """`POST /claims/{n}/creditWaivers`; `creditWaiverNumber` is the client's key like paymentNumber."""

    credit_waiver_number: str
    invoice_number: str
    date: dt.date
    amount: Decimal
    currency: str
    reason: str | None = None


class RivertyRecall(_Wire, kw_only=True):
    """`POST /claims/{n}/recalls`: the whole claim (no invoiceNumbers) or the named invoices."""

    reason: str  # PAID_TO_CLIENT | GOODS_RETURNED | CLIENT_REQUEST
    invoice_numbers: list[str] | None = None


class RivertyCancellation(_Wire, kw_only=True):
    """`POST /claims/{n}/accountingDocuments/cancellations`: cancel a document, e.g. a payment."""

    document_number: str
    document_type: Literal["PAYMENT", "CREDIT_WAIVER"]
    reason: str | None = None
