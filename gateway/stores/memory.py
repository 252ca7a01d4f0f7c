"""The embedded store: everything in this process's memory (make run, service-layer tests).

Same contract as the Redis store, including pending outbox entries that another consumer reclaims
after `reclaim_idle_seconds`. No persistence: a restart forgets everything, which is what a demo
and a test want and what production must not use.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from adapters._upstream import MemorySharedState
from canonical import FINAL_STATUSES, Event, OperationStatus
from gateway.stores.base import Backlog, Begun, DuplicateClientReference, IdempotencyWrite, RoutingChanged
from gateway.stores.records import (
    PARKED_DAYS,
    PARKED_MAX,
    QUARANTINE_MAX,
    ApiKeyRecord,
    AuditEntry,
    ClaimLedger,
    ClaimRecord,
    FeedState,
    IdempotencyRecord,
    LedgerStep,
    OperationRecord,
    OutboxEntry,
    ParkedRecord,
    QuarantineEntry,
    RoutingVersion,
    utcnow,
)

__all__ = ["MemoryStore"]

T = TypeVar("T")


class _Pending(msgspec.Struct):
    operation_id: str
    owner: str | None = None
    delivered_at: float = 0.0


class MemoryStore:
    def __init__(self, *, events_max: int = 100_000, audit_max: int = 100_000) -> None:
        self._events_max, self._audit_max = events_max, audit_max
        self.shared = MemorySharedState()
        self._key = os.urandom(32)
        self._api_keys: dict[str, ApiKeyRecord] = {}
        self._keys_version = 0
        self._idempotency: dict[tuple[str, str], tuple[IdempotencyRecord, float]] = {}
        self._claims: dict[str, ClaimRecord] = {}
        self._claim_refs: dict[tuple[str, str], str] = {}
        self._claim_order: dict[str, list[str]] = {}
        self._operations: dict[str, OperationRecord] = {}
        self._operation_order: dict[str, list[str]] = {}
        self._events: dict[str, list[tuple[str, Event]]] = {}
        self._audit: list[tuple[str, AuditEntry]] = []
        self._outbox: dict[str, _Pending] = {}
        self._outbox_seq = 0
        self._delayed: list[tuple[float, str]] = []
        self._seq = 0
        self._locks: dict[str, float] = {}
        # Encoded, so that no caller can change a stored version through an object it was given.
        self._routing: dict[str, list[bytes]] = {}
        self._changed = asyncio.Condition()
        # The claim ledger, encoded (no caller can change what is stored through an object).
        self._ledgers: dict[str, bytes] = {}
        self._agency_refs: dict[tuple[str, str, str], str] = {}
        self._feeds: dict[str, bytes] = {}
        self._quarantine: dict[str, QuarantineEntry] = {}  # insertion order = arrival
        # Parked agency records by (tenant, agency, reference), and per feed in arrival order.
        self._parked: dict[tuple[str, str, str], dict[str, bytes]] = {}
        self._parked_order: dict[str, dict[str, tuple[tuple[str, str, str], dt.datetime]]] = {}

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def cursor_key(self) -> bytes:
        return self._key

    # API keys
    async def put_api_key(self, record: ApiKeyRecord) -> None:
        self._api_keys[record.key_sha256] = record
        self._keys_version += 1

    async def api_keys_version(self) -> int:
        return self._keys_version

    async def find_api_key(self, key_sha256: str) -> ApiKeyRecord | None:
        return self._api_keys.get(key_sha256)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return sorted(self._api_keys.values(), key=lambda k: k.id)

    async def delete_api_key(self, key_sha256: str) -> None:
        self._api_keys.pop(key_sha256, None)
        self._keys_version += 1

    # idempotency
    async def idempotency_begin(self, tenant: str, key: str, fingerprint: str, lock_seconds: int) -> Begun:
        now = time.monotonic()
        entry = self._idempotency.get((tenant, key))
        if entry is not None and entry[1] > now:
            return Begun(record=entry[0])
        self._idempotency[(tenant, key)] = (
            IdempotencyRecord(fingerprint=fingerprint, state="in_progress"),
            now + lock_seconds,
        )
        return Begun(record=None)

    async def idempotency_finish(self, write: IdempotencyWrite) -> None:

        self._idempotency[(write.tenant, write.key)] = (write.record(), time.monotonic() + write.ttl_seconds)

    async def idempotency_store_once(self, write: IdempotencyWrite) -> IdempotencyRecord | None:
        entry = self._idempotency.get((write.tenant, write.key))
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        await self.idempotency_finish(write)
        return None

    async def accept_once(
        self,
        operation: OperationRecord,
        claim: ClaimRecord | None,
        idempotency: IdempotencyWrite,
        routing_version: int | None = None,
    ) -> IdempotencyRecord | None:
        entry = self._idempotency.get((idempotency.tenant, idempotency.key))
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        if routing_version is not None and len(self._routing.get(operation.tenant, [])) != routing_version:
            raise RoutingChanged(operation.tenant)
        await self.accept(operation, claim, idempotency)
        return None

    async def idempotency_release(self, tenant: str, key: str) -> None:
        self._idempotency.pop((tenant, key), None)

    # operations and claims
    async def accept(
        self, operation: OperationRecord, claim: ClaimRecord | None, idempotency: IdempotencyWrite | None
    ) -> None:
        if claim is not None:
            existing = self._claim_refs.get((claim.tenant, claim.client_reference))
            if existing is not None:
                raise DuplicateClientReference(claim.client_reference, existing)
            self._claim_refs[(claim.tenant, claim.client_reference)] = claim.id
            self._claims[claim.id] = claim
            self._claim_order.setdefault(claim.tenant, []).append(claim.id)
        self._operations[operation.id] = operation
        self._operation_order.setdefault(operation.tenant, []).append(operation.id)
        if idempotency is not None:
            await self.idempotency_finish(idempotency)
        self._enqueue(operation.id)
        await self._notify()

    async def get_claim(self, claim_id: str) -> ClaimRecord | None:
        return self._claims.get(claim_id)

    async def find_claim(self, tenant: str, client_reference: str) -> ClaimRecord | None:
        claim_id = self._claim_refs.get((tenant, client_reference))
        return self._claims.get(claim_id) if claim_id else None

    async def list_claims(
        self,
        tenant: str,
        after: str | None,
        limit: int,
        keep: Callable[[ClaimRecord], bool],
        *,
        status: str | None = None,
        agency: str | None = None,
        created_after: dt.datetime | None = None,
    ) -> tuple[list[ClaimRecord], str | None]:
        def wanted(claim: ClaimRecord) -> bool:
            return (
                (status is None or claim.status == status)
                and (agency is None or claim.agency == agency)
                and (created_after is None or claim.created_at > created_after)
                and keep(claim)
            )

        return _page(self._claim_order.get(tenant, []), self._claims, after, limit, wanted)

    async def save_claim(self, claim: ClaimRecord, events: Sequence[Event] = ()) -> None:
        self._put_claim(claim)
        self._append_events(claim.tenant, events)

    def _put_claim(self, claim: ClaimRecord) -> None:
        existing = self._claims.get(claim.id)
        if existing is not None and existing.personal_data_erased_at and not claim.personal_data_erased_at:
            # a copy read before an erase: the erasure stands (gateway.services.privacy)
            claim = msgspec.structs.replace(
                claim, debtor=existing.debtor, personal_data_erased_at=existing.personal_data_erased_at
            )
        self._claims[claim.id] = claim
        if claim.agency_reference:
            self._agency_refs[(claim.tenant, claim.agency, claim.agency_reference)] = claim.id

    async def get_operation(self, operation_id: str) -> OperationRecord | None:
        return self._operations.get(operation_id)

    async def list_operations(
        self,
        tenant: str,
        after: str | None,
        limit: int,
        keep: Callable[[OperationRecord], bool],
        status: OperationStatus | None = None,
    ) -> tuple[list[OperationRecord], str | None]:
        def wanted(op: OperationRecord) -> bool:
            return (status is None or op.status == status) and keep(op)

        return _page(self._operation_order.get(tenant, []), self._operations, after, limit, wanted)

    async def requeue(
        self, operation: OperationRecord, claim: ClaimRecord | None = None, events: Sequence[Event] = ()
    ) -> None:
        self._operations[operation.id] = operation
        if claim is not None:
            self._put_claim(claim)
        self._append_events(operation.tenant, events)
        self._enqueue(operation.id)
        await self._notify()

    async def save_operation(
        self, operation: OperationRecord, claim: ClaimRecord | None = None, events: Sequence[Event] = ()
    ) -> None:
        self._operations[operation.id] = operation
        if claim is not None:
            self._put_claim(claim)
        self._append_events(operation.tenant, events)
        await self._notify()

    # the claim ledger
    async def get_ledger(self, claim_id: str) -> ClaimLedger | None:
        raw = self._ledgers.get(claim_id)
        return None if raw is None else msgspec.json.decode(raw, type=ClaimLedger)

    async def get_claim_and_ledger(self, claim_id: str) -> tuple[ClaimRecord | None, ClaimLedger | None]:
        return self._claims.get(claim_id), await self.get_ledger(claim_id)

    async def get_ledgers(self, claim_ids: Sequence[str]) -> list[ClaimLedger | None]:
        return [await self.get_ledger(claim_id) for claim_id in claim_ids]

    async def find_claim_by_agency_reference(
        self, tenant: str, agency: str, agency_reference: str
    ) -> ClaimRecord | None:
        claim_id = self._agency_refs.get((tenant, agency, agency_reference))
        return None if claim_id is None else self._claims.get(claim_id)

    async def parked_records(self, tenant: str, agency: str, agency_reference: str) -> list[ParkedRecord]:
        held = self._parked.get((tenant, agency, agency_reference), {})
        found = [msgspec.json.decode(raw, type=ParkedRecord) for raw in held.values()]
        return sorted(found, key=lambda p: (p.at, p.id))

    async def commit_ledger(self, step: LedgerStep) -> bool:
        for write in step.writes:
            stored = await self.get_ledger(write.ledger.claim_id)
            if (stored.version if stored is not None else 0) != write.ledger.version - 1:
                return False
        for parked in step.park:  # a claim has the reference by now: apply it there instead
            if (parked.tenant, parked.agency, parked.agency_reference) in self._agency_refs:
                return False
        unparked = {p.id for p in step.unpark}
        for agency, reference in step.revealed:  # parked meanwhile, not applied by this step
            if not set(self._parked.get((step.tenant, agency, reference), {})) <= unparked:
                return False
        if step.feed is not None:
            credential, before, after = step.feed
            if self._feeds.get(credential) != (None if before is None else msgspec.json.encode(before)):
                return False
            self._feeds[credential] = msgspec.json.encode(after)
        for write in step.writes:
            self._ledgers[write.ledger.claim_id] = msgspec.json.encode(write.ledger)
            if write.claim is not None:
                self._put_claim(write.claim)
        if step.operation is not None:
            self._operations[step.operation.id] = step.operation
        self._append_events(step.tenant, step.events)
        for entry in step.quarantine:
            self._quarantine.setdefault(entry.id, entry)
        while len(self._quarantine) > QUARANTINE_MAX:
            del self._quarantine[next(iter(self._quarantine))]
        for parked in step.unpark:
            self._drop_parked(parked.credential, parked.id)
        for parked in step.park:
            where = (parked.tenant, parked.agency, parked.agency_reference)
            if parked.id not in self._parked.setdefault(where, {}):
                self._parked[where][parked.id] = msgspec.json.encode(parked)
                self._parked_order.setdefault(parked.credential, {})[parked.id] = (where, parked.at)
        # The bound, for every feed this step parked for or read: oldest (arrival order) first.
        cutoff = utcnow() - dt.timedelta(days=PARKED_DAYS)
        for credential in {p.credential for p in step.park} | ({step.feed[0]} if step.feed else set()):
            order = self._parked_order.get(credential, {})
            while order and (len(order) > PARKED_MAX or next(iter(order.values()))[1] < cutoff):
                self._drop_parked(credential, next(iter(order)))
        await self._notify()
        return True

    def _drop_parked(self, credential: str, parked_id: str) -> None:
        found = self._parked_order.get(credential, {}).pop(parked_id, None)
        if found is not None:
            held = self._parked.get(found[0], {})
            held.pop(parked_id, None)
            if not held:
                self._parked.pop(found[0], None)

    async def index_claims(self, tenant: str) -> int:
        return 0  # the embedded store keeps nothing across restarts: nothing older to index

    async def erase_quarantined(self, tenant: str, agency: str, agency_reference: str) -> int:
        erased = 0
        for key, entry in self._quarantine.items():
            if (entry.tenant, entry.agency, entry.agency_reference) == (tenant, agency, agency_reference):
                self._quarantine[key] = msgspec.structs.replace(entry, raw="[erased]")
                erased += 1
        return erased

    async def get_feed(self, credential: str) -> FeedState | None:
        raw = self._feeds.get(credential)
        return None if raw is None else msgspec.json.decode(raw, type=FeedState)

    async def list_quarantine(
        self, after: str | None, limit: int
    ) -> tuple[list[QuarantineEntry], str | None]:
        """Newest first; `after` is the id of the last entry of the previous page."""
        order = list(reversed(self._quarantine))
        start = 0
        if after is not None:
            if after not in self._quarantine:
                return [], None
            start = order.index(after) + 1
        ids = order[start : start + limit + 1]
        page = [self._quarantine[i] for i in ids[:limit]]
        return page, (ids[limit - 1] if len(ids) > limit else None)

    async def save_erasure(
        self,
        claim: ClaimRecord,
        operations: Sequence[OperationRecord],
        audit: AuditEntry,
        original: ClaimRecord | None = None,
    ) -> None:
        self._claims[claim.id] = claim
        for operation in operations:
            self._operations[operation.id] = operation
            entry = self._idempotency.get((operation.tenant, operation.idempotency_key or ""))
            if entry is not None:
                record, expires = entry
                rewritten = _erased_answer(record, operation)
                if rewritten is not None:
                    self._idempotency[(operation.tenant, operation.idempotency_key or "")] = (
                        rewritten,
                        expires,
                    )
        await self.append_audit(audit)

    async def submitted_operations(self, agency: str) -> list[OperationRecord]:
        return [op for op in self._operations.values() if op.status == "submitted" and op.agency == agency]

    async def wait_final(self, operation_id: str, timeout: float) -> OperationRecord | None:
        def final() -> bool:
            op = self._operations.get(operation_id)
            return op is None or op.status in FINAL_STATUSES

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(final), timeout)
        return self._operations.get(operation_id)

    # outbox
    def _enqueue(self, operation_id: str) -> None:
        self._outbox_seq += 1
        self._outbox[f"{self._outbox_seq:020d}"] = _Pending(operation_id)

    async def outbox_take(
        self, consumer: str, count: int, block_seconds: float, reclaim_idle_seconds: float
    ) -> list[OutboxEntry]:
        deadline = time.monotonic() + block_seconds
        while True:
            await self.outbox_promote_due(time.time())
            now = time.monotonic()
            taken: list[OutboxEntry] = []
            for entry_id, pending in self._outbox.items():
                if len(taken) == count:
                    break
                idle = now - pending.delivered_at
                if pending.owner is None or (pending.owner != consumer and idle >= reclaim_idle_seconds):
                    pending.owner, pending.delivered_at = consumer, now
                    taken.append(OutboxEntry(entry_id=entry_id, operation_id=pending.operation_id))
            remaining = deadline - time.monotonic()
            if taken or remaining <= 0:
                return taken
            wake = min(remaining, self._next_due() - time.time(), 0.25 if self._outbox else remaining)
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), max(wake, 0.001))

    async def outbox_touch(self, consumer: str, entries: Sequence[OutboxEntry]) -> None:
        now = time.monotonic()
        for entry in entries:
            pending = self._outbox.get(entry.entry_id)
            if pending is not None and pending.owner is not None:  # taken, not acknowledged
                pending.owner, pending.delivered_at = consumer, now

    async def outbox_ack(self, entry: OutboxEntry) -> None:
        self._outbox.pop(entry.entry_id, None)

    async def outbox_retry_at(self, entry: OutboxEntry, due: float) -> None:
        self._outbox.pop(entry.entry_id, None)
        bisect.insort(self._delayed, (due, entry.operation_id))
        await self._notify()

    async def outbox_promote_due(self, now: float) -> int:
        moved = 0
        while self._delayed and self._delayed[0][0] <= now:
            _, operation_id = self._delayed.pop(0)
            self._enqueue(operation_id)
            moved += 1
        return moved

    async def backlog(self, agencies: Sequence[str]) -> Backlog:
        waiting = [p.operation_id for p in self._outbox.values()] + [op for _, op in self._delayed]
        created = [self._operations[i].created_at for i in waiting if i in self._operations]
        submitted = dict.fromkeys(agencies, 0)
        for op in self._operations.values():
            if op.status == "submitted" and op.agency in submitted:
                submitted[op.agency] += 1
        return Backlog(outbox=len(waiting), oldest_created_at=min(created, default=None), submitted=submitted)

    def _next_due(self) -> float:
        return self._delayed[0][0] if self._delayed else float("inf")

    # events and audit
    def _append_events(self, tenant: str, events: Sequence[Event]) -> None:
        feed = self._events.setdefault(tenant, [])
        for event in events:
            self._seq += 1
            feed.append((f"{self._seq:020d}", event))
        _trim(feed, self._events_max)

    async def list_events(self, tenant: str, after: str | None, limit: int) -> tuple[list[Event], str | None]:
        return _after(self._events.get(tenant, []), after, limit)

    async def append_events(self, tenant: str, events: Sequence[Event]) -> None:
        self._append_events(tenant, events)

    async def append_audit(self, entry: AuditEntry) -> None:
        self._seq += 1
        self._audit.append((f"{self._seq:020d}", entry))
        _trim(self._audit, self._audit_max)

    async def list_audit(
        self, after: str | None, limit: int, *, newest_first: bool = False
    ) -> tuple[list[AuditEntry], str | None]:
        if not newest_first:
            return _after(self._audit, after, limit)
        end = (
            len(self._audit) if after is None else bisect.bisect_left([seq for seq, _ in self._audit], after)
        )
        chunk = self._audit[max(0, end - limit) : end][::-1]
        more = end - limit > 0
        return [entry for _, entry in chunk], (chunk[-1][0] if more and chunk else None)

    # routing versions
    async def append_routing_version(self, version: RoutingVersion, audit: AuditEntry | None = None) -> bool:
        versions = self._routing.setdefault(version.tenant, [])
        if version.version != len(versions) + 1:
            return False
        versions.append(msgspec.json.encode(version))
        if audit is not None:
            await self.append_audit(audit)
        return True

    async def routing_version(self, tenant: str, version: int | None = None) -> RoutingVersion | None:
        versions = self._routing.get(tenant, [])
        index = len(versions) if version is None else version
        if not 1 <= index <= len(versions):
            return None
        return msgspec.json.decode(versions[index - 1], type=RoutingVersion)

    async def routing_history(
        self, tenant: str, after: str | None, limit: int
    ) -> tuple[list[RoutingVersion], str | None]:
        versions = self._routing.get(tenant, [])
        below = _routing_position(after, len(versions))
        chosen = versions[max(0, below - 1 - limit) : below - 1][::-1]
        page = [msgspec.json.decode(raw, type=RoutingVersion) for raw in chosen]
        last = below - len(page)  # the oldest version on this page
        return page, (str(last) if page and last > 1 else None)

    async def try_lock(self, name: str, seconds: float) -> bool:
        now = time.monotonic()
        if self._locks.get(name, 0.0) > now:
            return False
        self._locks[name] = now + seconds
        return True

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _page(
    order: list[str], records: dict[str, T], after: str | None, limit: int, keep: Callable[[T], bool]
) -> tuple[list[T], str | None]:
    """Newest first; `after` is the id of the last item of the previous page."""
    start = len(order) - 1
    if after is not None:
        try:
            start = order.index(after) - 1
        except ValueError:
            return [], None
    found: list[T] = []
    last_index = start
    for index in range(start, -1, -1):
        record = records[order[index]]
        if keep(record):
            if len(found) == limit:
                return found, order[last_index]
            found.append(record)
            last_index = index
    return found, None


def _routing_position(after: str | None, latest: int) -> int:
    """Versions below this number come next (a position is the oldest version already shown)."""
    if after is None:
        return latest + 1
    try:
        return max(1, min(int(after), latest + 1))
    except ValueError:
        return 1


def _erased_answer(record: IdempotencyRecord, operation: OperationRecord) -> IdempotencyRecord | None:
    """The key's record with its stored answer made from the erased operation (None: not its)."""
    response = record.response
    if response is None or not response.headers.get("location", "").endswith("/" + operation.id):
        return None
    body = msgspec.json.encode(operation.public())
    return msgspec.structs.replace(record, response=msgspec.structs.replace(response, body=body))


def _trim(feed: list[Any], cap: int) -> None:
    """Keep the newest `cap` entries (trimmed in blocks of a tenth, like Redis' `MAXLEN ~`)."""
    if len(feed) > cap + cap // 10:
        del feed[: len(feed) - cap]


def _after(feed: list[tuple[str, T]], after: str | None, limit: int) -> tuple[list[T], str | None]:
    """Oldest first; positions are the feed's sequence ids."""
    start = 0 if after is None else bisect.bisect_right([seq for seq, _ in feed], after)
    chunk = feed[start : start + limit]
    more = start + limit < len(feed)
    return [item for _, item in chunk], (chunk[-1][0] if more and chunk else None)
