"""The Intrum adapter: the gateway's operations and reads in terms of CPS-API V1.

Every write is asynchronous at Intrum (202 + `trackingId`) and returns `Submitted`; the outcome
comes from `poll_outcomes`, which reads `/tracking` until COMPLETED or FAILED. The operation's
idempotency token is the `Idempotency-Key` Intrum sees on every attempt; Intrum answers a repeat
with its first answer for 7 days, so a write whose outcome is unknown (`maybe_sent`) is simply
sent again, with no look-up first.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import msgspec

from adapters.intrum.client import MAX_LIMIT, IntrumClient
from adapters.intrum.mapping import (
    AGENCY,
    CLAIM_TYPES,
    IntrumFeedError,
    allocate_oldest_due_first,
    from_wire_case,
    from_wire_invoice,
    from_wire_payment_record,
    payment_change,
    status_update_changes,
    to_wire_credit_note,
    to_wire_payment,
    to_wire_registration,
    to_wire_reversal,
    to_wire_withdrawal,
    tracking_outcome,
    withdrawal_key,
)
from adapters.intrum.wire import (
    DECODE_ERRORS,
    ENCODER,
    IntrumAccepted,
    IntrumCase,
    IntrumInvoice,
    IntrumPayment,
    IntrumPaymentRecord,
    IntrumPaymentReversal,
    IntrumStatusUpdate,
)
from adapters.sdk import CAPABILITIES as ALL_CAPABILITIES
from adapters.sdk import (
    AdapterContext,
    AdapterPage,
    AgencyClaim,
    AgencyRejected,
    AgencyUnavailable,
    Allocation,
    BadRequest,
    Capabilities,
    ChangeBatch,
    ChangeRecord,
    ClaimCreate,
    ClaimRef,
    Credential,
    CreditNoteCreate,
    Failed,
    FieldError,
    Money,
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
    from_major,
    unreadable,
)

__all__ = ["CAPABILITIES", "IntrumAdapter", "create"]

#: Everything Intrum does (CPS-API V1, "API Capabilities"). Currencies: any ISO 4217 code
#: ("currency: ISO-4217 currency code", registration). Claim types: those with an Intrum
#: `claimType`; `loan` has none (agency-api-notes.md).
CAPABILITIES = Capabilities(
    supported=frozenset(ALL_CAPABILITIES),
    currencies=None,
    claim_types=frozenset(CLAIM_TYPES),
    max_page_size=MAX_LIMIT,
    # /portfolio/statusUpdate (case status, invoices' remaining amounts) and /portfolio/payments
    # (what Intrum collected and journalized, and reversals).
    feeds=frozenset({"status", "payments", "invoices"}),
)

#: "Maximum allowed window: 100 days" (/portfolio/payments): from..to inclusive spans 100 days.
PAYMENT_WINDOW = dt.timedelta(days=99)
#: Agency calls one page of payments may take before it answers with what it has (a position
#: lets the next page go on), so that a sparse feed never holds a request for long.
_MAX_FEED_CALLS = 20
#: Invoice look-ups in flight at once for one claim (the upstream rate limiter queues the rest).
_INVOICE_FANOUT = 8


class Checkpoints(Protocol):
    """The adapter's small durable key/value (`AdapterContext.checkpoints`)."""

    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None: ...


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: How far back a feed read for the first time looks: the payments feed keeps 100 days.
_FEED_START = dt.timedelta(days=99)
#: Status updates carry whole seconds: a caught-up read resumes this long before the newest row.
_OVERLAP = dt.timedelta(seconds=2)
#: How long the adapter remembers an invoice's currency and a reported payment id: the payments
#: feed keeps 100 days, and a currency forgotten is asked of /invoices/query again (one call).
_REMEMBER_SECONDS = 120 * 86400


