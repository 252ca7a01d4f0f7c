"""Canonical ⇄ Debbie, pure (no I/O, clock, settings or logging). The only place the sign lives.

Sign (notes, Debbie, "Sign convention"): Debbie amounts are signed integer minor units, negative =
debt (invoice principal, costs, interest), positive = credit (a payment received, a credit note).
Canonical amounts are unsigned, with an explicit kind. `sign_of` is the one table from kind to
sign, and every voucher we write is built by `_voucher`, which takes an unsigned amount > 0 and a
kind and applies that table — there is no other way to build a `DebbieCaseVoucherCreate` here, so
a voucher with the wrong sign cannot be produced.

Which vouchers count (reads):
- A voucher with `deletedAt` set is skipped everywhere: Debbie keeps listing deleted vouchers for
  its history, but they are no longer owed or paid.
- A voucher in another currency than the case is skipped: canonical money never mixes currencies.
- `state` (UNMAPPED, PARTIAL_PAYMENT, ARCHIVED, ...) is Debbie's own bookkeeping of how it applied
  a payment; it does not change how much was paid or owed, so it never changes an amount here.
- A voucher whose kind we cannot tell (voucher type not configured, unknown or missing
  `category`) is in no invoice and no payment, but still counts in the balance: the balance is
  the agency's ledger (every live voucher, signed), not our interpretation of it.

Kinds on read: the configured `voucher_types` name the kind exactly (what we wrote reads back as
what it is); vouchers Debbie made with other types are classified by `category` and sign.

Remaining of an invoice (Debbie reports no per-invoice balance, so it is computed here):
    remaining = principal - credit notes linked to it - payments allocated to it,
then credits that name no invoice (unallocated payments, payments Debbie collected, unlinked
credit notes) are applied to invoices oldest due date first (ties: the order vouchers were
written), never below zero. What is left over pays costs and interest, which only the balance
shows. The balance is -(sum of every live voucher), floored at zero (an overpayment owes nothing).

referenceId (the client's own id on a voucher) links vouchers:
- principal and cost vouchers: the invoice number itself (readable at Debbie: "Invoice number
  for example", document "referenceId");
- a credit note: `quote(invoice number) + "|" + quote(credit note number)`;
- a payment: `quote(payment_id)` — the payment_id itself for ordinary ids such as `P-1` — or,
  one voucher per allocation, `quote(payment_id) + "|" + quote(invoice number)`.
`quote` percent-encodes everything but letters, digits and `-_.~`, so "|" separates unambiguously.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, assert_never, get_args
from urllib.parse import quote, unquote

import msgspec

from adapters.debbie.wire import (
    DEBBIE_CURRENCIES as _CURRENCIES,
)
from adapters.debbie.wire import (
    DebbieAddress,
    DebbieCase,
    DebbieCaseCreate,
    DebbieCaseStatusUpdate,
    DebbieCaseVoucher,
    DebbieCaseVoucherCreate,
    DebbieCurrency,
    DebbieCustomerCreate,
    DebbieUuid,
)
from adapters.sdk import (
    Allocation,
    ClaimCreate,
    ClaimStatus,
    CreditNoteCreate,
    Debtor,
    Invoice,
    InvoiceChanged,
    InvoiceCreate,
    Money,
    MoneyError,
    Payment,
    PaymentCollected,
    PaymentReport,
    PaymentSource,
    StatusChanged,
)

__all__ = [
    "VOUCHER_KINDS",
    "DebbieDataError",
    "Sign",
    "VoucherKind",
    "VoucherTypes",
    "case_changes",
    "case_reference",
    "case_status_change",
    "classify",
    "cost_voucher",
    "credit_note_reference",
    "credit_note_voucher",
    "from_wire_balance",
    "from_wire_invoices",
    "from_wire_payments",
    "from_wire_status",
    "live_vouchers",
    "payment_references",
    "payment_vouchers",
    "principal_voucher",
    "sequence_of",
    "sign_of",
    "signed_amount",
    "to_wire_case",
    "to_wire_customer",
    "to_wire_withdrawal",
    "unsigned_amount",
    "voucher_payment",
]

VoucherKind = Literal["principal", "cost", "interest", "payment", "credit_note"]
VOUCHER_KINDS: tuple[VoucherKind, ...] = get_args(VoucherKind)
Sign = Literal[-1, 1]

#: Debbie's referenceId has no published limit; ids we derive stay within this many characters.
_MAX_REFERENCE = 64


class DebbieDataError(ValueError):
    """A voucher Debbie answered that cannot be read (no date at all)."""


def sign_of(kind: VoucherKind) -> Sign:
    """The sign Debbie stores for a voucher of this kind: -1 debt, +1 credit (notes, "Sign convention")."""
    match kind:
        case "principal" | "cost" | "interest":
            return -1
        case "payment" | "credit_note":
            return 1
        case _:
            assert_never(kind)


def signed_amount(kind: VoucherKind, magnitude: int) -> int:
    """Canonical unsigned minor units → Debbie's signed minor units. Only amounts > 0 exist at Debbie."""
    if isinstance(magnitude, bool) or not isinstance(magnitude, int):
        raise MoneyError(f"{magnitude!r} is not an integer amount of minor units")
    if magnitude <= 0:
        raise MoneyError(f"a {kind} voucher needs an amount greater than 0, not {magnitude}")
    return sign_of(kind) * magnitude


