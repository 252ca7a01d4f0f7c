"""The contract between the gateway and an agency adapter.

An adapter translates canonical operations and reads into one agency's API. It is built once per
agency by its `AdapterSpec.create(context)`; the gateway gives it the agency's config section
and the shared upstream plumbing (`context.http`: pooled HTTP, auth, rate limit, retry, breaker)
— an adapter never owns a socket.

Writes receive an `OperationContext` whose `idempotency_token` is the same on every attempt;
`maybe_sent` tells the adapter that an earlier attempt's outcome is unknown, so it must look the
write up at the agency before resending (unless the agency dedupes on the token itself).
A write returns an `Outcome`:
- `Succeeded`: the agency confirmed it (synchronous agencies), with the agency's reference;
- `Submitted`: the agency accepted it and tells the outcome later; `tracking` is what
  `poll_outcomes` needs to find it (Intrum trackingId, Riverty requestId);
- `Failed`: the agency refused it for good, with a problem (`agency_rejected`, ...).
Transient faults are raised (`AgencyUnavailable`, `OutcomeUnknown`), never returned.

Lists are pages of at most `limit` items; `position` is the adapter's own opaque string (page
number, agency cursor, offset) that the gateway seals into a tamper-proof cursor.

Change feeds (the claim ledger). An agency that reports what happens on its side declares it in
`Capabilities.feeds` and implements `ChangeFeed.changes_since(credential, checkpoint, limit)`:
at most `limit` records after `checkpoint` (the adapter's own opaque string, None = from the
start), as a `ChangeBatch` carrying the checkpoint to resume from. The gateway stores that
checkpoint in the same atomic step as the records it covers, so a batch is applied whole or not
at all; records may repeat across batches (an overlap window for records sharing a timestamp is
fine): the gateway applies each `record_id` once per credential. Records are tagged:
`StatusChanged`, `PaymentCollected`, `InvoiceChanged`, and `Unreadable` for a record the adapter
could not read (the gateway quarantines it; the feed goes on). An adapter with no feed declares
nothing and needs no `changes_since`.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import msgspec

from canonical import (
    Allocation,
    ClaimCreate,
    ClaimStatus,
    ClaimType,
    CreditNoteCreate,
    Invoice,
    Money,
    OperationKind,
    PaymentKind,
    PaymentReport,
    PaymentReversal,
    PaymentSource,
    Problem,
    RefusedInvoice,
    Withdrawal,
)

__all__ = [
    "CAPABILITIES",
    "FEEDS",
    "Adapter",
    "AdapterContext",
    "AdapterPage",
    "AdapterSpec",
    "AgencyClaim",
    "CallbackReceiver",
    "Capabilities",
    "Capability",
    "ChangeBatch",
    "ChangeFeed",
    "ChangeRecord",
    "ClaimRef",
    "Credential",
    "Failed",
    "Feed",
    "FinalOutcome",
    "InvoiceChanged",
    "OperationContext",
    "Outcome",
    "PartiallyAccepted",
    "PaymentCollected",
    "PendingOutcome",
    "ResolvedOutcome",
    "SandboxSpec",
    "SecretMissing",
    "StatusChanged",
    "Submitted",
    "Succeeded",
    "Unreadable",
    "WireExample",
    "amount_examples",
    "credential_from_section",
    "lazy_sandbox",
    "required_capability",
]

Capability = Literal[
    "claim.create",
    "claim.read",
    "invoices.list",
    "payments.list",
    "payment.report",
    "payment.reverse",
    "credit_note.create",
    "claim.withdraw",
    "claim.withdraw_partial",
]
CAPABILITIES: tuple[Capability, ...] = get_args(Capability)

#: What an agency's change feed can report (`Capabilities.feeds`): status changes, payments it
#: collected (and their reversals), invoices' remaining amounts.
Feed = Literal["status", "payments", "invoices"]
FEEDS: tuple[Feed, ...] = get_args(Feed)


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What an agency can do, as data. Undeclared = refused before anything is stored."""

    supported: frozenset[Capability]
    #: ISO 4217 codes the agency takes; None = any.
    currencies: frozenset[str] | None = None
    #: Claim types the agency has a counterpart for; None = all.
    claim_types: frozenset[ClaimType] | None = None
    #: Largest page the agency serves (the gateway never asks for more).
    max_page_size: int = 100
    #: What the agency's change feed reports (`ChangeFeed.changes_since`); empty = no feed, the
    #: ledger then changes only through the gateway's own operations and `?refresh=true` reads.
    feeds: frozenset[Feed] = frozenset()
    #: How long a submitted write may stay under the agency's review (an asynchronous acceptance,
    #: e.g. a claim checked by hand for days) before the gateway stops polling it and fails the
    #: operation with `agency_review_timeout`; None = as long as it takes.
    review_timeout_seconds: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The `GET /v1/agencies` shape."""
        return {
            "capabilities": {name: name in self.supported for name in CAPABILITIES},
            "feeds": sorted(self.feeds),
            "currencies": sorted(self.currencies) if self.currencies is not None else None,
            "claim_types": sorted(self.claim_types) if self.claim_types is not None else None,
        }


def required_capability(kind: OperationKind, payload: object) -> Capability:
    """The capability an operation needs (partial withdrawal is its own capability)."""
    if kind == "claim.withdraw" and isinstance(payload, Withdrawal) and payload.invoice_numbers:
        return "claim.withdraw_partial"
    return kind


class Credential(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's account at an agency, secrets resolved from env/files at start-up.

    `fields` holds the config section as written (`client_id`, `account_id`, ...) plus each
    `*_env` / `*_file` reference resolved under its name without the suffix
    (`client_secret_env = "X"` → `fields["client_secret"]`). `key` identifies the account for
    rate limits and token caches: every replica computes the same one.
    """

    agency: str
    tenant: str
    key: str
    fields: Mapping[str, str | int]

    def __repr__(self) -> str:  # secrets never reach a log line
        return f"Credential(agency={self.agency!r}, tenant={self.tenant!r}, key={self.key!r})"

    def get(self, name: str) -> str:
        value = self.fields.get(name)
        return "" if value is None else str(value)


