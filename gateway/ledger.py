"""The claim ledger's rules: pure functions from (claim, ledger, what happened) to the new state
and its events. No I/O: the worker and the feed loop read, call these, and commit the result in
one atomic store step (`Store.commit_ledger`), retrying on a version conflict.

Three writers, each idempotent by the id of what it applies (remembered in `ClaimLedger.applied`):
- the gateway's own operations when they succeed (`apply_operation`, by operation id);
- the agencies' change feeds (`apply_record`, by the agency's own record id);
- `?refresh=true` reads of the agency (`apply_snapshot`: absolute figures, no id to remember).

Events, one per change, in the order of the changes: `claim.status_changed {from, to}`,
`payment.received` / `payment.reversed` (the payment entry; for what the agency reports),
`invoice.updated {invoice_number, remaining}`. What the gateway itself delivered is announced by
its `operation.succeeded` event plus the `invoice.updated` / `claim.status_changed` it causes.

Status rules: `rejected` and `withdrawn` are the gateway's own knowledge and stay (an agency that
closes a withdrawn claim with whatever code it uses for that still reads `withdrawn`); an agency
never moves a confirmed claim back to `pending`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from adapters.base import (
    AgencyClaim,
    ChangeRecord,
    InvoiceChanged,
    PaymentCollected,
    StatusChanged,
    Unreadable,
)
from canonical import (
    Allocation,
    ClaimStatus,
    CreditNoteCreate,
    Event,
    Invoice,
    Money,
    Payment,
    PaymentKind,
    PaymentReport,
    PaymentSource,
    Withdrawal,
)
from gateway.stores.records import (
    LEDGER_APPLIED_MAX,
    LEDGER_PAYMENTS_MAX,
    ClaimLedger,
    ClaimRecord,
    LedgerCreditNote,
    LedgerInvoice,
    OperationRecord,
    new_id,
)

__all__ = [
    "Change",
    "LedgerError",
    "apply_operation",
    "apply_record",
    "apply_snapshot",
    "invoice_views",
    "new_ledger",
    "payment_entry_id",
]

_FINAL_STATUSES: frozenset[ClaimStatus] = frozenset({"rejected", "withdrawn"})


class LedgerError(ValueError):
    """A record the ledger cannot apply (wrong currency, too many payments): quarantined."""


class Change(msgspec.Struct, kw_only=True):
    """The outcome of applying one thing: the new claim record (None = unchanged), the new ledger,
    and the events. `changed` is False when nothing at all moved (a repeat)."""

    claim: ClaimRecord | None
    ledger: ClaimLedger
    events: list[Event]
    changed: bool


def new_ledger(claim: ClaimRecord) -> ClaimLedger:
    """The ledger of a claim as submitted: everything still owed."""
    return ClaimLedger(
        claim_id=claim.id,
        tenant=claim.tenant,
        invoices=[
            LedgerInvoice(
                number=i.number,
                remaining=i.amount.amount,
                costs_remaining=i.costs.amount if i.costs is not None else 0,
            )
            for i in claim.invoices
        ],
    )


def payment_entry_id(claim_id: str, source_id: str) -> str:
    """A payment entry's `pay_…` id: the same for the same applied operation / agency record."""
    digest = hashlib.sha256(f"{claim_id}\0{source_id}".encode()).hexdigest()
    return f"pay_{digest[:26]}"