def unsigned_amount(kind: VoucherKind, amount: int) -> int:
    """Debbie's signed amount → canonical units for `kind`; negative when Debbie's voucher goes
    against its kind (a negative transaction is a reversal, a negative credit note undoes one)."""
    return sign_of(kind) * amount


class VoucherTypes(msgspec.Struct, frozen=True, kw_only=True):
    """`[agencies.debbie.voucher_types]` (config.md): Debbie's voucherTypeId for each kind we write."""

    principal: DebbieUuid
    cost: DebbieUuid
    interest: DebbieUuid
    payment: DebbieUuid
    credit_note: DebbieUuid

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> VoucherTypes:
        """Raises `msgspec.ValidationError` naming the missing or malformed kind."""
        return msgspec.convert(dict(section), cls)

    def id_of(self, kind: VoucherKind) -> str:
        match kind:
            case "principal":
                return self.principal
            case "cost":
                return self.cost
            case "interest":
                return self.interest
            case "payment":
                return self.payment
            case "credit_note":
                return self.credit_note
            case _:
                assert_never(kind)

    def kind_of(self, voucher_type_id: str | None) -> VoucherKind | None:
        if voucher_type_id is None:
            return None
        wanted = voucher_type_id.lower()
        for kind in VOUCHER_KINDS:
            if self.id_of(kind).lower() == wanted:
                return kind
        return None


# --- writes -------------------------------------------------------------------------------------


def _voucher(
    kind: VoucherKind,
    magnitude: int,
    *,
    types: VoucherTypes,
    currency: DebbieCurrency,
    on: dt.date,
    reference: str,
    due: dt.date | None = None,
    text: str | None = None,
) -> DebbieCaseVoucherCreate:
    """The only constructor of a voucher we write: the sign comes from `kind`, nowhere else.

    Every voucher the gateway writes is the creditor's (source CREDITOR): a payment the creditor
    received directly is a "direct payment" (document, "source").
    """
    return DebbieCaseVoucherCreate(
        voucher_type_id=types.id_of(kind),
        amount=signed_amount(kind, magnitude),
        currency=currency,
        date=on.isoformat(),
        source="CREDITOR",
        reference_id=reference,
        text=text,
        due_date=due.isoformat() if due is not None else None,
    )


def _debbie_currency(currency: str) -> DebbieCurrency:
    match currency:
        case "DKK" | "SEK" | "NOK" | "USD" | "EUR" | "GBP" | "CHF":
            return currency
        case _:
            raise MoneyError(f"Debbie does not take {currency}")


def principal_voucher(invoice: InvoiceCreate, currency: str, types: VoucherTypes) -> DebbieCaseVoucherCreate:
    """An invoice's principal: negative, referenceId = the invoice number."""
    return _voucher(
        "principal",
        invoice.amount.amount,
        types=types,
        currency=_debbie_currency(currency),
        on=invoice.issued_on,
        due=invoice.due_on,
        reference=invoice.number,
    )


def cost_voucher(
    invoice: InvoiceCreate, currency: str, types: VoucherTypes
) -> DebbieCaseVoucherCreate | None:
    """An invoice's costs: negative, referenceId = the invoice number; None when it has none (or 0)."""
    if invoice.costs is None or invoice.costs.amount == 0:
        return None
    return _voucher(
        "cost",
        invoice.costs.amount,
        types=types,
        currency=_debbie_currency(currency),
        on=invoice.issued_on,
        due=invoice.due_on,
        reference=invoice.number,
    )


