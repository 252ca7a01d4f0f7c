"""What the gateway keeps in its store (the agency stays the source of truth for money)."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any, Literal

import msgspec

from adapters.base import ChangeRecord, ClaimRef
from canonical import (
    ClaimStatus,
    ClaimType,
    Debtor,
    Event,
    InvoiceCreate,
    Money,
    Operation,
    OperationKind,
    OperationStatus,
    Payment,
    Problem,
    RefusedInvoice,
)
from gateway.settings import RoutingRule

__all__ = [
    "HISTORY_MAX",
    "ApiKeyRecord",
    "AuditEntry",
    "ClaimLedger",
    "ClaimRecord",
    "FeedState",
    "IdempotencyRecord",
    "LedgerCreditNote",
    "LedgerInvoice",
    "LedgerStep",
    "LedgerWrite",
    "OperationRecord",
    "OperationStep",
    "OutboxEntry",
    "ParkedRecord",
    "QuarantineEntry",
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
    #: Agencies that keep one claim per invoice: invoice number → the agency's reference for it.
    invoice_references: dict[str, str] = {}
    #: Invoices the agency refused when it created the claim (PartiallyAccepted): follow-ups
    #: naming them are refused at once, since they are not at the agency.
    refused_invoices: list[str] = []
    status: ClaimStatus = "pending"
    type: ClaimType
    currency: str
    debtor: Debtor
    invoices: list[InvoiceCreate]
    create_operation_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    #: When the debtor's personal data was erased (gateway.services.privacy); None while kept.
    personal_data_erased_at: dt.datetime | None = None

    def ref(self) -> ClaimRef:
        """The claim as its agency knows it, for reads and follow-ups (confirmed claims only)."""
        assert self.agency_reference is not None
        return ClaimRef(
            claim_id=self.id,
            agency_reference=self.agency_reference,
            currency=self.currency,
            client_reference=self.client_reference,
            invoice_references=self.invoice_references,
        )


#: An operation keeps this many history steps (the latest); older ones are dropped.
HISTORY_MAX = 20
_DETAIL_MAX = 500


class OperationStep(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of an operation's history: a delivery attempt and how it ended, an outcome the
    agency told later (`resolved_*`), or an admin's retry (`retried`, with who and why)."""

    at: dt.datetime
    #: The delivery attempt this step belongs to (0: before any).
    attempt: int
    #: submitted | succeeded | failed | retry | gave_up | error | resolved_succeeded | resolved_failed | retried
    outcome: str
    code: str | None = None
    detail: str | None = None
    duration_ms: float | None = None
    by: str | None = None


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
    #: The Idempotency-Key it was accepted under (an erase rewrites that key's stored answer).
    idempotency_key: str | None = None
    agency_reference: str | None = None
    error: Problem | None = None
    attempts: int = 0
    #: True while a worker is calling the agency: found set on pickup = that worker died mid-call.
    in_flight: bool = False
    #: An earlier attempt's outcome is unknown: the adapter reconciles before resending.
    maybe_sent: bool = False
    tracking: str | None = None
    #: The accepting request's trace context (W3C traceparent headers) when traces are on: the
    #: worker's delivery continues that trace (gateway/tracing.py).
    trace_context: dict[str, str] | None = None
    submitted_at: dt.datetime | None = None
    #: The agency request as the adapter built it at the first attempt (its own encoding, e.g.
    #: wire JSON): every later attempt sends exactly this, never a recomputed one.
    agency_request: str | None = None
    #: A `claim.create` the agency accepted in part: the invoices it refused, and the agency's
    #: reference per accepted invoice (agencies that keep one claim per invoice).
    refused_invoices: list[RefusedInvoice] = []
    invoice_references: dict[str, str] = {}
    created_at: dt.datetime
    updated_at: dt.datetime
    #: The latest `HISTORY_MAX` steps, oldest first (the console shows them).
    history: list[OperationStep] = []

    def record_step(
        self,
        outcome: str,
        *,
        code: str | None = None,
        detail: str | None = None,
        duration_ms: float | None = None,
        by: str | None = None,
    ) -> None:
        self.history.append(
            OperationStep(
                at=utcnow(),
                attempt=self.attempts,
                outcome=outcome,
                code=code,
                detail=detail[:_DETAIL_MAX] if detail else None,
                duration_ms=duration_ms,
                by=by,
            )
        )
        del self.history[:-HISTORY_MAX]

    def public(self) -> Operation:
        return Operation(
            id=self.id,
            kind=self.kind,
            status=self.status,
            claim_id=self.claim_id,
            agency=self.agency,
            agency_reference=self.agency_reference,
            error=self.error,
            refused_invoices=self.refused_invoices or msgspec.UNSET,
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


# --- the claim ledger (docs/architecture.md "The claim ledger") ---------------------------------

#: Ids of applied operations / agency records a ledger remembers (oldest forgotten first): far more
#: than a claim's overlap window can repeat.
LEDGER_APPLIED_MAX = 2000
#: Payment entries (payments + reversals) a claim's ledger holds; further agency records are
#: quarantined instead of growing the record without bound.
LEDGER_PAYMENTS_MAX = 1000
#: Quarantined agency records kept (the oldest are dropped first).
QUARANTINE_MAX = 10_000
#: Bytes of an unreadable record's raw text kept in the quarantine.
QUARANTINE_RAW_MAX = 4096
#: Agency records for a reference no claim has yet, kept per feed (credential) until a claim gets
#: that reference: at most this many (the oldest are dropped first) and for at most PARKED_DAYS.
PARKED_MAX = 10_000
PARKED_DAYS = 7


class LedgerInvoice(msgspec.Struct, kw_only=True):
    """What is still owed on one invoice, in minor units of the claim's currency."""

    number: str
    remaining: int
    costs_remaining: int = 0


class LedgerCreditNote(msgspec.Struct, kw_only=True):
    number: str
    invoice_number: str
    amount: Money
    issued_on: dt.date


class ClaimLedger(msgspec.Struct, kw_only=True):
    """A claim's money and sync state, as the agency last reported it plus what the gateway delivered.

    The claim's status (and its debtor, invoices as submitted, references) stay in its
    ClaimRecord: one place for personal data, one for the status the list indexes follow.
    `version` is the compare-and-set guard of `Store.commit_ledger`.
    """

    claim_id: str
    tenant: str
    version: int = 0
    invoices: list[LedgerInvoice]
    payments: list[Payment] = []
    credit_notes: list[LedgerCreditNote] = []
    withdrawn_invoices: list[str] = []
    #: Invoices the agency refused when the claim was created (PartiallyAccepted): remaining 0.
    refused_invoices: list[str] = []
    #: When the ledger last agreed with the agency; None until the agency confirmed the claim.
    synced_at: dt.datetime | None = None
    #: Operation ids and agency record ids already applied (bounded, oldest first).
    applied: list[str] = []
    updated_at: dt.datetime | None = None

    def balance(self) -> int:
        return sum(invoice.remaining + invoice.costs_remaining for invoice in self.invoices)


class LedgerWrite(msgspec.Struct, kw_only=True):
    """One claim's new ledger (version = the stored one + 1) and, if it changed, its claim record."""

    ledger: ClaimLedger
    claim: ClaimRecord | None = None


class FeedState(msgspec.Struct, kw_only=True):
    """Where a credential's change feed resumes, stored with the records it covers."""

    checkpoint: str | None = None
    #: When the feed was last read to its end (nothing more waiting).
    drained_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    records: int = 0
    quarantined: int = 0


class QuarantineEntry(msgspec.Struct, kw_only=True):
    """An agency record the adapter could not read, set aside for an admin."""

    id: str
    agency: str
    tenant: str
    credential: str
    record_id: str
    agency_reference: str | None = None
    raw: str
    reason: str
    at: dt.datetime


class ParkedRecord(msgspec.Struct, kw_only=True):
    """An agency record for a reference no claim of the tenant has (yet): a claim the agency
    accepted before the gateway learnt its reference (a `claim.create` still `submitted`). Applied
    to the claim's ledger in the step that gives the claim that reference; else dropped by the
    bound (PARKED_MAX per feed, PARKED_DAYS)."""

    #: The same for the same agency record read through the same feed (parked once).
    id: str
    tenant: str
    agency: str
    #: The feed (credential key) it was read from: the bound is counted per feed.
    credential: str
    agency_reference: str
    record: ChangeRecord
    at: dt.datetime


class LedgerStep(msgspec.Struct, kw_only=True):
    """One atomic store step: ledgers (compare-and-set on their versions), claims, events, and
    optionally the operation whose success it applies or the feed checkpoint (compare-and-set on
    the state read before) and quarantined records of the batch. All of it, or nothing."""

    tenant: str
    writes: list[LedgerWrite] = []
    events: list[Event] = []
    operation: OperationRecord | None = None
    #: (credential key, state read before or None, new state)
    feed: tuple[str, FeedState | None, FeedState] | None = None
    quarantine: list[QuarantineEntry] = []
    #: Records parked by this step. The step stores nothing if a claim of the tenant has one's
    #: reference by then (the caller reads again and applies it to that claim instead).
    park: list[ParkedRecord] = []
    #: (agency, reference) a claim of the tenant gets in this step, and the parked records for
    #: them that this step applied (removed with it). The step stores nothing if a record not in
    #: `unpark` is parked for one of them by then (the caller reads again and applies it too).
    revealed: list[tuple[str, str]] = []
    unpark: list[ParkedRecord] = []
