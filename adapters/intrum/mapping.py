"""Canonical ⇄ Intrum wire, and nothing else: no I/O, clock, settings or logging.

Units change here only: canonical amounts are integer minor units, Intrum's are JSON numbers in
decimal major units (`invoiceClaimedAmount: 500.50`). Every conversion goes through
`canonical.money.to_major` / `from_major`, which are exact and refuse a fraction of a minor unit.

What Intrum cannot carry, and what becomes of it (`intrum_view` computes it, so the round trip
`from_wire_registration(to_wire_registration(c)) == intrum_view(c)` holds for every valid claim):
- `client_reference`: Intrum has no field for it (`clientRef` selects the Intrum tenant, it is not
  ours to fill); the gateway keeps it in its own index.
- `debtor.language`: Intrum takes DE/EN/FR/IT only; anything else goes as EN
  (agency-api-notes.md, "Readings").
- `invoices[].references`: sent as `invoiceAttributes` when the key is one of Intrum's attribute
  types (`item_id` → `itemId`, ...); Intrum rejects other types, so other keys, and empty
  values, are not sent.
- `invoices[].attachments[].media_type`: Intrum has a document kind instead (`type`); every
  attachment goes as `ORIGINAL_INVOICE` (the canonical model has no kind) and the media type is
  read back from the file name's extension.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Literal, assert_never

import msgspec

from adapters.intrum.wire import (
    LANGUAGES,
    IntrumAddress,
    IntrumAttachment,
    IntrumAttributeType,
    IntrumCase,
    IntrumClaimType,
    IntrumCreditNote,
    IntrumCustomer,
    IntrumInvoice,
    IntrumInvoiceAttribute,
    IntrumInvoiceAttributeInfo,
    IntrumLanguage,
    IntrumMainStatus,
    IntrumPayment,
    IntrumPaymentInvoice,
    IntrumPaymentRecord,
    IntrumPaymentReversal,
    IntrumReasonCode,
    IntrumRegistration,
    IntrumRegistrationInvoice,
    IntrumStatusUpdate,
    IntrumTracking,
    IntrumWithdrawal,
)
from adapters.sdk import (
    Address,
    AgencyClaim,
    AgencyRejected,
    Allocation,
    Attachment,
    ClaimCreate,
    ClaimStatus,
    ClaimType,
    CreditNoteCreate,
    Debtor,
    Failed,
    Invoice,
    InvoiceChanged,
    InvoiceCreate,
    Money,
    Payment,
    PaymentCollected,
    PaymentReport,
    StatusChanged,
    Succeeded,
    UnsupportedByAgency,
    WithdrawalReason,
    from_major,
    to_major,
)

__all__ = [
    "AGENCY",
    "CLAIM_TYPES",
    "REFERENCE_ATTRIBUTES",
    "IntrumFeedError",
    "TrackingState",
    "allocate_oldest_due_first",
    "claim_status",
    "feed_status",
    "from_wire_case",
    "from_wire_claim_type",
    "from_wire_invoice",
    "from_wire_language",
    "from_wire_payment_record",
    "from_wire_registration",
    "intrum_view",
    "media_type_of",
    "payment_change",
    "status_update_changes",
    "to_wire_claim_type",
    "to_wire_credit_note",
    "to_wire_language",
    "to_wire_payment",
    "to_wire_reason",
    "to_wire_registration",
    "to_wire_reversal",
    "to_wire_withdrawal",
    "tracking_outcome",
    "tracking_state",
    "withdrawal_key",
]

AGENCY = "intrum"

#: Canonical claim type → Intrum `claimType` (agency-api-notes.md, "Readings"). `loan` has none.
CLAIM_TYPES: dict[ClaimType, IntrumClaimType] = {
    "invoice": "INV",
    "goods_delivery": "DEL",
    "medical": "MED",
    "account_statement": "ACC",
    "purchase_agreement": "PUR",
}

#: Canonical `references` key → Intrum `attributeType` (registration, "invoiceAttributes[] Array").
REFERENCE_ATTRIBUTES: dict[str, IntrumAttributeType] = {
    "item_id": "itemId",
    "contract_id": "contractId",
    "qr_reference": "qrReference",
    "internal_customer_id": "internalCustomerId",
    "segmentation": "segmentation",
    "billing_account": "billingAccount",
    "collection_sub_id": "collectionSubId",
}
_ATTRIBUTE_REFERENCES: dict[str, str] = {wire: key for key, wire in REFERENCE_ATTRIBUTES.items()}

#: File extension → media type, for attachments read back from Intrum (which keeps no media type).
_MEDIA_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    "xml": "application/xml",
    "txt": "text/plain",
    "html": "text/html",
}
_UNKNOWN_MEDIA_TYPE = "application/octet-stream"

# Namespace of the per-invoice Idempotency-Keys of a withdrawal (one request per invoice).
_WITHDRAWAL_KEYS = uuid.UUID("5f0c3a52-8f55-4c1e-9a8e-2d8c1b6a7e31")

TrackingState = Literal["pending", "succeeded", "failed"]


# --- registration --------------------------------------------------------------------------------


def to_wire_claim_type(claim_type: ClaimType) -> IntrumClaimType:
    match claim_type:
        case "invoice" | "goods_delivery" | "medical" | "account_statement" | "purchase_agreement":
            return CLAIM_TYPES[claim_type]
        case "loan":
            # No Intrum claimType fits a loan: refuse rather than guess (agency-api-notes.md).
            raise UnsupportedByAgency(AGENCY, "claim type loan")
        case _:
            assert_never(claim_type)


def from_wire_claim_type(claim_type: IntrumClaimType) -> ClaimType:
    match claim_type:
        case "INV":
            return "invoice"
        case "DEL":
            return "goods_delivery"
        case "MED":
            return "medical"
        case "ACC":
            return "account_statement"
        case "PUR":
            return "purchase_agreement"
        case _:
            assert_never(claim_type)


def to_wire_language(language: str) -> IntrumLanguage:
    """ISO 639-1 → Intrum's DE/EN/FR/IT; any other language is sent as EN."""
    upper = language.upper()
    for code in LANGUAGES:
        if code == upper:
            return code
    return "EN"