def _payment_parts(report: PaymentReport) -> list[tuple[str, int]]:
    """(referenceId, unsigned amount) of each voucher a payment report becomes, in order.

    Two allocations to one invoice are one part: a referenceId names one voucher, so that a
    retry can tell which parts are already at Debbie.
    """
    head = quote(report.payment_id, safe="")
    if not report.allocations:
        return [(head, report.amount.amount)]
    parts: dict[str, int] = {}
    for allocation in report.allocations:
        reference = f"{head}|{quote(allocation.invoice_number, safe='')}"
        parts[reference] = parts.get(reference, 0) + allocation.amount.amount
    return list(parts.items())


def payment_references(report: PaymentReport) -> list[str]:
    """The referenceId of each voucher `payment_vouchers` writes for this report, in order."""
    return [reference for reference, _ in _payment_parts(report)]


def payment_vouchers(report: PaymentReport, types: VoucherTypes) -> list[DebbieCaseVoucherCreate]:
    """A direct payment: positive, category transaction, source CREDITOR (notes, Debbie).

    One voucher for the whole amount, or one per allocated invoice when the report names them
    (Debbie takes no allocation on a deposit, so each allocated part is its own voucher; reading
    groups them back by payment_id). Allocations add up to the amount (canonical validation).
    """
    currency = _debbie_currency(report.amount.currency)
    return [
        _voucher("payment", part, types=types, currency=currency, on=report.paid_on, reference=reference)
        for reference, part in _payment_parts(report)
    ]


def credit_note_reference(note: CreditNoteCreate) -> str:
    return f"{quote(note.invoice_number, safe='')}|{quote(note.number, safe='')}"


def credit_note_voucher(note: CreditNoteCreate, types: VoucherTypes) -> DebbieCaseVoucherCreate:
    """A credit note: positive, against principal (its voucher type's category), linked to the invoice."""
    return _voucher(
        "credit_note",
        note.amount.amount,
        types=types,
        currency=_debbie_currency(note.amount.currency),
        on=note.issued_on,
        reference=credit_note_reference(note),
        text=note.reason,
    )


def case_reference(idempotency_token: str) -> str:
    """The case's referenceId: the operation's idempotency token, the same on every attempt.

    A token longer than Debbie is likely to keep is replaced by a digest of itself (still stable).
    """
    if 0 < len(idempotency_token) <= _MAX_REFERENCE and idempotency_token.isprintable():
        return idempotency_token
    return "cg-" + hashlib.sha256(idempotency_token.encode()).hexdigest()[:48]


def to_wire_case(
    claim: ClaimCreate, customer_id: str, types: VoucherTypes, reference_id: str
) -> DebbieCaseCreate:
    """`POST /cases`: the principal of every invoice, then its costs (if any), in invoice order."""
    vouchers: list[DebbieCaseVoucherCreate] = []
    for invoice in claim.invoices:
        vouchers.append(principal_voucher(invoice, claim.currency, types))
        cost = cost_voucher(invoice, claim.currency, types)
        if cost is not None:
            vouchers.append(cost)
    return DebbieCaseCreate(
        customer_id=customer_id,
        currency=_debbie_currency(claim.currency),
        case_vouchers=vouchers,
        reference_id=reference_id,
    )


def to_wire_customer(debtor: Debtor) -> DebbieCustomerCreate:
    street = debtor.address.street
    if debtor.address.house_number:
        street = f"{street} {debtor.address.house_number}"
    return DebbieCustomerCreate(
        reference_id=debtor.reference,
        type="PERSON" if debtor.kind == "person" else "COMPANY",
        first_name=debtor.first_name,
        last_name=debtor.last_name,
        company_name=debtor.company_name,
        birth_date=debtor.birth_date.isoformat() if debtor.birth_date else None,
        email=debtor.email,
        phone=debtor.phone,
        language=debtor.language,
        address=DebbieAddress(
            street=street,
            zip_code=debtor.address.postal_code,
            city=debtor.address.city,
            country=debtor.address.country,
        ),
    )