class SecretMissing(ValueError):
    """A `*_env` / `*_file` reference that resolves to nothing."""


def credential_from_section(
    agency: str, tenant: str, section: Mapping[str, Any], env: Mapping[str, str]
) -> Credential:
    """Resolve a `[tenants.<t>.credentials.<agency>]` section into a Credential.

    `name_env = "VAR"` takes `env["VAR"]`, `name_file = "/path"` reads the mounted secret; both land
    under `name`. The credential's key is `agency:account`, where the account is the first of
    `client_id` / `account_id` present (the unit agencies rate-limit and issue tokens for).
    """
    fields: dict[str, str | int] = {}
    for name, value in section.items():
        if name.endswith("_env"):
            secret = env.get(str(value))
            if not secret:
                raise SecretMissing(f"credentials.{agency}.{name}: environment variable {value} is not set")
            fields[name.removesuffix("_env")] = secret
        elif name.endswith("_file"):
            try:
                with open(str(value), encoding="utf-8") as handle:
                    fields[name.removesuffix("_file")] = handle.read().strip()
            except OSError as exc:
                raise SecretMissing(f"credentials.{agency}.{name}: cannot read {value}: {exc}") from exc
        elif isinstance(value, str | int) and not isinstance(value, bool):
            fields[name] = value
        else:
            raise SecretMissing(f"credentials.{agency}.{name}: expected a string or integer")
    account = fields.get("client_id") or fields.get("account_id") or tenant
    return Credential(agency=agency, tenant=tenant, key=f"{agency}:{account}", fields=fields)


