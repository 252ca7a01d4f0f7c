"""Canonical ⇄ Skuld, pure: no I/O, clock, settings or logging (docs/skuld-api.md).

Units: Skuld's amounts are decimal strings in major units ("1250.00"); canonical amounts are
integer minor units. `to_wire_amount` writes the exact decimal (`to_major`), `from_wire_amount`
reads it back exactly (`from_major`): an amount with a fraction of a minor unit ("1.005" EUR)
raises MoneyError — it is refused, never rounded.

Signs: canonical amounts are positive and the kind says the direction. Skuld's transactions
are signed from the debtor's side ("what raises the debt is positive, what lowers it is
negative"): a PAYMENT or DIRECT_PAYMENT is negative, a PAYMENT_REVERSAL positive. A direct
payment is *posted* with a positive amount (what was paid) and *listed* negative. A transaction
whose sign contradicts its type is Skuld's data error (`SkuldDataError`), never guessed at.

States: an unknown state reads as "pending", never as success.
"""

from __future__ import annotations

import re
from typing import assert_never

from adapters.sdk import (
    AgencyClaim,
    AgencyRejected,
    Allocation,
    ClaimCreate,
    ClaimStatus,
    Debtor,
    Failed,
    Invoice,
    Money,
    MoneyError,
    Payment,
    PaymentKind,
    PaymentReport,
    Succeeded,
    Withdrawal,
    from_major,
    to_major,
)

from skuld.wire import (
    SkuldAddress,
    SkuldCase,
    SkuldCaseCreate,
    SkuldDebtor,
    SkuldDirectPayment,
    SkuldInvoice,
    SkuldInvoiceCreate,
    SkuldTransaction,
    SkuldWithdrawal,
)

__all__ = [
    "SkuldDataError",
    "client_case_id",
    "from_wire_amount",
    "from_wire_case",
    "from_wire_invoice",
    "from_wire_state",
    "from_wire_transaction",
    "registration_outcome",
    "to_wire_amount",
    "to_wire_case",
    "to_wire_direct_payment",
    "to_wire_withdrawal",
]

_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


class SkuldDataError(ValueError):
    """Skuld sent something its own document rules out (a sign against its type, ...)."""


# --- amounts -----------------------------------------------------------------------------------


def to_wire_amount(money: Money) -> str:
    """Minor units → Skuld's decimal string in major units: 12345 EUR → "123.45"."""
    return f"{to_major(money.amount, money.currency):f}"  # `f`: never "1E+3"


def from_wire_amount(value: str, currency: str) -> int:
    """Skuld's decimal string → signed minor units, exactly; MoneyError for anything else.

    Only what the document allows is read: digits, an optional sign and dot ("12,50", "1e3",
    " 12" and "" are not amounts, although Decimal would take some of them)."""
    if not _DECIMAL.match(value):
        raise MoneyError(f"{value!r} is not a Skuld amount")
    return from_major(value, currency)


def _unsigned(value: str, currency: str, what: str) -> Money:
    minor = from_wire_amount(value, currency)
    if minor < 0:
        raise SkuldDataError(f"{what} {value} {currency} is negative")
    return Money(amount=minor, currency=currency)


# --- to Skuld ----------------------------------------------------------------------------------


def client_case_id(idempotency_token: str) -> str:
    """Skuld's idempotency key for a registration: the same on every attempt of the operation."""
    return f"cg-{idempotency_token}"


def _debtor(debtor: Debtor) -> SkuldDebtor:
    if debtor.kind == "company":
        name = debtor.company_name or ""
    else:
        name = " ".join(part for part in (debtor.first_name, debtor.last_name) if part)
    address = debtor.address
    street = f"{address.street} {address.house_number}" if address.house_number else address.street
    return SkuldDebtor(
        customer_no=debtor.reference,
        name=name,
        is_company=debtor.kind == "company",
        email=debtor.email,
        phone=debtor.phone,
        language=debtor.language,
        address=SkuldAddress(
            street=street,
            postal_code=address.postal_code,
            city=address.city,
            country=address.country,
        ),
    )


def to_wire_case(claim: ClaimCreate, idempotency_token: str) -> SkuldCaseCreate:
    """Skuld has no claim types, interest rates, invoice references or attachments: they are
    not sent (the adapter's docstring says so)."""
    return SkuldCaseCreate(
        client_case_id=client_case_id(idempotency_token),
        client_reference=claim.client_reference,
        currency=claim.currency,
        debtor=_debtor(claim.debtor),
        invoices=[
            SkuldInvoiceCreate(
                number=invoice.number,
                issued_on=invoice.issued_on,
                due_on=invoice.due_on,
                principal=to_wire_amount(invoice.amount),
                fees=to_wire_amount(invoice.costs) if invoice.costs else "0",
            )
            for invoice in claim.invoices
        ],
    )


