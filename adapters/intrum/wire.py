"""Intrum CPS-API V1 bodies, exactly as the Postman collection spells them.

Source: `intrum-cps-api-v1.postman.json` (readable: `intrum-cps-api-v1.md`). Field names are the
agency's camelCase; amounts are JSON numbers in decimal major units, held as `Decimal` so that no
float ever touches them (encode with `ENCODER`, which writes Decimals as numbers, not strings).

Two kinds of struct:
- `_IntrumBody`: bodies we send. Strict (`forbid_unknown_fields`) and `omit_defaults`, so that an
  optional field we have no value for is left out rather than sent as null; the sandbox decodes
  requests with these same types, which makes it as strict as the agency ("The API enforces strict
  schema validation and will reject loosely defined JSON payloads", API Capabilities/Limitations).
- `_IntrumAnswer`: what Intrum answers. Tolerant of unknown members and of missing optional ones:
  "All new endpoints or fields will be additive" (Change Log) must never become our outage.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

__all__ = [
    "ATTRIBUTE_TYPES",
    "DECODE_ERRORS",
    "ENCODER",
    "LANGUAGES",
    "IntrumAccepted",
    "IntrumAddress",
    "IntrumAttachment",
    "IntrumAttachmentType",
    "IntrumAttributeType",
    "IntrumCase",
    "IntrumCasePage",
    "IntrumClaimType",
    "IntrumClosingCode",
    "IntrumCreditNote",
    "IntrumCustomer",
    "IntrumError",
    "IntrumFeedPage",
    "IntrumId",
    "IntrumInvoice",
    "IntrumInvoiceAttribute",
    "IntrumInvoiceAttributeInfo",
    "IntrumLanguage",
    "IntrumMainStatus",
    "IntrumPayment",
    "IntrumPaymentInvoice",
    "IntrumPaymentRecord",
    "IntrumPaymentReversal",
    "IntrumPaymentsPage",
    "IntrumProductHistory",
    "IntrumReasonCode",
    "IntrumRegistration",
    "IntrumRegistrationInvoice",
    "IntrumStatusHistory",
    "IntrumStatusUpdate",
    "IntrumStatusUpdatePage",
    "IntrumToken",
    "IntrumTracking",
    "IntrumTrackingTransaction",
    "IntrumWithdrawal",
]

#: Decimals go on the wire as JSON numbers (`"invoiceClaimedAmount": 500.50`), digit for digit.
ENCODER = msgspec.json.Encoder(decimal_format="number")
DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)

# registration: "Supported claimType Values"
IntrumClaimType = Literal["INV", "DEL", "MED", "ACC", "PUR"]
# customer.language: "ISO 639-1 - allowed values: DE, EN, FR, IT" (the example's UNKNOWN is not in it)
IntrumLanguage = Literal["DE", "EN", "FR", "IT"]
LANGUAGES: tuple[IntrumLanguage, ...] = ("DE", "EN", "FR", "IT")
IntrumCustomerType = Literal["PERSON", "COMPANY"]
IntrumGender = Literal["MALE", "FEMALE", "UNKNOWN"]
IntrumAttachmentType = Literal["ORIGINAL_INVOICE", "FIRST_REMINDER", "LAST_REMINDER", "CONTRACT"]
IntrumAttributeType = Literal[
    "itemId",
    "contractId",
    "qrReference",
    "internalCustomerId",
    "segmentation",
    "billingAccount",
    "collectionSubId",
]
ATTRIBUTE_TYPES: tuple[IntrumAttributeType, ...] = (
    "itemId",
    "contractId",
    "qrReference",
    "internalCustomerId",
    "segmentation",
    "billingAccount",
    "collectionSubId",
)
# withdrawal.reasonCode: "Enum: BY_CLIENT, RETURN_GOODS_TO_CLIENT"
IntrumReasonCode = Literal["BY_CLIENT", "RETURN_GOODS_TO_CLIENT"]

_Text = Annotated[str, msgspec.Meta(min_length=1)]


class IntrumMainStatus(enum.IntEnum):
    """`currentMainStatusCode`: "the aggregated status of the case".

    The document shows one value only (1, "Amicable collection"). The others are our reading of
    Intrum's usual phases, written down once so that the sandbox and the mapping agree; a code not
    listed here maps to a safe "pending" (see `mapping.claim_status`).
    """

    AMICABLE_COLLECTION = 1
    LEGAL_COLLECTION = 2
    LONG_TERM_MONITORING = 3
    SUSPENDED = 4
    CLOSED = 9


class IntrumClosingCode(enum.IntEnum):
    """`closingCode`: why a case or invoice was closed (undocumented values; same reading as above)."""

    PAID = 1
    WITHDRAWN_BY_CLIENT = 2
    UNCOLLECTABLE = 3
    CREDITED = 4


class _IntrumBody(
    msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True, forbid_unknown_fields=True
):
    """A body the gateway sends to Intrum: strict, optional members left out when unset."""


class _IntrumAnswer(msgspec.Struct, kw_only=True, rename="camel"):
    """A body Intrum answers: unknown members ignored, optional members may be missing."""


# --- POST /portfolio/registration -------------------------------------------------------------


class IntrumAddress(_IntrumBody, kw_only=True):
    street: _Text
    zip_code: _Text
    town: _Text
    country_code: Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
    house_number: str | None = None
    co_address: str | None = None


class IntrumCustomer(_IntrumBody, kw_only=True):
    customer_reference: _Text
    address: IntrumAddress
    customer_type: IntrumCustomerType | None = None
    # the one acronym Intrum spells in capitals; camel renaming would make it `customerVatNumber`
    customer_vat_number: str | None = msgspec.field(default=None, name="customerVATNumber")
    company_registration_number: str | None = None
    company_name: str | None = None
    language: IntrumLanguage | None = None
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    phone_number: str | None = None
    email: str | None = None
    mobile_number: str | None = None
    gender: IntrumGender | None = None
    birthdate: dt.date | None = None


class IntrumAttachment(_IntrumBody, kw_only=True):
    # "when attachments are included, all listed fields become mandatory for each item"
    filename: _Text
    url: _Text
    type: IntrumAttachmentType


class IntrumInvoiceAttribute(_IntrumBody, kw_only=True):
    attribute_type: IntrumAttributeType
    attribute_value: _Text


class IntrumRegistrationInvoice(_IntrumBody, kw_only=True):
    invoice_number: _Text
    invoice_date: dt.date
    due_date: dt.date
    invoice_claimed_amount: Decimal
    invoice_client_costs: Decimal | None = None
    #: percent per year
    interest_rate: Decimal | None = None
    attachments: list[IntrumAttachment] | None = None
    invoice_attributes: list[IntrumInvoiceAttribute] | None = None


class IntrumRegistration(_IntrumBody, kw_only=True):
    claim_type: IntrumClaimType
    customer: IntrumCustomer
    # The field table spells it `inovices`; the example body and every other place say `invoices`
    # (agency-api-notes.md, "Readings"): we send `invoices`.
    invoices: Annotated[list[IntrumRegistrationInvoice], msgspec.Meta(min_length=1)]
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
    client_ref: str | None = None
    claim_concern: str | None = None


# --- POST /invoices/payment, /paymentReversal, /creditNote, /withdrawal ------------------------


class IntrumPaymentInvoice(_IntrumBody, kw_only=True):
    payment_amount: Decimal
    invoice_number: str | None = None
    item_id: str | None = None


class IntrumPayment(_IntrumBody, kw_only=True):
    payment_id: _Text
    #: "Must be a strictly positive number"; equal to the sum of the invoices' paymentAmount.
    total_payment_amount: Decimal
    payment_date: dt.date
    invoices: Annotated[list[IntrumPaymentInvoice], msgspec.Meta(min_length=1)]
    comment: str | None = None


class IntrumPaymentReversal(_IntrumBody, kw_only=True):
    payment_id: _Text
    reversal_date: dt.date


class IntrumCreditNote(_IntrumBody, kw_only=True):
    credit_note_amount: Decimal
    credit_note_date: dt.date
    invoice_number: str | None = None
    item_id: str | None = None


class IntrumWithdrawal(_IntrumBody, kw_only=True):
    # "Withdrawal is one request per invoice" (agency-api-notes.md)
    invoice_number: str | None = None
    item_id: str | None = None
    reason_code: IntrumReasonCode | None = None


# --- answers -------------------------------------------------------------------------------------


class IntrumToken(msgspec.Struct, kw_only=True):
    """The OAuth2 token endpoint's answer (Keycloak, snake_case)."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int = 300


