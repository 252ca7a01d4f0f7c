"""A small fake agency for pipeline tests (not shipped): a real class with state, no HTTP.

It keeps a ledger keyed by the agency-side idempotency token, like a real agency that dedupes on
it, and lets a test script faults per call: transient failures, a commit followed by a lost
answer, a final rejection, asynchronous acceptance, or a call that hangs until released.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import msgspec

from adapters.base import (
    CAPABILITIES,
    FEEDS,
    AdapterContext,
    AdapterPage,
    AdapterSpec,
    AgencyClaim,
    Capabilities,
    ChangeBatch,
    ChangeRecord,
    ClaimRef,
    Credential,
    Failed,
    OperationContext,
    Outcome,
    PartiallyAccepted,
    PendingOutcome,
    ResolvedOutcome,
    Submitted,
    Succeeded,
)
from canonical import (
    ClaimCreate,
    CreditNoteCreate,
    Invoice,
    PaymentReport,
    PaymentReversal,
    Problem,
    RefusedInvoice,
    Withdrawal,
)
from canonical.problems import AgencyRejected, AgencyUnavailable, OutcomeUnknown

FAKE_CAPABILITIES = Capabilities(
    supported=frozenset(
        {"claim.create", "claim.read", "invoices.list", "payments.list", "payment.report", "claim.withdraw"}
    ),
    currencies=frozenset({"EUR", "CHF", "SEK", "JPY", "KWD"}),
)


class FakeAgency:
    """The agency's side: what it has received, and the faults it will produce next."""

    def __init__(self) -> None:
        self.ledger: dict[str, tuple[str, Any]] = {}  # idempotency token → (kind, body)
        self.calls: list[tuple[str, str, bool]] = []  # (kind, token, maybe_sent)
        self.fail_next = 0  # transient failures before success
        self.lose_answer_next = 0  # commit, then raise OutcomeUnknown
        self.reject_next: str | None = None
        self.crash_next: str | None = None  # a fault of ours (not an AgencyError) with this message
        self.asynchronous = False
        # Thread-safe: the test client runs the app on its own event loop in another thread.
        self.hang: threading.Event | None = None  # calls wait here until set
        self.entered = threading.Event()  # set when a call has reached the agency
        self.hang_after_commit: threading.Event | None = None  # commit, then hold the answer until set
        self.committed = threading.Event()  # set when a write has been recorded
        self.resolved: dict[str, Outcome] = {}
        # The change feed: records in the agency's order; the checkpoint is an index into it.
        self.feed: list[ChangeRecord] = []
        self.feed_account = "acme-1"  # whose feed it is: other credentials' feeds are empty
        self.feed_overlap = 0  # records each batch repeats from the one before (an overlap window)
        self.feed_calls = 0
        self.feed_fail_next = 0
        self.claim_reads = 0  # get_claim calls: reads of the agency on the request path
        # One claim per invoice: invoices it refuses on creation (the rest are accepted).
        self.refuse_invoices: set[str] = set()
        self.undecided = False  # asynchronous outcomes never come (a claim under review)
        self.refs: list[ClaimRef] = []  # what reads and follow-up writes were addressed to

    def receive(self, kind: str, op: OperationContext, body: Any) -> str:
        self.calls.append((kind, op.idempotency_token, op.maybe_sent))
        if op.idempotency_token not in self.ledger:  # dedupe on the agency-side key
            self.ledger[op.idempotency_token] = (kind, body)
        return f"AG-{list(self.ledger).index(op.idempotency_token) + 1}"


