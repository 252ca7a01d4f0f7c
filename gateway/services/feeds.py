"""Agency records into the claim ledger: a change-feed batch (with its checkpoint) or records an
agency pushed (callbacks), each applied in one atomic store step (`Store.commit_ledger`).

Both paths share the rules: a record finds its claim by the agency's reference, applies through `gateway.ledger.apply_record`
(once per record id), and a record the adapter could not read (`Unreadable`) or the ledger cannot
apply (`LedgerError`) is quarantined — kept once, listed at `GET /v1/admin/quarantine` — while
the others apply. A step that loses a compare-and-set on a ledger (an operation ended meanwhile)
is recomputed from what is stored now.

A record whose reference no claim of the tenant has is parked (`ParkedRecord`, in the same step
as the checkpoint that moves past it): the agency may hold a claim whose `claim.create` is still
`submitted` here. The step that gives a claim its reference (`unpark`, used by the worker when a
`claim.create` succeeds) applies that reference's parked records to the claim's ledger and
removes them, atomically; the store refuses a park for a reference a claim has by then and an
unpark that missed a record parked meanwhile, so the loser recomputes and nothing is lost.
Records for references that never become a claim of this gateway are dropped by the bound
(PARKED_MAX per feed, PARKED_DAYS).
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
from gateway.ledger import Change, LedgerError, apply_record, new_ledger
from gateway.stores import ClaimRecord, Store, StoreUnavailable, utcnow
from gateway.stores.records import (
    QUARANTINE_RAW_MAX,
    ClaimLedger,
    FeedState,
    LedgerStep,
    LedgerWrite,
    ParkedRecord,
    QuarantineEntry,
)

__all__ = ["Unparked", "apply_feed_batch", "apply_pushed_records", "parked", "quarantined", "unpark"]

log = logging.getLogger(__name__)

#: Compare-and-set rounds before a step gives up (another writer won every time).
ATTEMPTS = 5

Source = Literal["feed", "callback"]


class _Applied(msgspec.Struct, kw_only=True):
    writes: list[LedgerWrite]
    events: list[Event]
    quarantine: list[QuarantineEntry]
    park: list[ParkedRecord]


async def _apply(
    store: Store, tenant: str, agency: str, credential: str, records: Sequence[ChangeRecord], now: dt.datetime
) -> _Applied:
    claims: dict[str, tuple[ClaimRecord, ClaimLedger, int, bool]] = {}
    events: list[Event] = []
    quarantine: list[QuarantineEntry] = []
    park: list[ParkedRecord] = []
    for record in records:
        reference = record.agency_reference
        if isinstance(record, Unreadable) or reference is None:
            quarantine.append(quarantined(agency, tenant, credential, record, "", now))
            continue
        entry = claims.get(reference)
        if entry is None:
            claim = await store.find_claim_by_agency_reference(tenant, agency, reference)
            if claim is None:  # not a claim of this gateway, or not confirmed yet: parked
                park.append(parked(agency, tenant, credential, record, reference, now))
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
    if park:
        log.debug("%s %s: %d records parked for claims not known (yet)", agency, credential, len(park))
    return _Applied(writes=writes, events=events, quarantine=quarantine, park=park)


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
            park=applied.park,
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
            tenant=tenant,
            writes=applied.writes,
            events=applied.events,
            quarantine=applied.quarantine,
            park=applied.park,
        )
        if await store.commit_ledger(step):
            _count(agency, "callback", applied.quarantine)
            return len(applied.events) + len(applied.quarantine)
    raise StoreUnavailable(f"callback {credential}: ledgers kept changing; send it again")


def _count(agency: str, source: Source, quarantine: list[QuarantineEntry]) -> None:
    if quarantine:
        metrics.QUARANTINED_RECORDS.labels(agency, source).inc(len(quarantine))


class Unparked(msgspec.Struct, kw_only=True):
    """A change plus what the parked records of a reference it gives the claim changed: the
    parts of the LedgerStep that stores it."""

    claim: ClaimRecord | None
    ledger: ClaimLedger
    events: list[Event]
    quarantine: list[QuarantineEntry] = []
    revealed: list[tuple[str, str]] = []
    unpark: list[ParkedRecord] = []


async def unpark(store: Store, before: ClaimRecord, change: Change, now: dt.datetime) -> Unparked:
    """If `change` gives the claim its agency reference, apply the records parked for it (oldest
    first; each once, by the ledger's record ids) on top of `change`. Store the result with
    `revealed` / `unpark` in the same LedgerStep: it then fails, storing nothing, if a record was
    parked for that reference meanwhile (read again and call this again)."""
    claim = change.claim
    reference = claim.agency_reference if claim is not None else None
    if claim is None or reference is None or reference == before.agency_reference:
        return Unparked(claim=change.claim, ledger=change.ledger, events=list(change.events))
    records = await store.parked_records(claim.tenant, claim.agency, reference)
    ledger, events, quarantine = change.ledger, list(change.events), []
    for record in records:
        try:
            applied = apply_record(claim, ledger, record.record, now)
        except LedgerError as exc:
            quarantine.append(
                quarantined(claim.agency, claim.tenant, record.credential, record.record, str(exc), now)
            )
            continue
        claim, ledger = applied.claim or claim, applied.ledger
        events += applied.events
    ledger.version = change.ledger.version  # still one step on the stored ledger
    if records:
        log.info("%s: %d parked agency records applied to claim %s", claim.agency, len(records), claim.id)
    return Unparked(
        claim=claim,
        ledger=ledger,
        events=events,
        quarantine=quarantine,
        revealed=[(claim.agency, reference)],
        unpark=records,
    )


def parked(
    agency: str, tenant: str, credential: str, record: ChangeRecord, reference: str, now: dt.datetime
) -> ParkedRecord:
    """A record kept for a claim not known yet: its id is the same for the same agency record."""
    digest = hashlib.sha256(f"{tenant}\0{credential}\0{record.record_id}".encode()).hexdigest()[:24]
    return ParkedRecord(
        id=f"pk_{digest}",
        tenant=tenant,
        agency=agency,
        credential=credential,
        agency_reference=reference,
        record=record,
        at=now,
    )


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
