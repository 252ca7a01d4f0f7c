"""Follow-up writes on a claim (payment reports, reversals, credit notes, withdrawals) and payments.

Validation that needs the claim (currency, known invoice numbers) takes the claim's currency and
invoice numbers as arguments, so it stays pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Annotated, Literal

import msgspec

from canonical._base import Body, FieldError, Value, View
from canonical.claims import InvoiceNumber, Reference, money_errors
from canonical.money import Money

__all__ = [
    "Allocation",
    "CreditNoteCreate",
    "Payment",
    "PaymentKind",
    "PaymentReport",
    "PaymentReversal",
    "PaymentSource",
    "Withdrawal",
    "WithdrawalReason",
    "validate_credit_note",
    "validate_payment_report",
    "validate_withdrawal",
]

PaymentSource = Literal["creditor", "agency"]
PaymentKind = Literal["payment", "reversal"]
WithdrawalReason = Literal["by_client", "goods_returned"]
Note = Annotated[str, msgspec.Meta(max_length=500)]


class Allocation(Value, frozen=True, kw_only=True):
    invoice_number: InvoiceNumber
    amount: Money


class PaymentReport(Body, kw_only=True):
    """A payment the creditor received directly from the debtor."""

    payment_id: Reference
    amount: Money
    paid_on: dt.date
    allocations: list[Allocation] | None = None


class PaymentReversal(Body, kw_only=True):
    reason: Note | None = None


class CreditNoteCreate(Body, kw_only=True):
    number: InvoiceNumber
    invoice_number: InvoiceNumber
    amount: Money
    issued_on: dt.date
    reason: Note | None = None


class Withdrawal(Body, kw_only=True):
    reason: WithdrawalReason
    invoice_numbers: Annotated[list[InvoiceNumber], msgspec.Meta(min_length=1)] | None = None


class Payment(View, kw_only=True):
    id: str
    payment_id: str | None = None
    source: PaymentSource
    kind: PaymentKind = "payment"
    amount: Money
    paid_on: dt.date
    allocations: list[Allocation] = []


def validate_payment_report(
    report: PaymentReport, currency: str, invoice_numbers: Collection[str]
) -> list[FieldError]:
    errors = money_errors("/amount", report.amount, currency, positive=True)
    if report.allocations is not None:
        total = 0
        for index, allocation in enumerate(report.allocations):
            at = f"/allocations/{index}"
            errors += money_errors(f"{at}/amount", allocation.amount, currency, positive=True)
            errors += _invoice_known(f"{at}/invoice_number", allocation.invoice_number, invoice_numbers)
            total += allocation.amount.amount
        if not errors and total != report.amount.amount:
            errors.append(FieldError(pointer="/allocations", detail="allocations must add up to the amount"))
    return errors


def validate_credit_note(
    note: CreditNoteCreate, currency: str, invoice_numbers: Collection[str]
) -> list[FieldError]:
    return money_errors("/amount", note.amount, currency, positive=True) + _invoice_known(
        "/invoice_number", note.invoice_number, invoice_numbers
    )


def validate_withdrawal(withdrawal: Withdrawal, invoice_numbers: Collection[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, number in enumerate(withdrawal.invoice_numbers or ()):
        errors += _invoice_known(f"/invoice_numbers/{index}", number, invoice_numbers)
    return errors


def _invoice_known(pointer: str, number: str, invoice_numbers: Collection[str]) -> list[FieldError]:
    if number in invoice_numbers:
        return []
    return [FieldError(pointer=pointer, detail=f"the claim has no invoice {number!r}")]
