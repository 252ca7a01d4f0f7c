"""Operations as admins see them: across a tenant's operations by status, agency and age, the stuck
ones, and the retry of a failed one.

Retry is a new delivery of the *same* operation (same id, so the same agency-side idempotency
token): it is queued again with what the worker knew — if an earlier attempt's outcome was unknown
(`maybe_sent`), the adapter looks the write up at the agency and sends only what is not there — so
a retry can never make a write happen twice. Only a
failure the agency did not decide is retried: the agency was unavailable or rate-limited until the
attempts ran out, our credentials were refused (fixed since), or the gateway itself failed. An
operation the agency rejected, or one it cannot do, stays failed.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec

from adapters.base import Capability
from canonical import FieldError, OperationStatus, Page, open_cursor, seal_cursor
from canonical.problems import Conflict, NotFound, UnsupportedByAgency, ValidationFailed
from gateway.auth import Principal
from gateway.services.reads import status_event
from gateway.stores import AuditEntry, ClaimRecord, OperationRecord, new_id, utcnow

if TYPE_CHECKING:
    from gateway.runtime import Runtime

__all__ = ["RETRYABLE_CODES", "OperationService", "retry_refusal"]

#: Failure codes the agency did not decide: a retry may succeed.
RETRYABLE_CODES = frozenset(
    {"agency_unavailable", "agency_rate_limited", "agency_auth_failed", "internal_error"}
)


def retry_refusal(operation: OperationRecord) -> str | None:
    """Why this operation cannot be retried, or None when it can."""
    if operation.status != "failed":
        return f"only a failed operation can be retried; this one is {operation.status}"
    code = operation.error.code if operation.error is not None else None
    if code not in RETRYABLE_CODES:
        return f"the agency decided this one ({code}): a retry would not change the answer"
    return None


class OperationService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    def _tenant(self, tenant: str) -> None:
        if tenant not in self.runtime.settings.tenants:
            raise NotFound(f"no tenant {tenant!r}")

    async def page(
        self,
        tenant: str,
        *,
        status: OperationStatus | None = None,
        agency: str | None = None,
        older_than: dt.timedelta | None = None,
        cursor: str | None = None,
        limit: int = 20,
    ) -> Page[OperationRecord]:
        """A page of the tenant's operations, newest first, filtered; a status filter reads that
        status's index, so a page of failed ones costs a page whatever the total."""
        self._tenant(tenant)
        cutoff = None if older_than is None else utcnow() - older_than
        scope = f"console-operations|{tenant}|{status}|{agency}|{older_than}"

        def keep(op: OperationRecord) -> bool:
            return (agency is None or op.agency == agency) and (cutoff is None or op.created_at <= cutoff)

        after = None if cursor is None else open_cursor(cursor, scope, self.runtime.cursor_key)
        records, position = await self.store.list_operations(tenant, after, limit, keep, status=status)
        return Page(
            data=records,
            has_more=position is not None,
            next_cursor=None if position is None else seal_cursor(position, scope, self.runtime.cursor_key),
        )

    async def stuck(
        self, tenant: str, *, queued_for: dt.timedelta, submitted_for: dt.timedelta, limit: int = 20
    ) -> list[OperationRecord]:
        """Queued longer than `queued_for` (not yet at the agency) or submitted longer than
        `submitted_for` (the agency has not told the outcome), oldest first."""
        self._tenant(tenant)
        now = utcnow()

        def queued_too_long(op: OperationRecord) -> bool:
            return op.created_at <= now - queued_for

        def submitted_too_long(op: OperationRecord) -> bool:
            return (op.submitted_at or op.created_at) <= now - submitted_for

        queued, _ = await self.store.list_operations(tenant, None, limit, queued_too_long, status="queued")
        submitted, _ = await self.store.list_operations(
            tenant, None, limit, submitted_too_long, status="submitted"
        )
        return sorted(queued + submitted, key=lambda op: op.created_at)[:limit]

    async def get(self, operation_id: str) -> OperationRecord:
        operation = await self.store.get_operation(operation_id)
        if operation is None:
            raise NotFound(f"no operation {operation_id}")
        return operation

    async def retry(
        self, operation_id: str, reason: str, principal: Principal, *, tenant: str | None = None
    ) -> OperationRecord:
        """Queue a failed operation again (see the module docstring); audited with the reason.
        `tenant`: the operation must be that tenant's (the admin API's path names it)."""
        operation = await self.get(operation_id)
        if tenant is not None and operation.tenant != tenant:
            raise NotFound(f"no operation {operation_id}")
        refusal = retry_refusal(operation)
        if refusal is not None:
            raise Conflict(refusal, code="operation_not_retryable")
        if not reason.strip():
            raise ValidationFailed([FieldError(pointer="/reason", detail="say why the operation is retried")])
        self._allowed(operation)
        claim = await self.store.get_claim(operation.claim_id)
        if claim is None:
            raise NotFound(f"operation {operation.id} has no claim {operation.claim_id}")
        previous = operation.error
        now = utcnow()
        changed_claim: ClaimRecord | None = None
        events = []
        if operation.kind == "claim.create" and claim.status == "rejected":
            changed_claim = msgspec.structs.replace(claim, status="pending", updated_at=now)
            events.append(status_event(claim, "pending"))
        operation.status = "queued"
        operation.error = None
        operation.attempts = 0
        operation.in_flight = False
        # maybe_sent stays as the worker left it: set when an earlier attempt's outcome was unknown,
        # so the worker waits out the agency's commit latency and looks the write up before any resend.
        operation.updated_at = now
        operation.record_step(
            "retried", code=previous.code if previous else None, detail=reason.strip(), by=principal.name
        )
        await self.store.requeue(operation, changed_claim, events)
        detail: dict[str, Any] = {
            "operation_id": operation.id,
            "kind": operation.kind,
            "agency": operation.agency,
            "previous_code": previous.code if previous else None,
            "reason": reason.strip(),
            "key_id": principal.key_id,
        }
        await self.store.append_audit(
            AuditEntry(
                id=new_id("aud"),
                at=now,
                actor=principal.name,
                action="operation.retried",
                tenant=operation.tenant,
                detail=detail,
            )
        )
        return operation

    def _allowed(self, operation: OperationRecord) -> None:
        """The agency must still be configured, hold the tenant's credential and take the operation."""
        self.runtime.adapter(operation.agency)
        self.runtime.credential(operation.tenant, operation.agency)
        spec = self.runtime.specs.get(operation.agency)
        capability: Capability = operation.kind
        if operation.kind == "claim.withdraw" and operation.payload.get("invoice_numbers"):
            capability = "claim.withdraw_partial"
        if spec is None or capability not in spec.capabilities.supported:
            raise UnsupportedByAgency(operation.agency, capability)