def from_wire_language(language: str | None) -> str:
    return language.lower() if language else "en"


def media_type_of(filename: str) -> str:
    _, dot, extension = filename.rpartition(".")
    return _MEDIA_TYPES.get(extension.lower(), _UNKNOWN_MEDIA_TYPE) if dot else _UNKNOWN_MEDIA_TYPE


def to_wire_registration(claim: ClaimCreate) -> IntrumRegistration:
    """A validated canonical claim → the body of `POST /portfolio/registration`."""
    return IntrumRegistration(
        claim_type=to_wire_claim_type(claim.type),
        customer=_to_wire_customer(claim.debtor),
        invoices=[_to_wire_invoice(invoice) for invoice in claim.invoices],
        currency=claim.currency,
    )


def from_wire_registration(registration: IntrumRegistration, client_reference: str) -> ClaimCreate:
    """The inverse of `to_wire_registration` (client_reference is not on Intrum's wire)."""
    currency = registration.currency
    return ClaimCreate(
        client_reference=client_reference,
        type=from_wire_claim_type(registration.claim_type),
        currency=currency,
        debtor=_from_wire_customer(registration.customer),
        invoices=[_from_wire_registration_invoice(invoice, currency) for invoice in registration.invoices],
    )


def intrum_view(claim: ClaimCreate) -> ClaimCreate:
    """The claim as Intrum can hold it: what reading it back from Intrum's wire gives."""
    debtor = msgspec.structs.replace(
        claim.debtor, language=from_wire_language(to_wire_language(claim.debtor.language))
    )
    invoices = [
        msgspec.structs.replace(
            invoice,
            references={
                key: value
                for key, value in invoice.references.items()
                if key in REFERENCE_ATTRIBUTES and value
            },
            attachments=[
                msgspec.structs.replace(attachment, media_type=media_type_of(attachment.filename))
                for attachment in invoice.attachments
            ],
        )
        for invoice in claim.invoices
    ]
    return msgspec.structs.replace(claim, debtor=debtor, invoices=invoices)


