"""The Verdandi adapter: the Adapter protocol on top of `client.py` (calls) and `mapping.py`.

From Verdandi's API document (docs/verdandi-api.md):
- One claim per invoice. A gateway claim is a Verdandi *release* of one Verdandi claim per
  invoice: `agency_reference` is the release id, `invoice_references` maps each accepted invoice
  to its Verdandi claim id (the gateway keeps them with the claim and hands them back in every
  `ClaimRef`, so follow-ups address the right claim).
- A create takes three steps — debtor, one claim per invoice, release — and Verdandi has no
  idempotency key. `submit_claim` runs them through `adapters.sdk.Steps`: each step's result is
  checkpointed with the operation before the next is sent; after a crash or a lost answer the
  next attempt resumes at the step it was in, looks it up by its external id (derived from the
  operation's idempotency token) and resends it only if Verdandi does not have it.
- Review by hand: the release answers IN_REVIEW; `submit_claim` returns
  `Submitted(tracking=releaseId)` and `poll_outcomes` reads the release until it is DECIDED:
  every claim OPEN → Succeeded; some REFUSED → PartiallyAccepted (the claim holds the accepted
  invoices, the refused ones are listed with Verdandi's reason); all refused → Failed. Verdandi
  decides "within five working days": `review_timeout_seconds` is seven days, after which the
  gateway stops polling and fails the operation with `agency_review_timeout`.
- Payments go to one invoice's claim: a reported payment allocated to several invoices is one
  Verdandi payment per invoice (again through `Steps`, looked up by external id before a
  resend). A payment without allocations is taken only when the claim holds one invoice.
- Withdrawal is per Verdandi claim and idempotent at Verdandi (a withdrawn claim withdrawn again
  answers 200 and changes nothing): whole = every accepted invoice, partial = the ones named.
- Pagination: page numbers with `count`; the gateway's position is an item offset
  (`page_window`), pages of 25 (Verdandi's largest).
- No payment reversal, no credit notes: not declared.
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
    Allocation,
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
    Steps,
    Submitted,
    Succeeded,
    UnsupportedByAgency,
    ValidationFailed,
    Withdrawal,
    page_window,
    parse_offset,
)

from verdandi.client import VerdandiClient
from verdandi.mapping import (
    VerdandiDataError,
    from_wire_claims,
    from_wire_invoice,
    from_wire_payment,
    review_outcome,
    to_wire_claim,
    to_wire_debtor,
    to_wire_payment,
    to_wire_release,
    to_wire_withdrawal,
)
from verdandi.wire import VERDANDI_CURRENCIES, VERDANDI_MAX_PAGE_SIZE, VerdandiClaim, VerdandiRelease

__all__ = ["CAPABILITIES", "NAME", "REVIEW_TIMEOUT_SECONDS", "VerdandiAdapter", "create"]

NAME = "verdandi"
#: "Verdandi's staff review a release within five working days": a week, then the gateway gives up.
REVIEW_TIMEOUT_SECONDS = 7 * 24 * 3600.0

CAPABILITIES = Capabilities(
    supported=frozenset(
        {
            "claim.create",
            "claim.read",
            "invoices.list",
            "payments.list",
            "payment.report",
            "claim.withdraw",
            "claim.withdraw_partial",
        }
    ),
    currencies=VERDANDI_CURRENCIES,
    claim_types=None,
    max_page_size=VERDANDI_MAX_PAGE_SIZE,
    review_timeout_seconds=REVIEW_TIMEOUT_SECONDS,
)


def _unsupported(capability: str, why: str) -> Failed:
    detail = f"{NAME} does not support {capability}: {why}"
    return Failed(problem=UnsupportedByAgency(NAME, capability, detail).problem())


def _invalid(pointer: str, detail: str) -> Failed:
    return Failed(problem=ValidationFailed([FieldError(pointer=pointer, detail=detail)]).problem())


def _unreadable(exc: Exception) -> AgencyError:
    return AgencyError(f"verdandi sent what its document rules out: {exc}", agency=NAME)


class VerdandiAdapter:
    """Implements `adapters.sdk.Adapter` for Verdandi."""

    name = NAME
    capabilities = CAPABILITIES

    def __init__(self, client: VerdandiClient) -> None:
        self._client = client

    async def aclose(self) -> None:
        """Nothing to close: the upstream client belongs to whoever built the AdapterContext."""

    # --- writes ------------------------------------------------------------------------------

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        """Debtor → one claim per invoice → release, each step checkpointed and looked up before
        a resend (`Steps`); the review's outcome comes through `poll_outcomes`."""
        if claim.currency not in VERDANDI_CURRENCIES:
            return _unsupported("claim.create", f"it does not take {claim.currency}")
        token = op.idempotency_token
        try:
            debtor = to_wire_debtor(claim.debtor, token)
            bodies = [to_wire_claim(claim, invoice, "", token) for invoice in claim.invoices]
        except MoneyError as exc:
            return _invalid("/invoices", str(exc))
        client = self._client
        steps = Steps(op)
        try:
            debtor_id = await steps.step(
                "debtor",
                send=lambda: client.create_debtor(credential, debtor),
                look_up=lambda: client.find_debtor(credential, debtor.external_id),
                result=str,
            )
            claim_ids: list[str] = []
            for body in bodies:
                body.debtor_id = debtor_id
                claim_ids.append(
                    await steps.step(
                        f"claim:{body.invoice_number}",
                        send=lambda body=body: client.create_claim(credential, body),  # type: ignore[misc]
                        look_up=lambda body=body: client.find_claim(credential, body.external_id),  # type: ignore[misc]
                        result=str,
                    )
                )
            release = to_wire_release(claim_ids, token)
            release_id = await steps.step(
                "release",
                send=lambda: client.create_release(credential, release),
                look_up=lambda: client.find_release(credential, release.external_id),
                result=str,
            )
        except AgencyRejected as exc:  # refused for good; AgencyUnavailable & co. propagate (retry)
            return Failed(problem=exc.problem())
        return Submitted(tracking=release_id)

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome:
        """One Verdandi payment per allocated invoice, each on that invoice's claim."""
        held = ref.invoice_references or await self._held(credential, ref)
        allocations = report.allocations or []
        if not allocations:
            if len(held) != 1:
                return _invalid(
                    "/allocations", "Verdandi books a payment on one invoice's claim: allocate it to invoices"
                )
            allocations = [Allocation(invoice_number=next(iter(held)), amount=report.amount)]
        unknown = [a.invoice_number for a in allocations if a.invoice_number not in held]
        if unknown:
            return _invalid("/allocations", f"no invoice {', '.join(unknown)} is at Verdandi on this claim")
        try:
            bodies = [
                (
                    held[a.invoice_number],
                    to_wire_payment(report.payment_id, a.amount, report.paid_on, a.invoice_number),
                )
                for a in allocations
            ]
        except MoneyError as exc:
            return _invalid("/allocations", str(exc))
        client = self._client
        steps = Steps(op)
        ids: list[str] = []
        try:
            for claim_id, body in bodies:
                ids.append(
                    await steps.step(
                        f"payment:{body.external_id}",
                        send=lambda claim_id=claim_id, body=body: client.create_payment(  # type: ignore[misc]
                            credential, claim_id, body
                        ),
                        look_up=lambda body=body: client.find_payment(credential, body.external_id),  # type: ignore[misc]
                        result=str,
                    )
                )
        except AgencyRejected as exc:
            return Failed(problem=exc.problem())
        return Succeeded(agency_reference=",".join(ids))

    async def reverse_payment(
        self,
        credential: Credential,
        op: OperationContext,
        ref: ClaimRef,
        payment_id: str,
        reversal: PaymentReversal,
    ) -> Outcome:
        return _unsupported("payment.reverse", "Verdandi has no way to reverse a reported payment")

    async def add_credit_note(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, note: CreditNoteCreate
    ) -> Outcome:
        return _unsupported("credit_note.create", "Verdandi takes no credit notes through its API")

    async def withdraw(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, withdrawal: Withdrawal
    ) -> Outcome:
        """Each named invoice's claim (all accepted ones for a whole withdrawal); Verdandi answers
        a repeat with 200 and changes nothing, so a resend after a lost answer is safe."""
        held = ref.invoice_references or await self._held(credential, ref)
        numbers = withdrawal.invoice_numbers or list(held)
        unknown = [number for number in numbers if number not in held]
        if unknown:
            return _invalid(
                "/invoice_numbers", f"no invoice {', '.join(unknown)} is at Verdandi on this claim"
            )
        body = to_wire_withdrawal(withdrawal)
        try:
            for number in numbers:
                await self._client.withdraw(credential, held[number], body)
        except AgencyRejected as exc:
            return Failed(problem=exc.problem())
        return Succeeded(agency_reference=ref.agency_reference)

    async def poll_outcomes(
        self, credential: Credential, pending: Sequence[PendingOutcome]
    ) -> Sequence[ResolvedOutcome]:
        """Releases Verdandi has decided on; the others stay pending."""

        async def decided(waiting: PendingOutcome) -> ResolvedOutcome | None:
            try:
                release = await self._client.get_release(credential, waiting.tracking)
            except NotFound:  # not visible yet: ask again next round
                return None
            if release.state != "DECIDED":
                return None
            outcome = review_outcome(release, await self._every_claim(credential, release.id))
            return (
                None
                if outcome is None
                else ResolvedOutcome(operation_id=waiting.operation_id, outcome=outcome)
            )

        claims = [waiting for waiting in pending if waiting.kind == "claim.create"]
        results = await asyncio.gather(*(decided(waiting) for waiting in claims))
        return [result for result in results if result is not None]

    # --- reads -------------------------------------------------------------------------------

    async def _every_claim(self, credential: Credential, release_id: str) -> list[VerdandiClaim]:
        claims: list[VerdandiClaim] = []
        for page in range(1, 1000):
            read = await self._client.claims(credential, release_id, page)
            claims += read.results
            if read.next is None or not read.results or len(claims) >= read.count:
                return claims
        raise _unreadable(ValueError(f"release {release_id} pages do not end"))

    async def _held(self, credential: Credential, ref: ClaimRef) -> dict[str, str]:
        """Invoice number → Verdandi claim id of the invoices Verdandi holds (not refused), read
        from Verdandi where the gateway has no per-invoice references for the claim."""
        claims = await self._every_claim(credential, ref.agency_reference)
        return {claim.invoice_number: claim.id for claim in claims if claim.state != "REFUSED"}

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        release: VerdandiRelease
        release, claims = await asyncio.gather(
            self._client.get_release(credential, ref.agency_reference),
            self._every_claim(credential, ref.agency_reference),
        )
        try:
            return from_wire_claims(release, claims, ref.currency)
        except (MoneyError, VerdandiDataError) as exc:
            raise _unreadable(exc) from exc

    async def list_invoices(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        offset = parse_offset(position)  # a position that is not ours fails before Verdandi is asked
        window = page_window(offset, max(1, min(limit, VERDANDI_MAX_PAGE_SIZE)), VERDANDI_MAX_PAGE_SIZE)
        claims: list[VerdandiClaim] = []
        count = 0
        for page in window.pages:
            read = await self._client.claims(credential, ref.agency_reference, page)
            claims += read.results
            count = read.count
        try:
            items = [from_wire_invoice(claim, ref.currency) for claim in window.cut(claims)]
        except (MoneyError, VerdandiDataError) as exc:
            raise _unreadable(exc) from exc
        end = window.offset + len(items)
        return AdapterPage(items=items, next_position=str(end) if end < count and items else None)

    async def list_payments(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        """Payments and reversals on the release's claims. A payment type the document does not
        name is left out, so a page may hold fewer items than `limit` — the position still moves
        over Verdandi's list exactly."""
        offset = parse_offset(position)
        window = page_window(offset, max(1, min(limit, VERDANDI_MAX_PAGE_SIZE)), VERDANDI_MAX_PAGE_SIZE)
        read_items = []
        count = 0
        for page in window.pages:
            read = await self._client.payments(credential, ref.agency_reference, page)
            read_items += read.results
            count = read.count
        window_items = window.cut(read_items)
        try:
            payments = [
                p for p in (from_wire_payment(item, ref.currency) for item in window_items) if p is not None
            ]
        except (MoneyError, VerdandiDataError) as exc:
            raise _unreadable(exc) from exc
        end = window.offset + len(window_items)
        return AdapterPage(items=payments, next_position=str(end) if end < count and window_items else None)


def create(context: AdapterContext) -> VerdandiAdapter:
    """`AdapterSpec.create`: the adapter on the shared upstream client (Verdandi needs no options)."""
    return VerdandiAdapter(VerdandiClient(context.http))