def to_wire_withdrawal() -> DebbieCaseStatusUpdate:
    """Whole-case withdrawal (notes: `{status: "ENDED", exitReason: "WITHDRAWN"}`); no partial one exists."""
    return DebbieCaseStatusUpdate(status="ENDED", exit_reason="WITHDRAWN")


# --- reads --------------------------------------------------------------------------------------


def from_wire_status(case: DebbieCase) -> ClaimStatus:
    """Case status (PENDING | VERIFIED | ENDED + exitReason, notes) → canonical, in one table.

    PENDING: the case exists but Debbie has not verified it for collection yet → pending.
    Anything Debbie adds later is "still pending" until this table learns it, never a success.
    """
    match (case.status, case.exit_reason):
        case ("PENDING", _):
            return "pending"
        case ("VERIFIED", _):
            return "active"
        case ("ENDED", "WITHDRAWN"):
            return "withdrawn"
        case ("ENDED", _):
            # Paid, written off, or any other ending: closed at the agency.
            return "closed"
        case _:
            return "pending"


def live_vouchers(vouchers: Iterable[DebbieCaseVoucher], currency: str) -> list[DebbieCaseVoucher]:
    """The vouchers that count, in the order Debbie wrote them (sequential `id`).

    Deleted vouchers (`deletedAt` set) and vouchers in another currency are dropped (module doc).
    """
    kept = [v for v in vouchers if v.deleted_at is None and (v.currency is None or v.currency == currency)]
    return sorted(kept, key=lambda v: (sequence_of(v) is None, sequence_of(v) or 0))


def sequence_of(voucher: DebbieCaseVoucher) -> int | None:
    """The voucher's sequential `id` as a number, whether Debbie sent a number or digits."""
    match voucher.id:
        case int():
            return voucher.id
        case str() if voucher.id.isascii() and voucher.id.isdigit():
            return int(voucher.id)
        case _:
            return None


def classify(voucher: DebbieCaseVoucher, types: VoucherTypes) -> VoucherKind | None:
    """The kind of a live voucher: the configured type first, else Debbie's category and sign."""
    kind = types.kind_of(voucher.voucher_type_id) or _kind_from_category(voucher.category, voucher.amount)
    if kind == "principal" and voucher.amount > 0:
        # A positive voucher against principal is a credit note (notes, Debbie).
        return "credit_note"
    return kind


def _kind_from_category(category: str | None, amount: int) -> VoucherKind | None:
    match category:
        case "principal":
            return "principal" if amount < 0 else "credit_note"
        case "cost" | "courtcost":
            return "cost"
        case "interest":
            return "interest"
        case "transaction":
            return "payment"
        case _:
            return None


def from_wire_balance(vouchers: Sequence[DebbieCaseVoucher]) -> int:
    """What the debtor still owes, unsigned: -(sum of live vouchers), floored at zero."""
    return max(0, -sum(v.amount for v in vouchers))


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _voucher_date(voucher: DebbieCaseVoucher) -> dt.date:
    found = _date(voucher.date) or _date(voucher.created_at)
    if found is None:
        raise DebbieDataError(f"case voucher {voucher.case_voucher_id or voucher.id} has no date")
    return found


def _split(reference: str | None) -> tuple[str | None, str | None]:
    """A link referenceId `a|b` → (unquote(a), unquote(b)); a plain one → (unquote(it), None)."""
    if not reference:
        return None, None
    head, bar, tail = reference.partition("|")
    return unquote(head), (unquote(tail) if bar else None)


class _Open(msgspec.Struct, kw_only=True):
    number: str
    issued_on: dt.date
    due_on: dt.date
    amount: int
    costs: int = 0
    has_costs: bool = False
    reduced: int = 0
    order: int = 0