def _to_wire_customer(debtor: Debtor) -> IntrumCustomer:
    address = debtor.address
    return IntrumCustomer(
        customer_reference=debtor.reference,
        customer_type="PERSON" if debtor.kind == "person" else "COMPANY",
        company_name=debtor.company_name,
        first_name=debtor.first_name,
        last_name=debtor.last_name,
        birthdate=debtor.birth_date,
        email=debtor.email,
        phone_number=debtor.phone,
        language=to_wire_language(debtor.language),
        address=IntrumAddress(
            street=address.street,
            house_number=address.house_number,
            zip_code=address.postal_code,
            town=address.city,
            country_code=address.country,
        ),
    )


def _from_wire_customer(customer: IntrumCustomer) -> Debtor:
    address = customer.address
    match customer.customer_type:
        case "PERSON":
            kind: Literal["person", "company"] = "person"
        case "COMPANY":
            kind = "company"
        case None:  # optional at Intrum: a company name says which it is
            kind = "company" if customer.company_name else "person"
        case _:
            assert_never(customer.customer_type)
    return Debtor(
        kind=kind,
        reference=customer.customer_reference,
        first_name=customer.first_name,
        last_name=customer.last_name,
        company_name=customer.company_name,
        birth_date=customer.birthdate,
        email=customer.email,
        phone=customer.phone_number,
        language=from_wire_language(customer.language),
        address=Address(
            street=address.street,
            house_number=address.house_number,
            postal_code=address.zip_code,
            city=address.town,
            country=address.country_code,
        ),
    )


def _to_wire_invoice(invoice: InvoiceCreate) -> IntrumRegistrationInvoice:
    attributes = [
        IntrumInvoiceAttribute(attribute_type=REFERENCE_ATTRIBUTES[key], attribute_value=value)
        for key, value in invoice.references.items()
        if key in REFERENCE_ATTRIBUTES and value
    ]
    attachments = [
        IntrumAttachment(filename=attachment.filename, url=attachment.url, type="ORIGINAL_INVOICE")
        for attachment in invoice.attachments
    ]
    return IntrumRegistrationInvoice(
        invoice_number=invoice.number,
        invoice_date=invoice.issued_on,
        due_date=invoice.due_on,
        invoice_claimed_amount=_major(invoice.amount),
        invoice_client_costs=_major(invoice.costs) if invoice.costs is not None else None,
        interest_rate=Decimal(invoice.interest_rate) if invoice.interest_rate is not None else None,
        attachments=attachments or None,
        invoice_attributes=attributes or None,
    )


def _from_wire_registration_invoice(invoice: IntrumRegistrationInvoice, currency: str) -> InvoiceCreate:
    return InvoiceCreate(
        number=invoice.invoice_number,
        issued_on=invoice.invoice_date,
        due_on=invoice.due_date,
        amount=_money(invoice.invoice_claimed_amount, currency),
        costs=_money(invoice.invoice_client_costs, currency)
        if invoice.invoice_client_costs is not None
        else None,
        interest_rate=_rate(invoice.interest_rate),
        references=_references(invoice.invoice_attributes or ()),
        attachments=[
            Attachment(filename=a.filename, url=a.url, media_type=media_type_of(a.filename))
            for a in invoice.attachments or ()
        ],
    )


# --- reads ---------------------------------------------------------------------------------------


def claim_status(main_status_code: int | None, closing_code: int | None) -> ClaimStatus:
    """Intrum's case status → the canonical claim status (one table; unknown → "pending").

    A closing code means the case has ended: `closed`, whatever the code — which code means
    what is not documented, so a claim withdrawn in full reads `withdrawn` from the gateway's
    own knowledge (its confirmed withdrawal), not from a code. Open cases go by the main status.
    """
    match (closing_code, main_status_code):
        case (int(), _):
            return "closed"
        case (
            None,
            IntrumMainStatus.AMICABLE_COLLECTION
            | IntrumMainStatus.LEGAL_COLLECTION
            | IntrumMainStatus.LONG_TERM_MONITORING,
        ):
            return "active"
        case (None, IntrumMainStatus.SUSPENDED):
            return "paused"
        case (None, IntrumMainStatus.CLOSED):
            return "closed"
        case _:
            # a status we do not know is never taken for progress: "still pending"
            return "pending"


