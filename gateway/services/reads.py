"""Reads: answered from the store — the claim index and the claim ledger — never from the agency.

A claim, its invoices, its payments and lists of claims come from the ClaimRecord (who, what
was submitted, status) and the ClaimLedger (what is still owed, payments, `synced_at`): zero
agency calls on the request path, so reads neither wait for nor spend an agency's rate budget.
`?refresh=true` reads the agency first (single-flight per claim in this process, spending the
credential's sync share of the budget: none left → 503 agency_rate_limited + Retry-After) and
applies what it says to the ledger like any other writer. `?expand=agency_data` also asks the
agency (its own record is not kept).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from adapters._upstream import sync_budget
from adapters.base import AgencyClaim
from canonical import (
    Claim,
    ClaimStatus,
    Event,
    Invoice,
    Money,
    Operation,
    OperationKind,
    OperationStatus,
    Page,
    Payment,
    invoices_total,
    open_cursor,
    seal_cursor,
)
from canonical.problems import BadRequest, NotFound, ServiceUnavailable
from gateway.ledger import apply_snapshot, invoice_views, new_ledger
from gateway.runtime import Runtime
from gateway.stores import ClaimRecord, OperationRecord, new_id, utcnow
from gateway.stores.records import ClaimLedger, LedgerStep, LedgerWrite, QuarantineEntry

__all__ = ["ReadService", "status_event"]

_REFRESH_ATTEMPTS = 5


class ReadService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self._cache: dict[str, tuple[float, AgencyClaim]] = {}
        self._refreshing: dict[str, asyncio.Future[None]] = {}
        self._feeds: dict[str, tuple[float, dt.datetime | None]] = {}

    # cursors
    def _seal(self, position: str | None, scope: str) -> str | None:
        return None if position is None else seal_cursor(position, scope, self.runtime.cursor_key)

    def _open(self, cursor: str | None, scope: str) -> str | None:
        return None if cursor is None else open_cursor(cursor, scope, self.runtime.cursor_key)

    def _offset_page(self, items: list[Any], position: str | None, limit: int, scope: str) -> Page[Any]:
        start = _offset(position)
        chunk = items[start : start + limit]
        more = start + limit < len(items)
        return Page(
            data=chunk, has_more=more, next_cursor=self._seal(str(start + limit) if more else None, scope)
        )

    async def claim_record(self, tenant: str, claim_id: str) -> ClaimRecord:
        claim = await self.store.get_claim(claim_id)
        if claim is None or claim.tenant != tenant:
            raise NotFound(f"no claim {claim_id}")
        return claim

    async def _claim_and_ledger(self, tenant: str, claim_id: str) -> tuple[ClaimRecord, ClaimLedger | None]:
        """The claim (another tenant's is not found) and its ledger, in one store round trip."""
        claim, ledger = await self.store.get_claim_and_ledger(claim_id)
        if claim is None or claim.tenant != tenant:
            raise NotFound(f"no claim {claim_id}")
        return claim, ledger

    # claims
    async def get_claim(
        self, tenant: str, claim_id: str, expand_agency_data: bool = False, refresh: bool = False
    ) -> Claim:
        record, ledger = await self._claim_and_ledger(tenant, claim_id)
        if refresh and record.agency_reference is not None:
            await self._refresh(record)
            record, ledger = await self._claim_and_ledger(tenant, claim_id)
        claim = _claim_view(record, ledger, await self._feed_synced(tenant, record.agency))
        if expand_agency_data and record.agency_reference is not None:
            claim.agency_data = (await self._agency_claim(record)).agency_data
        return claim

    async def _feed_synced(self, tenant: str, agency: str) -> dt.datetime | None:
        """When the credential's change feed was last read to its end (None: no feed): every claim
        it covers agreed with the agency then. Cached a second per process."""
        spec = self.runtime.specs.get(agency)
        credential = self.runtime.settings.credential(tenant, agency)
        if spec is None or not spec.capabilities.feeds or credential is None:
            return None
        now = time.monotonic()
        cached = self._feeds.get(credential.key)
        if cached is not None and cached[0] > now:
            return cached[1]
        state = await self.store.get_feed(credential.key)
        drained = state.drained_at if state is not None else None
        self._feeds[credential.key] = (now + 1.0, drained)
        return drained

    async def _agency_claim(self, record: ClaimRecord) -> AgencyClaim:
        ttl = self.runtime.settings.claim_cache_seconds
        cached = self._cache.get(record.id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        answer = await self._ask_agency(record)
        if ttl > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[record.id] = (time.monotonic() + ttl, answer)
        return answer

    async def _refresh(self, record: ClaimRecord) -> None:
        """One agency read per claim at a time in this process: concurrent refreshes share it."""
        running = self._refreshing.get(record.id)
        if running is None:
            running = asyncio.ensure_future(self._read_agency(record))
            self._refreshing[record.id] = running
            running.add_done_callback(lambda _: self._refreshing.pop(record.id, None))
        await asyncio.shield(running)

    async def _ask_agency(self, record: ClaimRecord) -> AgencyClaim:
        """The agency's own record of the claim, read within the credential's sync share."""
        adapter = self.runtime.adapter(record.agency)
        with sync_budget():
            return await adapter.get_claim(
                self.runtime.credential(record.tenant, record.agency), record.ref()
            )

    async def _read_agency(self, record: ClaimRecord) -> None:
        answer = await self._ask_agency(record)
        for _ in range(_REFRESH_ATTEMPTS):
            claim = await self.store.get_claim(record.id) or record
            ledger = await self.store.get_ledger(record.id) or new_ledger(claim)
            change = apply_snapshot(claim, ledger, answer, utcnow())
            step = LedgerStep(
                tenant=claim.tenant,
                writes=[LedgerWrite(ledger=change.ledger, claim=change.claim)],
                events=change.events,
            )
            if await self.store.commit_ledger(step):
                return
        raise ServiceUnavailable(f"the ledger of {record.id} kept changing; try again")

    async def list_claims(
        self, tenant: str, filters: dict[str, Any], cursor: str | None, limit: int
    ) -> Page[Claim]:
        created_after = filters.get("created_after")
        if isinstance(created_after, dt.datetime) and created_after.tzinfo is None:
            raise BadRequest(
                "created_after needs a time zone (RFC 3339, e.g. 2026-11-25T10:00:00Z)",
                code="invalid_parameter",
            )
        scope = _scope("claims", tenant, filters)
        after = self._open(cursor, scope)
        if filters.get("client_reference"):
            found = await self.store.find_claim(tenant, filters["client_reference"])
            records = [found] if found is not None and _claim_filter(filters)(found) and after is None else []
            position = None
        else:
            records, position = await self.store.list_claims(
                tenant,
                after,
                limit,
                _claim_filter(filters),
                status=filters.get("status"),
                agency=filters.get("agency"),
                created_after=created_after,
            )
        ledgers = await self.store.get_ledgers([r.id for r in records])
        synced = {agency: await self._feed_synced(tenant, agency) for agency in {r.agency for r in records}}
        return Page(
            data=[
                _claim_view(r, ledger, synced[r.agency]) for r, ledger in zip(records, ledgers, strict=True)
            ],
            has_more=position is not None,
            next_cursor=self._seal(position, scope),
        )

    async def list_invoices(
        self, tenant: str, claim_id: str, cursor: str | None, limit: int
    ) -> Page[Invoice]:
        record, ledger = await self._claim_and_ledger(tenant, claim_id)
        scope = f"invoices|{tenant}|{claim_id}"
        position = self._open(cursor, scope)
        return self._offset_page(invoice_views(record, ledger), position, limit, scope)

    async def list_payments(
        self, tenant: str, claim_id: str, cursor: str | None, limit: int
    ) -> Page[Payment]:
        """Oldest first: payments collected by the agency and reported by the creditor, reversals."""
        _, ledger = await self._claim_and_ledger(tenant, claim_id)
        scope = f"payments|{tenant}|{claim_id}"
        position = self._open(cursor, scope)
        return self._offset_page(list(ledger.payments) if ledger else [], position, limit, scope)

    async def list_quarantine(self, cursor: str | None, limit: int) -> Page[QuarantineEntry]:
        scope = "quarantine"
        entries, position = await self.store.list_quarantine(self._open(cursor, scope), limit)
        return Page(data=entries, has_more=position is not None, next_cursor=self._seal(position, scope))

    # operations and events
    async def get_operation(self, tenant: str, operation_id: str) -> Operation:
        return (await self.operation_record(tenant, operation_id)).public()

    async def operation_record(self, tenant: str, operation_id: str) -> OperationRecord:
        operation = await self.store.get_operation(operation_id)
        if operation is None or operation.tenant != tenant:
            raise NotFound(f"no operation {operation_id}")
        return operation

    async def list_operations(
        self,
        tenant: str,
        status: OperationStatus | None,
        kind: OperationKind | None,
        cursor: str | None,
        limit: int,
    ) -> Page[Operation]:
        scope = f"operations|{tenant}|{status}|{kind}"

        def keep(op: OperationRecord) -> bool:
            return (status is None or op.status == status) and (kind is None or op.kind == kind)

        records, position = await self.store.list_operations(
            tenant, self._open(cursor, scope), limit, keep, status=status
        )
        return Page(
            data=[r.public() for r in records],
            has_more=position is not None,
            next_cursor=self._seal(position, scope),
        )

    async def list_events(self, tenant: str, cursor: str | None, limit: int) -> Page[Event]:
        scope = f"events|{tenant}"
        events, position = await self.store.list_events(tenant, self._open(cursor, scope), limit)
        return Page(data=events, has_more=position is not None, next_cursor=self._seal(position, scope))


def status_event(record: ClaimRecord, status: ClaimStatus) -> Event:
    return Event(
        id=new_id("evt"),
        type="claim.status_changed",
        created_at=utcnow(),
        claim_id=record.id,
        data={"from": record.status, "to": status},
    )


def _scope(kind: str, tenant: str, filters: dict[str, Any]) -> str:
    return "|".join([kind, tenant, *(f"{k}={filters[k]}" for k in sorted(filters) if filters[k] is not None)])


def _claim_filter(filters: dict[str, Any]) -> Callable[[ClaimRecord], bool]:
    status, agency, created_after = filters.get("status"), filters.get("agency"), filters.get("created_after")

    def keep(record: ClaimRecord) -> bool:
        return (
            (status is None or record.status == status)
            and (agency is None or record.agency == agency)
            and (created_after is None or record.created_at > created_after)
        )

    return keep


def _claim_view(
    record: ClaimRecord, ledger: ClaimLedger | None, feed_synced: dt.datetime | None = None
) -> Claim:
    """A claim as the index and the ledger know it (no ledger yet: as submitted, never synced).

    `synced_at` is the later of the ledger's own last agreement with the agency and the last time
    the claim's change feed was read to its end, once the agency has confirmed the claim."""
    balance = ledger.balance() if ledger is not None else invoices_total(record.invoices)
    synced_at = ledger.synced_at if ledger is not None else None
    if synced_at is not None and feed_synced is not None:
        synced_at = max(synced_at, feed_synced)
    return Claim(
        id=record.id,
        client_reference=record.client_reference,
        agency=record.agency,
        agency_reference=record.agency_reference,
        status=record.status,
        type=record.type,
        currency=record.currency,
        debtor=record.debtor,
        invoices=invoice_views(record, ledger),
        balance=Money(amount=balance, currency=record.currency),
        created_at=record.created_at,
        updated_at=record.updated_at,
        synced_at=synced_at,
    )


def _offset(position: str | None) -> int:
    if position is None:
        return 0
    if position.isascii() and position.isdigit() and len(position) < 12:
        return int(position)
    raise BadRequest("not a list position", code="invalid_cursor")
