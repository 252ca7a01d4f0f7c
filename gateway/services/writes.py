"""Accepting writes: idempotency, validation, routing or pinning, capability check, one atomic step.

    request → Idempotency-Key (400) → rules (422) → agency: routing for a new claim (the version
    last used, checked in the accept step), the claim's pinned agency for follow-ups → capability
    (422 unsupported_by_agency) → store.accept_once(idempotency check + operation + claim +
    idempotency record + outbox, one script) → 202; a key already stored wins (replay / 409 /
    422 reused)

Idempotency follows api.md and Stripe: a request that got as far as executing has its answer
stored (202, 409 duplicate, 422 rule broken, 422 unsupported) and replayed byte for byte;
401/403/429 and our own 5xx are never stored, and neither is a body that failed to decode (the
client fixes it and retries with the same key).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from adapters.base import required_capability
from canonical import (
    FINAL_STATUSES,
    ClaimCreate,
    CreditNoteCreate,
    FieldError,
    OperationKind,
    PaymentReport,
    PaymentReversal,
    Withdrawal,
    validate_claim_create,
    validate_credit_note,
    validate_payment_report,
    validate_withdrawal,
)
from canonical.problems import (
    BadRequest,
    Conflict,
    GatewayError,
    NotFound,
    ServiceUnavailable,
    UnsupportedByAgency,
    ValidationFailed,
)
from gateway import metrics
from gateway.logs import bind_contextvars
from gateway.problems import problem_bytes
from gateway.runtime import Runtime
from gateway.services.routing import choose
from gateway.services.tenants import current_routing
from gateway.stores import (
    ClaimRecord,
    IdempotencyRecord,
    IdempotencyWrite,
    OperationRecord,
    RoutingChanged,
    RoutingVersion,
    StoredResponse,
    StoreUnavailable,
    new_id,
    utcnow,
)
from gateway.tracing import carrier

__all__ = ["Idempotency", "StoreOutcomeUnknown", "WriteService", "operation_token"]

#: The largest answer stored under an Idempotency-Key. Problems are capped well below it
#: (canonical.problems.ERRORS_MAX); a refusal larger than this is answered but not stored, so a
#: retry with the same key is decided again (nothing was accepted).
STORED_BODY_MAX = 64 * 1024
#: Pauses between looks at the store after an accept lost its answer (a Redis restart).
_RECHECK_PAUSES = (0.2, 0.5, 1.0)
_json = msgspec.json.Encoder()


def operation_token(operation_id: str) -> str:
    """The agency-side idempotency key of an operation: a UUID (Intrum asks for UUIDv4 format)
    derived from the operation id, so every attempt and every replica sends the same one."""
    return str(uuid.UUID(bytes=hashlib.sha256(operation_id.encode()).digest()[:16], version=4))


class StoreOutcomeUnknown(StoreUnavailable):
    """The store lost its answer to an accept and stayed unreachable: the write may be stored.

    The key is not released, so a retry with it replays the 202 if the write was stored."""


class Idempotency(msgspec.Struct, frozen=True, kw_only=True):
    tenant: str
    key: str
    fingerprint: str
    ttl_seconds: int

    #: The request will wait this long for the outcome (Prefer: wait): hold the key meanwhile.
    hold_seconds: float = 0

    def write(self, response: StoredResponse, *, held: bool = False) -> IdempotencyWrite:
        return IdempotencyWrite(
            tenant=self.tenant,
            key=self.key,
            fingerprint=self.fingerprint,
            response=response,
            ttl_seconds=self.ttl_seconds,
            held_until=time.time() + self.hold_seconds + 1 if held and self.hold_seconds else None,
        )


class KeyTaken(Exception):
    """The Idempotency-Key was stored by another request first: its record is the answer."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__("the Idempotency-Key is taken")
        self.record = record


def _replay(record: IdempotencyRecord, fingerprint: str) -> StoredResponse:
    """What a request gets when its key is already stored: the stored answer, or why not."""
    if record.fingerprint != fingerprint:
        raise ValidationFailed(
            [FieldError(pointer="", detail="this Idempotency-Key was used with another body or path")],
            detail="the Idempotency-Key was already used with another body or path",
            code="idempotency_key_reused",
        )
    held = record.held_until is not None and record.held_until > time.time()
    if record.state == "in_progress" or record.response is None or held:
        raise Conflict(
            "the first request with this Idempotency-Key is still running", "idempotency_in_progress"
        )
    return record.response