class _Builder:
    def __init__(self, claim: ClaimRecord, ledger: ClaimLedger, now: dt.datetime) -> None:
        self.original = claim
        self.claim = claim
        self.ledger = msgspec.structs.replace(
            ledger,
            invoices=[msgspec.structs.replace(i) for i in ledger.invoices],
            payments=list(ledger.payments),
            credit_notes=list(ledger.credit_notes),
            withdrawn_invoices=list(ledger.withdrawn_invoices),
            refused_invoices=list(ledger.refused_invoices),
            applied=list(ledger.applied),
        )
        self.now = now
        self.events: list[Event] = []
        self.changed = False

    def event(self, type_: Any, data: dict[str, Any]) -> None:
        self.events.append(
            Event(id=new_id("evt"), type=type_, created_at=self.now, claim_id=self.claim.id, data=data)
        )

    def status(self, status: ClaimStatus, *, own: bool = False, reference: str | None = None) -> None:
        current = self.claim.status
        if reference is not None and reference != self.claim.agency_reference:
            self.claim = msgspec.structs.replace(self.claim, agency_reference=reference, updated_at=self.now)
            self.changed = True
        if status == current:
            return
        if not own and (current in _FINAL_STATUSES or (status == "pending" and current != "pending")):
            return
        self.claim = msgspec.structs.replace(self.claim, status=status, updated_at=self.now)
        self.changed = True
        self.event("claim.status_changed", {"from": current, "to": status})

    def invoice(self, number: str) -> LedgerInvoice | None:
        for invoice in self.ledger.invoices:
            if invoice.number == number:
                return invoice
        return None

    def remaining(self, number: str, remaining: int, costs_remaining: int | None = None) -> None:
        invoice = self.invoice(number)
        if invoice is None:
            return
        remaining = max(0, remaining)
        moved = invoice.remaining != remaining
        if costs_remaining is not None and invoice.costs_remaining != max(0, costs_remaining):
            invoice.costs_remaining = max(0, costs_remaining)
            self.changed = True
        if not moved:
            return
        invoice.remaining = remaining
        self.changed = True
        self.event(
            "invoice.updated",
            {
                "invoice_number": number,
                "remaining": {"amount": remaining, "currency": self.claim.currency},
            },
        )

    def by_due_date(self) -> list[str]:
        due = {i.number: (i.due_on, index) for index, i in enumerate(self.claim.invoices)}
        return sorted((i.number for i in self.ledger.invoices), key=lambda n: due.get(n, (dt.date.max, 0)))

    def allocate(self, amount: int) -> list[Allocation]:
        """A payment without allocations: oldest due date first, never more than is owed."""
        allocations: list[Allocation] = []
        left = amount
        for number in self.by_due_date():
            invoice = self.invoice(number)
            assert invoice is not None
            share = min(left, invoice.remaining)
            if share > 0:
                allocations.append(
                    Allocation(
                        invoice_number=number, amount=Money(amount=share, currency=self.claim.currency)
                    )
                )
                left -= share
            if left == 0:
                break
        return allocations

    def pay(self, allocations: Sequence[Allocation], sign: int) -> None:
        for allocation in allocations:
            invoice = self.invoice(allocation.invoice_number)
            if invoice is not None:
                self.remaining(invoice.number, invoice.remaining - sign * allocation.amount.amount)

    def add_payment(self, payment: Payment) -> None:
        if len(self.ledger.payments) >= LEDGER_PAYMENTS_MAX:
            raise LedgerError(f"claim {self.claim.id} holds {LEDGER_PAYMENTS_MAX} payment entries already")
        self.ledger.payments.append(payment)
        self.changed = True

    def remember(self, applied_id: str) -> None:
        self.ledger.applied.append(applied_id)
        del self.ledger.applied[:-LEDGER_APPLIED_MAX]

    def done(self, *, synced: bool) -> Change:
        if synced:
            self.ledger.synced_at = self.now
        if self.changed:
            self.ledger.updated_at = self.now
        self.ledger.version += 1
        claim = self.claim if self.claim is not self.original else None
        return Change(claim=claim, ledger=self.ledger, events=self.events, changed=self.changed)


def _money(value: Money, currency: str, what: str) -> int:
    if value.currency != currency:
        raise LedgerError(f"{what} is in {value.currency}, the claim in {currency}")
    return value.amount