class _FeedCheckpoint(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where the change feed resumes: both of Intrum's feeds, each at its own cursor."""

    #: /portfolio/statusUpdate: `lastUpdatedFrom`, and the (timestamp, invoice) of the last row read
    updates_from: dt.datetime
    updates_after: tuple[dt.datetime, str] | None = None
    #: /portfolio/payments: the window's first day, and the last `recordId` read
    payments_from: dt.date
    payments_after: str | None = None
    #: which of the two is read next (one agency call per `changes_since`)
    turn: Literal["payments", "updates"] = "payments"


class IntrumAdapter:
    name = AGENCY
    capabilities = CAPABILITIES

    def __init__(
        self,
        context: AdapterContext,
        *,
        today: Callable[[], dt.date] = _utc_today,
        now: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._client = IntrumClient(context.http, token_url=str(context.config["token_url"]))
        self._checkpoints: Checkpoints | None = context.checkpoints
        self._today = today
        self._now = now

    async def aclose(self) -> None:
        """Nothing to close: the upstream client belongs to the gateway."""

    # --- writes ---

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        try:
            body = to_wire_registration(claim)
        except UnsupportedByAgency as exc:
            return Failed(problem=exc.problem())
        # The status feed's rows carry no currency: what the gateway sent is remembered per invoice.
        for invoice in claim.invoices:
            await self._remember_currency(credential, invoice.number, claim.currency)
        return await self._submit(self._client.register(credential, op.idempotency_token, body))

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome:
        # Allocations computed from today's open amounts would differ on a retry once the first
        # attempt is booked: the body is fixed at the first attempt and resent as it was.
        async def build() -> str:
            allocations = report.allocations
            if allocations is None:
                allocations = await self._allocate(credential, ref, report.amount)
            return ENCODER.encode(to_wire_payment(report, allocations)).decode()

        try:
            body = msgspec.json.decode(await op.fixed(build), type=IntrumPayment)
        except ValueError as exc:  # nothing to allocate to, or allocations that do not add up
            return Failed(
                problem=ValidationFailed([FieldError(pointer="/allocations", detail=str(exc))]).problem()
            )
        # Noted before sending: a payment the creditor reported reads back as theirs in the
        # payments feed, even when the answer to this call is lost.
        await self._remember_reported(credential, report.payment_id)
        return await self._submit(self._client.report_payment(credential, op.idempotency_token, body))

    async def reverse_payment(
        self,
        credential: Credential,
        op: OperationContext,
        ref: ClaimRef,
        payment_id: str,
        reversal: PaymentReversal,
    ) -> Outcome:
        # Reversals are always of the full payment ("Partial reversals are not supported");
        # Intrum takes no reason, only the date of the reversal.
        # The reversal date is today's at the first attempt, also when a retry runs after midnight.
        async def build() -> str:
            return ENCODER.encode(to_wire_reversal(payment_id, self._today())).decode()

        body = msgspec.json.decode(await op.fixed(build), type=IntrumPaymentReversal)
        return await self._submit(self._client.reverse_payment(credential, op.idempotency_token, body))

    async def add_credit_note(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, note: CreditNoteCreate
    ) -> Outcome:
        body = to_wire_credit_note(note)
        return await self._submit(self._client.add_credit_note(credential, op.idempotency_token, body))

    async def withdraw(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, withdrawal: Withdrawal
    ) -> Outcome:
        """One `/invoices/withdrawal` per invoice; the whole claim = every invoice still open.

        Each invoice's request has its own Idempotency-Key derived from the operation's token, so
        a retry after a partial failure resends only duplicates Intrum recognises.

        The whole claim's invoice list is read again on every attempt, on purpose (unlike a
        payment's allocations, which `op.fixed` keeps): a retry skips what an earlier attempt
        already withdrew (closed), and resending one still open replays that invoice's first
        answer under its own key; a list fixed at the first attempt would instead send an invoice
        closed in between (paid in full, say), which Intrum fails ("already closed") and with it
        the whole withdrawal.
        """
        if withdrawal.invoice_numbers:
            numbers = list(dict.fromkeys(withdrawal.invoice_numbers))
        else:
            case = await self._case(credential, ref)
            invoices = await self._invoices(credential, sorted(case.invoice_numbers))
            # A closed invoice (paid, already withdrawn) cannot be withdrawn again; when every
            # invoice is closed the case has "closed automatically" and there is nothing to send.
            numbers = [invoice.invoice_number for invoice in invoices if invoice.closing_code is None]
            if not numbers:
                return Succeeded(agency_reference=ref.agency_reference)
        trackings: list[str] = []
        for number in numbers:
            key = withdrawal_key(op.idempotency_token, number)
            try:
                accepted = await self._client.withdraw(
                    credential, key, to_wire_withdrawal(number, withdrawal.reason)
                )
            except AgencyRejected as exc:
                detail = f"invoice {number}: {exc.detail or exc}"
                return Failed(problem=AgencyRejected(detail, agency=AGENCY).problem())
            trackings.append(str(accepted.tracking_id))
        return Submitted(tracking=",".join(trackings))

    async def _submit(self, call: Any) -> Outcome:
        try:
            accepted: IntrumAccepted = await call
        except AgencyRejected as exc:  # 422: Intrum refused the content, for good
            return Failed(problem=exc.problem())
        return Submitted(tracking=str(accepted.tracking_id))

    async def _allocate(self, credential: Credential, ref: ClaimRef, amount: Money) -> list[Allocation]:
        case = await self._case(credential, ref)
        invoices = await self._invoices(credential, sorted(case.invoice_numbers))
        currency = amount.currency
        open_amounts = [
            (
                invoice.invoice_number,
                invoice.due_date,
                _minor(invoice.invoice_remaining_amount, currency)
                + _minor(invoice.invoice_remaining_client_costs or 0, currency),
            )
            for invoice in invoices
            if invoice.closing_code is None
        ] or [(invoice.invoice_number, invoice.due_date, 0) for invoice in invoices]
        return [
            Allocation(invoice_number=number, amount=Money(amount=part, currency=currency))
            for number, part in allocate_oldest_due_first(amount.amount, open_amounts)
        ]

    # --- outcomes ---

    async def poll_outcomes(
        self, credential: Credential, pending: Sequence[PendingOutcome]
    ) -> Sequence[ResolvedOutcome]:
        """Read `/tracking` for each submitted operation; those still in progress are left out."""
        resolved: list[ResolvedOutcome] = []
        for item in pending:
            try:
                ids = [int(part) for part in item.tracking.split(",")]
                trackings = [await self._client.tracking(credential, tracking_id) for tracking_id in ids]
            except ValueError:
                problem = AgencyRejected(
                    f"not an Intrum trackingId: {item.tracking!r}", agency=AGENCY
                ).problem()
                resolved.append(
                    ResolvedOutcome(operation_id=item.operation_id, outcome=Failed(problem=problem))
                )
                continue
            except AgencyRejected as exc:
                # Intrum does not know the trackingId (kept 90 days): nothing more will come of it.
                resolved.append(
                    ResolvedOutcome(operation_id=item.operation_id, outcome=Failed(problem=exc.problem()))
                )
                continue
            except AgencyUnavailable:
                if resolved:
                    break  # hand over what is known; the rest is asked again at the next poll
                raise
            outcome = tracking_outcome(trackings)
            if outcome is None:
                continue
            if isinstance(outcome, Succeeded) and outcome.agency_reference is None and item.agency_reference:
                outcome = Succeeded(agency_reference=item.agency_reference)
            resolved.append(ResolvedOutcome(operation_id=item.operation_id, outcome=outcome))
        return resolved

    # --- reads ---

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        case = await self._case(credential, ref)
        invoices = await self._invoices(credential, sorted(case.invoice_numbers))
        try:
            return from_wire_case(case, invoices, ref.currency)
        except MoneyError as exc:
            raise _unreadable(exc) from exc

    async def list_invoices(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        """Invoices in invoice-number order (Intrum's own `sortBy` for invoices); position = the
        last invoice number served, like Intrum's `startingAfter`."""
        case = await self._case(credential, ref)
        numbers = sorted(case.invoice_numbers)
        if position is not None:
            numbers = [number for number in numbers if number > position]
        page = numbers[: max(1, min(limit, MAX_LIMIT))]
        invoices = await self._invoices(credential, page)
        try:
            items = [from_wire_invoice(invoice) for invoice in invoices]
        except MoneyError as exc:
            raise _unreadable(exc) from exc
        return AdapterPage(items=items, next_position=page[-1] if len(numbers) > len(page) else None)

    async def list_payments(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        """The claim's records of the portfolio-wide `/portfolio/payments` feed.

        The feed takes windows of at most 100 days, paged by `recordId`; the position is
        "<window start>|<last recordId>" and the first window starts on the case's opening date.
        """
        limit = max(1, min(limit, MAX_LIMIT))
        today = self._today()
        if position is None:
            case = await self._case(credential, ref)
            start, cursor = case.case_opening_date or today - PAYMENT_WINDOW, None
        else:
            start, cursor = _open_position(position)
        records: list[IntrumPaymentRecord] = []
        calls = 0
        while start <= today and calls < _MAX_FEED_CALLS:
            end = min(start + PAYMENT_WINDOW, today)
            page = await self._client.payments(
                credential, journalized_from=start, journalized_to=end, starting_after=cursor
            )
            calls += 1
            for index, record in enumerate(page.payments):
                cursor = str(record.record_id)
                if str(record.case_number) != ref.agency_reference:
                    continue
                records.append(record)
                if len(records) == limit:
                    last = index == len(page.payments) - 1 and not page.has_more and end == today
                    return await self._payments_page(
                        credential, records, None if last else f"{start}|{cursor}"
                    )
            if page.has_more and page.payments:
                continue
            start, cursor = end + dt.timedelta(days=1), None
        position = f"{start}|{cursor or ''}" if start <= today else None
        return await self._payments_page(credential, records, position)

    async def _payments_page(
        self, credential: Credential, records: list[IntrumPaymentRecord], position: str | None
    ) -> AdapterPage:
        items = []
        for record in records:
            reported = bool(record.int_payment_id) and await self._was_reported(
                credential, record.int_payment_id or ""
            )
            try:
                items.append(from_wire_payment_record(record, reported_by_creditor=reported))
            except MoneyError as exc:
                raise _unreadable(exc) from exc
        return AdapterPage(items=items, next_position=position)

    # --- the change feed ---

    async def changes_since(self, credential: Credential, checkpoint: str | None, limit: int) -> ChangeBatch:
        """What changed at Intrum since `checkpoint`, from its two documented feeds:

        - `/portfolio/statusUpdate` ("invoices that have been updated since a given timestamp",
          sorted by `lastUpdatedTimestamp` then `invoiceNumber`, paged by both): each row is an
          invoice's remaining amounts now and its case's main status;
        - `/portfolio/payments` (what Intrum collected and journalized, and reversals; windows of
          at most 100 days, paged by `recordId`).

        One agency call per call, taking turns: a page of payments, then (`has_more`, so that it
        follows at once when the sync budget allows) a page of status updates, each feed staying
        on its turn while it has more. One call at a time because the feed's budget is a share of
        Intrum's 100 calls a minute: a read needing two calls in a row would fail its second one
        each time and never get on. A payment is read before the snapshot that shows its effect
        (payments do not move remaining amounts anyway: `remaining_reported`). A row that cannot
        be read becomes `Unreadable`; the cursor still moves past it.
        """
        state = self._open_checkpoint(checkpoint)
        if state.turn == "payments":
            records, more = await self._feed_payments(credential, state, max(1, limit))
            if not more:
                state.turn = "updates"
            return ChangeBatch(records=records, checkpoint=msgspec.json.encode(state).decode(), has_more=True)
        records, more = await self._feed_updates(credential, state, max(1, limit // 2))  # a row: two records
        if not more:
            state.turn = "payments"
        return ChangeBatch(records=records, checkpoint=msgspec.json.encode(state).decode(), has_more=more)

    async def _feed_payments(
        self, credential: Credential, state: _FeedCheckpoint, limit: int
    ) -> tuple[list[ChangeRecord], bool]:
        today = self._today()
        start = min(max(state.payments_from, today - PAYMENT_WINDOW), today)
        page = await self._client.payments_feed(
            credential,
            journalized_from=start,
            journalized_to=today,
            starting_after=state.payments_after,
            limit=limit,
        )
        state.payments_from = start
        records: list[ChangeRecord] = []
        for raw in page.payments:
            record_id = _record_id(raw)
            if record_id is not None:
                state.payments_after = record_id
            records.append(await self._payment(credential, raw))
        return records, page.has_more and bool(page.payments)

    async def _feed_updates(
        self, credential: Credential, state: _FeedCheckpoint, rows: int
    ) -> tuple[list[ChangeRecord], bool]:
        page = await self._client.status_updates_feed(
            credential, updated_from=state.updates_from, starting_after=state.updates_after, limit=rows
        )
        records: list[ChangeRecord] = []
        last: tuple[dt.datetime, str] | None = None
        for raw in page.updates:
            last = _row_position(raw) or last
            records.extend(await self._status_update(credential, raw))
        if page.has_more and last is not None:
            state.updates_after = last  # the next page of this read
            return records, True
        if last is not None:
            # Caught up: the next read starts a little before the newest row, without a cursor.
            # Intrum's timestamps are whole seconds, so an invoice may change again within the
            # second already read; re-reading that overlap finds it (its record id is its
            # content, so what was read before is applied once).
            state.updates_from = max(state.updates_from, last[0] - _OVERLAP)
            state.updates_after = None
        return records, False

    def _open_checkpoint(self, checkpoint: str | None) -> _FeedCheckpoint:
        if checkpoint is not None:
            try:
                return msgspec.json.decode(checkpoint, type=_FeedCheckpoint)
            except msgspec.DecodeError:
                pass  # not ours (an older format): start again; repeated records apply once
        now = self._now()
        return _FeedCheckpoint(updates_from=now - _FEED_START, payments_from=self._today() - _FEED_START)

    async def _status_update(self, credential: Credential, raw: msgspec.Raw) -> list[ChangeRecord]:
        try:
            update = msgspec.json.decode(raw, type=IntrumStatusUpdate)
        except DECODE_ERRORS as exc:
            return [unreadable(bytes(raw), f"intrum status update: {exc}")]
        reference = None if update.case_number is None else str(update.case_number)
        try:
            currency = await self._invoice_currency(credential, update.invoice_number)
            return list(status_update_changes(update, currency))
        except (IntrumFeedError, MoneyError, NotFound, AgencyRejected) as exc:
            return [unreadable(bytes(raw), f"intrum status update: {exc}", agency_reference=reference)]

    async def _payment(self, credential: Credential, raw: msgspec.Raw) -> ChangeRecord:
        try:
            record = msgspec.json.decode(raw, type=IntrumPaymentRecord)
        except DECODE_ERRORS as exc:
            return unreadable(bytes(raw), f"intrum payment record: {exc}")
        reported = bool(record.int_payment_id) and await self._was_reported(
            credential, record.int_payment_id or ""
        )
        try:
            return payment_change(record, reported_by_creditor=reported)
        except (IntrumFeedError, MoneyError) as exc:
            reference = None if record.case_number is None else str(record.case_number)
            return unreadable(
                bytes(raw),
                f"intrum payment record: {exc}",
                record_id=f"payment:{record.record_id}",
                agency_reference=reference,
            )

    def _currency_key(self, credential: Credential, invoice_number: str) -> str:
        return f"intrum:invoice-currency:{credential.key}:{invoice_number}"

    async def _remember_currency(self, credential: Credential, invoice_number: str, currency: str) -> None:
        if self._checkpoints is not None:
            await self._checkpoints.cache_set(
                self._currency_key(credential, invoice_number), currency.encode(), _REMEMBER_SECONDS
            )

    async def _invoice_currency(self, credential: Credential, invoice_number: str) -> str:
        """The invoice's currency: remembered from the registration, else `/invoices/query` once."""
        if self._checkpoints is not None:
            known = await self._checkpoints.cache_get(self._currency_key(credential, invoice_number))
            if known:
                return known.decode()
        invoice = await self._client.query_invoice(credential, invoice_number)
        await self._remember_currency(credential, invoice_number, invoice.currency)
        return invoice.currency

    # --- helpers ---

    async def _case(self, credential: Credential, ref: ClaimRef) -> IntrumCase:
        try:
            case_number = int(ref.agency_reference)
        except ValueError:
            raise NotFound(f"{ref.agency_reference!r} is not an Intrum case number") from None
        page = await self._client.query_cases(credential, case_number=case_number, limit=1)
        for case in page.matching_results:
            if case.case_number == case_number:
                return case
        raise NotFound(f"Intrum has no case {case_number}")

    async def _invoices(self, credential: Credential, numbers: Sequence[str]) -> list[IntrumInvoice]:
        gate = asyncio.Semaphore(_INVOICE_FANOUT)

        async def one(number: str) -> IntrumInvoice:
            async with gate:
                return await self._client.query_invoice(credential, number)

        return list(await asyncio.gather(*(one(number) for number in numbers)))

    def _reported_key(self, credential: Credential, payment_id: str) -> str:
        return f"intrum:reported-payment:{credential.key}:{payment_id}"

    async def _remember_reported(self, credential: Credential, payment_id: str) -> None:
        if self._checkpoints is not None:
            await self._checkpoints.cache_set(
                self._reported_key(credential, payment_id), b"1", _REMEMBER_SECONDS
            )

    async def _was_reported(self, credential: Credential, payment_id: str) -> bool:
        if self._checkpoints is None:
            return False
        return await self._checkpoints.cache_get(self._reported_key(credential, payment_id)) is not None


def create(context: AdapterContext) -> IntrumAdapter:
    return IntrumAdapter(context)


def _minor(value: Any, currency: str) -> int:
    try:
        return from_major(value, currency)
    except MoneyError as exc:
        raise _unreadable(exc) from exc


def _open_position(position: str) -> tuple[dt.date, str | None]:
    start, _, cursor = position.partition("|")
    try:
        return dt.date.fromisoformat(start), cursor or None
    except ValueError:
        raise BadRequest(f"not a payments position: {position!r}", code="invalid_cursor") from None


def _unreadable(exc: MoneyError) -> AgencyUnavailable:
    return AgencyUnavailable(f"intrum: an amount that is not exact in its currency: {exc}", agency=AGENCY)


class _Position(msgspec.Struct, kw_only=True, rename="camel"):
    """Just where a status update sits in Intrum's order, read even from a row that is otherwise
    unreadable, so that the cursor moves past it."""

    last_updated_timestamp: dt.datetime
    invoice_number: str


class _RecordId(msgspec.Struct, kw_only=True, rename="camel"):
    record_id: int | str


def _row_position(raw: msgspec.Raw) -> tuple[dt.datetime, str] | None:
    try:
        row = msgspec.json.decode(raw, type=_Position)
    except DECODE_ERRORS:
        return None
    stamp = row.last_updated_timestamp
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC), row.invoice_number)


def _record_id(raw: msgspec.Raw) -> str | None:
    try:
        return str(msgspec.json.decode(raw, type=_RecordId).record_id)
    except DECODE_ERRORS:
        return None