def from_wire_invoice(invoice: IntrumInvoice) -> Invoice:
    """`/invoices/query` → canonical invoice; `remaining` is the remaining principal."""
    currency = invoice.currency
    return Invoice(
        number=invoice.invoice_number,
        issued_on=invoice.invoice_date,
        due_on=invoice.due_date,
        amount=_money(invoice.invoice_claimed_amount, currency),
        costs=_money(invoice.invoice_client_costs, currency)
        if invoice.invoice_client_costs is not None
        else None,
        remaining=_money(invoice.invoice_remaining_amount, currency),
        interest_rate=_rate(invoice.interest_rate),
        references=_references(invoice.invoice_attributes or ()),
        # Intrum does not give attachments back.
        attachments=[],
    )


def from_wire_case(case: IntrumCase, invoices: Sequence[IntrumInvoice], currency: str) -> AgencyClaim:
    """A case and its invoices → what the agency says about the claim now.

    The balance is Intrum's `totalRemainingAmount` ("Total remaining balance": principal, client
    costs, interest, fees and outlays); when it is missing, the invoices' remaining principal and
    client costs.
    """
    if case.total_remaining_amount is not None:
        balance = from_major(case.total_remaining_amount, currency)
    else:
        balance = sum(
            from_major(i.invoice_remaining_amount, currency)
            + from_major(i.invoice_remaining_client_costs or 0, currency)
            for i in invoices
        )
    return AgencyClaim(
        status=claim_status(case.current_main_status_code, case.closing_code),
        invoices=[from_wire_invoice(invoice) for invoice in invoices],
        balance_amount=balance,
        agency_data={"case": msgspec.to_builtins(case)},
    )


def from_wire_payment_record(record: IntrumPaymentRecord, *, reported_by_creditor: bool) -> Payment:
    """One `/portfolio/payments` record → a canonical payment on one invoice.

    `intPaymentId` echoes the creditor's `paymentId` for payments the creditor reported (the
    glossary: a paymentId is "Required to ensure traceability and for referencing in
    reversals"); Intrum's own collections carry its internal id, which is no creditor id.
    A reversal comes with the reversed amounts; its kind, not a sign, says it takes money back.
    """
    currency = record.currency
    invoice_part = abs(from_major(record.paid_invoice_amount, currency))
    costs_part = abs(from_major(record.paid_client_cost_amount, currency))
    amount = Money(amount=invoice_part + costs_part, currency=currency)
    match record.type:
        case "REVERSAL":
            kind: Literal["payment", "reversal"] = "reversal"
        case "PAYMENT":
            kind = "payment"
        case _:
            kind = "payment"  # the document knows no third type; report the money as received
    return Payment(
        id=f"pay_intrum_{record.record_id}",
        payment_id=record.int_payment_id if reported_by_creditor else None,
        source="creditor" if reported_by_creditor else "agency",
        kind=kind,
        amount=amount,
        paid_on=record.payment_date,
        allocations=(
            [Allocation(invoice_number=record.invoice_number, amount=amount)] if record.invoice_number else []
        ),
    )


# --- the change feed -----------------------------------------------------------------------------


class IntrumFeedError(ValueError):
    """A feed record that cannot be read (the adapter sets it aside as `Unreadable`)."""


def feed_status(main_status_code: int | None) -> ClaimStatus | None:
    """A status update's `mainStatusCode` ("the aggregated status of the case") → the claim's
    status, by the same table as `claim_status`; None = a code we do not know: the claim's status
    is left as it is (never taken for progress, and never turned back to "pending").

    `closingCode` is left out on purpose: it is the *invoice's* closing reason (one invoice of an
    open case may be closed), and which code means what is not documented. A claim withdrawn in
    full reads `withdrawn` from the gateway's own confirmed withdrawal, not from a closing code.
    """
    match main_status_code:
        case (
            IntrumMainStatus.AMICABLE_COLLECTION
            | IntrumMainStatus.LEGAL_COLLECTION
            | IntrumMainStatus.LONG_TERM_MONITORING
        ):
            return "active"
        case IntrumMainStatus.SUSPENDED:
            return "paused"
        case IntrumMainStatus.CLOSED:
            return "closed"
        case _:
            return None


