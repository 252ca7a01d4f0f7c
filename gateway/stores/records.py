"""What the gateway keeps in its store (the agency stays the source of truth for money)."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any, Literal

import msgspec

from canonical import (
    ClaimStatus,
    ClaimType,
    Debtor,
    Event,
    InvoiceCreate,
    Operation,
    OperationKind,
    OperationStatus,
    Problem,
)
from gateway.settings import RoutingRule

__all__ = [
    "ApiKeyRecord",
    "AuditEntry",
    "ClaimRecord",
    "IdempotencyRecord",
    "OperationRecord",
    "OutboxEntry",
    "RoutingVersion",
    "StoredResponse",
    "new_id",
    "utcnow",
]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


_last = [0, 0]  # (ms, random part) of the last id made in this process


def new_id(prefix: str) -> str:
    """`prefix_` + 26 characters, sortable by creation time (ULID layout: 48-bit ms + 80 random bits).

    Monotonic within a process: two ids in the same millisecond increment the random part, so
    lists ordered by id are ordered by creation.
    """
    ms, rand = time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10), "big")
    if ms <= _last[0]:
        ms, rand = _last[0], _last[1] + 1
    _last[0], _last[1] = ms, rand
    value = ms << 80 | rand
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return f"{prefix}_{''.join(reversed(chars)).lower()}"


def utcnow() -> dt.datetime:
    """Now, in UTC, to the millisecond (what RFC 3339 timestamps in answers carry)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class ClaimRecord(msgspec.Struct, kw_only=True):
    """The claim index: who owns it, where it went, and what was sent."""

    id: str
    tenant: str
    client_reference: str
    agency: str
    routing_version: int = 1
    routing_rule: int | None = None
    agency_reference: str | None = None
    status: ClaimStatus = "pending"
    type: ClaimType
    currency: str
    debtor: Debtor
    invoices: list[InvoiceCreate]
    create_operation_id: str
    created_at: dt.datetime
    updated_at: dt.datetime


class OperationRecord(msgspec.Struct, kw_only=True):
    id: str
    tenant: str
    kind: OperationKind
    status: OperationStatus = "queued"
    claim_id: str
    agency: str
    #: The request body as JSON-able builtins (decoded again into its type on delivery).
    payload: dict[str, Any]
    #: The creditor's payment id for `payment.reverse` (from the path).
    target: str | None = None
    agency_reference: str | None = None
    error: Problem | None = None
    attempts: int = 0
    #: True while a worker is calling the agency: found set on pickup = that worker died mid-call.
    in_flight: bool = False
    #: An earlier attempt's outcome is unknown: the adapter reconciles before resending.
    maybe_sent: bool = False
    tracking: str | None = None
    submitted_at: dt.datetime | None = None
    #: The agency request as the adapter built it at the first attempt (its own encoding, e.g.
    #: wire JSON): every later attempt sends exactly this, never a recomputed one.
    agency_request: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    def public(self) -> Operation:
        return Operation(
            id=self.id,
            kind=self.kind,
            status=self.status,
            claim_id=self.claim_id,
            agency=self.agency,
            agency_reference=self.agency_reference,
            error=self.error,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class StoredResponse(msgspec.Struct, kw_only=True):
    status: int
    headers: dict[str, str]
    body: bytes


class IdempotencyRecord(msgspec.Struct, kw_only=True):
    fingerprint: str
    state: Literal["in_progress", "done"]
    response: StoredResponse | None = None
    #: Epoch seconds until which the first request is still running (it waits for the outcome,
    #: `Prefer: wait`): a repeat gets 409 until then, the stored answer after.
    held_until: float | None = None


class OutboxEntry(msgspec.Struct, frozen=True, kw_only=True):
    entry_id: str
    operation_id: str


class ApiKeyRecord(msgspec.Struct, kw_only=True):
    id: str
    name: str
    tenant: str | None
    scopes: list[str]
    key_sha256: str
    source: Literal["config", "api"] = "api"
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class AuditEntry(msgspec.Struct, kw_only=True):
    id: str
    at: dt.datetime
    actor: str | None
    action: str
    tenant: str | None = None
    detail: dict[str, Any] = {}


class RoutingVersion(msgspec.Struct, kw_only=True):
    """One version of a tenant's routing: immutable once stored, kept forever.

    `config_hash` is the hash of the config file's routing for the tenant when this version was
    made (carried forward by API changes): at start a file whose hash differs has changed since,
    so the file becomes a new version; an equal hash means the store's version wins.
    """

    tenant: str
    version: int
    default_agency: str
    rules: list[RoutingRule] = []
    changed_by: str
    changed_at: dt.datetime
    reason: str
    config_hash: str
    #: The version whose routing a rollback restored.
    rollback_of: int | None = None


EventRecord = Event