class FakeAdapter:
    name = "fake"
    capabilities = FAKE_CAPABILITIES

    def __init__(self, agency: FakeAgency) -> None:
        self.agency = agency

    async def _write(self, kind: str, op: OperationContext, body: Any) -> Outcome:
        agency = self.agency
        agency.entered.set()
        # The test releases a threading.Event from another thread, so an asyncio.Event cannot carry it.
        while agency.hang is not None and not agency.hang.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        if agency.fail_next > 0:
            agency.fail_next -= 1
            raise AgencyUnavailable("fake: 503", agency="fake")
        if agency.reject_next is not None:
            message, agency.reject_next = agency.reject_next, None
            raise AgencyRejected(message, agency="fake")
        if agency.crash_next is not None:
            message, agency.crash_next = agency.crash_next, None
            raise RuntimeError(message)
        reference = agency.receive(kind, op, body)
        agency.committed.set()
        while agency.hang_after_commit is not None and not agency.hang_after_commit.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        if agency.lose_answer_next > 0:
            agency.lose_answer_next -= 1
            raise OutcomeUnknown("fake: timeout after commit", agency="fake")
        if agency.asynchronous:
            return Submitted(tracking=f"T-{reference}")
        return Succeeded(agency_reference=reference)

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        outcome = await self._write("claim.create", op, claim)
        refused = [i.number for i in claim.invoices if i.number in self.agency.refuse_invoices]
        if not refused or not isinstance(outcome, Succeeded) or outcome.agency_reference is None:
            return outcome
        reference = outcome.agency_reference
        problem = Problem(title="Rejected by agency", status=422, code="agency_rejected", detail="fake: no")
        return PartiallyAccepted(
            agency_reference=reference,
            refused=tuple(RefusedInvoice(invoice_number=number, problem=problem) for number in refused),
            invoice_references={
                i.number: f"{reference}/{i.number}" for i in claim.invoices if i.number not in refused
            },
        )

    async def changes_since(self, credential: Credential, checkpoint: str | None, limit: int) -> ChangeBatch:
        agency = self.agency
        if credential.get("account_id") != agency.feed_account:
            return ChangeBatch(records=[], checkpoint=checkpoint, has_more=False)
        agency.feed_calls += 1
        if agency.feed_fail_next > 0:
            agency.feed_fail_next -= 1
            raise AgencyUnavailable("fake: feed 503", agency="fake")
        start = int(checkpoint or 0)
        records = agency.feed[start : start + limit]
        end = start + len(records)
        resume = max(start, end - agency.feed_overlap) if records else start
        return ChangeBatch(records=records, checkpoint=str(resume), has_more=end < len(agency.feed))

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        self.agency.claim_reads += 1
        self.agency.refs.append(ref)
        for kind, body in self.agency.ledger.values():
            if kind == "claim.create" and isinstance(body, ClaimCreate):
                invoices = [
                    Invoice(
                        number=i.number,
                        issued_on=i.issued_on,
                        due_on=i.due_on,
                        amount=i.amount,
                        costs=i.costs,
                        remaining=i.amount,
                    )
                    for i in body.invoices
                ]
                return AgencyClaim(
                    status="active",
                    invoices=invoices,
                    balance_amount=sum(i.amount.amount for i in body.invoices),
                )
        raise AgencyRejected("fake: no such claim", agency="fake")

    async def list_invoices(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        claim = await self.get_claim(credential, ref)
        start = int(position or 0)
        end = start + limit
        return AdapterPage(
            items=claim.invoices[start:end], next_position=str(end) if end < len(claim.invoices) else None
        )

    async def list_payments(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        return AdapterPage(items=[], next_position=None)

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome:
        return await self._write("payment.report", op, report)

    async def reverse_payment(
        self,
        credential: Credential,
        op: OperationContext,
        ref: ClaimRef,
        payment_id: str,
        reversal: PaymentReversal,
    ) -> Outcome:
        return await self._write("payment.reverse", op, reversal)

    async def add_credit_note(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, note: CreditNoteCreate
    ) -> Outcome:
        return await self._write("credit_note.create", op, note)

    async def withdraw(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, withdrawal: Withdrawal
    ) -> Outcome:
        self.agency.refs.append(ref)
        return await self._write("claim.withdraw", op, withdrawal)

    async def poll_outcomes(
        self, credential: Credential, pending: Sequence[PendingOutcome]
    ) -> Sequence[ResolvedOutcome]:
        resolved = []
        for item in pending:
            if item.tracking.startswith("T-") and not self.agency.undecided:
                outcome: Succeeded | Failed = Succeeded(agency_reference=item.tracking.removeprefix("T-"))
                if self.agency.reject_next is not None:
                    problem = Problem(
                        title="Rejected by agency",
                        status=422,
                        code="agency_rejected",
                        detail=self.agency.reject_next,
                    )
                    outcome = Failed(problem=problem)
                resolved.append(ResolvedOutcome(operation_id=item.operation_id, outcome=outcome))
        return resolved

    async def aclose(self) -> None:
        return None


def fake_spec(
    agency: FakeAgency, *, feeds: bool = False, review_timeout_seconds: float | None = None
) -> AdapterSpec:
    """The fake agency's spec; `feeds=True` declares its change feed (`FakeAgency.feed`)."""

    def create(context: AdapterContext) -> FakeAdapter:
        return FakeAdapter(agency)

    capabilities = msgspec.structs.replace(FAKE_CAPABILITIES, review_timeout_seconds=review_timeout_seconds)
    if feeds:
        capabilities = msgspec.structs.replace(
            capabilities, supported=frozenset(CAPABILITIES), feeds=frozenset(FEEDS)
        )
    return AdapterSpec(
        name="fake", capabilities=capabilities, create=create, credential_fields=("account_id",)
    )