def status_update_changes(update: IntrumStatusUpdate, currency: str) -> list[StatusChanged | InvoiceChanged]:
    """One `/portfolio/statusUpdate` row → what changed: the invoice's remaining amounts, and the
    case's status when its code is one we know.

    The record id is the snapshot itself — the invoice, its `lastUpdatedTimestamp` and what it
    says — so the same snapshot read twice is applied once, and the invoice's next change is a
    new record even within the same (whole) second. The row carries no currency: `currency` is
    the claim's (the adapter knows it from the registration). Raises `IntrumFeedError` (or
    `MoneyError`) for a row that cannot be read.
    """
    if update.case_number is None or str(update.case_number) == "":
        raise IntrumFeedError(f"status update of invoice {update.invoice_number!r} names no case")
    reference = str(update.case_number)
    at = update.last_updated_timestamp
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    record_id = ":".join(
        str(part)
        for part in (
            "status-update",
            update.invoice_number,
            f"{at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
            update.invoice_remaining_amount,
            update.client_costs_remaining_amount,
            update.main_status_code,
            update.closing_code,
        )
    )
    changes: list[StatusChanged | InvoiceChanged] = []
    if update.invoice_remaining_amount is not None:
        costs = update.client_costs_remaining_amount
        changes.append(
            InvoiceChanged(
                record_id=record_id,
                agency_reference=reference,
                invoice_number=update.invoice_number,
                remaining=_money(update.invoice_remaining_amount, currency),
                costs_remaining=_money(costs, currency) if costs is not None else None,
                occurred_at=at,
            )
        )
    status = feed_status(update.main_status_code)
    if status is not None:
        changes.append(
            StatusChanged(
                record_id=f"{record_id}:status",
                agency_reference=reference,
                status=status,
                reason=update.closing_code_description or update.main_status_description,
                occurred_at=at,
            )
        )
    return changes


def payment_change(record: IntrumPaymentRecord, *, reported_by_creditor: bool) -> PaymentCollected:
    """One `/portfolio/payments` record → a payment (or reversal) Intrum booked on a case.

    The record id is Intrum's `recordId` ("Unique ID of the provided record"; records are
    immutable). Raises `IntrumFeedError` (or `MoneyError`) for a record that cannot be read.
    """
    if record.case_number is None or str(record.case_number) == "":
        raise IntrumFeedError(f"payment record {record.record_id} names no case")
    payment = from_wire_payment_record(record, reported_by_creditor=reported_by_creditor)
    if payment.amount.amount <= 0:
        raise IntrumFeedError(f"payment record {record.record_id} has no amount")
    return PaymentCollected(
        record_id=f"payment:{record.record_id}",
        agency_reference=str(record.case_number),
        amount=payment.amount,
        paid_on=payment.paid_on,
        kind=payment.kind,
        source=payment.source,
        payment_id=payment.payment_id,
        allocations=payment.allocations,
        # /portfolio/statusUpdate reports the invoice's remaining amount (a day earlier than
        # this record is journalized)
        remaining_reported=True,
    )


def tracking_state(status: str) -> TrackingState:
    """One `/tracking` transaction status → where the operation stands."""
    match status:
        case "COMPLETED":
            return "succeeded"
        case "FAILED":
            return "failed"
        case "REGISTERED" | "IN_PROGRESS":
            return "pending"
        case _:
            return "pending"  # an unknown state is never a success


def tracking_outcome(trackings: Iterable[IntrumTracking]) -> Succeeded | Failed | None:
    """The outcome of an operation from its trackings (several for a withdrawal); None = pending.

    Any failed transaction fails the operation with Intrum's message; all completed = success,
    with the case number Intrum names in the transactions' `identifiers` (registration).
    """
    failures: list[str] = []
    pending = False
    seen = False
    case_number: str | None = None
    for tracking in trackings:
        for transaction in tracking.transactions:
            seen = True
            match tracking_state(transaction.status):
                case "failed":
                    failures.append(transaction.errors or transaction.message or "failed at Intrum")
                case "pending":
                    pending = True
                case "succeeded":
                    found = transaction.identifiers.get("caseNumber")
                    if found is not None and case_number is None:
                        case_number = str(found)
    if failures:
        detail = "; ".join(dict.fromkeys(failures))
        return Failed(problem=AgencyRejected(detail, agency=AGENCY).problem())
    if pending or not seen:
        return None
    return Succeeded(agency_reference=case_number)


# --- follow-up writes ----------------------------------------------------------------------------


