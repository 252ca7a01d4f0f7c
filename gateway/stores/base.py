"""The Store port: one protocol, two implementations (memory for the embedded default, Redis).

Both pass one contract suite (tests/contract). The invariants that matter for money:
- `accept` is one atomic step: claim index entry (unique client_reference per tenant), operation,
  final idempotency record and outbox entry are all stored, or none is.
- An outbox entry stays pending until acknowledged; a consumer that stops acknowledging loses it
  to another after `reclaim_idle_seconds` (Redis Streams consumer groups + XAUTOCLAIM).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from adapters._upstream import SharedState
from canonical import Event, OperationStatus
from canonical.problems import Conflict, ServiceUnavailable
from gateway.stores.records import (
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
    StoredResponse,
)

__all__ = [
    "Backlog",
    "Begun",
    "DuplicateClientReference",
    "IdempotencyWrite",
    "RoutingChanged",
    "Store",
    "StoreUnavailable",
]


class StoreUnavailable(ServiceUnavailable):
    """The store cannot be reached: nothing was stored."""


class DuplicateClientReference(Conflict):
    def __init__(self, client_reference: str, claim_id: str) -> None:
        super().__init__(
            f"the tenant already has claim {claim_id} with client_reference {client_reference!r}",
            code="duplicate_client_reference",
        )
        self.claim_id = claim_id


class RoutingChanged(Exception):
    """`accept_once` was given a routing version that is no longer the tenant's latest: nothing
    was stored; decide the agency again with the current routing."""

    def __init__(self, tenant: str) -> None:
        super().__init__(f"the routing of {tenant} changed")
        self.tenant = tenant


class IdempotencyWrite(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    key: str
    fingerprint: str
    response: StoredResponse
    ttl_seconds: int
    held_until: float | None = None

    def record(self) -> IdempotencyRecord:
        return IdempotencyRecord(
            fingerprint=self.fingerprint, state="done", response=self.response, held_until=self.held_until
        )


class Begun(msgspec.Struct, frozen=True, kw_only=True):
    """Result of `idempotency_begin`: `record` is None when this request now holds the key."""

    record: IdempotencyRecord | None


Predicate = Callable[[object], bool]


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    """What waits in the store, for the metrics (gateway/metrics.py): read by the worker."""

    #: Outbox entries not yet acknowledged: ready, held by a worker, or waiting for a retry.
    outbox: int
    #: When the oldest of them was accepted (None: the outbox is empty).
    oldest_created_at: dt.datetime | None
    #: Operations submitted to each agency whose outcome is not known yet.
    submitted: dict[str, int]


class Store(Protocol):
    @property
    def shared(self) -> SharedState:
        """Token cache, rate limits and adapter checkpoints, shared like the store itself."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...

    async def cursor_key(self) -> bytes:
        """The secret cursors are sealed with, created once and shared by every replica."""
        ...

    # API keys
    async def put_api_key(self, record: ApiKeyRecord) -> None: ...

    async def find_api_key(self, key_sha256: str) -> ApiKeyRecord | None: ...

    async def list_api_keys(self) -> list[ApiKeyRecord]: ...

    async def api_keys_version(self) -> int:
        """Changes with every key stored or deleted (what in-process key caches check)."""
        ...

    async def delete_api_key(self, key_sha256: str) -> None:
        """Forget a key (a config key that left the file): the next use is 401."""
        ...

    # idempotency
    async def idempotency_begin(
        self, tenant: str, key: str, fingerprint: str, lock_seconds: int
    ) -> Begun: ...

    async def idempotency_finish(self, write: IdempotencyWrite) -> None: ...

    async def idempotency_release(self, tenant: str, key: str) -> None: ...

    async def idempotency_store_once(self, write: IdempotencyWrite) -> IdempotencyRecord | None:
        """Store the key's answer unless the key is already stored: None, or what is stored."""
        ...

    async def accept_once(
        self,
        operation: OperationRecord,
        claim: ClaimRecord | None,
        idempotency: IdempotencyWrite,
        routing_version: int | None = None,
    ) -> IdempotencyRecord | None:
        """`accept` in one step with the idempotency check (issue 18: one round trip): if the key
        is already stored, nothing is stored and its record is returned. With `routing_version`,
        raises RoutingChanged (nothing stored) unless it is still the tenant's latest."""
        ...

    # operations and claims
    async def accept(
        self, operation: OperationRecord, claim: ClaimRecord | None, idempotency: IdempotencyWrite | None
    ) -> None:
        """Atomically store claim (if new), operation, idempotency record and outbox entry."""
        ...

    async def get_claim(self, claim_id: str) -> ClaimRecord | None: ...

    async def find_claim(self, tenant: str, client_reference: str) -> ClaimRecord | None: ...

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
        """Newest first. `status` / `agency` / `created_after` narrow the index read (the Redis
        store keeps an index per status and per agency, ordered by creation); `keep` still
        decides for each record."""
        ...

    async def save_claim(self, claim: ClaimRecord, events: Sequence[Event] = ()) -> None: ...

    async def get_operation(self, operation_id: str) -> OperationRecord | None: ...

    async def list_operations(
        self,
        tenant: str,
        after: str | None,
        limit: int,
        keep: Callable[[OperationRecord], bool],
        status: OperationStatus | None = None,
    ) -> tuple[list[OperationRecord], str | None]:
        """Newest first. With `status`, only operations in that status, read from a per-status
        index where the store keeps one (Redis), so a page of the few failed operations among
        many costs a page, not a scan of them all."""
        ...

    async def save_operation(
        self, operation: OperationRecord, claim: ClaimRecord | None = None, events: Sequence[Event] = ()
    ) -> None:
        """Store an operation's new state with its claim change and events, atomically."""
        ...

    async def requeue(
        self, operation: OperationRecord, claim: ClaimRecord | None = None, events: Sequence[Event] = ()
    ) -> None:
        """An admin's retry of a failed operation: store it (queued again) with its claim change and
        events, and put it back on the outbox, atomically."""
        ...

    async def submitted_operations(self, agency: str) -> list[OperationRecord]: ...

    async def save_erasure(
        self,
        claim: ClaimRecord,
        operations: Sequence[OperationRecord],
        audit: AuditEntry,
        original: ClaimRecord | None = None,
    ) -> None:
        """Store an erased claim, its erased operations and the audit entry together, and rewrite
        the idempotency records those operations were accepted under (their answer is the
        operation; status code and expiry stay). From then on a write of a copy of the claim read
        before the erase (`original`'s debtor) keeps the erasure."""
        ...

    async def wait_final(self, operation_id: str, timeout: float) -> OperationRecord | None:
        """Wait until the operation is succeeded/failed (or the timeout); its latest state."""
        ...

    # outbox
    async def outbox_take(
        self, consumer: str, count: int, block_seconds: float, reclaim_idle_seconds: float
    ) -> list[OutboxEntry]: ...

    async def outbox_ack(self, entry: OutboxEntry) -> None: ...

    async def outbox_touch(self, consumer: str, entries: Sequence[OutboxEntry]) -> None:
        """`consumer` is still working on `entries`: their idle time starts again, so that no other
        consumer reclaims them (`outbox_take`'s `reclaim_idle_seconds`) while it is alive (one
        another consumer reclaimed meanwhile is taken back). Entries acknowledged or re-queued
        meanwhile are left alone."""
        ...

    async def outbox_retry_at(self, entry: OutboxEntry, due: float) -> None:
        """Acknowledge `entry` and enqueue its operation again at `due` (epoch seconds)."""
        ...

    async def outbox_promote_due(self, now: float) -> int: ...

    async def backlog(self, agencies: Sequence[str]) -> Backlog:
        """Outbox depth, its oldest entry's acceptance time, submitted operations per agency."""
        ...

    # events and audit
    async def list_events(
        self, tenant: str, after: str | None, limit: int
    ) -> tuple[list[Event], str | None]: ...

    async def append_events(self, tenant: str, events: Sequence[Event]) -> None:
        """Append events that belong to no claim or operation (e.g. a webhook endpoint disabled)."""
        ...

    async def append_audit(self, entry: AuditEntry) -> None: ...

    async def list_audit(
        self, after: str | None, limit: int, *, newest_first: bool = False
    ) -> tuple[list[AuditEntry], str | None]:
        """Oldest first (the admin API's feed), or newest first (the console's audit page)."""
        ...

    # tenants' routing: an append-only list of versions per tenant
    async def append_routing_version(self, version: RoutingVersion, audit: AuditEntry | None = None) -> bool:
        """Store `version` iff it is the next one (the tenant's latest is `version.version - 1`,
        none for 1), together with its audit entry, atomically. False: another change got there
        first and nothing was stored (compare-and-set: If-Match, and replicas seeding at once)."""
        ...

    async def routing_version(self, tenant: str, version: int | None = None) -> RoutingVersion | None:
        """Version `version` of the tenant's routing, or the latest with None."""
        ...

    async def routing_history(
        self, tenant: str, after: str | None, limit: int
    ) -> tuple[list[RoutingVersion], str | None]:
        """Newest first; `after` is the position returned with the previous page."""
        ...

    # the claim ledger
    async def get_ledger(self, claim_id: str) -> ClaimLedger | None: ...

    async def get_ledgers(self, claim_ids: Sequence[str]) -> list[ClaimLedger | None]: ...

    async def get_claim_and_ledger(self, claim_id: str) -> tuple[ClaimRecord | None, ClaimLedger | None]:
        """Both in one round trip: what every claim read needs."""
        ...

    async def find_claim_by_agency_reference(
        self, tenant: str, agency: str, agency_reference: str
    ) -> ClaimRecord | None:
        """The claim the agency knows as `agency_reference` (set once the agency confirmed it)."""
        ...

    async def commit_ledger(self, step: LedgerStep) -> bool:
        """Store the whole step atomically. False, with nothing stored, when a ledger's stored
        version is not `ledger.version - 1` or the feed state is not the one read before: the
        caller reads again and recomputes (someone else applied something meanwhile)."""
        ...

    async def parked_records(self, tenant: str, agency: str, agency_reference: str) -> list[ParkedRecord]:
        """Agency records parked for a reference no claim of the tenant had when they were read
        (bounded: PARKED_MAX per feed, PARKED_DAYS), oldest first."""
        ...

    async def get_feed(self, credential: str) -> FeedState | None: ...

    async def list_quarantine(
        self, after: str | None, limit: int
    ) -> tuple[list[QuarantineEntry], str | None]:
        """Quarantined agency records, newest first (bounded: QUARANTINE_MAX)."""
        ...

    async def index_claims(self, tenant: str) -> int:
        """Claims stored before the claim ledger into the indexes it reads (per status, per
        agency, by agency reference): once per tenant, by one worker. The claims indexed."""
        ...

    async def erase_quarantined(self, tenant: str, agency: str, agency_reference: str) -> int:
        """Personal data erase: the raw text of the claim's quarantined records becomes
        "[erased]" (ids, reason, time stay). The number of records rewritten."""
        ...

    async def try_lock(self, name: str, seconds: float) -> bool:
        """Hold `name` for `seconds` unless someone else holds it (poller coordination)."""
        ...
