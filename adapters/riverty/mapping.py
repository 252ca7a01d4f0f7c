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
    RivertyTransaction,
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
    InvoiceChanged,
    InvoiceCreate,
    Money,
    MoneyError,
    PaymentCollected,
    PaymentKind,
    PaymentReport,
    PaymentReversal,
    StatusChanged,
    Withdrawal,
    from_major,
    to_major,
)

__all__ = [
    "MAX_AMOUNT_CHARS",
    "RivertyAmountTooLong",
    "RivertyFeedError",
    "amount_from_wire",
    "amount_to_wire",
    "claim_status",
    "feed_status",
    "from_wire_claim",
    "from_wire_invoice",
    "invoice_changes",
    "payment_view_id",
    "rejection_detail",
    "to_wire_cancellation",
    "to_wire_claim",
    "to_wire_credit_waiver",
    "to_wire_payment",
    "to_wire_recall",
    "transaction_changes",
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
    """Riverty's claim state (`/claims/search`, the STATUS/CLOSING transactions) → canonical
    claim status. The one table:

    | Riverty       | canonical   | why                                                        |
    |---------------|-------------|------------------------------------------------------------|
    | IN_CREATION   | pending     | accepted (202), not yet confirmed                          |
    | PROCESSING    | active      | Riverty is collecting                                      |
    | PAUSED        | paused      |                                                            |
    | CLOSED        | closed      | whatever the reason: the closing reasons are not documented |
    | REJECTED      | rejected    | the creation was refused (see the REJECTION transaction)   |
    | anything else | pending     | a state we do not know is never taken for success          |

    A claim the creditor withdrew in full reads `withdrawn` from the gateway's own knowledge (its
    `claim.withdraw` operation confirmed by Riverty), not from a closing reason no document
    defines; `closing_reason` is accepted and ignored.
    """
    match status:
        case "IN_CREATION":
            return "pending"
        case "PROCESSING":
            return "active"
        case "PAUSED":
            return "paused"
        case "CLOSED":
            return "closed"
        case "REJECTED":
            return "rejected"
        case _:
            return "pending"


def feed_status(status: str | None) -> ClaimStatus | None:
    """A STATUS/CLOSING transaction's `status` → the claim's status; None = a state this table
    does not know: the claim's status is left as it is (never progress, never back to pending)."""
    match status:
        case "IN_CREATION" | "PROCESSING" | "PAUSED" | "CLOSED" | "REJECTED":
            return claim_status(status)
        case _:
            return None


class RivertyFeedError(ValueError):
    """A /transactions entry that cannot be read (the adapter sets it aside as `Unreadable`)."""


def transaction_changes(
    tx: RivertyTransaction, *, reported_by_creditor: bool
) -> list[StatusChanged | PaymentCollected]:
    """One `/transactions` entry → what changed on its claim (record id = Riverty's
    `transactionId`, the same on every read):

    - STATUS / CLOSING: the claim's status (a CLOSING without a status is CLOSED);
    - ACCOUNTING_DOCUMENT of type PAYMENT: a payment; CANCELLATION: the reversal of the payment it
      names (the gateway only ever cancels payments; a credit waiver is the gateway's own credit
      note and no payment). `reported_by_creditor` says the document number is one of the
      creditor's paymentNumbers (the gateway's own knowledge: Riverty sends no source), so the
      ledger knows it lists it already. The invoices' remaining amounts are read separately
      (`GET /claims/{n}/invoices`), so payments do not move them.
    - CONFIRMATION / REJECTION (outcomes of the gateway's own writes) and other types: nothing.

    Raises `RivertyFeedError` (or `MoneyError`) for an entry that cannot be read.
    """
    if not tx.claim_number:
        if tx.type in ("STATUS", "CLOSING", "ACCOUNTING_DOCUMENT"):
            raise RivertyFeedError(f"{tx.type} transaction {tx.transaction_id} names no claim")
        return []
    record_id = f"tx:{tx.transaction_id}"
    match tx.type:
        case "STATUS" | "CLOSING":
            status = feed_status(tx.status or ("CLOSED" if tx.type == "CLOSING" else None))
            if status is None:
                return []
            return [
                StatusChanged(
                    record_id=record_id,
                    agency_reference=tx.claim_number,
                    status=status,
                    reason=tx.status,
                    occurred_at=tx.created_at,
                )
            ]
        case "ACCOUNTING_DOCUMENT":
            kind: PaymentKind
            match tx.document_type:
                case "PAYMENT":
                    kind = "payment"
                case "CANCELLATION":
                    kind = "reversal"
                case _:
                    return []
            if not tx.document_number or tx.amount is None or not tx.currency or tx.date is None:
                raise RivertyFeedError(f"accounting document {tx.transaction_id} lacks its number or amount")
            amount = amount_from_wire(tx.amount, tx.currency)
            if amount.amount <= 0:
                raise RivertyFeedError(f"accounting document {tx.transaction_id} has no amount")
            return [
                PaymentCollected(
                    record_id=record_id,
                    agency_reference=tx.claim_number,
                    amount=amount,
                    paid_on=tx.date,
                    kind=kind,
                    source="creditor" if reported_by_creditor else "agency",
                    payment_id=tx.document_number if reported_by_creditor else None,
                    allocations=[
                        Allocation(
                            invoice_number=a.invoice_number, amount=amount_from_wire(a.amount, tx.currency)
                        )
                        for a in tx.allocate_to
                    ],
                    occurred_at=tx.created_at,
                    remaining_reported=True,
                )
            ]
        case _:
            return []


def invoice_changes(
    claim_number: str, after: str, invoices: Sequence[RivertyInvoice]
) -> list[InvoiceChanged]:
    """`GET /claims/{n}/invoices` read after the transaction `after` → each invoice's remaining
    amount now. The record id is the amount itself (and the transaction that prompted the read),
    so the same amount read again is applied once."""
    changes = []
    for item in invoices:
        remaining = amount_from_wire(item.remaining_amount, item.currency)
        costs = item.costs
        changes.append(
            InvoiceChanged(
                record_id=f"invoice:{claim_number}:{item.invoice_number}:{after}:{remaining.amount}",
                agency_reference=claim_number,
                invoice_number=item.invoice_number,
                remaining=remaining,
                costs_remaining=(
                    amount_from_wire(costs.amount, costs.currency or item.currency)
                    if costs is not None
                    else None
                ),
            )
        )
    return changes


def payment_view_id(claim_number: str, document_number: str) -> str:
    """A stable `pay_…` id for a Riverty accounting document (the same on every read)."""
    digest = hashlib.sha256(f"riverty\0{claim_number}\0{document_number}".encode()).hexdigest()
    return f"pay_{digest[:24]}"


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