class WriteService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        #: The routing version last used per tenant: `accept_once` checks it is still the latest
        #: in the same step (no read of the routing per write); a change makes it read again.
        self._routing: dict[str, RoutingVersion] = {}

    async def idempotent(
        self,
        *,
        tenant: str,
        key: str | None,
        method: str,
        path: str,
        body: bytes,
        execute: Callable[[Idempotency], Awaitable[StoredResponse]],
        wait_seconds: float = 0,
    ) -> tuple[StoredResponse, bool]:
        """Run `execute` once per (tenant, key); (response, replayed).

        With `wait_seconds` (Prefer: wait=N), an accepted operation is waited for; if it ends in
        time the final answer (201/200) is what the key replays from then on.
        """
        if key is None:
            raise BadRequest("writes need an Idempotency-Key header", code="idempotency_key_missing")
        if not 1 <= len(key) <= 255:
            raise BadRequest("Idempotency-Key must be 1-255 characters", code="idempotency_key_invalid")
        fingerprint = hashlib.sha256(b"\0".join((method.encode(), path.encode(), body))).hexdigest()
        context = Idempotency(
            tenant=tenant,
            key=key,
            fingerprint=fingerprint,
            ttl_seconds=self.runtime.settings.idempotency_ttl_seconds,
            hold_seconds=wait_seconds,
        )
        # No lock is taken first (issue 18: one store round trip for an accepted write): the
        # request is decided, then stored under its key in the same step as what it accepted
        # (`accept_once`) or as its refusal (`idempotency_store_once`). If the key was stored
        # meanwhile, that wins and is answered instead: a replay, 409 while the first request
        # still waits for its outcome, or 422 for another body.
        try:
            response = await execute(context)
        except KeyTaken as taken:
            return _replay(taken.record, fingerprint), True
        except StoreOutcomeUnknown:
            raise  # the key may already replay the stored 202: the client retries with it
        except GatewayError as exc:
            if exc.status in (401, 403, 429) or exc.status >= 500:
                raise  # never stored
            response = StoredResponse(
                status=exc.status,
                headers={"content-type": "application/problem+json"},
                body=problem_bytes(exc.problem(instance=path)),
            )
            if len(response.body) <= STORED_BODY_MAX:
                stored = await self.store.idempotency_store_once(context.write(response))
                if stored is not None:
                    return _replay(stored, fingerprint), True
            return response, False
        operation_id = response.headers.get("location", "").rpartition("/")[2]
        if wait_seconds > 0 and response.status == 202 and operation_id:
            response = await self._wait_for_outcome(context, operation_id, wait_seconds, response)
        return response, False

    async def _wait_for_outcome(
        self, context: Idempotency, operation_id: str, wait_seconds: float, accepted: StoredResponse
    ) -> StoredResponse:
        """`Prefer: wait`: the final answer if the operation ends in time, else the 202.

        The operation is stored and will be delivered whatever happens here, so a store failure
        during the wait never becomes a 503 ("nothing was stored"): the answer is the 202 the key
        already holds. The final answer is given only once the key replays it too.
        """
        try:
            operation = await self.store.wait_final(operation_id, wait_seconds)
        except StoreUnavailable:
            return accepted  # the key's hold lapses by itself and replays this 202
        response = accepted
        if operation is not None and operation.status in FINAL_STATUSES:
            response = final_response(operation)
        try:
            await self.store.idempotency_finish(context.write(response))  # releases the hold
        except StoreUnavailable:
            return accepted
        return response

    # the writes
    async def submit_claim(self, tenant: str, body: ClaimCreate, idempotency: Idempotency) -> StoredResponse:
        errors = validate_claim_create(body)
        if errors:
            raise ValidationFailed(errors)
        # The routing version in force now (ops may have switched it: accept_once checks that the
        # version used is still the latest); the claim records it and stays with the agency it
        # chose for its whole life.
        for _ in range(3):
            routing = self._routing.get(tenant)
            if routing is None:
                routing = self._routing[tenant] = await current_routing(self.runtime, tenant)
            try:
                return await self._submit_claim(tenant, body, idempotency, routing)
            except RoutingChanged:
                self._routing.pop(tenant, None)
        raise ServiceUnavailable("the routing keeps changing; try again")

    async def _submit_claim(
        self, tenant: str, body: ClaimCreate, idempotency: Idempotency, routing: RoutingVersion
    ) -> StoredResponse:
        agency, rule = choose(routing.default_agency, routing.rules, body)
        self._check_capability(agency, "claim.create", body, body.currency, body.type)
        now = utcnow()
        claim_id, op_id = new_id("clm"), new_id("op")
        claim = ClaimRecord(
            id=claim_id,
            tenant=tenant,
            client_reference=body.client_reference,
            agency=agency,
            routing_version=routing.version,
            routing_rule=rule,
            type=body.type,
            currency=body.currency,
            debtor=body.debtor,
            invoices=body.invoices,
            create_operation_id=op_id,
            created_at=now,
            updated_at=now,
        )
        operation = OperationRecord(
            id=op_id,
            tenant=tenant,
            kind="claim.create",
            claim_id=claim_id,
            agency=agency,
            payload=msgspec.to_builtins(body),
            created_at=now,
            updated_at=now,
        )
        return await self._accept(operation, claim, idempotency, routing.version)

    async def follow_up(
        self,
        tenant: str,
        claim_id: str,
        kind: OperationKind,
        body: PaymentReport | PaymentReversal | CreditNoteCreate | Withdrawal,
        idempotency: Idempotency,
        target: str | None = None,
    ) -> StoredResponse:
        claim = await self.store.get_claim(claim_id)
        if claim is None or claim.tenant != tenant:
            raise NotFound(f"no claim {claim_id}")
        numbers = [invoice.number for invoice in claim.invoices]
        errors: list[FieldError] = []
        match body:
            case PaymentReport():
                errors = validate_payment_report(body, claim.currency, numbers)
            case CreditNoteCreate():
                errors = validate_credit_note(body, claim.currency, numbers)
            case Withdrawal():
                errors = validate_withdrawal(body, numbers)
            case PaymentReversal():
                errors = []
        errors += _refused_invoices_named(body, claim.refused_invoices)
        if errors:
            raise ValidationFailed(errors)
        # Pinned: a claim's follow-ups go to the agency it was sent to, whatever routing says now.
        self._check_capability(
            claim.agency, required_capability(kind, body), body, claim.currency, claim.type
        )
        now = utcnow()
        operation = OperationRecord(
            id=new_id("op"),
            tenant=tenant,
            kind=kind,
            claim_id=claim_id,
            agency=claim.agency,
            payload=msgspec.to_builtins(body),
            target=target,
            created_at=now,
            updated_at=now,
        )
        return await self._accept(operation, None, idempotency)

    def _check_capability(
        self, agency: str, capability: str, body: Any, currency: str, claim_type: str
    ) -> None:
        spec = self.runtime.specs.get(agency)
        if spec is None or agency not in self.runtime.settings.agencies:
            raise UnsupportedByAgency(
                agency, capability, f"agency {agency!r} is not configured on this gateway"
            )
        caps = spec.capabilities
        if capability not in caps.supported:
            raise UnsupportedByAgency(agency, capability)
        if caps.currencies is not None and currency not in caps.currencies:
            raise UnsupportedByAgency(agency, f"currency {currency}", f"{agency} does not take {currency}")
        if caps.claim_types is not None and claim_type not in caps.claim_types:
            raise UnsupportedByAgency(
                agency, f"claim type {claim_type}", f"{agency} has no {claim_type} claims"
            )

    async def _accept(
        self,
        operation: OperationRecord,
        claim: ClaimRecord | None,
        idempotency: Idempotency,
        routing_version: int | None = None,
    ) -> StoredResponse:
        operation.idempotency_key = idempotency.key
        response = accepted_response(operation)
        operation.trace_context = carrier(self.runtime.tracer_provider)
        try:
            taken = await self.store.accept_once(
                operation, claim, idempotency.write(response, held=True), routing_version
            )
        except StoreUnavailable:
            # The store may have run the step and lost only its answer: a 503 must mean that
            # nothing was stored, so look before saying so.
            if not await self._was_stored(operation.id):
                raise
            taken = None
        if taken is not None:
            raise KeyTaken(taken)
        bind_contextvars(operation_id=operation.id, claim_id=operation.claim_id)  # the access line's
        metrics.OPERATIONS.labels(operation.kind, operation.agency, "queued").inc()
        return response

    async def _was_stored(self, operation_id: str) -> bool:
        """Whether an accept whose answer was lost did store the operation (all or nothing).

        Raises StoreUnavailable, whose problem tells the client to retry with the same key, when
        the store stays unreachable: the key then replays the 202 if the write was stored."""
        for pause in _RECHECK_PAUSES:
            try:
                return await self.store.get_operation(operation_id) is not None
            except StoreUnavailable:
                await asyncio.sleep(pause)
        raise StoreOutcomeUnknown(
            "the store stopped answering while this write was being stored; retry with the same "
            "Idempotency-Key to get its outcome"
        )