def from_wire_invoices(
    vouchers: Sequence[DebbieCaseVoucher], types: VoucherTypes, currency: str
) -> list[Invoice]:
    """Live vouchers → invoices with `remaining` computed as the module doc says.

    Principal vouchers with the same referenceId are one invoice (their amounts add up); a
    principal voucher without referenceId (made at Debbie) is its own invoice named by its id.
    """
    invoices: dict[str, _Open] = {}
    kinds = [(v, classify(v, types)) for v in vouchers]
    for voucher, kind in kinds:
        if kind != "principal":
            continue
        number = voucher.reference_id or f"voucher-{voucher.id or voucher.case_voucher_id}"
        issued = _voucher_date(voucher)
        found = invoices.get(number)
        if found is None:
            invoices[number] = _Open(
                number=number,
                issued_on=issued,
                due_on=_date(voucher.due_date) or issued,
                amount=unsigned_amount("principal", voucher.amount),
                order=len(invoices),
            )
        else:
            found.amount += unsigned_amount("principal", voucher.amount)
    pool = 0  # credits that name no invoice, applied oldest due date first below
    for voucher, kind in kinds:
        match kind:
            case "cost":
                target = invoices.get(voucher.reference_id or "")
                if target is not None:
                    target.costs += unsigned_amount("cost", voucher.amount)
                    target.has_costs = True
            case "credit_note" | "payment":
                credit = unsigned_amount(kind, voucher.amount)
                head, tail = _split(voucher.reference_id)
                # A credit note names its invoice first; a creditor's payment names it second
                # (module doc). Debbie's own payments carry Debbie's references, never a link.
                linked = head if kind == "credit_note" else tail if voucher.source == "CREDITOR" else None
                if kind == "credit_note" and linked not in invoices:
                    linked = voucher.reference_id  # a credit note made at Debbie: referenceId = invoice
                target = invoices.get(linked or "")
                if target is not None:
                    target.reduced += credit
                else:
                    pool += credit
            case "principal" | "interest" | None:
                pass
            case _:
                assert_never(kind)
    for invoice in invoices.values():
        if invoice.reduced > invoice.amount:
            pool += invoice.reduced - invoice.amount  # over-credited: the excess pays other invoices
            invoice.reduced = invoice.amount
        elif invoice.reduced < 0:
            invoice.reduced = 0  # a reversal cannot raise an invoice above its principal
    for invoice in sorted(invoices.values(), key=lambda i: (i.due_on, i.order)):
        if pool <= 0:
            break
        take = min(pool, invoice.amount - invoice.reduced)
        invoice.reduced += take
        pool -= take
    return [
        Invoice(
            number=i.number,
            issued_on=i.issued_on,
            due_on=i.due_on,
            amount=Money(amount=i.amount, currency=currency),
            costs=Money(amount=max(0, i.costs), currency=currency) if i.has_costs else None,
            remaining=Money(amount=i.amount - i.reduced, currency=currency),
        )
        for i in invoices.values()
    ]


def _payment_source(source: str | None) -> PaymentSource:
    """CREDITOR = reported by the creditor (a direct payment); COLLECTOR or unknown = Debbie's."""
    match source:
        case "CREDITOR":
            return "creditor"
        case _:
            return "agency"


def from_wire_payments(
    vouchers: Sequence[DebbieCaseVoucher], types: VoucherTypes, currency: str
) -> list[Payment]:
    """Live transaction vouchers → payments, in the order Debbie wrote them.

    A creditor's payment written as several allocation vouchers is one payment again (grouped by
    payment_id); a negative transaction is a reversal. Payments Debbie collected carry no
    payment_id (that is the creditor's id for payments it reported).
    """
    groups: dict[tuple[str, ...], list[tuple[DebbieCaseVoucher, int, str | None]]] = {}
    for voucher in vouchers:
        if classify(voucher, types) != "payment" or voucher.amount == 0:
            continue
        signed = unsigned_amount("payment", voucher.amount)
        source = _payment_source(voucher.source)
        payment_id, invoice = _split(voucher.reference_id) if source == "creditor" else (None, None)
        key: tuple[str, ...]
        if payment_id is None:
            key = ("voucher", str(voucher.case_voucher_id or voucher.id))
        else:
            key = ("payment", payment_id, "+" if signed > 0 else "-")
        groups.setdefault(key, []).append((voucher, signed, invoice))
    payments = []
    for key, parts in groups.items():
        first = parts[0][0]
        total = sum(signed for _, signed, _ in parts)
        allocations: list[Allocation] = []
        if all(invoice is not None for _, _, invoice in parts):
            allocations = [
                Allocation(invoice_number=invoice, amount=Money(amount=abs(signed), currency=currency))
                for _, signed, invoice in parts
                if invoice is not None
            ]
        payments.append(
            Payment(
                id=f"pay_{first.case_voucher_id or first.id}",
                payment_id=key[1] if key[0] == "payment" else None,
                source=_payment_source(first.source),
                kind="payment" if total > 0 else "reversal",
                amount=Money(amount=abs(total), currency=currency),
                paid_on=_voucher_date(first),
                allocations=allocations,
            )
        )
    return payments


