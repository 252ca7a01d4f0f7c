"""Agency records into the claim ledger: a change-feed batch (with its checkpoint) or records an
agency pushed (callbacks), each applied in one atomic store step (`Store.commit_ledger`).

Both paths share the rules: a record finds its claim by the agency's reference (records for
claims this gateway does not know are skipped), applies through `gateway.ledger.apply_record`
(once per record id), and a record the adapter could not read (`Unreadable`) or the ledger cannot
apply (`LedgerError`) is quarantined — kept once, listed at `GET /v1/admin/quarantine` — while
the others apply. A step that loses a compare-and-set on a ledger (an operation ended meanwhile)
is recomputed from what is stored now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from typing import Literal

import msgspec

from adapters.base import ChangeBatch, ChangeRecord, Unreadable
from canonical import Event
from gateway import metrics
from gateway.ledger import LedgerError, apply_record, new_ledger
from gateway.stores import ClaimRecord, Store, StoreUnavailable, utcnow
from gateway.stores.records import (
    QUARANTINE_RAW_MAX,
    ClaimLedger,
    FeedState,
    LedgerStep,
    LedgerWrite,
    QuarantineEntry,
)

__all__ = ["apply_feed_batch", "apply_pushed_records", "quarantined"]

log = logging.getLogger(__name__)

#: Compare-and-set rounds before a step gives up (another writer won every time).
ATTEMPTS = 5

Source = Literal["feed", "callback"]


class _Applied(msgspec.Struct, kw_only=True):
    writes: list[LedgerWrite]
    events: list[Event]
    quarantine: list[QuarantineEntry]
    unknown: int


async def _apply(
    store: Store, tenant: str, agency: str, credential: str, records: Sequence[ChangeRecord], now: dt.datetime
) -> _Applied:
    claims: dict[str, tuple[ClaimRecord, ClaimLedger, int, bool]] = {}
    events: list[Event] = []
    quarantine: list[QuarantineEntry] = []
    unknown = 0
    for record in records:
        reference = record.agency_reference
        if isinstance(record, Unreadable) or reference is None:
            quarantine.append(quarantined(agency, tenant, credential, record, "", now))
            continue
        entry = claims.get(reference)
        if entry is None:
            claim = await store.find_claim_by_agency_reference(tenant, agency, reference)
            if claim is None:
                unknown += 1  # not a claim of this gateway (or not confirmed yet)
                continue
            ledger = await store.get_ledger(claim.id) or new_ledger(claim)
            entry = (claim, ledger, ledger.version, False)
        claim, ledger, base, moved = entry
        try:
            change = apply_record(claim, ledger, record, now)
        except LedgerError as exc:
            quarantine.append(quarantined(agency, tenant, credential, record, str(exc), now))
            continue
        claims[reference] = (change.claim or claim, change.ledger, base, moved or change.claim is not None)
        events += change.events
    writes = []
    for claim, ledger, base, moved in claims.values():
        ledger.version = base + 1  # one step per claim, whatever number of records it applied
        writes.append(LedgerWrite(ledger=ledger, claim=claim if moved else None))
    if unknown:
        log.debug("%s %s: %d records for claims this gateway does not know", agency, credential, unknown)
    return _Applied(writes=writes, events=events, quarantine=quarantine, unknown=unknown)


async def apply_feed_batch(
    store: Store, tenant: str, agency: str, credential: str, before: FeedState | None, batch: ChangeBatch
) -> FeedState | None:
    """Apply a change-feed batch and store its checkpoint in the same step. The new feed state;
    None when the feed's state moved meanwhile (another reader stored a checkpoint: nothing here
    was stored). Raises StoreUnavailable when ledgers kept changing (the batch is read again)."""
    for _ in range(ATTEMPTS):
        now = utcnow()
        applied = await _apply(store, tenant, agency, credential, batch.records, now)
        after = FeedState(
            checkpoint=batch.checkpoint,
            drained_at=now if not batch.has_more else (before.drained_at if before else None),
            updated_at=now,
            records=(before.records if before else 0) + len(batch.records),
            quarantined=(before.quarantined if before else 0) + len(applied.quarantine),
        )
        step = LedgerStep(
            tenant=tenant,
            writes=applied.writes,
            events=applied.events,
            feed=(credential, before, after),
            quarantine=applied.quarantine,
        )
        if await store.commit_ledger(step):
            _count(agency, "feed", applied.quarantine)
            return after
        if await store.get_feed(credential) != before:
            return None
    raise StoreUnavailable(f"feed {credential}: ledgers kept changing; the batch will be read again")


async def apply_pushed_records(
    store: Store, tenant: str, agency: str, credential: str, records: Sequence[ChangeRecord]
) -> int:
    """Apply records an agency pushed (a callback): no checkpoint, the same rules. The number of
    records that changed a ledger or were quarantined; repeats count nothing."""
    for _ in range(ATTEMPTS):
        applied = await _apply(store, tenant, agency, credential, records, utcnow())
        step = LedgerStep(
            tenant=tenant, writes=applied.writes, events=applied.events, quarantine=applied.quarantine
        )
        if await store.commit_ledger(step):
            _count(agency, "callback", applied.quarantine)
            return len(applied.events) + len(applied.quarantine)
    raise StoreUnavailable(f"callback {credential}: ledgers kept changing; send it again")


def _count(agency: str, source: Source, quarantine: list[QuarantineEntry]) -> None:
    if quarantine:
        metrics.QUARANTINED_RECORDS.labels(agency, source).inc(len(quarantine))


def quarantined(
    agency: str, tenant: str, credential: str, record: ChangeRecord, reason: str, now: dt.datetime
) -> QuarantineEntry:
    """A record set aside: its id is the same for the same agency record (kept once)."""
    raw = record.raw if isinstance(record, Unreadable) else msgspec.json.encode(record).decode()
    why = record.reason if isinstance(record, Unreadable) else reason or "no agency reference"
    digest = hashlib.sha256(f"{credential}\0{record.record_id}".encode()).hexdigest()[:24]
    return QuarantineEntry(
        id=f"qr_{digest}",
        agency=agency,
        tenant=tenant,
        credential=credential,
        record_id=record.record_id,
        agency_reference=record.agency_reference,
        raw=raw[:QUARANTINE_RAW_MAX],
        reason=why[:500],
        at=now,
    )