def _refused_invoices_named(
    body: PaymentReport | PaymentReversal | CreditNoteCreate | Withdrawal, refused: list[str]
) -> list[FieldError]:
    """A follow-up naming an invoice the agency refused at creation: it is not at the agency."""
    if not refused:
        return []
    named: list[tuple[str, str]] = []
    match body:
        case PaymentReport(allocations=allocations):
            named = [
                (f"/allocations/{i}/invoice_number", a.invoice_number)
                for i, a in enumerate(allocations or ())
            ]
        case CreditNoteCreate(invoice_number=number):
            named = [("/invoice_number", number)]
        case Withdrawal(invoice_numbers=numbers):
            named = [(f"/invoice_numbers/{i}", number) for i, number in enumerate(numbers or ())]
    return [
        FieldError(
            pointer=pointer,
            detail=f"the agency refused invoice {number!r} when it created the claim; it is not at the agency",
        )
        for pointer, number in named
        if number in refused
    ]


def accepted_response(operation: OperationRecord) -> StoredResponse:
    return StoredResponse(
        status=202,
        headers={
            "content-type": "application/json",
            "location": f"/v1/tenants/{operation.tenant}/operations/{operation.id}",
        },
        body=_json.encode(operation.public()),
    )


def final_response(operation: OperationRecord) -> StoredResponse:
    """The answer to `Prefer: wait` when the outcome came in time: 201 for a created claim."""
    status = 201 if operation.kind == "claim.create" and operation.status == "succeeded" else 200
    location = f"/v1/tenants/{operation.tenant}/operations/{operation.id}"
    return StoredResponse(
        status=status,
        headers={"content-type": "application/json", "location": location},
        body=_json.encode(operation.public()),
    )
