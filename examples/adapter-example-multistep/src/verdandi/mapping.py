"""Canonical ⇄ Verdandi, pure: no I/O, clock, settings or logging (docs/verdandi-api.md).

Units: Verdandi's amounts are `{"value": "12.50"}` objects, a decimal string in major units;
canonical amounts are integer minor units. `to_wire_amount` writes the exact decimal
(`to_major`), `from_wire_amount` reads it back exactly (`from_major`): a fraction of a minor
unit ("1.005" EUR) raises MoneyError — refused, never rounded. Verdandi's amounts are never
negative: the payment type says the direction (`REVERSAL` raises what is owed).

One claim per invoice: a gateway claim is a Verdandi *release* (its id is the agency
reference) of one Verdandi claim per invoice (their ids are the per-invoice references). The
gateway claim's state is read from its claims' states (`claim_status`); its outcome from the
review (`review_outcome`): all accepted → Succeeded, some refused → PartiallyAccepted, all
refused → Failed.

External ids: Verdandi has no idempotency key, so every step of a create carries an external
id derived from the operation's idempotency token (`external_id`): a look-up by it finds what
an earlier attempt of this operation created, and nothing else.

States: an unknown state reads as "pending", never as success.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
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
    InvoiceCreate,
    Money,
    MoneyError,
    PartiallyAccepted,
    Payment,
    PaymentKind,
    RefusedInvoice,
    Succeeded,
    Withdrawal,
    from_major,
    to_major,
)

from verdandi.wire import (
    VerdandiAmount,
    VerdandiClaim,
    VerdandiClaimCreate,
    VerdandiDebtorCreate,
    VerdandiPayment,
    VerdandiPaymentCreate,
    VerdandiRelease,
    VerdandiReleaseCreate,
    VerdandiWithdrawal,
)

__all__ = [
    "VerdandiDataError",
    "claim_status",
    "external_id",
    "from_wire_amount",
    "from_wire_claims",
    "from_wire_invoice",
    "from_wire_payment",
    "from_wire_state",
    "review_outcome",
    "to_wire_amount",
    "to_wire_claim",
    "to_wire_debtor",
    "to_wire_payment",
    "to_wire_release",
    "to_wire_withdrawal",
]

_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
AGENCY = "verdandi"


class VerdandiDataError(ValueError):
    """Verdandi sent something its own document rules out (a claim of another currency, ...)."""


# --- amounts -----------------------------------------------------------------------------------


def to_wire_amount(money: Money) -> VerdandiAmount:
    """Minor units → `{"value": "123.45"}` in major units: 12345 EUR → "123.45"."""
    if money.amount < 0:
        raise MoneyError(f"Verdandi takes no negative amounts ({money.amount} {money.currency})")
    return VerdandiAmount(value=f"{to_major(money.amount, money.currency):f}")  # `f`: never "1E+3"


def from_wire_amount(amount: VerdandiAmount, currency: str) -> Money:
    """`{"value": "123.45"}` → minor units, exactly; MoneyError for anything else.

    Only what the document allows is read: digits and an optional dot ("12,50", "1e3", "-1",
    " 12" and "" are not amounts, although Decimal would take some of them)."""
    if not _DECIMAL.match(amount.value):
        raise MoneyError(f"{amount.value!r} is not a Verdandi amount")
    return Money(amount=from_major(amount.value, currency), currency=currency)


# --- to Verdandi -------------------------------------------------------------------------------


def external_id(idempotency_token: str, part: str = "") -> str:
    """The external id of one thing an operation creates ("" = the release itself, "debtor",
    an invoice number, a payment's invoice): the same on every attempt of the operation."""
    return f"cg-{idempotency_token}" + (f"/{part}" if part else "")


def to_wire_debtor(debtor: Debtor, idempotency_token: str) -> VerdandiDebtorCreate:
    if debtor.kind == "company":
        name = debtor.company_name or ""
    else:
        name = " ".join(part for part in (debtor.first_name, debtor.last_name) if part)
    address = debtor.address
    street = f"{address.street} {address.house_number}" if address.house_number else address.street
    return VerdandiDebtorCreate(
        external_id=external_id(idempotency_token, "debtor"),
        type="COMPANY" if debtor.kind == "company" else "PERSON",
        name=name,
        email=debtor.email,
        phone=debtor.phone,
        street=street,
        postal_code=address.postal_code,
        city=address.city,
        country=address.country,
        customer_number=debtor.reference,
    )


def to_wire_claim(
    claim: ClaimCreate, invoice: InvoiceCreate, debtor_id: str, idempotency_token: str
) -> VerdandiClaimCreate:
    """One Verdandi claim for one invoice. Not sent (no field for them): claim type, interest
    rates, invoice references, attachments."""
    return VerdandiClaimCreate(
        external_id=external_id(idempotency_token, f"invoice/{invoice.number}"),
        debtor_id=debtor_id,
        currency=claim.currency,
        invoice_number=invoice.number,
        invoice_date=invoice.issued_on,
        due_date=invoice.due_on,
        reference=claim.client_reference,
        principal=to_wire_amount(invoice.amount),
        costs=to_wire_amount(invoice.costs) if invoice.costs else None,
    )


def to_wire_release(claim_ids: Sequence[str], idempotency_token: str) -> VerdandiReleaseCreate:
    return VerdandiReleaseCreate(external_id=external_id(idempotency_token), claim_ids=list(claim_ids))


def to_wire_payment(
    payment_id: str, amount: Money, paid_on: dt.date, invoice_number: str
) -> VerdandiPaymentCreate:
    """One payment on one invoice's claim; its external id is the creditor's payment id and the
    invoice ("P-1/INV-1"): one payment allocated to several invoices is one Verdandi payment on
    each invoice's claim."""
    return VerdandiPaymentCreate(
        external_id=f"{payment_id}/{invoice_number}",
        amount=to_wire_amount(amount),
        paid_on=paid_on,
    )


def to_wire_withdrawal(withdrawal: Withdrawal) -> VerdandiWithdrawal:
    match withdrawal.reason:
        case "by_client":
            return VerdandiWithdrawal(reason="CLIENT_REQUEST")
        case "goods_returned":
            return VerdandiWithdrawal(reason="GOODS_RETURNED")
        case _:
            assert_never(withdrawal.reason)


# --- from Verdandi -----------------------------------------------------------------------------


def from_wire_state(state: str) -> ClaimStatus:
    """One Verdandi claim's state → canonical."""
    match state:
        case "DRAFT" | "IN_REVIEW":
            return "pending"
        case "OPEN":
            return "active"
        case "PAID":
            return "closed"
        case "REFUSED":
            return "rejected"
        case "WITHDRAWN":
            return "withdrawn"
        case _:  # a state Verdandi added later: still pending, never success
            return "pending"


def claim_status(claims: Sequence[VerdandiClaim]) -> ClaimStatus:
    """The gateway claim's status from its Verdandi claims': refused ones do not count (they
    are not part of the claim); any still pending → pending; any in collection → active; all
    withdrawn → withdrawn; all ended (paid or withdrawn) → closed; all refused → rejected."""
    statuses = [from_wire_state(claim.state) for claim in claims]
    held = [status for status in statuses if status != "rejected"]
    if not held:
        return "rejected"
    if "pending" in held:
        return "pending"
    if "active" in held:
        return "active"
    if all(status == "withdrawn" for status in held):
        return "withdrawn"
    return "closed"


def review_outcome(
    release: VerdandiRelease, claims: Sequence[VerdandiClaim]
) -> Succeeded | PartiallyAccepted | Failed | None:
    """The outcome of a release's review, or None while Verdandi is still deciding."""
    if release.state != "DECIDED" or any(from_wire_state(c.state) == "pending" for c in claims):
        return None
    refused = [c for c in claims if c.state == "REFUSED"]
    held = {c.invoice_number: c.id for c in claims if c.state != "REFUSED"}
    if not held:
        reasons = "; ".join(f"{c.invoice_number}: {c.refusal_reason or 'refused'}" for c in refused)
        return Failed(
            problem=AgencyRejected(f"Verdandi refused every invoice ({reasons})", agency=AGENCY).problem()
        )
    if not refused:
        return Succeeded(agency_reference=release.id, invoice_references=held)
    return PartiallyAccepted(
        agency_reference=release.id,
        refused=tuple(
            RefusedInvoice(
                invoice_number=c.invoice_number,
                problem=AgencyRejected(c.refusal_reason or "refused by Verdandi", agency=AGENCY).problem(),
            )
            for c in refused
        ),
        invoice_references=held,
    )


def from_wire_invoice(claim: VerdandiClaim, currency: str) -> Invoice:
    """One Verdandi claim as the invoice it holds. A refused claim owes nothing (remaining 0)."""
    if claim.currency != currency:
        raise VerdandiDataError(f"claim {claim.id} is in {claim.currency}, its release in {currency}")
    costs = from_wire_amount(claim.costs, currency) if claim.costs else None
    return Invoice(
        number=claim.invoice_number,
        issued_on=claim.invoice_date,
        due_on=claim.due_date,
        amount=from_wire_amount(claim.principal, currency),
        costs=costs if costs and costs.amount else None,
        remaining=from_wire_amount(claim.outstanding, currency),
    )


def _owed(claim: VerdandiClaim, currency: str) -> int:
    """What a claim still owes: outstanding principal, plus costs until it is paid; nothing for a
    refused or withdrawn claim."""
    if claim.state in ("REFUSED", "WITHDRAWN", "PAID"):
        return 0
    costs = from_wire_amount(claim.costs, currency).amount if claim.costs else 0
    return from_wire_amount(claim.outstanding, currency).amount + costs


def from_wire_claims(release: VerdandiRelease, claims: Sequence[VerdandiClaim], currency: str) -> AgencyClaim:
    return AgencyClaim(
        status=claim_status(claims),
        invoices=[from_wire_invoice(claim, currency) for claim in claims],
        balance_amount=sum(_owed(claim, currency) for claim in claims),
        agency_data={
            "releaseId": release.id,
            "releaseState": release.state,
            "claims": [
                {
                    "id": c.id,
                    "invoiceNumber": c.invoice_number,
                    "state": c.state,
                    "refusalReason": c.refusal_reason,
                    "debtorId": c.debtor_id,
                }
                for c in claims
            ],
            "debtor": {
                "id": release.debtor.id,
                "customerNumber": release.debtor.customer_number,
                "name": release.debtor.name,
            },
        },
    )


def from_wire_payment(payment: VerdandiPayment, currency: str) -> Payment | None:
    """A payment or reversal; None for a type the document does not name (left out)."""
    kind: PaymentKind
    match payment.type:
        case "DIRECT" | "COLLECTED":
            kind = "payment"
        case "REVERSAL":
            kind = "reversal"
        case _:
            return None
    amount = from_wire_amount(payment.amount, currency)
    if amount.amount == 0:
        raise VerdandiDataError(f"payment {payment.id} of 0")
    direct = payment.type == "DIRECT"
    return Payment(
        id=payment.id,
        # Our external id is "<payment id>/<invoice>": the creditor's payment id is its first part.
        payment_id=((payment.external_id or "").rpartition("/")[0] or None) if direct else None,
        source="creditor" if direct else "agency",
        kind=kind,
        amount=amount,
        paid_on=payment.booked_on,
        allocations=[Allocation(invoice_number=payment.invoice_number, amount=amount)]
        if payment.invoice_number
        else [],
    )
