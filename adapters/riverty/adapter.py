"""The Riverty adapter: the Adapter protocol on top of `client.py` and `mapping.py`.

Riverty is asynchronous for every write: `POST` answers `202 {requestId}` and the outcome (with
a new claim's `claimNumber`) appears only in the `GET /transactions` feed as CONFIRMATION or
REJECTION (agency-api-notes, Riverty). So writes return `Submitted(tracking=requestId)` and
`poll_outcomes` reads the feed **once per call for all pending operations of a credential**,
page after page to its end (`RivertyClient.transactions_since`, which makes progress whatever page
size Riverty serves), from a checkpoint kept in the shared checkpoint store:

- The checkpoint is `{since, seen}`: the feed is read from `since` (inclusive), `seen` holds the
  ids of the transactions at or after `since` that were already handled. After a read `since`
  moves to the newest transaction's timestamp minus a small overlap (late commits on Riverty's
  side), and `seen` to the ids within that overlap. Two transactions that share a timestamp are
  therefore never skipped: the next read starts at that timestamp again and drops what it saw.
- Every outcome read (CONFIRMATION, REJECTION) is kept under its requestId for a week *before*
  the checkpoint moves past it, and a pending operation not resolved by the read is looked up
  there: an outcome read before its operation was pending (the worker had not yet recorded
  `submitted`), or read by a poller killed before the worker stored it, is found again.

Pagination: the adapter's position is an item offset. Any gateway limit is served from Riverty's
1-based pages with the fewest calls (`_paging.plan_page`); a Riverty that serves another page
size than asked is followed (its `pagination` says where the items sit), and remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from adapters.riverty._paging import plan_page
from adapters.riverty.client import RivertyClient, RivertyItems, WriteAnswer
from adapters.riverty.mapping import (
    RivertyFeedError,
    claim_status,
    from_wire_invoice,
    invoice_changes,
    payment_view_id,
    rejection_detail,
    to_wire_cancellation,
    to_wire_claim,
    to_wire_credit_waiver,
    to_wire_payment,
    to_wire_recall,
    transaction_changes,
)
from adapters.riverty.wire import (
    RivertyCancellation,
    RivertyClaimSummary,
    RivertyInvoice,
    RivertyTransaction,
)
from adapters.sdk import CAPABILITIES as ALL_CAPABILITIES
from adapters.sdk import (
    AdapterContext,
    AdapterPage,
    AgencyClaim,
    AgencyRejected,
    AgencyUnavailable,
    BadRequest,
    Capabilities,
    ChangeBatch,
    ChangeRecord,
    ClaimCreate,
    ClaimRef,
    Credential,
    CreditNoteCreate,
    Failed,
    FinalOutcome,
    MemorySharedState,
    MoneyError,
    NotFound,
    OperationContext,
    Outcome,
    Payment,
    PaymentCollected,
    PaymentReport,
    PaymentReversal,
    PendingOutcome,
    ResolvedOutcome,
    Submitted,
    Succeeded,
    UnsupportedByAgency,
    UpstreamClient,
    Withdrawal,
    unreadable,
)

__all__ = ["CAPABILITIES", "RivertyAdapter"]

CAPABILITIES = Capabilities(
    # GET /transactions: STATUS and CLOSING (status), ACCOUNTING_DOCUMENT (payments), and the
    # documented invoice read after them (remaining amounts).
    feeds=frozenset({"status", "payments", "invoices"}),
    supported=frozenset(ALL_CAPABILITIES),
    # The invoice document: "currency — This reflects all relevant currencies in ISO-4217".
    currencies=None,
    # Riverty's claimType is principal vs. compensation, not the business type: all are sent.
    claim_types=None,
    max_page_size=100,
)

#: A claim found again after a lost answer while still IN_CREATION is tracked by its number.
_CLAIM_TRACKING = "claim:"
#: How far before the oldest pending operation the very first read of the feed starts
#: (covers a worker that records `submitted` a while after Riverty's 202, and clock skew).
_FIRST_READ_MARGIN = dt.timedelta(minutes=15)
#: Outcomes read before their operation was pending are kept this long.
_STASH_TTL_SECONDS = 7 * 24 * 3600
_UTC = dt.UTC
#: Where the change feed starts when read for the first time, and where a payments list starts.
_FEED_START = dt.timedelta(days=99)
_FEED_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: How long a reported paymentNumber is remembered (its accounting document comes within days).
_REMEMBER_SECONDS = 120 * 86400

log = logging.getLogger(__name__)


class _FixedCancellation(msgspec.Struct, kw_only=True):
    """A reversal's request as fixed at its first attempt: the body and when it was first sent."""

    at: dt.datetime
    body: RivertyCancellation


class _Checkpoint(msgspec.Struct, kw_only=True):
    since: dt.datetime
    #: transaction id → its timestamp, for every handled transaction at or after `since`.
    seen: dict[str, dt.datetime] = {}


def _option(config: Any, name: str, default: Any) -> Any:
    """An adapter option, top level or under `options` (the config file's escape hatch)."""
    if name in config:
        return config[name]
    options = config.get("options") or {}
    return options.get(name, default)


class RivertyAdapter:
    name = "riverty"
    capabilities = CAPABILITIES

    def __init__(self, context: AdapterContext) -> None:
        config = context.config
        http: UpstreamClient = context.http
        self._client = RivertyClient(
            http, token_url=str(config["token_url"]), audience=config.get("audience")
        )
        self._checkpoints = context.checkpoints if context.checkpoints is not None else MemorySharedState()
        #: Riverty's largest page (not documented: 100 unless configured or learnt from an answer).
        self._max_page_size = int(_option(config, "max_page_size", CAPABILITIES.max_page_size))
        self._overlap = dt.timedelta(seconds=float(_option(config, "transactions_overlap_seconds", 2.0)))
        self._batch = int(_option(config, "transactions_batch", 500))
        self._poll_locks: dict[str, asyncio.Lock] = {}
        #: Learnt from Riverty's answers, per list: a smaller largest page than configured, or a
        #: page size it serves whatever we ask for.
        self._page_cap: dict[str, int] = {}
        self._fixed_page_size: dict[str, int] = {}

    async def aclose(self) -> None:
        """Nothing of its own to close: the upstream client belongs to the gateway."""

    # --- claim creation ----------------------------------------------------------------------

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        # The gateway's claim id is the contract number: the one key Riverty keeps that lets us
        # find the claim again, since POST /claims takes no idempotency key.
        claim_id = op.claim_id or op.idempotency_token
        try:
            body = to_wire_claim(claim, claim_id)
        except MoneyError as exc:
            return _unsupported(str(exc))
        if op.maybe_sent:
            found = await self._find_claim(credential, claim_id)
            if found is not None:
                return found
        request_id = await self._client.submit_claim(credential, body, (claim_id, op.id))
        return Submitted(tracking=request_id)

    async def _find_claim(self, credential: Credential, claim_id: str) -> Outcome | None:
        """The outcome of a claim an earlier attempt may have created, or None if Riverty has none."""
        summaries = await self._client.search_claims(credential, (claim_id,), contractNumber=claim_id)
        for summary in summaries:
            if not summary.contract_numbers or claim_id in summary.contract_numbers:
                return _claim_outcome(summary)
        return None

    # --- reads -------------------------------------------------------------------------------

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        summary = await self._claim_summary(credential, ref)
        documents: list[RivertyInvoice] = []
        offset = 0
        while True:  # every invoice: pages of the largest size, as few calls as that allows
            page, total = await self._window(
                "invoices",
                lambda p, s: self._client.invoices(credential, ref.agency_reference, p, s, (ref.claim_id,)),
                offset,
                self._max_page_size,
            )
            documents += page
            offset += len(page)
            if not page or total is None or offset >= total:
                break
        invoices = [_mapped(from_wire_invoice, item) for item in documents]
        balance = sum(i.remaining.amount + (i.costs.amount if i.costs else 0) for i in invoices)
        return AgencyClaim(
            status=claim_status(summary.status, summary.closing_reason),
            invoices=invoices,
            balance_amount=balance,
            agency_data={"claim": msgspec.to_builtins(summary)},
        )

    async def _claim_summary(self, credential: Credential, ref: ClaimRef) -> RivertyClaimSummary:
        summaries = await self._client.search_claims(
            credential, (ref.claim_id,), claimNumber=ref.agency_reference
        )
        for summary in summaries:
            if summary.claim_number == ref.agency_reference:
                return summary
        raise NotFound(f"riverty does not know claim {ref.agency_reference}")

    async def list_invoices(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        offset = _offset(position)
        items, total = await self._window(
            "invoices",
            lambda p, s: self._client.invoices(credential, ref.agency_reference, p, s, (ref.claim_id,)),
            offset,
            limit,
        )
        invoices = [_mapped(from_wire_invoice, item) for item in items]
        return AdapterPage(items=invoices, next_position=_next(offset, len(items), limit, total))

    async def list_payments(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage:
        """The claim's payments and their cancellations, from the one documented place Riverty
        reports them: the ACCOUNTING_DOCUMENT entries of `GET /transactions` (no document names a
        per-claim list of accounting documents). The whole feed is read for one claim, so this is
        slow; the gateway answers payment lists from its ledger and never calls it on a request.
        Credit waivers are the creditor's credit notes, not payments: left out."""
        offset = _offset(position)
        payments: list[Payment] = []
        async with contextlib.aclosing(
            self._client.transactions_since(credential, _FEED_EPOCH, page_size=self._max_page_size)
        ) as feed:
            async for tx in feed:
                if tx.claim_number != ref.agency_reference or tx.type != "ACCOUNTING_DOCUMENT":
                    continue
                reported = await self._was_reported(credential, tx.document_number or "")
                for change in _mapped(
                    functools.partial(transaction_changes, reported_by_creditor=reported), tx
                ):
                    if isinstance(change, PaymentCollected):
                        payments.append(_payment_entry(ref.agency_reference, change))
        page = payments[offset : offset + limit]
        end = offset + len(page)
        return AdapterPage(items=page, next_position=str(end) if end < len(payments) else None)

    # --- the change feed ---------------------------------------------------------------------

    async def changes_since(self, credential: Credential, checkpoint: str | None, limit: int) -> ChangeBatch:
        """What changed at Riverty since `checkpoint`, from `GET /transactions` (its one feed):
        STATUS and CLOSING entries (the claim's status), ACCOUNTING_DOCUMENT entries (payments,
        Riverty's own and the creditor's, and their cancellations), and — for each claim with an
        accounting document or a closing in the batch — its invoices' remaining amounts from
        `GET /claims/{n}/invoices`.

        The checkpoint is `{since, seen}` as for the outcome poller (its own, separate copy):
        read from `since` (inclusive), drop the ids in `seen`, then move `since` to the newest
        timestamp read minus the overlap. At most `limit` feed entries per call. An entry that
        does not decode (a number where a string is expected is read as one) or cannot be read
        becomes `Unreadable`; the feed goes on.
        """
        state = self._feed_checkpoint(checkpoint)
        seen = dict(state.seen)
        records: list[ChangeRecord] = []
        touched: dict[str, str] = {}  # claim number → the last transaction that changed its amounts
        broken: list[tuple[bytes, str]] = []
        taken = 0
        more = False

        def set_aside(raw: bytes, reason: str) -> None:
            broken.append((raw, reason))

        async def drain() -> None:
            while broken:
                raw, reason = broken.pop(0)
                tx = _tolerant_transaction(raw)
                if tx is None:
                    records.append(unreadable(raw, f"riverty transaction: {reason}"))
                else:
                    await take(tx, raw)

        async def take(tx: RivertyTransaction, raw: bytes | None) -> None:
            seen[tx.transaction_id] = _aware(tx.created_at)
            reported = tx.type == "ACCOUNTING_DOCUMENT" and await self._was_reported(
                credential, tx.document_number or ""
            )
            try:
                changes = transaction_changes(tx, reported_by_creditor=reported)
            except (RivertyFeedError, MoneyError) as exc:
                body = raw if raw is not None else msgspec.json.encode(tx)
                records.append(
                    unreadable(
                        body,
                        f"riverty transaction: {exc}",
                        record_id=f"tx:{tx.transaction_id}",
                        agency_reference=tx.claim_number,
                    )
                )
                return
            records.extend(changes)
            if tx.claim_number and tx.type in ("ACCOUNTING_DOCUMENT", "CLOSING"):
                touched[tx.claim_number] = tx.transaction_id

        async with contextlib.aclosing(
            self._client.transactions_since(
                credential,
                state.since,
                page_size=min(self._max_page_size, len(seen) + limit),
                on_unreadable=set_aside,
            )
        ) as feed:
            async for tx in feed:
                await drain()
                if tx.transaction_id in seen:
                    continue
                if taken >= limit:
                    more = True
                    break
                taken += 1
                await take(tx, None)
        await drain()
        for claim_number, after in touched.items():
            records.extend(await self._remaining_amounts(credential, claim_number, after))
        checkpoint_after = self._advance(_Checkpoint(since=state.since, seen=state.seen), seen)
        return ChangeBatch(
            records=records, checkpoint=msgspec.json.encode(checkpoint_after).decode(), has_more=more
        )

    def _feed_checkpoint(self, checkpoint: str | None) -> _Checkpoint:
        if checkpoint is not None:
            try:
                return msgspec.json.decode(checkpoint, type=_Checkpoint)
            except msgspec.DecodeError:
                pass  # not ours: start again (records already applied are applied once)
        return _Checkpoint(since=dt.datetime.now(_UTC) - _FEED_START)

    async def _remaining_amounts(
        self, credential: Credential, claim_number: str, after: str
    ) -> list[ChangeRecord]:
        """The claim's invoices now (documented: `GET /claims/{n}/invoices`), as InvoiceChanged."""
        items: list[RivertyInvoice] = []
        offset = 0
        try:
            while True:
                page, total = await self._window(
                    "invoices",
                    lambda p, s: self._client.invoices(credential, claim_number, p, s, (credential.tenant,)),
                    offset,
                    self._max_page_size,
                )
                items += page
                offset += len(page)
                if not page or total is None or offset >= total:
                    break
        except NotFound:
            return []
        try:
            return list(invoice_changes(claim_number, after, items))
        except MoneyError as exc:
            return [
                unreadable(
                    msgspec.json.encode(items),
                    f"riverty invoices of {claim_number}: {exc}",
                    agency_reference=claim_number,
                )
            ]

    def _reported_key(self, credential: Credential, payment_number: str) -> str:
        return f"riverty:reported-payment:{credential.key}:{payment_number}"

    async def _was_reported(self, credential: Credential, payment_number: str) -> bool:
        if not payment_number:
            return False
        return await self._checkpoints.cache_get(self._reported_key(credential, payment_number)) is not None

    async def _window(
        self,
        list_name: str,
        fetch: Callable[[int, int], Awaitable[RivertyItems]],
        offset: int,
        limit: int,
    ) -> tuple[list[Any], int | None]:
        """Items [offset, offset+limit) of a 1-based paged list, and the list's total if known.

        Each call fetches the page that holds the first missing item and as much of the rest as
        one page can (`plan_page`). Items are placed by where Riverty says its page starts
        (`(currentPage-1) * pageSize`), so a page size other than the one asked for can never
        shift, skip or repeat an item.
        """
        collected: dict[int, Any] = {}
        total: int | None = None
        end = offset + limit
        for _ in range(limit + 3):  # every call adds an item; the bound only guards a broken peer
            stop = end if total is None else min(end, total)
            first = next((i for i in range(offset, stop) if i not in collected), None)
            if first is None:
                return [collected[i] for i in range(offset, stop)], total
            fixed = self._fixed_page_size.get(list_name)
            if fixed is not None:
                page, size = first // fixed + 1, fixed
            else:
                page, size = plan_page(first, stop, self._page_cap.get(list_name, self._max_page_size))
            result = await fetch(page, size)
            pagination = result.pagination
            actual_size = pagination.page_size or size
            actual_page = pagination.current_page or page
            if actual_size < size:  # Riverty caps the page size: plan within its cap from now on
                self._page_cap[list_name] = actual_size
            elif actual_size > size:  # Riverty ignores the page size asked for: follow its own
                self._fixed_page_size[list_name] = actual_size
            start = (actual_page - 1) * actual_size
            for index, item in enumerate(result.items):
                collected[start + index] = item
            if pagination.total_items is not None:
                total = pagination.total_items
            elif len(result.items) < actual_size:  # no totals: a short page is the last one
                total = start + len(result.items)
        raise AgencyUnavailable("riverty: pages do not line up; gave up listing", agency="riverty")

    # --- follow-up writes --------------------------------------------------------------------

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome:
        try:
            body = to_wire_payment(report)
        except MoneyError as exc:
            return _unsupported(str(exc))
        # Noted before sending: the feed's accounting document with this paymentNumber is the
        # creditor's own payment (Riverty's entry says nothing of who reported it).
        await self._checkpoints.cache_set(
            self._reported_key(credential, report.payment_id), b"1", _REMEMBER_SECONDS
        )
        answer = await self._client.report_payment(
            credential, ref.agency_reference, body, (ref.claim_id, op.id)
        )
        return _write_outcome(answer, op, agency_reference=ref.agency_reference)

    async def add_credit_note(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, note: CreditNoteCreate
    ) -> Outcome:
        try:
            body = to_wire_credit_waiver(note)
        except MoneyError as exc:
            return _unsupported(str(exc))
        answer = await self._client.add_credit_waiver(
            credential, ref.agency_reference, body, (ref.claim_id, op.id)
        )
        return _write_outcome(answer, op, agency_reference=ref.agency_reference)

    async def withdraw(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, withdrawal: Withdrawal
    ) -> Outcome:
        # A recall has no client key, and the notes do not say Riverty takes a repeat: after a
        # lost answer the adapter looks first (the worker has waited out the commit latency).
        if op.maybe_sent and await self._recalled(credential, ref, withdrawal.invoice_numbers):
            return Succeeded(agency_reference=ref.agency_reference)
        answer = await self._client.recall(
            credential, ref.agency_reference, to_wire_recall(withdrawal), (ref.claim_id, op.id)
        )
        return _write_outcome(answer, op, agency_reference=ref.agency_reference)

    async def _recalled(
        self, credential: Credential, ref: ClaimRef, invoice_numbers: list[str] | None
    ) -> bool:
        """Whether what a recall names is out of collection, from documented fields only: a claim
        `CLOSED` in `/claims/search` (whatever closed it: the documents name no closing reason)
        has nothing left to recall; named invoices are recalled when each reads
        `remainingAmount` 0 (and no costs) in `/claims/{n}/invoices`."""
        summary = await self._claim_summary(credential, ref)
        if summary.status == "CLOSED":
            return True
        if not invoice_numbers:
            return False
        wanted = set(invoice_numbers)
        offset = 0
        while wanted:
            page, total = await self._window(
                "invoices",
                lambda p, s: self._client.invoices(credential, ref.agency_reference, p, s, (ref.claim_id,)),
                offset,
                self._max_page_size,
            )
            for invoice in page:
                assert isinstance(invoice, RivertyInvoice)
                if invoice.invoice_number in wanted:
                    costs = invoice.costs.amount if invoice.costs else 0
                    if invoice.remaining_amount != 0 or costs != 0:
                        return False
                    wanted.discard(invoice.invoice_number)
            offset += len(page)
            if not page or total is None or offset >= total:
                break
        return not wanted

    async def reverse_payment(
        self,
        credential: Credential,
        op: OperationContext,
        ref: ClaimRef,
        payment_id: str,
        reversal: PaymentReversal,
    ) -> Outcome:
        # The cancellation is fixed at the first attempt together with when it was first sent:
        # after a lost answer, an ACCOUNTING_DOCUMENT for the payment in /transactions since then
        # is the cancellation (Riverty refuses to cancel a document twice, so look first).
        async def build() -> str:
            # The payment's own booking record must be older than the window a look-up reads.
            now = dt.datetime.now(_UTC)
            if await self._document_records(credential, ref, payment_id, now - 2 * self._overlap):
                raise AgencyUnavailable(
                    f"riverty booked payment {payment_id} moments ago; its reversal waits",
                    agency="riverty",
                    retry_after=2 * self._overlap.total_seconds() + 1,
                )
            fixed = _FixedCancellation(at=now, body=to_wire_cancellation(payment_id, reversal))
            return msgspec.json.encode(fixed).decode()

        fixed = msgspec.json.decode(await op.fixed(build), type=_FixedCancellation)
        if op.maybe_sent and await self._document_records(
            credential, ref, payment_id, fixed.at - self._overlap
        ):
            return Succeeded(agency_reference=ref.agency_reference)
        answer = await self._client.cancel_document(
            credential, ref.agency_reference, fixed.body, (ref.claim_id, op.id)
        )
        return _write_outcome(answer, op, agency_reference=ref.agency_reference)

    async def _document_records(
        self, credential: Credential, ref: ClaimRef, document_number: str, since: dt.datetime
    ) -> list[dt.datetime]:
        """When `/transactions` recorded an ACCOUNTING_DOCUMENT for `document_number` on the claim
        since `since` (the documented feed; a payment's booking and its cancellation each make
        one). A reversal is first sent only once its payment's booking is older than twice the
        overlap, so a look-up reading from its first attempt less the overlap (Riverty's
        whole-second timestamps, clock skew) sees the cancellation and never the booking."""
        return [
            _aware(tx.created_at)
            async for tx in self._client.transactions_since(
                credential, since, page_size=self._batch, on_unreadable=_set_aside
            )
            if tx.type == "ACCOUNTING_DOCUMENT"
            and tx.claim_number == ref.agency_reference
            and tx.document_number == document_number
        ]

    # --- outcomes ----------------------------------------------------------------------------

    async def poll_outcomes(
        self, credential: Credential, pending: Sequence[PendingOutcome]
    ) -> Sequence[ResolvedOutcome]:
        if not pending:
            return []
        lock = self._poll_locks.setdefault(credential.key, asyncio.Lock())
        async with lock:
            return await self._poll(credential, pending)

    async def _poll(self, credential: Credential, pending: Sequence[PendingOutcome]) -> list[ResolvedOutcome]:
        checkpoint_key = f"riverty:transactions:{credential.key}"
        raw = await self._checkpoints.cache_get(checkpoint_key)
        if raw is None:
            oldest = min(_aware(p.submitted_at) for p in pending)
            checkpoint = _Checkpoint(since=oldest - _FIRST_READ_MARGIN)
        else:
            checkpoint = msgspec.json.decode(raw, type=_Checkpoint)

        # One pass over the feed for every pending operation of this credential, page by page
        # until its end (Riverty's page size, whatever it is, never stalls it).
        by_tracking = {p.tracking: p for p in pending}
        resolved: dict[str, ResolvedOutcome] = {}
        seen = dict(checkpoint.seen)
        outcomes: list[RivertyTransaction] = []
        async for tx in self._client.transactions_since(
            credential, checkpoint.since, page_size=self._batch, on_unreadable=_set_aside
        ):
            if tx.transaction_id in seen:
                continue
            seen[tx.transaction_id] = _aware(tx.created_at)
            if tx.type not in ("CONFIRMATION", "REJECTION"):
                continue
            if tx.request_id:
                outcomes.append(tx)
            op = by_tracking.get(tx.request_id or "") or by_tracking.get(
                f"{_CLAIM_TRACKING}{tx.claim_number}"
            )
            if op is not None:
                resolved[op.operation_id] = ResolvedOutcome(
                    operation_id=op.operation_id, outcome=_tx_outcome(tx, op)
                )
        # Every outcome read is kept under its requestId *before* the checkpoint moves past it:
        # the worker stores the outcomes only after this returns, and a poller killed in between
        # finds them here next time (an outcome read before its operation was pending, too).
        for tx in outcomes:
            await self._checkpoints.cache_set(
                self._stash_key(credential, tx.request_id or ""), msgspec.json.encode(tx), _STASH_TTL_SECONDS
            )

        for op in pending:
            if op.operation_id in resolved:
                continue
            if op.tracking.startswith(_CLAIM_TRACKING):
                outcome = await self._claim_tracking_outcome(credential, op)
            else:
                stashed = await self._checkpoints.cache_get(self._stash_key(credential, op.tracking))
                outcome = None
                if stashed is not None:
                    outcome = _tx_outcome(msgspec.json.decode(stashed, type=RivertyTransaction), op)
            if outcome is not None:
                resolved[op.operation_id] = ResolvedOutcome(operation_id=op.operation_id, outcome=outcome)

        await self._checkpoints.cache_set(
            checkpoint_key, msgspec.json.encode(self._advance(checkpoint, seen)), None
        )
        return list(resolved.values())

    def _advance(self, checkpoint: _Checkpoint, seen: dict[str, dt.datetime]) -> _Checkpoint:
        """Move `since` to the newest timestamp read minus the overlap, never backwards; keep the
        ids at or after it so the overlapping read drops them."""
        if not seen:
            return checkpoint
        newest = max(seen.values())
        since = max(checkpoint.since, newest - self._overlap)
        kept = {tx_id: at for tx_id, at in seen.items() if at >= since}
        if len(kept) > self._batch:  # a burst within the overlap: keep only the newest timestamp's ids
            since = newest
            kept = {tx_id: at for tx_id, at in seen.items() if at >= since}
        return _Checkpoint(since=since, seen=kept)

    def _stash_key(self, credential: Credential, request_id: str) -> str:
        return f"riverty:outcome:{credential.key}:{request_id}"

    async def _claim_tracking_outcome(
        self, credential: Credential, op: PendingOutcome
    ) -> FinalOutcome | None:
        """A claim found again after a lost answer is tracked by its number (its requestId is
        unknown): rare, so asking /claims/search for it is fine."""
        number = op.tracking.removeprefix(_CLAIM_TRACKING)
        summaries = await self._client.search_claims(credential, (op.claim_id,), claimNumber=number)
        for summary in summaries:
            if summary.claim_number == number:
                outcome = _claim_outcome(summary)
                return None if isinstance(outcome, Submitted) else outcome
        return None


# --- helpers ---------------------------------------------------------------------------------


def _tolerant_transaction(raw: bytes) -> RivertyTransaction | None:
    """A feed entry that did not decode because an id came as a number: read it with the ids as
    text (ids are read tolerantly); None when it still cannot be read."""
    try:
        entry = msgspec.json.decode(raw)
        if not isinstance(entry, dict):
            return None
        for name in ("transactionId", "claimNumber", "requestId", "documentNumber"):
            if isinstance(entry.get(name), int) and not isinstance(entry.get(name), bool):
                entry[name] = str(entry[name])
        return msgspec.json.decode(msgspec.json.encode(entry), type=RivertyTransaction)
    except msgspec.DecodeError:
        return None


def _payment_entry(claim_number: str, change: PaymentCollected) -> Payment:
    return Payment(
        id=payment_view_id(claim_number, change.record_id),
        payment_id=change.payment_id,
        source=change.source,
        kind=change.kind,
        amount=change.amount,
        paid_on=change.paid_on,
        allocations=change.allocations,
    )


def _set_aside(raw: bytes, reason: str) -> None:
    """A feed record that does not decode is skipped (logged), never a blocked feed. The log names
    why and how long, not the record: an agency's record may name the debtor."""
    log.warning("riverty: an unreadable /transactions record was set aside (%s, %d bytes)", reason, len(raw))


def _claim_outcome(summary: RivertyClaimSummary) -> Outcome:
    match claim_status(summary.status, summary.closing_reason):
        case "pending":
            return Submitted(tracking=f"{_CLAIM_TRACKING}{summary.claim_number}")
        case "rejected":
            detail = f"Riverty rejected the claim (claim number {summary.claim_number})"
            return Failed(problem=AgencyRejected(detail, agency="riverty").problem())
        case _:
            return Succeeded(agency_reference=summary.claim_number)


def _tx_outcome(tx: RivertyTransaction, op: PendingOutcome) -> Succeeded | Failed:
    """A follow-up's agency reference is its claim's number, however it succeeded."""
    if tx.type == "REJECTION":
        return Failed(problem=AgencyRejected(rejection_detail(tx.reasons), agency="riverty").problem())
    if op.kind == "claim.create":
        return Succeeded(agency_reference=tx.claim_number)
    return Succeeded(agency_reference=op.agency_reference or tx.claim_number)


def _write_outcome(answer: WriteAnswer, op: OperationContext, *, agency_reference: str) -> Outcome:
    if answer.request_id is not None:
        return Submitted(tracking=answer.request_id)
    # Riverty refused the client number as a duplicate. After an attempt whose answer was lost
    # that duplicate is our own first attempt: the write is there, which is success.
    if op.maybe_sent:
        return Succeeded(agency_reference=agency_reference)
    detail = f"Riverty refused the request as a duplicate: {answer.message}"
    return Failed(problem=AgencyRejected(detail, agency="riverty").problem())


def _unsupported(detail: str) -> Failed:
    return Failed(problem=UnsupportedByAgency("riverty", "amount", detail).problem())


def _mapped(convert: Callable[[Any], Any], item: Any) -> Any:
    try:
        return convert(item)
    except MoneyError as exc:
        raise AgencyUnavailable(
            f"riverty sent an amount we cannot read exactly: {exc}", agency="riverty"
        ) from exc


def _offset(position: str | None) -> int:
    if position is None:
        return 0
    if position.isdigit():
        return int(position)
    raise BadRequest(f"not a Riverty list position: {position!r}", code="invalid_cursor")


def _next(offset: int, count: int, limit: int, total: int | None) -> str | None:
    end = offset + count
    if total is not None:
        return str(end) if end < total else None
    return str(end) if count == limit else None


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_UTC)