class IntrumError(_IntrumAnswer, kw_only=True):
    """401 `{"message": "Access denied"}`, 422 `{"message": "<string>"}`."""

    message: str = ""


class IntrumAccepted(_IntrumAnswer, kw_only=True):
    """202 of every POST: processing is asynchronous, its result is at `/tracking`."""

    tracking_id: int
    message: str = ""


class IntrumStatusHistory(_IntrumAnswer, kw_only=True):
    main_status_code: int | None = None
    main_status_description: str | None = None
    detail_status_code: int | None = None
    detail_status_description: str | None = None
    detail_status_start_date: dt.datetime | None = None
    detail_status_end_date: dt.datetime | None = None


class IntrumProductHistory(_IntrumAnswer, kw_only=True):
    product_code: int | None = None
    product_description: str | None = None
    # the field table says productStartDate/productEndDate, the example startDate/endDate
    start_date: dt.datetime | None = None
    end_date: dt.datetime | None = None


class IntrumCase(_IntrumAnswer, kw_only=True):
    """One of `/portfolio/query`'s `matchingResults`."""

    case_number: int
    case_opening_date: dt.date | None = None
    customer_reference: str | None = None
    customer_name: str | None = None
    interest_calculation_date: dt.date | None = None
    claim_concern: str | None = None
    current_product_code: int | None = None
    product_description: str | None = None
    current_main_status_code: int | None = None
    main_status_description: str | None = None
    current_detail_status_code: int | None = None
    detail_status_description: str | None = None
    closing_date: dt.date | None = None
    closing_code: int | None = None
    closing_code_description: str | None = None
    total_claimed_amount: Decimal | None = None
    total_claimed_invoice_amount: Decimal | None = None
    total_claimed_client_costs_amount: Decimal | None = None
    total_claimed_interest_amount: Decimal | None = None
    total_claimed_customer_fees_amount: Decimal | None = None
    total_claimed_outlays_amount: Decimal | None = None
    total_remaining_amount: Decimal | None = None
    total_remaining_invoice_amount: Decimal | None = None
    total_remaining_client_costs_amount: Decimal | None = None
    total_remaining_interest_amount: Decimal | None = None
    total_remaining_customer_fees_amount: Decimal | None = None
    total_remaining_outlays_amount: Decimal | None = None
    invoice_numbers: list[str] = []
    status_history: list[IntrumStatusHistory] | None = None
    product_history: list[IntrumProductHistory] | None = None


