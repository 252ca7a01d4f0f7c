"""Delivers queued operations to their agency exactly once, and polls outcomes of submitted ones.

Delivery of one outbox entry:
1. Load the operation; final or already submitted → acknowledge (a duplicate entry is harmless).
2. A follow-up whose claim the agency has not confirmed yet waits (re-queued, no attempt spent);
   one on a rejected claim fails.
3. Mark the attempt `in_flight` in the store *before* calling the agency. A worker that finds
   `in_flight` already set knows its predecessor died mid-call, so it sets `maybe_sent` and the
   adapter reconciles (looks the write up at the agency) before resending.
4. Call the adapter with the operation's agency-side idempotency token (same on every attempt).
5. Store the outcome (operation, claim, events: one atomic step), then acknowledge the entry.
   Transient faults re-queue the entry with exponential backoff + jitter (honouring
   Retry-After) until `max_attempts`, then the operation fails with `agency_unavailable`.

A worker killed anywhere before step 5's acknowledgement leaves the entry pending in the stream;
another worker reclaims it after `reclaim_idle_seconds` (XAUTOCLAIM).

The poller asks each agency about submitted operations, once per credential per interval, for all
of them at once (adapters batch: Riverty reads /transactions once, Intrum asks /tracking per id).
A store lock per agency keeps replicas from polling the same agency in the same interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections import Counter, defaultdict
from typing import Any

import msgspec

from adapters._upstream import sync_budget
from adapters.base import (
    ChangeFeed,
    Failed,
    OperationContext,
    Outcome,
    PartiallyAccepted,
    PendingOutcome,
    Submitted,
    Succeeded,
)
from canonical import (
    FINAL_STATUSES,
    ClaimCreate,
    CreditNoteCreate,
    Event,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
)
from canonical.problems import (
    AgencyRateLimited,
    AgencyRejected,
    AgencyReviewTimeout,
    AgencyUnavailable,
    GatewayError,
    OutcomeUnknown,
    Problem,
    ServiceUnavailable,
)
from gateway import metrics
from gateway.ledger import apply_operation, new_ledger
from gateway.logs import bind_contextvars, get_logger
from gateway.runtime import Runtime
from gateway.services.feeds import apply_feed_batch, unpark
from gateway.services.privacy import PrivacyService
from gateway.services.reads import status_event
from gateway.services.writes import operation_token
from gateway.stores import ClaimRecord, OperationRecord, OutboxEntry, StoreUnavailable, new_id, utcnow
from gateway.stores.records import (
    LedgerStep,
    LedgerWrite,
)
from gateway.tracing import delivery_span
from gateway.webhooks.delivery import WebhookDispatcher

__all__ = ["Worker"]

log = logging.getLogger(__name__)
#: How often the worker reads the backlog gauges from the store.
BACKLOG_SECONDS = 5.0
#: One line per delivery attempt: operation, agency, kind, outcome, duration (and problem code).
attempt_log = get_logger("gateway.delivery")

#: Compare-and-set rounds before a ledger step gives up (another writer won every time).
_LEDGER_ATTEMPTS = 5
#: Records asked of a change feed per call, and calls per credential per interval at most.
FEED_BATCH = 100
FEED_ROUNDS = 10
#: Credentials whose feeds one worker reads at the same time.
FEED_CONCURRENCY = 8
#: Problem codes of a failed `claim.create` that mean the agency refused the claim (or could never
#: take it): only these make the claim `rejected`.
REFUSALS = frozenset({"agency_rejected", "unsupported_by_agency", "validation_failed"})


class Worker:
    def __init__(self, runtime: Runtime, consumer: str | None = None, *, batch: int = 16) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.settings = runtime.settings
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(3).hex()}"
        self.batch = batch
        self._next_poll: dict[str, float] = {}
        self._next_feed: dict[str, float] = {}
        #: loop name → time.monotonic() of its last completed round (liveness: `stalled`).
        self.heartbeats: dict[str, float] = {}
        #: (agency, tenant) → when this process last read that credential's feed successfully.
        self.feed_read_at: dict[tuple[str, str], float] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver, poll, read change feeds and send webhooks (gateway.webhooks.delivery, its own
        tasks) until `stop` is set."""
        now = time.monotonic()
        self.heartbeats.update(deliver=now, poll=now, feeds=now, backlog=now, webhooks=now)
        for name, agency in self.settings.agencies.items():
            metrics.FEED_INTERVAL.labels(name).set(agency.poll_interval_seconds)
        await asyncio.gather(
            self._deliver_loop(stop),
            self._poll_loop(stop),
            self._feed_loop(stop),
            self._backlog_loop(stop),
            WebhookDispatcher(self.runtime, on_round=lambda: self.beat("webhooks")).run(stop),
            self._retention_loop(stop),
        )

    def beat(self, loop: str) -> None:
        """A loop completed a round (each loop calls this once per round, failed rounds included:
        a store outage is readiness's business, a loop that stopped turning is liveness's)."""
        self.heartbeats[loop] = time.monotonic()
        metrics.WORKER_LOOP_HEARTBEAT.labels(loop).set(time.time())

    def stalled(self, within: float) -> list[str]:
        """The loops that have not completed a round for `within` seconds."""
        now = time.monotonic()
        return sorted(name for name, last in self.heartbeats.items() if now - last > within)

    async def _retention_loop(self, stop: asyncio.Event) -> None:
        """Closed claims' personal data past `personal_data_retention_days`: erased hourly, by one
        worker at a time (gateway.services.privacy)."""
        if self.settings.personal_data_retention_days <= 0:
            return
        while not stop.is_set():
            try:
                if await self.store.try_lock("retention", 3000):
                    await PrivacyService(self.runtime).erase_expired()
            except GatewayError as exc:
                log.warning("retention paused: %s", exc)
            except Exception:
                log.exception("retention paused by an unexpected failure")
            await _wait(stop, 3600.0)

    async def _deliver_loop(self, stop: asyncio.Event) -> None:
        # No failure ends a loop of the worker: a store outage (a StoreUnavailable, or a raw
        # Redis error from the adapters' shared state) pauses it, and it resumes when it can.
        while not stop.is_set():
            try:
                await self.deliver_once(block_seconds=0.5)
            except GatewayError as exc:  # store down: wait and try again
                log.warning("delivery paused: %s", exc)
                await _wait(stop, 1.0)
            except Exception:
                log.exception("delivery paused by an unexpected failure")
                await _wait(stop, 1.0)
            self.beat("deliver")

    async def _backlog_loop(self, stop: asyncio.Event) -> None:
        """The backlog gauges (outbox depth and age, submitted awaiting outcome), from the store."""
        while not stop.is_set():
            try:
                await self.observe_backlog()
            except GatewayError as exc:
                log.warning("backlog metrics paused: %s", exc.code)
            except Exception:
                log.exception("backlog metrics paused by an unexpected failure")
            self.beat("backlog")
            await _wait(stop, BACKLOG_SECONDS)

    async def observe_backlog(self) -> None:
        agencies = list(self.runtime.adapters)
        backlog = await self.store.backlog(agencies)
        metrics.OUTBOX_DEPTH.set(backlog.outbox)
        oldest = backlog.oldest_created_at
        metrics.OUTBOX_OLDEST_AGE.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
        for agency, count in backlog.submitted.items():
            metrics.OPERATIONS_AWAITING_OUTCOME.labels(agency).set(count)
        now = time.time()
        for (agency, tenant), last in self.feed_read_at.items():
            # As this process saw it; across replicas, time() - max(last success) is the lag.
            metrics.FEED_LAG.labels(agency, tenant).set(now - last)

    async def _poll_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.poll_once()
            except GatewayError as exc:
                log.warning("outcome polling paused: %s", exc)
            except Exception:
                log.exception("outcome polling paused by an unexpected failure")
            self.beat("poll")
            due = min(self._next_poll.values(), default=time.monotonic() + 1.0)
            await _wait(stop, max(0.01, min(1.0, due - time.monotonic())))

    # delivery
    async def deliver_once(self, block_seconds: float = 0.0) -> int:
        entries = await self.store.outbox_take(
            self.consumer, self.batch, block_seconds, self.settings.reclaim_idle_seconds
        )
        if not entries:
            return 0
        # While this worker is alive its entries stay its own, however long an attempt takes
        # (several agency calls, rate-limit waits): only a dead worker's entries are reclaimed,
        # so no operation is ever delivered by two workers at once.
        keeper = asyncio.create_task(self._keep_taken(entries))
        try:
            await asyncio.gather(*(self._deliver(entry) for entry in entries))
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        return len(entries)

    async def _keep_taken(self, entries: list[OutboxEntry]) -> None:
        interval = max(0.05, self.settings.reclaim_idle_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.store.outbox_touch(self.consumer, entries)
            except Exception:  # the store is down: nobody reclaims anything meanwhile either
                log.debug("could not keep %d outbox entries taken", len(entries), exc_info=True)

    async def _deliver(self, entry: OutboxEntry) -> None:
        bind_contextvars(operation_id=entry.operation_id)  # this delivery's task only (gather)
        operation = await self.store.get_operation(entry.operation_id)
        if operation is None or operation.status in FINAL_STATUSES or operation.status == "submitted":
            await self.store.outbox_ack(entry)
            return
        claim = await self.store.get_claim(operation.claim_id)
        bind_contextvars(claim_id=operation.claim_id)
        if claim is None:  # cannot happen: accepted together; never lose the entry silently
            log.error("operation %s has no claim %s", operation.id, operation.claim_id)
            await self.store.outbox_ack(entry)
            return
        if operation.kind != "claim.create":
            if claim.status == "rejected":
                problem = AgencyRejected("the claim was rejected by its agency").problem()
                await self._finish(operation, claim, Failed(problem=problem))
                await self.store.outbox_ack(entry)
                return
            if claim.agency_reference is None:  # the agency has not confirmed the claim yet
                given_up = await self._creation_given_up(claim)
                if given_up is not None:  # ...and never will: nothing to send this to
                    await self._finish(operation, claim, Failed(problem=given_up))
                    await self.store.outbox_ack(entry)
                    return
                interval = self._poll_interval(claim.agency)
                await self.store.outbox_retry_at(entry, time.time() + interval)
                return
        look_up_at = self._look_up_at(operation)
        if look_up_at > time.time():  # a write that may still land: too early to look it up
            await self.store.outbox_retry_at(entry, look_up_at)
            return
        operation.maybe_sent = operation.maybe_sent or operation.in_flight
        operation.in_flight = True
        operation.attempts += 1
        operation.updated_at = utcnow()
        await self.store.save_operation(operation)
        started = time.perf_counter()
        failure: GatewayError | None = None  # the gateway's own fault: the attempt is retried
        try:
            outcome = await self._call_within_budget(operation, claim)
        except AgencyUnavailable as exc:  # transient: 5xx, timeout, rate limit, breaker open
            operation.in_flight = False
            operation.maybe_sent = operation.maybe_sent or isinstance(exc, OutcomeUnknown)
            operation.updated_at = utcnow()  # when the attempt ended: the look-up waits from here
            gave_up = operation.attempts >= self.settings.max_attempts
            _attempted(operation, "gave_up" if gave_up else "retry", started, exc.code, str(exc))
            detail = f"{exc} (gave up after {operation.attempts} attempts)"
            if operation.maybe_sent:  # say so: the agency may hold it (docs/architecture.md)
                detail += f"; an earlier attempt may have reached {operation.agency}: check there before resubmitting"
            problem = AgencyUnavailable(detail).problem()
            await self._retry_or_give_up(entry, operation, claim, problem, exc.retry_after)
            return
        except ServiceUnavailable as exc:
            # Our store (the adapter's checkpoints, the upstream's shared rate-limit and token
            # state) failed mid-attempt: the gateway's fault, never the agency's answer. What the
            # attempt sent before is unknown to us: retried as maybe sent (looked up first).
            log.warning("delivering %s paused by the store: %s", operation.id, exc.code)
            failure = exc
        except GatewayError as exc:  # final: rejected, auth failed, unsupported
            outcome = Failed(problem=exc.problem())
        except Exception:
            log.exception("delivering %s failed unexpectedly", operation.id)
            failure = GatewayError("delivery failed in the gateway; see its logs")
        if failure is not None:
            _attempted(operation, "error", started, failure.code, failure.detail)
            operation.in_flight = False
            operation.maybe_sent = True
            operation.updated_at = utcnow()
            await self._retry_or_give_up(entry, operation, claim, failure.problem(), None)
            return
        operation.in_flight = False
        _attempted(
            operation, _outcome_name(outcome), started, _outcome_code(outcome), _outcome_detail(outcome)
        )
        await self._finish(operation, claim, outcome)
        await self.store.outbox_ack(entry)

    async def _retry_or_give_up(
        self,
        entry: OutboxEntry,
        operation: OperationRecord,
        claim: ClaimRecord,
        gave_up: Problem,
        retry_after: float | None,
    ) -> None:
        """After an attempt that ended without an outcome: fail with `gave_up` once the attempts
        ran out, else queue the entry again with backoff, never before the look-up may run."""
        if operation.attempts >= self.settings.max_attempts:
            await self._finish(operation, claim, Failed(problem=gave_up))
            await self.store.outbox_ack(entry)
            return
        await self.store.save_operation(operation)
        due = time.time() + self._backoff(operation.attempts, retry_after)
        await self.store.outbox_retry_at(entry, max(due, self._look_up_at(operation)))

    def attempt_budget(self, agency: str) -> float:
        """How long one delivery attempt may run before it is stopped: ten calls' timeouts, and
        never less than `reclaim_idle_seconds`."""
        settings = self.settings.agencies.get(agency)
        timeout = settings.timeout_seconds if settings else 30.0
        return max(self.settings.reclaim_idle_seconds, 10 * timeout)

    async def _call_within_budget(self, operation: OperationRecord, claim: ClaimRecord) -> Outcome:
        """The adapter call, stopped after `attempt_budget`. An attempt that hangs (a store call
        that never returns, say) would otherwise keep its entry taken for ever (`_keep_taken`):
        it is stopped and retried as maybe sent, like a timed-out write."""
        budget = self.attempt_budget(operation.agency)
        try:
            async with asyncio.timeout(budget):
                return await self._call(operation, claim)
        except TimeoutError:
            raise OutcomeUnknown(
                f"{operation.agency}: the attempt ran longer than {budget:g} s and was stopped",
                agency=operation.agency,
            ) from None

    async def _call(self, operation: OperationRecord, claim: ClaimRecord) -> Outcome:
        with delivery_span(self.runtime.tracer_provider, operation):  # continues the request's trace
            return await self._call_adapter(operation, claim)

    async def _call_adapter(self, operation: OperationRecord, claim: ClaimRecord) -> Outcome:
        adapter = self.runtime.adapter(operation.agency)
        credential = self.runtime.credential(operation.tenant, operation.agency)

        async def fix_request(request: str) -> None:  # stored before the request is sent
            operation.agency_request = request
            try:
                await self.store.save_operation(operation)
            except StoreUnavailable as exc:
                # Our store, not the agency, failed (a fixed request or a Steps checkpoint, before
                # anything was sent): never a final outcome — the attempt is retried.
                raise CheckpointNotStored(str(exc)) from exc

        context = OperationContext(
            id=operation.id,
            kind=operation.kind,
            idempotency_token=operation_token(operation.id),
            attempt=operation.attempts,
            maybe_sent=operation.maybe_sent,
            claim_id=claim.id,
            request=operation.agency_request,
            fix_request=fix_request,
        )
        payload = operation.payload
        if operation.kind == "claim.create":
            return await adapter.submit_claim(credential, context, _decode(payload, ClaimCreate))
        ref = claim.ref()
        match operation.kind:
            case "payment.report":
                return await adapter.report_payment(credential, context, ref, _decode(payload, PaymentReport))
            case "payment.reverse":
                reversal = _decode(payload, PaymentReversal)
                return await adapter.reverse_payment(
                    credential, context, ref, operation.target or "", reversal
                )
            case "credit_note.create":
                return await adapter.add_credit_note(
                    credential, context, ref, _decode(payload, CreditNoteCreate)
                )
            case "claim.withdraw":
                return await adapter.withdraw(credential, context, ref, _decode(payload, Withdrawal))
        raise AssertionError(f"unknown operation kind {operation.kind}")

    async def _finish(self, operation: OperationRecord, claim: ClaimRecord, outcome: Outcome) -> None:
        """Record an outcome: operation, claim, ledger and events in one atomic store step."""
        now = utcnow()
        operation.updated_at = now
        events: list[Event] = []
        changed_claim: ClaimRecord | None = None
        match outcome:
            case Submitted(tracking=tracking):
                operation.status = "submitted"
                operation.tracking = tracking
                operation.submitted_at = now
            case Succeeded(agency_reference=reference, invoice_references=invoice_references):
                operation.status = "succeeded"
                operation.error = None
                operation.invoice_references = dict(invoice_references)
                if operation.kind == "claim.create":
                    operation.agency_reference = reference
                else:
                    operation.agency_reference = reference or claim.agency_reference
            case PartiallyAccepted(
                agency_reference=reference, refused=refused, invoice_references=invoice_references
            ):
                # The claim exists at the agency with the other invoices: a success that lists
                # what was refused (the refused invoices owe nothing through this claim).
                operation.status = "succeeded"
                operation.error = None
                operation.agency_reference = reference
                operation.refused_invoices = list(refused)
                operation.invoice_references = dict(invoice_references)
            case Failed(problem=problem):
                operation.status = "failed"
                operation.error = problem
                if operation.kind == "claim.create" and problem.code in REFUSALS:
                    # `rejected` = the agency refused the creation (api.md). A creation given up
                    # on for another cause (agency unavailable, credentials refused, no decision
                    # in time) leaves the claim `pending`: never confirmed, and possibly held by
                    # the agency (docs/architecture.md, "A failed claim.create").
                    changed_claim = _claim_moved(claim, "rejected", now)
        if operation.status in FINAL_STATUSES:
            events.append(
                Event(
                    id=new_id("evt"),
                    type="operation.succeeded" if operation.status == "succeeded" else "operation.failed",
                    created_at=now,
                    claim_id=operation.claim_id,
                    data=msgspec.to_builtins(operation.public()),
                )
            )
        if operation.status == "succeeded":
            await self._apply_succeeded(operation, claim, events)
        else:
            if changed_claim is not None and changed_claim.status != claim.status:
                events.append(status_event(claim, changed_claim.status))
            await self.store.save_operation(operation, changed_claim, events)
        metrics.OPERATIONS.labels(operation.kind, operation.agency, operation.status).inc()

    async def _creation_given_up(self, claim: ClaimRecord) -> Problem | None:
        """The problem for a follow-up on a claim whose `claim.create` failed without the agency
        refusing it (the claim stays `pending`, unconfirmed): None while the creation may still
        succeed."""
        create = await self.store.get_operation(claim.create_operation_id)
        if create is None or create.status != "failed":
            return None
        code = create.error.code if create.error else "unknown"
        detail = (
            f"the claim was never confirmed by {claim.agency}: its creation {create.id} failed ({code});"
            " nothing was sent"
        )
        return AgencyUnavailable(detail).problem()

    def _look_up_at(self, operation: OperationRecord) -> float:
        """The earliest time (epoch seconds) an attempt of `operation` may run.

        A write whose outcome is unknown may still be carried out by the agency for a while after
        the gateway stopped waiting: a look-up before then would find nothing and the resend
        would book it twice (a ghost write). So it waits out the agency's commit latency bound,
        counted from the end of the unknown attempt; an attempt found `in_flight` (its worker
        died mid-call) started at `updated_at` and could have waited its full timeout first.
        """
        if not (operation.in_flight or operation.maybe_sent):
            return 0.0
        settings = self.settings.agencies.get(operation.agency)
        if settings is None:
            return 0.0
        bound = settings.commit_latency_seconds
        if operation.in_flight:
            bound += settings.timeout_seconds
        return operation.updated_at.timestamp() + bound

    async def _apply_succeeded(
        self, operation: OperationRecord, claim: ClaimRecord, events: list[Event]
    ) -> None:
        """A succeeded operation feeds the claim ledger at once, in the same atomic step as its
        own save (compare-and-set on the ledger's version; a feed that got there first, or a
        record parked for the claim's new reference meanwhile, makes us read again)."""
        for _ in range(_LEDGER_ATTEMPTS):
            current = await self.store.get_claim(claim.id) or claim
            ledger = await self.store.get_ledger(claim.id) or new_ledger(current)
            change = apply_operation(current, ledger, operation, operation.updated_at)
            # A creation that gives the claim its agency reference also applies the agency
            # records parked for it meanwhile (gateway.services.feeds), in the same step.
            both = await unpark(self.store, current, change, operation.updated_at)
            step = LedgerStep(
                tenant=operation.tenant,
                writes=[LedgerWrite(ledger=both.ledger, claim=both.claim)],
                events=[*events, *both.events],
                operation=operation,
                quarantine=both.quarantine,
                revealed=both.revealed,
                unpark=both.unpark,
            )
            if await self.store.commit_ledger(step):
                return
        raise StoreUnavailable(f"the ledger of {claim.id} kept changing; {operation.id} will be retried")

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        base = self.settings.retry_base_seconds * 2 ** (attempt - 1)
        delay = min(self.settings.retry_max_seconds, base) * random.uniform(0.5, 1.0)
        return float(max(delay, retry_after or 0.0))

    def _poll_interval(self, agency: str) -> float:
        settings = self.settings.agencies.get(agency)
        return settings.poll_interval_seconds if settings else 5.0

    # polling
    async def poll_once(self, force: bool = False) -> int:
        """Ask every due agency about its submitted operations; the number resolved."""
        resolved = 0
        now = time.monotonic()
        for agency, adapter in self.runtime.adapters.items():
            interval = self._poll_interval(agency)
            if not force and self._next_poll.get(agency, 0.0) > now:
                continue
            self._next_poll[agency] = now + interval
            if not force and not await self.store.try_lock(f"poll:{agency}", interval * 0.9):
                continue
            pending = await self.store.submitted_operations(agency)
            by_tenant: dict[str, list[OperationRecord]] = defaultdict(list)
            for operation in pending:
                by_tenant[operation.tenant].append(operation)
            for tenant, operations in by_tenant.items():
                resolved += await self._poll_tenant(adapter, agency, tenant, operations)
        return resolved

    async def _poll_tenant(
        self, adapter: Any, agency: str, tenant: str, operations: list[OperationRecord]
    ) -> int:
        by_id = {op.id: op for op in operations}
        pending = [
            PendingOutcome(
                operation_id=op.id,
                kind=op.kind,
                tracking=op.tracking or "",
                claim_id=op.claim_id,
                submitted_at=op.submitted_at or op.updated_at,
                agency_reference=op.agency_reference,
            )
            for op in operations
        ]
        try:
            results = await adapter.poll_outcomes(self.runtime.credential(tenant, agency), pending)
        except GatewayError as exc:  # the code, not the message: an agency's text may quote a debtor
            log.warning("polling %s for %s failed: %s", agency, tenant, exc.code)
            return 0
        except Exception:  # e.g. the adapter's checkpoint store is down: the next poll resumes
            log.exception("polling %s for %s failed unexpectedly", agency, tenant)
            return 0
        for result in results:
            operation = by_id.pop(result.operation_id, None)
            if operation is None:
                continue
            claim = await self.store.get_claim(operation.claim_id)
            if claim is not None:
                name = _outcome_name(result.outcome)
                if name in FINAL_STATUSES:
                    operation.record_step(
                        f"resolved_{name}",
                        code=_outcome_code(result.outcome),
                        detail=_outcome_detail(result.outcome),
                    )
                await self._finish(operation, claim, result.outcome)
        return len(results) + await self._review_timed_out(agency, list(by_id.values()))

    async def _review_timed_out(self, agency: str, operations: list[OperationRecord]) -> int:
        """Fail what stayed under the agency's review longer than its adapter declares
        (`Capabilities.review_timeout_seconds`); the failure names the agency's tracking."""
        timeout = self.runtime.specs[agency].capabilities.review_timeout_seconds
        if timeout is None:
            return 0
        ended = 0
        now = utcnow()
        for operation in operations:
            submitted_at = operation.submitted_at or operation.updated_at
            if (now - submitted_at).total_seconds() < timeout:
                continue
            claim = await self.store.get_claim(operation.claim_id)
            if claim is None:
                continue
            detail = (
                f"{operation.agency} did not decide within {timeout:g} s of review "
                f"(tracking {operation.tracking}); ask the agency, then submit again if it has nothing"
            )
            problem = AgencyReviewTimeout(detail).problem()
            await self._finish(operation, claim, Failed(problem=problem))
            ended += 1
        return ended

    # change feeds
    async def _feed_loop(self, stop: asyncio.Event) -> None:
        indexed = False
        while not stop.is_set():
            try:
                if not indexed:  # claims stored before the ledger: once, before their feeds
                    for tenant in sorted(self.settings.tenants):
                        if count := await self.store.index_claims(tenant):
                            log.info("indexed %d claims of %s for the claim ledger", count, tenant)
                    indexed = True
                await self.feed_once()
            except GatewayError as exc:  # store down: nothing was applied, the checkpoint stands
                log.warning("change feeds paused: %s", exc)
            except Exception:
                log.exception("change feeds: unexpected failure; trying again")
            self.beat("feeds")
            due = min(self._next_feed.values(), default=time.monotonic() + 1.0)
            await _wait(stop, max(0.01, min(1.0, due - time.monotonic())))

    def _feeds(self) -> list[tuple[str, str, Any]]:
        """(tenant, agency, adapter) for every credential whose agency declares a change feed."""
        found = []
        for tenant in sorted(self.settings.tenants):
            for agency, adapter in self.runtime.adapters.items():
                spec = self.runtime.specs.get(agency)
                if spec is None or not spec.capabilities.feeds or not isinstance(adapter, ChangeFeed):
                    continue
                if self.settings.credential(tenant, agency) is not None:
                    found.append((tenant, agency, adapter))
        return found

    async def feed_once(self, force: bool = False) -> int:
        """Read every due credential's change feed (under its lease), FEED_CONCURRENCY at a time
        so that one slow agency does not hold up the others; the records applied."""
        limit = asyncio.Semaphore(FEED_CONCURRENCY)
        feeds = self._feeds()
        keys = Counter(self.runtime.credential(tenant, agency).key for tenant, agency, _ in feeds)

        async def due(tenant: str, agency: str, adapter: Any) -> int:
            credential = self.runtime.credential(tenant, agency)
            # Tenants sharing one agency account each read its feed for their own claims (a
            # record is applied to the claim of the tenant reading it), under their own lease and
            # checkpoint: the feed's key is then the credential's key qualified by the tenant.
            feed = credential.key if keys[credential.key] == 1 else f"{credential.key}@{tenant}"
            interval = self._poll_interval(agency)
            now = time.monotonic()
            if not force and self._next_feed.get(feed, 0.0) > now:
                return 0
            self._next_feed[feed] = now + interval
            async with limit:
                # The lease: one worker reads a credential's feed per interval, whatever the
                # replica count. Correctness does not depend on it (records apply once, the
                # checkpoint is compare-and-set), only the agency's budget does.
                if not await self.store.try_lock(f"feed:{feed}", max(interval * 0.9, 0.01)):
                    return 0
                return await self.read_feed(tenant, agency, adapter, credential, feed=feed)

        results = await asyncio.gather(*(due(*each) for each in feeds), return_exceptions=True)
        for result in results:  # a store outage: reported once every credential had its turn
            if isinstance(result, BaseException):
                raise result
        return sum(r for r in results if isinstance(r, int))

    async def read_feed(
        self, tenant: str, agency: str, adapter: ChangeFeed, credential: Any, *, feed: str | None = None
    ) -> int:
        """Read one credential's feed from its checkpoint until it has no more (or the sync
        budget / FEED_ROUNDS say stop); each batch is applied with its checkpoint atomically.
        `feed` is the key its checkpoint is kept under (the credential's key unless shared)."""
        feed = feed or credential.key
        state = await self.store.get_feed(feed)
        applied = 0
        for _ in range(FEED_ROUNDS):
            try:
                with sync_budget():
                    batch = await adapter.changes_since(
                        credential, state.checkpoint if state else None, FEED_BATCH
                    )
            except AgencyRateLimited:
                log.debug("feed %s: sync budget spent for now", credential.key)
                break
            except GatewayError as exc:  # the code: an agency's text may quote a debtor
                log.warning("feed %s: %s", credential.key, exc.code)
                break
            except Exception:
                log.exception("feed %s: the adapter failed", credential.key)
                break
            self.feed_read_at[(agency, tenant)] = time.time()  # the agency answered
            metrics.FEED_LAST_SUCCESS.labels(agency, tenant).set(self.feed_read_at[(agency, tenant)])
            stored = await apply_feed_batch(self.store, tenant, agency, feed, state, batch)
            if stored is None:  # another worker moved the checkpoint: it owns this round
                break
            applied += len(batch.records)
            state = stored
            if not batch.has_more:
                break
        return applied


class CheckpointNotStored(RuntimeError):
    """The store failed while an adapter stored its request or step log (`fix_request`): a fault of
    the gateway's, retried like any unexpected one, never the operation's final failure."""


def _attempted(
    operation: OperationRecord, outcome: str, started: float, code: str | None, detail: str | None = None
) -> None:
    """The delivery attempt's log line, metrics and history step (operation_id and claim_id come
    from the context; the step is stored with the operation's next save)."""
    elapsed = time.perf_counter() - started
    operation.record_step(outcome, code=code, detail=detail, duration_ms=round(elapsed * 1000, 3))
    metrics.DELIVERY_ATTEMPTS.labels(operation.agency, operation.kind, outcome).inc()
    metrics.DELIVERY_SECONDS.labels(operation.agency).observe(elapsed)
    attempt_log.info(
        "delivery attempt",
        agency=operation.agency,
        kind=operation.kind,
        attempt=operation.attempts,
        outcome=outcome,
        code=code,
        duration_ms=round(elapsed * 1000, 3),
    )


def _outcome_name(outcome: Outcome) -> str:
    match outcome:
        case Submitted():
            return "submitted"
        case Succeeded() | PartiallyAccepted():
            return "succeeded"
        case Failed():
            return "failed"
    return "unknown"


def _outcome_code(outcome: Outcome) -> str | None:
    return outcome.problem.code if isinstance(outcome, Failed) else None


def _outcome_detail(outcome: Outcome) -> str | None:
    return outcome.problem.detail if isinstance(outcome, Failed) else None


def _claim_moved(claim: ClaimRecord, status: Any, now: Any) -> ClaimRecord:
    return msgspec.structs.replace(claim, status=status, updated_at=now)


def _decode(payload: dict[str, Any], kind: type[Any]) -> Any:
    return msgspec.convert(payload, kind, strict=False)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
