"""Reads: the claim index answers who and where; the claim's agency answers how much.

`GET /claims/{id}` asks the pinned agency (cached a few seconds per claim); a claim the agency
has not confirmed yet (`agency_reference` unknown) is answered from what was submitted. Lists of
claims and operations come from the store only (no agency call per row).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec

from adapters.base import AdapterPage, AgencyClaim, ClaimRef
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
from canonical.problems import NotFound
from gateway.runtime import Runtime
from gateway.stores import ClaimRecord, OperationRecord, new_id, utcnow

__all__ = ["ReadService", "status_event"]


class ReadService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self._cache: dict[str, tuple[float, AgencyClaim]] = {}

    # cursors
    def _seal(self, position: str | None, scope: str) -> str | None:
        return None if position is None else seal_cursor(position, scope, self.runtime.cursor_key)

    def _open(self, cursor: str | None, scope: str) -> str | None:
        return None if cursor is None else open_cursor(cursor, scope, self.runtime.cursor_key)

    def _agency_page(self, page: AdapterPage, scope: str) -> Page[Any]:
        """An adapter's page as the gateway's: its position sealed into the next cursor."""
        return Page(
            data=list(page.items),
            has_more=page.next_position is not None,
            next_cursor=self._seal(page.next_position, scope),
        )

    async def claim_record(self, tenant: str, claim_id: str) -> ClaimRecord:
        claim = await self.store.get_claim(claim_id)
        if claim is None or claim.tenant != tenant:
            raise NotFound(f"no claim {claim_id}")
        return claim

    # claims
    async def get_claim(self, tenant: str, claim_id: str, expand_agency_data: bool = False) -> Claim:
        record = await self.claim_record(tenant, claim_id)
        if record.agency_reference is None:
            return _index_view(record)
        agency_claim = await self._agency_claim(record)
        if agency_claim.status != record.status and record.status not in ("rejected",):
            record = await self._status_changed(record, agency_claim.status)
        claim = Claim(
            id=record.id,
            client_reference=record.client_reference,
            agency=record.agency,
            agency_reference=record.agency_reference,
            status=agency_claim.status,
            type=record.type,
            currency=record.currency,
            debtor=record.debtor,
            invoices=agency_claim.invoices,
            balance=Money(amount=agency_claim.balance_amount, currency=record.currency),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )
        if expand_agency_data:
            claim.agency_data = agency_claim.agency_data
        return claim

    async def _agency_claim(self, record: ClaimRecord) -> AgencyClaim:
        ttl = self.runtime.settings.claim_cache_seconds
        cached = self._cache.get(record.id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        adapter = self.runtime.adapter(record.agency)
        answer = await adapter.get_claim(self.runtime.credential(record.tenant, record.agency), _ref(record))
        if ttl > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[record.id] = (time.monotonic() + ttl, answer)
        return answer

    async def _status_changed(self, record: ClaimRecord, status: ClaimStatus) -> ClaimRecord:
        updated = msgspec.structs.replace(record, status=status, updated_at=utcnow())
        await self.store.save_claim(updated, [status_event(record, status)])
        return updated

    async def list_claims(
        self, tenant: str, filters: dict[str, Any], cursor: str | None, limit: int
    ) -> Page[Claim]:
        scope = _scope("claims", tenant, filters)
        after = self._open(cursor, scope)
        if filters.get("client_reference"):
            found = await self.store.find_claim(tenant, filters["client_reference"])
            records = [found] if found is not None and _claim_filter(filters)(found) and after is None else []
            return Page(data=[_index_view(r) for r in records], has_more=False, next_cursor=None)
        records, position = await self.store.list_claims(tenant, after, limit, _claim_filter(filters))
        return Page(
            data=[_index_view(r) for r in records],
            has_more=position is not None,
            next_cursor=self._seal(position, scope),
        )

    async def list_invoices(
        self, tenant: str, claim_id: str, cursor: str | None, limit: int
    ) -> Page[Invoice]:
        record = await self.claim_record(tenant, claim_id)
        scope = f"invoices|{tenant}|{claim_id}"
        position = self._open(cursor, scope)
        if record.agency_reference is None:
            invoices = _submitted_invoices(record)
            start = int(position or 0)
            chunk = invoices[start : start + limit]
            more = start + limit < len(invoices)
            return Page(
                data=chunk, has_more=more, next_cursor=self._seal(str(start + limit) if more else None, scope)
            )
        adapter = self.runtime.adapter(record.agency)
        credential = self.runtime.credential(tenant, record.agency)
        return self._agency_page(
            await adapter.list_invoices(credential, _ref(record), position, limit), scope
        )

    async def list_payments(
        self, tenant: str, claim_id: str, cursor: str | None, limit: int
    ) -> Page[Payment]:
        record = await self.claim_record(tenant, claim_id)
        scope = f"payments|{tenant}|{claim_id}"
        position = self._open(cursor, scope)
        if record.agency_reference is None:
            return Page(data=[], has_more=False, next_cursor=None)
        adapter = self.runtime.adapter(record.agency)
        credential = self.runtime.credential(tenant, record.agency)
        return self._agency_page(
            await adapter.list_payments(credential, _ref(record), position, limit), scope
        )

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


def _ref(record: ClaimRecord) -> ClaimRef:
    assert record.agency_reference is not None
    return ClaimRef(
        claim_id=record.id,
        agency_reference=record.agency_reference,
        currency=record.currency,
        client_reference=record.client_reference,
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


def _submitted_invoices(record: ClaimRecord) -> list[Invoice]:
    return [
        Invoice(
            number=i.number,
            issued_on=i.issued_on,
            due_on=i.due_on,
            amount=i.amount,
            costs=i.costs,
            remaining=i.amount,
            interest_rate=i.interest_rate,
            references=i.references,
            attachments=i.attachments,
        )
        for i in record.invoices
    ]


def _index_view(record: ClaimRecord) -> Claim:
    """A claim as the gateway's index knows it (lists; claims the agency has not confirmed yet)."""
    total = invoices_total(record.invoices)
    return Claim(
        id=record.id,
        client_reference=record.client_reference,
        agency=record.agency,
        agency_reference=record.agency_reference,
        status=record.status,
        type=record.type,
        currency=record.currency,
        debtor=record.debtor,
        invoices=_submitted_invoices(record),
        balance=Money(amount=total, currency=record.currency),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )
