"""Canonical ⇄ Riverty, pure: no I/O, clock, settings or logging.

The only place where units change: canonical amounts are integer minor units, Riverty's are
decimal **major** units sent as JSON numbers, always positive, at most 12 characters long
(agency-api-notes, Riverty, "Readings"). A conversion that would round raises `MoneyError`.

What Riverty does not carry and therefore does not round-trip: the canonical claim `type`
(Riverty's `claimType` says principal vs. compensation, not the business; every invoice goes as
`PRINCIPAL_CLAIM`), the client's `client_reference` (the gateway keeps it in its own index) and
invoice `attachments` (no documented field).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import assert_never

from adapters.riverty.wire import (
    RivertyAccountingDocument,
    RivertyAdditionalProperty,
    RivertyAddress,
    RivertyAllocation,
    RivertyCancellation,
    RivertyClaimCreate,
    RivertyCommunicationChannel,
    RivertyContract,
    RivertyCost,
    RivertyCreditWaiver,
    RivertyCustomer,
    RivertyInterest,
    RivertyInvoice,
    RivertyInvoiceCreate,
    RivertyPayment,
    RivertyReason,
    RivertyRecall,
)
from adapters.sdk import (
    Address,
    Allocation,
    ClaimCreate,
    ClaimStatus,
    ClaimType,
    CreditNoteCreate,
    Debtor,
    Invoice,
    InvoiceCreate,
    Money,
    MoneyError,
    Payment,
    PaymentKind,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
    from_major,
    to_major,
)

__all__ = [
    "MAX_AMOUNT_CHARS",
    "RivertyAmountTooLong",
    "amount_from_wire",
    "amount_to_wire",
    "claim_status",
    "from_wire_accounting_document",
    "from_wire_claim",
    "from_wire_invoice",
    "payment_view_id",
    "rejection_detail",
    "to_wire_cancellation",
    "to_wire_claim",
    "to_wire_credit_waiver",
    "to_wire_payment",
    "to_wire_recall",
]

#: Riverty documents every amount as "number, Max length: 12" (riverty-claim-invoices.txt).
MAX_AMOUNT_CHARS = 12


class RivertyAmountTooLong(MoneyError):
    """An amount whose decimal form has more characters than Riverty's fields take."""


# --- amounts ---------------------------------------------------------------------------------


def amount_to_wire(money: Money) -> Decimal:
    """Minor units → Riverty's decimal major units, exact (EUR 12345 → 123.45)."""
    major = to_major(money.amount, money.currency)
    if len(str(major)) > MAX_AMOUNT_CHARS:
        raise RivertyAmountTooLong(
            f"{major} {money.currency} has more than {MAX_AMOUNT_CHARS} characters, "
            "the longest amount Riverty takes"
        )
    return major


def amount_from_wire(value: Decimal, currency: str) -> Money:
    """Riverty's decimal major units → minor units; a fraction of a minor unit is an error."""
    return Money(amount=from_major(value, currency), currency=currency)


# --- claim submission ------------------------------------------------------------------------


def to_wire_claim(claim: ClaimCreate, claim_id: str) -> RivertyClaimCreate:
    """The `POST /claims` body. The gateway's claim id becomes the contract number: Riverty's
    202 holds only a requestId, and this is how a claim whose answer was lost is found again."""
    debtor = claim.debtor
    channels = []
    if debtor.email is not None:
        channels.append(RivertyCommunicationChannel(type="EMAIL", value=debtor.email))
    if debtor.phone is not None:
        channels.append(RivertyCommunicationChannel(type="PHONE", value=debtor.phone))
    customer = RivertyCustomer(
        customer_number=debtor.reference,
        type="PRIVATE" if debtor.kind == "person" else "COMPANY",
        first_name=debtor.first_name,
        last_name=debtor.last_name,
        company_name=debtor.company_name,
        birth_date=debtor.birth_date,
        language=debtor.language,
        addresses=[
            RivertyAddress(
                street=debtor.address.street,
                house_number=debtor.address.house_number,
                postal_code=debtor.address.postal_code,
                city=debtor.address.city,
                country=debtor.address.country,
            )
        ],
        communication_channels=channels,
    )
    invoices = []
    costs = []
    interests = []
    for invoice in claim.invoices:
        amount = amount_to_wire(invoice.amount)
        invoices.append(
            RivertyInvoiceCreate(
                invoice_number=invoice.number,
                invoice_date=invoice.issued_on,
                due_date=invoice.due_on,
                original_amount=amount,
                remaining_amount=amount,  # nothing is paid when the claim is handed over
                currency=invoice.amount.currency,
                claim_type="PRINCIPAL_CLAIM",
                additional_properties=[
                    RivertyAdditionalProperty(key=key, value=value)
                    for key, value in invoice.references.items()
                ],
            )
        )
        # Riverty takes no 0 amounts ("Negative amounts or 0 amounts are not allowed"): no costs.
        if invoice.costs is not None and invoice.costs.amount > 0:
            costs.append(
                RivertyCost(
                    invoice_number=invoice.number,
                    amount=amount_to_wire(invoice.costs),
                    currency=invoice.costs.currency,
                    type="COLLECTION_COSTS",
                )
            )
        if invoice.interest_rate is not None:
            interests.append(
                RivertyInterest(
                    invoice_number=invoice.number,
                    type="FIXED",
                    rate=Decimal(invoice.interest_rate),
                    # Interest runs from the due date (the German "Verzugsdatum").
                    last_calculation_date=invoice.due_on,
                )
            )
    return RivertyClaimCreate(
        customer=customer,
        contracts=[RivertyContract(contract_number=claim_id, invoices=invoices)],
        costs=costs,
        interests=interests,
    )