def apply_operation(
    claim: ClaimRecord, ledger: ClaimLedger, operation: OperationRecord, now: dt.datetime
) -> Change:
    """What one of the gateway's own operations changes once the agency confirmed it (succeeded)."""
    b = _Builder(claim, ledger, now)
    if operation.id in ledger.applied:
        return msgspec.structs.replace(b.done(synced=False), changed=False, events=[])
    b.remember(operation.id)
    payload = operation.payload
    match operation.kind:
        case "claim.create":
            b.status("active", own=True, reference=operation.agency_reference)
            refused_numbers = [refused.invoice_number for refused in operation.refused_invoices]
            if (operation.invoice_references, refused_numbers) != (
                claim.invoice_references,
                claim.refused_invoices,
            ) and (operation.invoice_references or refused_numbers):
                b.claim = msgspec.structs.replace(
                    b.claim,
                    invoice_references=dict(operation.invoice_references),
                    refused_invoices=refused_numbers,
                    updated_at=now,
                )
                b.changed = True
            for refused in operation.refused_invoices:  # not at the agency: nothing owed through it
                if refused.invoice_number not in b.ledger.refused_invoices:
                    b.ledger.refused_invoices.append(refused.invoice_number)
                    b.changed = True
                b.remaining(refused.invoice_number, 0, 0)
        case "payment.report":
            report = msgspec.convert(payload, PaymentReport, strict=False)
            allocations = list(report.allocations or ()) or b.allocate(report.amount.amount)
            b.add_payment(
                Payment(
                    id=payment_entry_id(claim.id, operation.id),
                    payment_id=report.payment_id,
                    source="creditor",
                    kind="payment",
                    amount=report.amount,
                    paid_on=report.paid_on,
                    allocations=allocations,
                )
            )
            b.pay(allocations, +1)
        case "payment.reverse":
            original = _creditor_payment(b.ledger.payments, operation.target)
            if original is not None:
                b.add_payment(
                    Payment(
                        id=payment_entry_id(claim.id, operation.id),
                        payment_id=original.payment_id,
                        source="creditor",
                        kind="reversal",
                        amount=original.amount,
                        paid_on=now.date(),
                        allocations=list(original.allocations),
                    )
                )
                b.pay(original.allocations, -1)
        case "credit_note.create":
            note = msgspec.convert(payload, CreditNoteCreate, strict=False)
            b.ledger.credit_notes.append(
                LedgerCreditNote(
                    number=note.number,
                    invoice_number=note.invoice_number,
                    amount=note.amount,
                    issued_on=note.issued_on,
                )
            )
            b.changed = True
            invoice = b.invoice(note.invoice_number)
            if invoice is not None:
                b.remaining(invoice.number, invoice.remaining - note.amount.amount)
        case "claim.withdraw":
            withdrawal = msgspec.convert(payload, Withdrawal, strict=False)
            if withdrawal.invoice_numbers:
                for number in withdrawal.invoice_numbers:
                    if number not in b.ledger.withdrawn_invoices:
                        b.ledger.withdrawn_invoices.append(number)
                        b.changed = True
                    b.remaining(number, 0, 0)
            else:
                b.status("withdrawn", own=True)
    return b.done(synced=True)


def _creditor_payment(payments: Sequence[Payment], payment_id: str | None) -> Payment | None:
    for payment in payments:
        if payment.source == "creditor" and payment.kind == "payment" and payment.payment_id == payment_id:
            return payment
    return None


def _has_entry(
    payments: Sequence[Payment], source: PaymentSource, kind: PaymentKind, payment_id: str
) -> bool:
    return any(p.source == source and p.kind == kind and p.payment_id == payment_id for p in payments)