class IntrumCasePage(_IntrumAnswer, kw_only=True):
    matching_results: list[IntrumCase] = []
    has_more: bool = False


class IntrumInvoiceAttributeInfo(_IntrumAnswer, kw_only=True):
    """An invoice attribute as Intrum reports it (tolerant twin of `IntrumInvoiceAttribute`)."""

    attribute_type: str
    attribute_value: str


class IntrumInvoice(_IntrumAnswer, kw_only=True):
    """`GET /invoices/query`: a snapshot, "must not be used for reconciliation"."""

    invoice_number: str
    invoice_date: dt.date
    due_date: dt.date
    currency: str
    invoice_claimed_amount: Decimal
    invoice_remaining_amount: Decimal
    invoice_client_costs: Decimal | None = None
    invoice_remaining_client_costs: Decimal | None = None
    interest_rate: Decimal | None = None
    invoice_reason: str | None = None
    current_main_status_code: int | None = None
    main_status_description: str | None = None
    current_detail_status_code: int | None = None
    detail_status_description: str | None = None
    claim_concern: str | None = None
    opening_date: dt.date | None = None
    closing_code: int | None = None
    closing_code_description: str | None = None
    current_product_code: int | None = None
    product_description: str | None = None
    case_number: int | None = None
    customer_reference: str | None = None
    #: only with `addInvoiceAttributes=true`
    invoice_attributes: list[IntrumInvoiceAttributeInfo] | None = None


#: An id the document types as integer; read as number or string, whichever Intrum sends.
IntrumId = int | str


class IntrumPaymentRecord(_IntrumAnswer, kw_only=True):
    """One journalized payment or reversal of `/portfolio/payments`."""

    record_id: IntrumId
    int_payment_id: str | None = None
    # "Replaced response field `amount` with `paidInvoiceAmount` and `paidClientCostAmount`" (2025-05-28)
    paid_invoice_amount: Decimal = Decimal(0)
    paid_client_cost_amount: Decimal = Decimal(0)
    currency: str
    case_number: IntrumId | None = None
    invoice_number: str | None = None
    journalization_date: dt.date | None = None
    payment_date: dt.date
    item_id: str | None = None
    #: PAYMENT or REVERSAL
    type: str = "PAYMENT"


class IntrumPaymentsPage(_IntrumAnswer, kw_only=True):
    payments: list[IntrumPaymentRecord] = []
    has_more: bool = False


class IntrumTrackingTransaction(_IntrumAnswer, kw_only=True):
    #: REGISTERED, IN_PROGRESS, COMPLETED or FAILED; kept a str so a new state cannot break decoding
    status: str
    message: str = ""
    last_updated: dt.datetime | None = None
    identifiers: dict[str, str | int] = {}
    #: "Optional. Will contain error details if status is FAILED (future use)"
    errors: str | None = None


class IntrumTracking(_IntrumAnswer, kw_only=True):
    tracking_id: int
    created_at: dt.datetime | None = None
    transactions: list[IntrumTrackingTransaction] = []


class IntrumStatusUpdate(_IntrumAnswer, kw_only=True):
    """One of `/portfolio/statusUpdate`'s `updates`."""

    invoice_number: str
    last_updated_timestamp: dt.datetime
    case_number: IntrumId | None = None
    customer_reference: str | None = None
    invoice_remaining_amount: Decimal | None = None
    client_costs_remaining_amount: Decimal | None = None
    closing_code: int | None = None
    closing_code_description: str | None = None
    product_code: int | None = None
    product_code_description: str | None = None
    main_status_code: int | None = None
    main_status_description: str | None = None
    detail_status_code: int | None = None
    detail_status_description: str | None = None


class IntrumStatusUpdatePage(_IntrumAnswer, kw_only=True):
    updates: list[IntrumStatusUpdate] = []
    has_more: bool = False


class IntrumFeedPage(_IntrumAnswer, kw_only=True):
    """A page of `/portfolio/statusUpdate` (`updates`) or `/portfolio/payments` (`payments`) with
    its items undecoded: the change feed decodes each on its own, so that one record it cannot
    read is set aside instead of failing the page."""

    updates: list[msgspec.Raw] = []
    payments: list[msgspec.Raw] = []
    has_more: bool = False