def to_wire_direct_payment(report: PaymentReport) -> SkuldDirectPayment:
    """A direct payment, posted positive. Skuld takes at most one invoice per payment, for the
    whole amount: any other allocation raises MoneyError (the adapter fails the operation)."""
    allocations = report.allocations or []
    if len(allocations) > 1 or any(a.amount != report.amount for a in allocations):
        raise MoneyError("Skuld allocates a direct payment to one invoice, for its whole amount")
    return SkuldDirectPayment(
        client_transaction_id=report.payment_id,
        amount=to_wire_amount(report.amount),
        payment_date=report.paid_on,
        invoice_no=allocations[0].invoice_number if allocations else None,
    )


def to_wire_withdrawal(withdrawal: Withdrawal) -> SkuldWithdrawal:
    match withdrawal.reason:
        case "by_client":
            return SkuldWithdrawal(reason="CREDITOR_REQUEST")
        case "goods_returned":
            return SkuldWithdrawal(reason="GOODS_RETURNED")
        case _:
            assert_never(withdrawal.reason)


# --- from Skuld --------------------------------------------------------------------------------


def from_wire_state(state: str) -> ClaimStatus:
    match state:
        case "RECEIVED":
            return "pending"
        case "REGISTERED" | "IN_COLLECTION":
            return "active"
        case "PAUSED":
            return "paused"
        case "SETTLED" | "WRITTEN_OFF":
            return "closed"
        case "REFUSED":
            return "rejected"
        case "WITHDRAWN":
            return "withdrawn"
        case _:  # a state Skuld added later: still pending, never success
            return "pending"


def registration_outcome(case: SkuldCase) -> Succeeded | Failed | None:
    """The outcome of an asynchronous registration, or None while Skuld is still deciding."""
    match from_wire_state(case.state):
        case "rejected":
            reason = case.refusal_reason or "refused by Skuld"
            return Failed(problem=AgencyRejected(reason, agency="skuld").problem())
        case "pending":
            return None
        case "active" | "paused" | "closed" | "withdrawn":
            return Succeeded(agency_reference=case.case_id)
        case other:
            assert_never(other)


def from_wire_invoice(invoice: SkuldInvoice, currency: str) -> Invoice:
    fees = _unsigned(invoice.fees, currency, "fees")
    return Invoice(
        number=invoice.number,
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        amount=_unsigned(invoice.principal, currency, "principal"),
        costs=fees if fees.amount else None,
        remaining=_unsigned(invoice.outstanding, currency, "outstanding"),
    )


def from_wire_transaction(transaction: SkuldTransaction, currency: str) -> Payment | None:
    """A payment or reversal on the case; None for Skuld's charges (FEE, INTEREST, unknown)."""
    signed = from_wire_amount(transaction.amount, currency)
    kind: PaymentKind
    match transaction.type:
        case "PAYMENT" | "DIRECT_PAYMENT":
            kind = "payment"
        case "PAYMENT_REVERSAL":
            kind = "reversal"
        case _:
            return None
    if signed == 0 or (signed < 0) != (kind == "payment"):
        raise SkuldDataError(f"a {transaction.type} of {transaction.amount} {currency} has the wrong sign")
    amount = Money(amount=abs(signed), currency=currency)
    return Payment(
        id=transaction.transaction_id,
        payment_id=transaction.client_transaction_id,
        source="creditor" if transaction.type == "DIRECT_PAYMENT" else "agency",
        kind=kind,
        amount=amount,
        paid_on=transaction.booking_date,
        allocations=[Allocation(invoice_number=transaction.invoice_no, amount=amount)]
        if transaction.invoice_no
        else [],
    )


def from_wire_case(case: SkuldCase, invoices: list[SkuldInvoice]) -> AgencyClaim:
    return AgencyClaim(
        status=from_wire_state(case.state),
        invoices=[from_wire_invoice(invoice, case.currency) for invoice in invoices],
        balance_amount=_unsigned(case.balance, case.currency, "balance").amount,
        agency_data={
            "caseId": case.case_id,
            "state": case.state,
            "clientReference": case.client_reference,
            "refusalReason": case.refusal_reason,
            "debtor": {"customerNo": case.debtor.customer_no, "name": case.debtor.name},
        },
    )