def apply_record(claim: ClaimRecord, ledger: ClaimLedger, record: ChangeRecord, now: dt.datetime) -> Change:
    """One agency feed record. Raises LedgerError for a record that cannot apply (quarantine it)."""
    b = _Builder(claim, ledger, now)
    if isinstance(record, Unreadable):
        raise LedgerError(record.reason)
    applied_id = f"r:{record.record_id}"
    # A payment is also recognised by its entry for as long as the ledger lists it (the applied
    # ids are bounded; a sweep that re-reads every voucher must never book one twice).
    entry_id = payment_entry_id(claim.id, applied_id)
    if applied_id in ledger.applied or (
        isinstance(record, PaymentCollected) and any(p.id == entry_id for p in ledger.payments)
    ):
        return msgspec.structs.replace(b.done(synced=True), changed=False, events=[])
    b.remember(applied_id)
    currency = claim.currency
    match record:
        case StatusChanged(status=status):
            b.status(status)
        case InvoiceChanged(invoice_number=number, remaining=remaining, costs_remaining=costs):
            amount = _money(remaining, currency, "remaining")
            cost = None if costs is None else _money(costs, currency, "costs_remaining")
            b.remaining(number, amount, cost)
        case PaymentCollected():
            _money(record.amount, currency, "amount")
            for allocation in record.allocations:
                _money(allocation.amount, currency, "allocation")
            if (
                record.source == "creditor"
                and record.payment_id is not None
                and _has_entry(b.ledger.payments, "creditor", record.kind, record.payment_id)
            ):
                pass  # the agency's copy of a payment the gateway reported: already listed
            elif record.kind == "payment":
                allocations = list(record.allocations) or b.allocate(record.amount.amount)
                entry = Payment(
                    id=payment_entry_id(claim.id, applied_id),
                    payment_id=record.payment_id,
                    source=record.source,
                    kind="payment",
                    amount=record.amount,
                    paid_on=record.paid_on,
                    allocations=allocations,
                )
                b.add_payment(entry)
                b.event("payment.received", msgspec.to_builtins(entry))
                if not record.remaining_reported:  # else the agency's InvoiceChanged says it
                    b.pay(allocations, +1)
            else:
                allocations = list(record.allocations)
                if not allocations:
                    original = next(
                        (
                            p
                            for p in b.ledger.payments
                            if p.payment_id == record.payment_id and p.kind == "payment"
                        ),
                        None,
                    )
                    allocations = (
                        list(original.allocations) if original is not None and record.payment_id else []
                    )
                entry = Payment(
                    id=payment_entry_id(claim.id, applied_id),
                    payment_id=record.payment_id,
                    source=record.source,
                    kind="reversal",
                    amount=record.amount,
                    paid_on=record.paid_on,
                    allocations=allocations,
                )
                b.add_payment(entry)
                b.event("payment.reversed", msgspec.to_builtins(entry))
                if not record.remaining_reported:
                    b.pay(allocations, -1)
    return b.done(synced=True)


def apply_snapshot(claim: ClaimRecord, ledger: ClaimLedger, answer: AgencyClaim, now: dt.datetime) -> Change:
    """What a `?refresh=true` read of the agency says now: status and remaining amounts."""
    b = _Builder(claim, ledger, now)
    b.status(answer.status)
    for invoice in answer.invoices:
        if invoice.remaining.currency == claim.currency:
            b.remaining(invoice.number, invoice.remaining.amount)
    return b.done(synced=True)


def invoice_views(claim: ClaimRecord, ledger: ClaimLedger | None) -> list[Invoice]:
    """The claim's invoices as submitted, with what the ledger says is still owed."""
    owed = {i.number: i.remaining for i in ledger.invoices} if ledger is not None else {}
    return [
        Invoice(
            number=i.number,
            issued_on=i.issued_on,
            due_on=i.due_on,
            amount=i.amount,
            costs=i.costs,
            remaining=Money(amount=owed.get(i.number, i.amount.amount), currency=i.amount.currency),
            interest_rate=i.interest_rate,
            references=i.references,
            attachments=i.attachments,
        )
        for i in claim.invoices
    ]
