"""The Skuld adapter: the Adapter protocol on top of `client.py` (calls) and `mapping.py`.

From Skuld's API document (docs/skuld-api.md):
- Capabilities: claims (registered asynchronously), reads, offset-paged invoice and transaction
  lists, direct payments (one invoice each), whole-case withdrawal. Skuld has no payment
  reversal, no credit notes and no partial withdrawal: those are not declared, so the gateway
  refuses them before anything is stored (and these methods answer `unsupported_by_agency`
  without calling Skuld, should one arrive). Currencies: EUR, SEK, NOK, DKK.
- Async outcomes: `POST /cases` answers 202 RECEIVED; the adapter returns
  `Submitted(tracking=caseId)` and `poll_outcomes` reads the case until Skuld has decided
  (REGISTERED → Succeeded, REFUSED → Failed with Skuld's reason; RECEIVED → still pending).
- Idempotency at the agency: Skuld deduplicates registrations on `clientCaseId` (derived from
  the operation's idempotency token) and direct payments on `clientTransactionId` (the
  creditor's payment id), so a write resent after a lost answer (`op.maybe_sent`) is safe: the
  409 it draws names what Skuld already has.
- Pagination: offset/limit without totals. The adapter asks for one item more than the page it
  serves: the extra item only says "there is more", so no page is ever followed by an empty
  one (`offset_page(..., asked=limit + 1)`), and the largest page it serves is 49.
- Not sent (Skuld has no field for them): claim type, interest rates, invoice references,
  attachments.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from adapters.sdk import (
    AdapterContext,
    AdapterPage,
    AgencyClaim,
    AgencyError,
    AgencyRejected,
    Capabilities,
    ClaimCreate,
    ClaimRef,
    Credential,
    CreditNoteCreate,
    Failed,
    FieldError,
    MoneyError,
    NotFound,
    OperationContext,
    Outcome,
    PaymentReport,
    PaymentReversal,
    PendingOutcome,
    ResolvedOutcome,
    Submitted,
    Succeeded,
    UnsupportedByAgency,
    ValidationFailed,
    Withdrawal,
    offset_page,
    parse_offset,
)

from skuld.client import SkuldClient
from skuld.mapping import (
    SkuldDataError,
    from_wire_case,
    from_wire_invoice,
    from_wire_transaction,
    registration_outcome,
    to_wire_case,
    to_wire_direct_payment,
    to_wire_withdrawal,
)
from skuld.wire import SKULD_CURRENCIES, SKULD_MAX_LIMIT, SkuldInvoice

__all__ = ["CAPABILITIES", "NAME", "SkuldAdapter", "create"]

NAME = "skuld"

CAPABILITIES = Capabilities(
    supported=frozenset(
        {
            "claim.create",
            "claim.read",
            "invoices.list",
            "payments.list",
            "payment.report",
            "claim.withdraw",
        }
    ),
    currencies=SKULD_CURRENCIES,
    # Skuld has no claim types: every type is registered the same way.
    claim_types=None,
    # One item more than the page is asked for (has_more without another call), within Skuld's 50.
    max_page_size=SKULD_MAX_LIMIT - 1,
)


def _unsupported(capability: str, why: str) -> Failed:
    detail = f"{NAME} does not support {capability}: {why}"
    return Failed(problem=UnsupportedByAgency(NAME, capability, detail).problem())


def _invalid(pointer: str, exc: MoneyError) -> Failed:
    return Failed(problem=ValidationFailed([FieldError(pointer=pointer, detail=str(exc))]).problem())


def _unreadable(exc: Exception) -> AgencyError:
    return AgencyError(f"skuld sent what its document rules out: {exc}", agency=NAME)


class SkuldAdapter:
    """Implements `adapters.sdk.Adapter` for Skuld."""

    name = NAME
    capabilities = CAPABILITIES

    def __init__(self, client: SkuldClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        """Nothing to close: the upstream client belongs to whoever built the AdapterContext."""

    # --- writes ------------------------------------------------------------------------------

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        if claim.currency not in SKULD_CURRENCIES:
            return _unsupported("claim.create", f"it does not take {claim.currency}")
        try:
            body = to_wire_case(claim, op.idempotency_token)
        except MoneyError as exc:
            return _invalid("/invoices", exc)
        try:
            case_id = await self._client.register_case(credential, body)
        except AgencyRejected as exc:  # refused for good; AgencyUnavailable & co. propagate (retry)
            return Failed(problem=exc.problem())
        return Submitted(tracking=case_id)

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome:
        try:
            body = to_wire_direct_payment(report)
        except MoneyError as exc:
            return _invalid("/allocations", exc)
        try:
            transaction_id = await self._client.add_direct_payment(credential, ref.agency_reference, body)
        except AgencyRejected as exc:
            return Failed(problem=exc.problem())
        return Succeeded(agency_reference=transaction_id)

    async def reverse_payment(
        self,
        credential: Credential,
        op: OperationContext,
        ref: ClaimRef,
        payment_id: str,
        reversal: PaymentReversal,
    ) -> Outcome:
        return _unsupported("payment.reverse", "Skuld has no way to reverse a direct payment")

    async def add_credit_note(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, note: CreditNoteCreate
    ) -> Outcome:
        return _unsupported("credit_note.create", "Skuld takes no credit notes through its API")

    async def withdraw(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, withdrawal: Withdrawal
    ) -> Outcome:
        if withdrawal.invoice_numbers:
            return _unsupported("claim.withdraw_partial", "Skuld withdraws whole cases only")
        try:
            case = await self._client.withdraw(
                credential, ref.agency_reference, to_wire_withdrawal(withdrawal)
            )
        except AgencyRejected as exc:
            return Failed(problem=exc.problem())
        return Succeeded(agency_reference=case.case_id)

    async def poll_outcomes(
        self, credential: Credential, pending: Sequence[PendingOutcome]
    ) -> Sequence[ResolvedOutcome]:
        """Registrations Skuld has decided on; the others stay pending."""

        async def decided(waiting: PendingOutcome) -> ResolvedOutcome | None:
            try:
                case = await self._client.get_case(credential, waiting.tracking)
            except NotFound:  # not visible yet: ask again next round
                return None
            outcome = registration_outcome(case)
            return (
                None
                if outcome is None
                else ResolvedOutcome(operation_id=waiting.operation_id, outcome=outcome)
            )

        claims = [waiting for waiting in pending if waiting.kind == "claim.create"]
        results = await asyncio.gather(*(decided(waiting) for waiting in claims))
        return [result for result in results if result is not None]

    # --- reads -------------------------------------------------------------------------------

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        case, invoices = await asyncio.gather(
            self._client.get_case(credential, ref.agency_reference),
            self._every_invoice(credential, ref.agency_reference),
        )
        try:
            return from_wire_case(case, invoices)
        except (MoneyError, SkuldDataError) as exc:
            raise _unreadable(exc) from exc

    async def _every_invoice(self, credential: Credential, case_id: str) -> list[SkuldInvoice]:
        invoices: list[SkuldInvoice] = []
        while True:
            page = await self._client.invoices(credential, case_id, len(invoices), SKULD_MAX_LIMIT)
            invoices += page.items
            if len(page.items) < SKULD_MAX_LIMIT:  # "a page shorter than limit is the last one"
                return invoices

    async def list_invoices(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        offset = parse_offset(position)  # a position that is not ours fails before Skuld is asked
        limit = max(1, min(limit, CAPABILITIES.max_page_size))
        page = await self._client.invoices(credential, ref.agency_reference, offset, limit + 1)
        window = offset_page(page.items, offset, limit, asked=limit + 1)
        try:
            items = [from_wire_invoice(invoice, ref.currency) for invoice in window.items]
        except (MoneyError, SkuldDataError) as exc:
            raise _unreadable(exc) from exc
        return AdapterPage(items=items, next_position=window.next_position)

    async def list_payments(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        """Payments and reversals among the case's transactions. Skuld's charges (FEE, INTEREST)
        are transactions too but no payments: they are left out, so a page may hold fewer items
        than `limit` — the position still moves over Skuld's transaction list exactly."""
        offset = parse_offset(position)
        limit = max(1, min(limit, CAPABILITIES.max_page_size))
        page = await self._client.transactions(credential, ref.agency_reference, offset, limit + 1)
        window = offset_page(page.items, offset, limit, asked=limit + 1)
        try:
            read = (from_wire_transaction(transaction, ref.currency) for transaction in window.items)
            payments = [payment for payment in read if payment is not None]
        except (MoneyError, SkuldDataError) as exc:
            raise _unreadable(exc) from exc
        return AdapterPage(items=payments, next_position=window.next_position)


def create(context: AdapterContext) -> SkuldAdapter:
    """`AdapterSpec.create`: the adapter on the shared upstream client (Skuld needs no options)."""
    return SkuldAdapter(SkuldClient(context.http))