def from_wire_claim(wire: RivertyClaimCreate, *, client_reference: str, claim_type: ClaimType) -> ClaimCreate:
    """Back from a `POST /claims` body (the inverse of `to_wire_claim` for what Riverty carries)."""
    customer = wire.customer
    address = customer.addresses[0]
    channels = {channel.type: channel.value for channel in customer.communication_channels}
    debtor = Debtor(
        kind="person" if customer.type == "PRIVATE" else "company",
        reference=customer.customer_number,
        first_name=customer.first_name,
        last_name=customer.last_name,
        company_name=customer.company_name,
        birth_date=customer.birth_date,
        email=channels.get("EMAIL"),
        phone=channels.get("PHONE"),
        language=customer.language or "en",
        address=Address(
            street=address.street,
            house_number=address.house_number,
            postal_code=address.postal_code,
            city=address.city,
            country=address.country,
        ),
    )
    costs = {cost.invoice_number: cost for cost in wire.costs}
    rates = {interest.invoice_number: interest.rate for interest in wire.interests}
    invoices = []
    for contract in wire.contracts:
        for item in contract.invoices:
            cost = costs.get(item.invoice_number)
            rate = rates.get(item.invoice_number)
            invoices.append(
                InvoiceCreate(
                    number=item.invoice_number,
                    issued_on=item.invoice_date,
                    due_on=item.due_date,
                    amount=amount_from_wire(item.original_amount, item.currency),
                    costs=None if cost is None else amount_from_wire(cost.amount, cost.currency),
                    interest_rate=None if rate is None else str(rate),
                    references={p.key: p.value for p in item.additional_properties},
                )
            )
    currency = invoices[0].amount.currency if invoices else ""
    return ClaimCreate(
        client_reference=client_reference,
        type=claim_type,
        currency=currency,
        debtor=debtor,
        invoices=invoices,
    )


# --- reads -----------------------------------------------------------------------------------


def from_wire_invoice(item: RivertyInvoice) -> Invoice:
    """One invoice of `GET /claims/{n}/invoices` as the canonical model reports it."""
    rate = item.interest_calculation.rate if item.interest_calculation is not None else None
    costs = None
    if item.costs is not None:
        costs = amount_from_wire(item.costs.amount, item.costs.currency or item.currency)
    return Invoice(
        number=item.invoice_number,
        issued_on=item.invoice_date,
        due_on=item.due_date,
        amount=amount_from_wire(item.original_amount, item.currency),
        costs=costs,
        remaining=amount_from_wire(item.remaining_amount, item.currency),
        interest_rate=None if rate is None else str(rate),
        references={p.key: p.value for p in item.additional_properties},
    )


def claim_status(status: str, closing_reason: str | None = None) -> ClaimStatus:
    """Riverty's claim state (`/claims/search`) → canonical claim status. The one table:

    | Riverty       | canonical   | why                                                        |
    |---------------|-------------|------------------------------------------------------------|
    | IN_CREATION   | pending     | accepted (202), not yet confirmed                          |
    | PROCESSING    | active      | Riverty is collecting                                      |
    | PAUSED        | paused      |                                                            |
    | CLOSED        | withdrawn   | when it closed because the client recalled the whole claim |
    | CLOSED        | closed      | any other closing reason (paid, written off, ...)          |
    | REJECTED      | rejected    | the creation was refused (see the REJECTION transaction)   |
    | anything else | pending     | a state we do not know is never taken for success          |
    """
    match status:
        case "IN_CREATION":
            return "pending"
        case "PROCESSING":
            return "active"
        case "PAUSED":
            return "paused"
        case "CLOSED":
            return "withdrawn" if closing_reason == "RECALLED" else "closed"
        case "REJECTED":
            return "rejected"
        case _:
            return "pending"


