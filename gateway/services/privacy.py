"""Personal data: erasing a debtor's data on request (api.md "Personal data") and after retention.

What is personal: the debtor's names, birth date, email, phone and address (its country stays:
routing rules read it), free-text notes (`reason`) of the claim's operations, and an agency's own
words about an operation (`error.detail`, which may quote the debtor). What stays: ids,
references (the debtor's `reference` too), amounts, dates, statuses, and agency codes.

Where the gateway holds it, and what an erase does there:
- the claim record (`debtor`): replaced by the erased debtor, `personal_data_erased_at` set;
- its operations (`payload.debtor`, `payload.reason`, `error.detail`, the refused invoices'
  `problem.detail`): rewritten;
- the idempotency records they were accepted under: the stored answer is the Operation, rewritten
  from the erased operation, keeping its status code and its TTL;
- the claim ledger holds ids, statuses and amounts only (nothing to erase); so do the events,
  except `operation.failed` / `operation.succeeded` events, which carry the operation as it was
  (an agency's `error.detail`, a refused invoice's `problem.detail`): the event stream is
  append-only and is not rewritten — it ages out by its cap (`events_max_per_tenant`);
- webhook payloads are not stored (each attempt reads the event from the feed); any other part
  that keeps per-claim data registers an eraser on `Runtime.personal_data_erasers`.
The agency keeps its own copy: erasing there is the agency's process, not this call.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import msgspec

from canonical import Address, Debtor
from canonical.problems import NotFound
from gateway.runtime import Runtime
from gateway.stores import AuditEntry, ClaimRecord, OperationRecord, new_id, utcnow

__all__ = ["ERASED", "PrivacyService", "erased_claim", "erased_debtor", "erased_operation"]

log = logging.getLogger(__name__)

ERASED = "[erased]"
#: Claims whose personal data the retention erases (`personal_data_retention_days` after closing).
CLOSED_STATUSES = frozenset({"closed", "rejected", "withdrawn"})
_TEXT_FIELDS = ("reason",)


def erased_debtor(debtor: Debtor) -> Debtor:
    return Debtor(
        kind=debtor.kind,
        reference=debtor.reference,
        first_name=ERASED if debtor.first_name is not None else None,
        last_name=ERASED if debtor.last_name is not None else None,
        company_name=ERASED if debtor.company_name is not None else None,
        language=debtor.language,
        address=Address(street=ERASED, postal_code=ERASED, city=ERASED, country=debtor.address.country),
    )


def erased_claim(claim: ClaimRecord, now: dt.datetime) -> ClaimRecord:
    return msgspec.structs.replace(
        claim, debtor=erased_debtor(claim.debtor), personal_data_erased_at=now, updated_at=now
    )


def erased_operation(operation: OperationRecord) -> OperationRecord:
    payload: dict[str, Any] = dict(operation.payload)
    if isinstance(payload.get("debtor"), dict):
        debtor = msgspec.convert(payload["debtor"], Debtor)
        payload["debtor"] = msgspec.to_builtins(erased_debtor(debtor))
    for field in _TEXT_FIELDS:
        if payload.get(field):
            payload[field] = ERASED
    error = operation.error
    if error is not None and error.detail:
        error = msgspec.structs.replace(error, detail=ERASED)
    refused = [  # an agency's refusal of an invoice may quote the debtor like any error
        msgspec.structs.replace(
            item,
            problem=msgspec.structs.replace(item.problem, detail=ERASED)
            if item.problem.detail
            else item.problem,
        )
        for item in operation.refused_invoices
    ]
    return msgspec.structs.replace(operation, payload=payload, error=error, refused_invoices=refused)


class PrivacyService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store

    async def erase(self, tenant: str, claim_id: str, *, actor: str, by_key: str | None, why: str) -> None:
        """Erase the claim's personal data everywhere the gateway holds it; an audit entry says so.
        Erasing again is harmless (and audited again)."""
        claim = await self.store.get_claim(claim_id)
        if claim is None or claim.tenant != tenant:
            raise NotFound(f"no claim {claim_id}")
        now = utcnow()
        operations: list[OperationRecord] = []
        after: str | None = None
        while True:  # the tenant's operations, newest first; a claim's are never older than it
            page, after = await self.store.list_operations(
                tenant, after, 100, lambda op: op.claim_id == claim_id
            )
            operations += page
            if after is None:
                break
        audit = AuditEntry(
            id=new_id("aud"),
            at=now,
            actor=actor,
            action="claim.personal_data_erased",
            tenant=tenant,
            detail={
                "claim_id": claim_id,
                "operations": len(operations),
                "why": why,
                **({"by_key": by_key} if by_key else {}),
            },
        )
        await self.store.save_erasure(
            erased_claim(claim, now), [erased_operation(op) for op in operations], audit, original=claim
        )
        for eraser in self.runtime.personal_data_erasers:
            await eraser(tenant, claim_id)

    async def erase_expired(self, now: dt.datetime | None = None) -> int:
        """Retention: erase closed claims' personal data `personal_data_retention_days` after
        their last change. 0 days (the default) keeps it."""
        days = self.runtime.settings.personal_data_retention_days
        if days <= 0:
            return 0
        cutoff = (now or utcnow()) - dt.timedelta(days=days)

        def expired(claim: ClaimRecord) -> bool:
            return (
                claim.status in CLOSED_STATUSES
                and claim.personal_data_erased_at is None
                and claim.updated_at <= cutoff
            )

        erased = 0
        for tenant in self.runtime.settings.tenants:
            after: str | None = None
            while True:
                page, after = await self.store.list_claims(tenant, after, 100, expired)
                for claim in page:
                    await self.erase(tenant, claim.id, actor="retention", by_key=None, why="retention")
                    erased += 1
                if after is None:
                    break
        if erased:
            log.info("retention erased the personal data of %d closed claims", erased)
        return erased
