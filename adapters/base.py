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
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, get_args, runtime_checkable

import msgspec

from canonical import (
    ClaimCreate,
    ClaimStatus,
    ClaimType,
    CreditNoteCreate,
    Invoice,
    OperationKind,
    PaymentReport,
    PaymentReversal,
    Problem,
    Withdrawal,
)

__all__ = [
    "CAPABILITIES",
    "Adapter",
    "AdapterContext",
    "AdapterPage",
    "AdapterSpec",
    "AgencyClaim",
    "Capabilities",
    "Capability",
    "ClaimRef",
    "Credential",
    "Failed",
    "OperationContext",
    "Outcome",
    "PendingOutcome",
    "ResolvedOutcome",
    "SandboxSpec",
    "SecretMissing",
    "Submitted",
    "Succeeded",
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


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What an agency can do, as data. Undeclared = refused before anything is stored."""

    supported: frozenset[Capability]
    #: ISO 4217 codes the agency takes; None = any.
    currencies: frozenset[str] | None = None
    #: Claim types the agency has a counterpart for; None = all.
    claim_types: frozenset[ClaimType] | None = None
    #: Largest page the agency serves (the gateway never asks for more).
    max_page_size: int = 100

    def as_json(self) -> dict[str, Any]:
        """The `GET /v1/agencies` shape."""
        return {
            "capabilities": {name: name in self.supported for name in CAPABILITIES},
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


class Succeeded(msgspec.Struct, frozen=True, kw_only=True, tag="succeeded"):
    agency_reference: str | None = None


class Submitted(msgspec.Struct, frozen=True, kw_only=True, tag="submitted"):
    tracking: str


class Failed(msgspec.Struct, frozen=True, kw_only=True, tag="failed"):
    problem: Problem


Outcome = Succeeded | Submitted | Failed


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
    outcome: Succeeded | Failed


class AgencyClaim(msgspec.Struct, kw_only=True):
    """What the agency says about a claim now; the gateway merges it with its own index."""

    status: ClaimStatus
    invoices: list[Invoice]
    balance_amount: int
    agency_data: dict[str, Any] = {}


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


def lazy_sandbox(module: str) -> SandboxSpec:
    """A SandboxSpec whose parts import `module` only when used, so that loading an adapter's
    SPEC (every gateway start) never loads its simulator.

    `module` defines `create_app()`, `agency_config(base_url)`, `demo_credentials()` and
    `demo_secrets()`.
    """

    def load() -> Any:
        return importlib.import_module(module)

    return SandboxSpec(
        create_app=lambda: load().create_app(),
        agency_config=lambda base_url: load().agency_config(base_url),
        credentials=lambda: load().demo_credentials(),
        secrets=lambda: load().demo_secrets(),
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