def allocate_oldest_due_first(
    amount: int, open_invoices: Sequence[tuple[str, dt.date, int]]
) -> list[tuple[str, int]]:
    """Split `amount` (minor units) over invoices (number, due date, open amount), oldest due first.

    Intrum needs explicit per-invoice amounts; api.md: a report without allocations "is allocated
    by the gateway oldest due date first". What exceeds every open amount goes on the invoice due
    last, for Intrum to accept or refuse. The parts always add up to `amount`.
    """
    if not open_invoices:
        raise ValueError("no invoice to allocate a payment to")
    ordered = sorted(open_invoices, key=lambda invoice: (invoice[1], invoice[0]))
    parts: dict[str, int] = {}
    left = amount
    for number, _due, open_amount in ordered:
        take = min(left, max(open_amount, 0))
        if take > 0:
            parts[number] = parts.get(number, 0) + take
            left -= take
    if left > 0:
        last = ordered[-1][0]
        parts[last] = parts.get(last, 0) + left
    return list(parts.items())


def to_wire_payment(report: PaymentReport, allocations: Sequence[Allocation]) -> IntrumPayment:
    """`POST /invoices/payment`: `totalPaymentAmount` is the sum of the per-invoice amounts."""
    total = sum(allocation.amount.amount for allocation in allocations)
    if total != report.amount.amount:
        raise ValueError("allocations must add up to the payment amount")
    return IntrumPayment(
        payment_id=report.payment_id,
        total_payment_amount=_major(report.amount),
        payment_date=report.paid_on,
        invoices=[
            IntrumPaymentInvoice(payment_amount=_major(a.amount), invoice_number=a.invoice_number)
            for a in allocations
        ],
    )


def to_wire_reversal(payment_id: str, reversed_on: dt.date) -> IntrumPaymentReversal:
    return IntrumPaymentReversal(payment_id=payment_id, reversal_date=reversed_on)


def to_wire_credit_note(note: CreditNoteCreate) -> IntrumCreditNote:
    # Intrum keeps neither the credit note's own number nor a reason ("Request Body" table).
    return IntrumCreditNote(
        credit_note_amount=_major(note.amount),
        credit_note_date=note.issued_on,
        invoice_number=note.invoice_number,
    )


def to_wire_reason(reason: WithdrawalReason) -> IntrumReasonCode:
    match reason:
        case "by_client":
            return "BY_CLIENT"
        case "goods_returned":
            return "RETURN_GOODS_TO_CLIENT"
        case _:
            assert_never(reason)


def to_wire_withdrawal(invoice_number: str, reason: WithdrawalReason) -> IntrumWithdrawal:
    return IntrumWithdrawal(invoice_number=invoice_number, reason_code=to_wire_reason(reason))


def withdrawal_key(token: str, invoice_number: str) -> str:
    """The Idempotency-Key of one invoice's withdrawal request within one operation.

    Intrum takes one invoice per withdrawal request, and a key is one operation at Intrum
    (Idempotency: "Ensures only one operation is processed per key"), so a withdrawal of several
    invoices needs several keys — the same ones on every attempt: derived, not random.
    """
    return str(uuid.uuid5(_WITHDRAWAL_KEYS, f"{token}\x00{invoice_number}"))


# --- helpers -------------------------------------------------------------------------------------


def amount_to_wire(money: Money) -> Decimal:
    """Canonical minor units → Intrum's JSON number in major units: EUR 12345 → 123.45."""
    return _major(money)


def amount_from_wire(value: Decimal, currency: str) -> Money:
    """Intrum's JSON number in major units → canonical minor units, exactly."""
    return _money(value, currency)


def _major(money: Money) -> Decimal:
    return to_major(money.amount, money.currency)


def _money(value: Decimal, currency: str) -> Money:
    return Money(amount=from_major(value, currency), currency=currency)


def _rate(value: Decimal | None) -> str | None:
    # fixed-point text, never an exponent ("5.00", not "5.00E+0")
    return format(value, "f") if value is not None else None


def _references(attributes: Iterable[IntrumInvoiceAttribute | IntrumInvoiceAttributeInfo]) -> dict[str, str]:
    references: dict[str, str] = {}
    for attribute in attributes:
        key = _ATTRIBUTE_REFERENCES.get(attribute.attribute_type, attribute.attribute_type)
        references[key] = attribute.attribute_value
    return references
