"""Debbie's JSON, mirrored exactly (camelCase on the wire).

Sources: `debbie-case-vouchers.txt` (the case-voucher read model, field for field) and the Debbie
section of `agency-api-notes.md` (cases, customers, voucher writes). Where those are silent
(customer fields, the case list's envelope, the case's `balance`), the simplest reading is taken
and marked "reading:" below; the sandbox implements the same reading.

Two families, on purpose different:
- `_DebbieRequest`: bodies *we* send. Strict (`forbid_unknown_fields`) so the sandbox refuses a
  misspelt field the way a strict agency would, and `omit_defaults` so an unset optional field is
  left out instead of being sent as `null`.
- `_DebbieResponse`: what Debbie answers. Never strict: an additive release at Debbie must not
  become our outage. Every field the gateway does not need is optional.

Amounts are `int` in minor units with a sign (negative = debt, positive = credit; notes
"Sign convention"). The sign is applied in `mapping.py` and nowhere else.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "DEBBIE_CURRENCIES",
    "DebbieActor",
    "DebbieAddress",
    "DebbieCase",
    "DebbieCaseCreate",
    "DebbieCaseCreated",
    "DebbieCasePage",
    "DebbieCaseStatusUpdate",
    "DebbieCaseVoucher",
    "DebbieCaseVoucherCreate",
    "DebbieCaseVoucherCreated",
    "DebbieCurrency",
    "DebbieCustomer",
    "DebbieCustomerCreate",
    "DebbiePageMeta",
    "DebbieSource",
    "DebbieUuid",
    "raw_json",
]

#: The currency enum of `debbie-case-vouchers.txt` ("currency", "Available options").
DebbieCurrency = Literal["DKK", "SEK", "NOK", "USD", "EUR", "GBP", "CHF"]
DEBBIE_CURRENCIES: frozenset[str] = frozenset({"DKK", "SEK", "NOK", "USD", "EUR", "GBP", "CHF"})

#: "CREDITOR" if imposed by the creditor, "COLLECTOR" if by the agency (document, "source").
DebbieSource = Literal["CREDITOR", "COLLECTOR"]

#: Signed minor units. 10^15 - 1 is canonical's ceiling; Debbie publishes none.
DebbieAmount = Annotated[int, msgspec.Meta(ge=-(10**15 - 1), le=10**15 - 1)]
DebbieUuid = Annotated[
    str,
    msgspec.Meta(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"),
]
DebbieDate = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
#: reading: no published limit; ours stay under 320 (a quoted payment_id plus a quoted invoice number).
DebbieReference = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class _DebbieRequest(
    msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True, omit_defaults=True
):
    """A body the gateway sends to Debbie: strict, optional fields left out when unset."""


class _DebbieResponse(msgspec.Struct, kw_only=True, rename="camel"):
    """A body Debbie answers: tolerant of fields it does not know (never forbid_unknown_fields)."""


# --- customers (notes: "Customers (debtors)") -----------------------------------------------------


class DebbieAddress(_DebbieRequest, kw_only=True):
    """reading: the notes abridge the customer fields; a plain postal address."""

    street: str
    zip_code: str
    city: str
    #: ISO 3166-1 alpha-2.
    country: Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]


class DebbieCustomerCreate(_DebbieRequest, kw_only=True):
    """`POST /v1/{tenantId}/customers?creditorId=...` (reading: field names are ours, camelCase)."""

    #: The creditor's own customer id: what `GET customers/by-reference-id/{ref}` finds.
    reference_id: DebbieReference
    type: Literal["PERSON", "COMPANY"]
    first_name: str | None = None
    last_name: str | None = None
    company_name: str | None = None
    birth_date: DebbieDate | None = None
    email: str | None = None
    phone: str | None = None
    language: str | None = None
    address: DebbieAddress


class DebbieCustomer(_DebbieResponse, kw_only=True):
    id: str
    reference_id: str | None = None
    creditor_id: str | None = None


# --- case vouchers (debbie-case-vouchers.txt; notes: "POST /v1/{tenantId}/case-vouchers/{caseId}") --


class DebbieCaseVoucherCreate(_DebbieRequest, kw_only=True):
    """One voucher as written, alone or inside `POST /cases`. `amount` is signed minor units."""

    voucher_type_id: DebbieUuid
    amount: DebbieAmount
    currency: DebbieCurrency
    date: DebbieDate
    source: DebbieSource
    reference_id: DebbieReference | None = None
    text: str | None = None
    due_date: DebbieDate | None = None
    #: Interest rate; only on vouchers of an interest type (document, "interest").
    interest: float | None = None


class DebbieCaseVoucherCreated(_DebbieResponse, kw_only=True):
    case_voucher_id: str


class DebbieActor(_DebbieResponse, kw_only=True):
    id: str | None = None
    type: str | None = None


class DebbieCaseVoucher(_DebbieResponse, kw_only=True):
    """A voucher as `GET /v1/{tenantId}/case-vouchers/{caseId}` lists it (document, "Response").

    Enums Debbie documents (`category`, `state`, `source`, `currency`) are read as plain strings:
    a value added by Debbie later must reach `mapping.py` (which decides what it means), not fail
    the decoding of the whole list.
    """

    voucher_type_id: str | None = None
    reference_id: str | None = None
    currency: str | None = None
    #: Signed minor units ("1.00 will be sent as 100").
    amount: int = 0
    date: str | None = None
    due_date: str | None = None
    text: str | None = None
    case_voucher_id: str | None = None
    #: Sequential id: the stable order of vouchers on a case. A JSON number in the document; a
    #: string of digits is read too (ids are read tolerantly).
    id: int | str | None = None
    tenant_id: str | None = None
    source: str | None = None
    interest: float | None = None
    case_id: str | None = None
    created_at: str | None = None
    reference_case_voucher_id: str | None = None
    state: str | None = None
    #: principal | cost | courtcost | interest | transaction — follows from the voucher type.
    category: str | None = None
    label: str | None = None
    #: Set when the voucher was deleted; Debbie still lists it (see mapping: deleted are skipped).
    deleted_at: str | None = None
    deleted_by: DebbieActor | None = None
    expired: bool | None = None


# --- cases (notes: "POST /v1/{tenantId}/cases", "GET .../cases", "PATCH .../cases/{caseId}") -------


class DebbieCaseCreate(_DebbieRequest, kw_only=True):
    customer_id: str
    currency: DebbieCurrency
    case_vouchers: Annotated[list[DebbieCaseVoucherCreate], msgspec.Meta(min_length=1)]
    #: The client's own id for the case: our idempotency key (notes, last bullet of Debbie).
    reference_id: DebbieReference | None = None


class DebbieCaseCreated(_DebbieResponse, kw_only=True):
    id: str
    case_seq_id: int | None = None


CaseStatus = Literal["PENDING", "VERIFIED", "ENDED"]


class DebbieCaseStatusUpdate(_DebbieRequest, kw_only=True):
    """`PATCH /v1/{tenantId}/cases/{caseId}`: `{status: "ENDED", exitReason: "WITHDRAWN"}` withdraws."""

    status: CaseStatus
    exit_reason: str | None = None


class DebbieCase(_DebbieResponse, kw_only=True):
    id: str
    case_seq_id: int | None = None
    customer_id: str | None = None
    currency: str | None = None
    reference_id: str | None = None
    #: PENDING | VERIFIED | ENDED (notes); a plain string so a new status maps to "pending".
    status: str | None = None
    exit_reason: str | None = None
    created_at: str | None = None
    #: reading: the sum of the case's live vouchers, signed. Informational; mapping sums vouchers.
    balance: int | None = None


class DebbiePageMeta(_DebbieResponse, kw_only=True):
    """No totals (notes: "a `meta` without totals"): a short page is the last one."""

    page: int | None = None
    page_size: int | None = None


class DebbieCasePage(_DebbieResponse, kw_only=True):
    """`GET /v1/{tenantId}/cases?page=0&pageSize=50` (reading: the list is under `items`)."""

    items: list[DebbieCase] = []
    meta: DebbiePageMeta | None = None


def raw_json(content: bytes) -> Any:
    """An agency body as plain JSON, for `agency_data`."""
    return msgspec.json.decode(content)