class OperationContext(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: OperationKind
    #: The agency-side idempotency key: the same on every attempt of this operation.
    idempotency_token: str
    attempt: int = 1
    #: An earlier attempt may have reached the agency: reconcile (look it up) before resending.
    maybe_sent: bool = False
    #: For follow-ups: the canonical claim id (some agencies need it as a reference).
    claim_id: str = ""
    #: The agency request an earlier attempt fixed with `fix_request` (None before the first):
    #: an adapter whose request depends on agency state (allocations, today's date) sends this
    #: instead of building a new one, so a retry under the same key carries the same body.
    request: str | None = None
    #: Stores the request with the operation *before* it is sent (the gateway's store).
    fix_request: Callable[[str], Awaitable[None]] | None = None

    async def fixed(self, build: Callable[[], Awaitable[str]]) -> str:
        """The request of this operation: the one fixed at its first attempt, else `build()`'s,
        stored before it is returned."""
        if self.request is not None:
            return self.request
        request = await build()
        if self.fix_request is not None:
            await self.fix_request(request)
        return request


class ClaimRef(msgspec.Struct, frozen=True, kw_only=True):
    """A claim as its agency knows it: what reads and follow-up writes address."""

    claim_id: str
    agency_reference: str
    currency: str
    client_reference: str = ""
    #: The agency's reference per invoice number, where it keeps one claim per invoice
    #: (what Succeeded/PartiallyAccepted.invoice_references said at creation); else empty.
    invoice_references: dict[str, str] = {}


class Succeeded(msgspec.Struct, frozen=True, kw_only=True, tag="succeeded"):
    agency_reference: str | None = None
    #: Agencies that keep one claim per invoice: each invoice number → the agency's reference
    #: for it. Kept with the claim and handed back in every ClaimRef.
    invoice_references: dict[str, str] = {}


class PartiallyAccepted(msgspec.Struct, frozen=True, kw_only=True, tag="partially_accepted"):
    """A `claim.create` the agency took for some invoices and refused for others.

    The claim exists at the agency with the accepted invoices (under `agency_reference`, and
    per invoice in `invoice_references`); `refused` says which invoices are not there and why.
    The operation succeeds with `refused_invoices` listed, the refused invoices owe nothing
    through this claim, and follow-ups address the accepted ones. Only for `claim.create`.
    """

    agency_reference: str
    refused: tuple[RefusedInvoice, ...]
    invoice_references: dict[str, str] = {}


class Submitted(msgspec.Struct, frozen=True, kw_only=True, tag="submitted"):
    tracking: str


class Failed(msgspec.Struct, frozen=True, kw_only=True, tag="failed"):
    problem: Problem


Outcome = Succeeded | Submitted | Failed | PartiallyAccepted
#: An outcome that ends the operation (everything but Submitted).
FinalOutcome = Succeeded | Failed | PartiallyAccepted


class PendingOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A submitted operation waiting for its outcome, as `poll_outcomes` receives it."""

    operation_id: str
    kind: OperationKind
    tracking: str
    claim_id: str
    submitted_at: dt.datetime
    agency_reference: str | None = None


class ResolvedOutcome(msgspec.Struct, frozen=True, kw_only=True):
    operation_id: str
    outcome: FinalOutcome


class AgencyClaim(msgspec.Struct, kw_only=True):
    """What the agency says about a claim now; the gateway merges it with its own index."""

    status: ClaimStatus
    invoices: list[Invoice]
    balance_amount: int
    agency_data: dict[str, Any] = {}


# --- change feeds ---------------------------------------------------------------------------


class StatusChanged(msgspec.Struct, frozen=True, kw_only=True, tag="status_changed"):
    """The agency reports a claim's status. The same status as the ledger's makes no event, so a
    sweep may report every claim's current status each time."""

    #: The agency's own id of this record (status update id, transaction id...): unique per
    #: credential, the same every time the record is read. A sweep that reports current state
    #: derives it from what the agency says (e.g. case id + status + the agency's change time),
    #: never from when it read it: the gateway remembers the last 2,000 ids per claim.
    record_id: str
    #: The claim as the agency knows it (case number / case id / claim number).
    agency_reference: str
    status: ClaimStatus
    #: The agency's own code or words for it (closing reason, raw state), kept as reported.
    reason: str | None = None
    occurred_at: dt.datetime | None = None


class PaymentCollected(msgspec.Struct, frozen=True, kw_only=True, tag="payment_collected"):
    """A payment (or a reversal of one) on a claim, as the agency books it.

    `source="creditor"` with the creditor's `payment_id` marks the agency's copy of a payment
    reported through the gateway: the ledger already lists it, so it makes no second entry.
    """

    record_id: str
    agency_reference: str
    amount: Money
    paid_on: dt.date
    kind: PaymentKind = "payment"
    source: PaymentSource = "agency"
    #: The creditor's own payment id where the agency has one (reported payments), else None.
    payment_id: str | None = None
    allocations: list[Allocation] = []
    occurred_at: dt.datetime | None = None
    #: The agency's feed reports the invoices' remaining amounts itself (`InvoiceChanged`, a
    #: snapshot of what is owed): this payment is listed but does not move them — the snapshot
    #: may be read before or after this record (Intrum journalizes payments a day late), and
    #: lowering the remaining amount twice would be wrong.
    remaining_reported: bool = False


class InvoiceChanged(msgspec.Struct, frozen=True, kw_only=True, tag="invoice_changed"):
    """What is still owed on one invoice now. The same amount as the ledger's makes no event."""

    record_id: str
    agency_reference: str
    invoice_number: str
    remaining: Money
    #: Costs still owed on the invoice, where the agency reports them.
    costs_remaining: Money | None = None
    occurred_at: dt.datetime | None = None


class Unreadable(msgspec.Struct, frozen=True, kw_only=True, tag="unreadable"):
    """A record the adapter could not read: quarantined by the gateway, never a blocked feed."""

    record_id: str
    agency_reference: str | None = None
    #: The record as the agency sent it (the gateway keeps a bounded prefix).
    raw: str
    #: Why it could not be read, for the admin who looks at the quarantine.
    reason: str


ChangeRecord = StatusChanged | PaymentCollected | InvoiceChanged | Unreadable


class ChangeBatch(msgspec.Struct, frozen=True, kw_only=True):
    """What one `changes_since` call read, oldest first."""

    records: list[ChangeRecord]
    #: Where the next call resumes (stored with these records, atomically); None = from the start.
    checkpoint: str | None
    #: More records are waiting: the gateway calls again (budget permitting) without waiting
    #: for the next poll interval.
    has_more: bool = False


@runtime_checkable
class ChangeFeed(Protocol):
    """An adapter whose agency reports changes (declared in `Capabilities.feeds`)."""

    async def changes_since(
        self, credential: Credential, checkpoint: str | None, limit: int
    ) -> ChangeBatch: ...


@runtime_checkable
class CallbackReceiver(Protocol):
    """An adapter whose agency calls the gateway back (webhooks), at
    `POST /v1/agency-callbacks/{agency}/{tenant}`. The gateway finds the tenant's credential,
    asks the adapter whether the call is authentic (the credential's `callback_secret`, from
    `callback_secret_env`), and applies the records it reads on the same ledger path as the
    agency's feed: records with the same `record_id` as the feed's make one event."""

    def authentic_callback(self, credential: Credential, headers: Mapping[str, str]) -> bool:
        """Whether the call carries the agency's proof (header names in lower case)."""
        ...

    async def callback_changes(self, credential: Credential, body: bytes) -> list[ChangeRecord]:
        """The records a callback's body reports; a body it cannot read is an `Unreadable`."""
        ...


class AdapterPage(msgspec.Struct, kw_only=True):
    items: list[Any]
    #: The adapter's position of the next page, None at the end.
    next_position: str | None = None


class AdapterContext(msgspec.Struct, kw_only=True):
    """What the gateway hands an adapter: its config section and the shared plumbing."""

    agency: str
    #: The `[agencies.<name>]` section of the config file, as written.
    config: Mapping[str, Any]
    #: The shared upstream client (adapters._upstream.UpstreamClient).
    http: Any
    #: Small durable key/value for the adapter's own checkpoints (e.g. Riverty's /transactions `from`).
    checkpoints: Any


@runtime_checkable
class Adapter(Protocol):
    name: str
    capabilities: Capabilities

    async def submit_claim(
        self, credential: Credential, op: OperationContext, claim: ClaimCreate
    ) -> Outcome: ...

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim: ...

    async def list_invoices(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage: ...

    async def list_payments(
        self, credential: Credential, ref: ClaimRef, position: str | None, limit: int
    ) -> AdapterPage: ...

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome: ...

    async def reverse_payment(
        self,
        credential: Credential,
        op: OperationContext,
        ref: ClaimRef,
        payment_id: str,
        reversal: PaymentReversal,
    ) -> Outcome: ...

    async def add_credit_note(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, note: CreditNoteCreate
    ) -> Outcome: ...

    async def withdraw(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, withdrawal: Withdrawal
    ) -> Outcome: ...

    async def poll_outcomes(
        self, credential: Credential, pending: Sequence[PendingOutcome]
    ) -> Sequence[ResolvedOutcome]: ...

    async def aclose(self) -> None: ...


class SandboxSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How to run an agency's sandbox and point the gateway at it (demo, conformance, benches)."""

    #: () -> an ASGI app that simulates the agency.
    create_app: Callable[[], Any]
    #: base URL of a running sandbox -> the `[agencies.<name>]` config section for it.
    agency_config: Callable[[str], dict[str, Any]]
    #: a demo tenant's credentials section for that sandbox (secrets via *_env)...
    credentials: Callable[[], dict[str, Any]]
    #: ...and the env values those *_env names need.
    secrets: Callable[[], dict[str, str]]
    #: Agencies that accept some invoices of a claim and refuse others (`PartiallyAccepted`): a
    #: sandbox route that takes `POST {"invoice_number": "...", "reason": "..."}` and makes the
    #: agency refuse that invoice in the claims created afterwards, accepting the others. The
    #: conformance kit then checks partial acceptance end to end; None = not checked.
    refuse_invoice_path: str | None = None


def lazy_sandbox(module: str, *, refuse_invoice_path: str | None = None) -> SandboxSpec:
    """A SandboxSpec whose parts import `module` only when used, so that loading an adapter's
    SPEC (every gateway start) never loads its simulator.

    `module` defines `create_app()`, `agency_config(base_url)`, `demo_credentials()` and
    `demo_secrets()`; `refuse_invoice_path` is the sandbox's partial-acceptance control, if any.
    """

    def load() -> Any:
        return importlib.import_module(module)

    return SandboxSpec(
        create_app=lambda: load().create_app(),
        agency_config=lambda base_url: load().agency_config(base_url),
        credentials=lambda: load().demo_credentials(),
        secrets=lambda: load().demo_secrets(),
        refuse_invoice_path=refuse_invoice_path,
    )


class WireExample(msgspec.Struct, frozen=True, kw_only=True):
    """One exact translation of an amount, as the agency's document shows it, checked both ways.

    The conformance kit checks `to_wire(canonical) == wire` and `from_wire(wire, currency) ==
    canonical`. A scale or sign error that cancels out on a round trip (123.45 sent as 12345 and
    read back as 12345) passes every round-trip property; it cannot pass a fixed example taken
    from the agency's document. E.g. EUR 12345 → "123.45", JPY 1200 → "1200", or a Debbie
    payment voucher EUR 12345 → +12345 and a principal voucher → -12345.
    """

    #: What is translated, for messages: "payment amount", "invoice principal".
    name: str
    canonical: Money
    #: The agency's value, of the type its wire Struct holds (str, Decimal, int).
    wire: Any
    to_wire: Callable[[Money], Any]
    from_wire: Callable[[Any, str], Money]


def amount_examples(
    to_wire: Callable[[Money], Any], from_wire: Callable[[Any, str], Money], *pairs: tuple[Money, Any]
) -> tuple[WireExample, ...]:
    """One WireExample per (canonical, agency value) pair of one amount translation."""
    return tuple(
        WireExample(
            name=f"amount {money.currency}", canonical=money, wire=wire, to_wire=to_wire, from_wire=from_wire
        )
        for money, wire in pairs
    )


class AdapterSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What the entry point `collection_gateway.adapters` names: one per agency."""

    name: str
    capabilities: Capabilities
    create: Callable[[AdapterContext], Adapter | Awaitable[Adapter]]
    sandbox: SandboxSpec | None = None
    #: Credential fields the config must have (e.g. ("client_id", "client_secret")).
    credential_fields: tuple[str, ...] = ()
    #: Agency config keys the config must have besides base_url.
    config_fields: tuple[str, ...] = ()
    #: Rate limits the agency publishes (per credential), used unless the config overrides them.
    rate_limit_per_minute: int | None = None
    rate_limit_per_day: int | None = None
    #: Exact amount translations from the agency's document (the kit checks them both ways).
    wire_examples: tuple[WireExample, ...] = ()
    #: The adapter's state table: an agency claim state (as the agency spells it) → canonical.
    #: The kit feeds it states the agency never documented: they must read as "pending".
    read_state: Callable[[Any], ClaimStatus] | None = None