# --- the change feed (reconcile sweep and webhooks) ------------------------------------------------
#
# Record ids are the agency's own ids where Debbie has them, and otherwise the state itself, so
# that the sweep and a webhook about the same thing make the same record (applied once):
# - a payment: `voucher:<caseVoucherId>` (the voucher's uuid; its sequential id if it has none);
# - a case's status: `case:<id>:status:<status>:<exitReason>` (Debbie's statuses only move on:
#   PENDING → VERIFIED → ENDED);
# - an invoice's remaining amount: the amount and the voucher list it was computed from (how
#   many live vouchers, the newest one), so it changes whenever a voucher comes or goes.


def case_status_change(case: DebbieCase) -> StatusChanged | None:
    """The case's status as a record; None for a status this table does not know (the claim's
    status is then left as it is: never taken for progress, never turned back to pending)."""
    if case.status not in ("PENDING", "VERIFIED", "ENDED"):
        return None
    return StatusChanged(
        record_id=f"case:{case.id}:status:{case.status}:{case.exit_reason or ''}",
        agency_reference=case.id,
        status=from_wire_status(case),
        reason=case.exit_reason,
    )


def voucher_payment(
    voucher: DebbieCaseVoucher, types: VoucherTypes, currency: str, case_id: str
) -> PaymentCollected | None:
    """A live payment voucher (category `transaction`) → one payment or reversal record; None for
    any other voucher. Positive = a payment received, negative = one taken back (notes, sign).

    `source` CREDITOR = the creditor's own report (its payment_id is the referenceId's first
    part, module doc); COLLECTOR = what Debbie collected. The invoices' remaining amounts come
    with the case's `InvoiceChanged` records (Debbie keeps no per-invoice balance; it is computed
    from all the case's vouchers), so this record does not move them.
    """
    if classify(voucher, types) != "payment" or voucher.amount == 0:
        return None
    voucher_id = voucher.case_voucher_id or (str(voucher.id) if voucher.id is not None else None)
    if not voucher_id:
        raise DebbieDataError("a payment voucher without caseVoucherId or id")
    source = _payment_source(voucher.source)
    payment_id, invoice = _split(voucher.reference_id) if source == "creditor" else (None, None)
    amount = Money(amount=abs(voucher.amount), currency=currency)
    return PaymentCollected(
        record_id=f"voucher:{voucher_id}",
        agency_reference=case_id,
        amount=amount,
        paid_on=_voucher_date(voucher),
        kind="payment" if voucher.amount > 0 else "reversal",
        source=source,
        payment_id=payment_id,
        allocations=[Allocation(invoice_number=invoice, amount=amount)] if invoice else [],
        remaining_reported=True,
    )


def case_changes(
    case: DebbieCase, vouchers: Sequence[DebbieCaseVoucher], types: VoucherTypes, *, invoices: bool = True
) -> list[StatusChanged | PaymentCollected | InvoiceChanged]:
    """Everything the sweep reads of one case: its status, its payments (in the order Debbie
    wrote them) and — unless `invoices` is False (a voucher of the case could not be read, so
    the amounts would be wrong) — each invoice's remaining amount now. Raises `DebbieDataError`
    (or `MoneyError`) when the case cannot be read as a whole (no currency, a voucher without date).
    """
    currency = case.currency
    if currency is None or currency not in _CURRENCIES:
        raise DebbieDataError(f"case {case.id} has no currency we know: {currency!r}")
    live = live_vouchers(vouchers, currency)
    changes: list[StatusChanged | PaymentCollected | InvoiceChanged] = []
    status = case_status_change(case)
    if status is not None:
        changes.append(status)
    for voucher in live:
        payment = voucher_payment(voucher, types, currency, case.id)
        if payment is not None:
            changes.append(payment)
    if not invoices:
        return changes
    newest = max((sequence_of(v) or 0 for v in live), default=0)
    for invoice in from_wire_invoices(live, types, currency):
        changes.append(
            InvoiceChanged(
                record_id=f"case:{case.id}:invoice:{invoice.number}:{invoice.remaining.amount}:{len(live)}:{newest}",
                agency_reference=case.id,
                invoice_number=invoice.number,
                remaining=invoice.remaining,
            )
        )
    return changes