def payment_view_id(claim_number: str, document_number: str) -> str:
    """A stable `pay_…` id for a Riverty accounting document (the same on every read)."""
    digest = hashlib.sha256(f"riverty\0{claim_number}\0{document_number}".encode()).hexdigest()
    return f"pay_{digest[:24]}"


def from_wire_accounting_document(doc: RivertyAccountingDocument, claim_number: str) -> Payment | None:
    """A payment (reported or collected) or a payment's cancellation → canonical Payment.

    Credit waivers are not payments (they reduce the debt, nobody paid): None. A cancellation
    is listed as kind `reversal` under the number of the payment it cancels."""
    kind: PaymentKind
    match doc.document_type:
        case "PAYMENT":
            kind, payment_id = "payment", doc.document_number
        case "CANCELLATION":
            kind, payment_id = "reversal", doc.cancels or doc.document_number
        case _:
            return None
    by_client = doc.source == "CLIENT"
    return Payment(
        id=payment_view_id(claim_number, doc.document_number),
        payment_id=payment_id if by_client else None,
        source="creditor" if by_client else "agency",
        kind=kind,
        amount=amount_from_wire(doc.amount, doc.currency),
        paid_on=doc.date,
        allocations=[
            Allocation(
                invoice_number=allocation.invoice_number,
                amount=amount_from_wire(allocation.amount, doc.currency),
            )
            for allocation in doc.allocations
        ],
    )


def rejection_detail(reasons: Sequence[RivertyReason | str]) -> str:
    """Riverty's REJECTION reasons as one readable line for the problem's `detail`."""
    parts = []
    for reason in reasons:
        if isinstance(reason, str):
            parts.append(reason)
        elif reason.code and reason.message:
            parts.append(f"{reason.code}: {reason.message}")
        else:
            parts.append(reason.message or reason.code or "")
    text = "; ".join(part for part in parts if part)
    return f"Riverty rejected the request: {text}" if text else "Riverty rejected the request"


# --- follow-up writes ------------------------------------------------------------------------


def to_wire_payment(report: PaymentReport) -> RivertyPayment:
    """`paymentNumber` is the creditor's own `payment_id`: Riverty rejects a repeat as duplicate,
    which makes it the natural idempotency key. No allocations = Riverty allocates itself."""
    return RivertyPayment(
        payment_number=report.payment_id,
        payment_date=report.paid_on,
        amount=amount_to_wire(report.amount),
        currency=report.amount.currency,
        allocate_to=_allocations(report.allocations or ()),
    )


def _allocations(allocations: Iterable[Allocation]) -> list[RivertyAllocation]:
    return [
        RivertyAllocation(invoice_number=a.invoice_number, amount=amount_to_wire(a.amount))
        for a in allocations
    ]


def to_wire_credit_waiver(note: CreditNoteCreate) -> RivertyCreditWaiver:
    return RivertyCreditWaiver(
        credit_waiver_number=note.number,
        invoice_number=note.invoice_number,
        date=note.issued_on,
        amount=amount_to_wire(note.amount),
        currency=note.amount.currency,
        reason=note.reason,
    )


def to_wire_recall(withdrawal: Withdrawal) -> RivertyRecall:
    """A withdrawal is a recall: of the whole claim (no invoice numbers) or of named invoices."""
    match withdrawal.reason:
        case "by_client":
            reason = "CLIENT_REQUEST"
        case "goods_returned":
            reason = "GOODS_RETURNED"
        case unknown:
            assert_never(unknown)
    numbers = list(withdrawal.invoice_numbers) if withdrawal.invoice_numbers else None
    return RivertyRecall(reason=reason, invoice_numbers=numbers)


def to_wire_cancellation(payment_id: str, reversal: PaymentReversal) -> RivertyCancellation:
    """A payment reversal is the cancellation of the accounting document the payment created;
    that document carries the payment's `paymentNumber`."""
    return RivertyCancellation(document_number=payment_id, document_type="PAYMENT", reason=reversal.reason)
