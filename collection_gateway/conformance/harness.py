"""An adapter wired to its own sandbox over real HTTP, the way the gateway wires it.

Public as part of the conformance kit: an adapter package's own tests use `running_agency`
and `sample_claim` too (see the tests `collection-gateway new-adapter` writes).

`running_agency(spec)` serves `spec.sandbox.create_app()` on a free port, builds the agency
config, the demo tenant's credential, a fresh `UpstreamClient` and the adapter, and closes them
all afterwards. `Agency` then offers what every test needs: fresh operation contexts, delivery
with retries like the worker's, outcomes awaited with a deadline (never a fixed sleep), and
complete walks over paginated lists.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest

from adapters._upstream import MemorySharedState, UpstreamClient
from adapters.base import (
    Adapter,
    AdapterContext,
    AdapterSpec,
    ChangeFeed,
    ChangeRecord,
    ClaimRef,
    Credential,
    FinalOutcome,
    OperationContext,
    Outcome,
    PendingOutcome,
    Submitted,
    Succeeded,
    credential_from_section,
)
from adapters.sandbox_kit import RunningServer, serve_in_thread
from canonical import (
    Address,
    ClaimCreate,
    Debtor,
    Invoice,
    InvoiceCreate,
    Money,
    OperationKind,
    Payment,
)
from canonical.problems import AgencyUnavailable

__all__ = ["Agency", "running_agency", "sample_claim"]

#: How long an operation may take to resolve in a sandbox before the test fails.
OUTCOME_DEADLINE = 15.0
#: Pause between two polls of a pending outcome (a polling loop, not a wait for time to pass).
POLL_INTERVAL = 0.02


class Agency:
    def __init__(
        self,
        spec: AdapterSpec,
        adapter: Adapter,
        credential: Credential,
        server: RunningServer,
        config: dict[str, Any],
        http: UpstreamClient,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.adapter = adapter
        self.credential = credential
        self.server = server
        self.config = config
        self.http = http

    async def sandbox(self, method: str, path: str, json: Any = None) -> Any:
        """Call one of the sandbox's own `/_sandbox/...` routes (faults, ledger, controls)."""
        async with httpx.AsyncClient(base_url=self.server.base_url) as client:
            response = await client.request(method, path, json=json)
            response.raise_for_status()
            return response.json() if response.content else None

    async def set_faults(self, **plan: Any) -> None:
        await self.sandbox("PUT", "/_sandbox/faults", json=plan)

    async def ledger(self, kind: str | None = None) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = (await self.sandbox("GET", "/_sandbox/ledger"))["entries"]
        return [entry for entry in entries if kind is None or entry["kind"] == kind]

    def declares(self, capability: str) -> bool:
        return capability in self.spec.capabilities.supported

    def require(self, *capabilities: str) -> None:
        missing = [c for c in capabilities if not self.declares(c)]
        if missing:
            pytest.skip(f"{self.name} does not declare {', '.join(missing)}")

    @staticmethod
    def op(kind: OperationKind, claim_id: str = "") -> OperationContext:
        token = str(uuid.uuid4())
        return OperationContext(id=f"op_{token}", kind=kind, idempotency_token=token, claim_id=claim_id)

    async def deliver(
        self, op: OperationContext, send: Callable[[OperationContext], Awaitable[Outcome]]
    ) -> Outcome:
        """Send a write as the worker does: a retryable fault is retried with the same token,
        marked `maybe_sent`, honouring the agency's Retry-After, until a deadline. What the
        adapter stores with the operation (`fix_request`: a fixed request, a `Steps` log) is
        handed back to the next attempt as `request`, as the gateway's store does."""
        deadline = time.monotonic() + OUTCOME_DEADLINE
        kept: list[str | None] = [op.request]
        inner = op.fix_request

        async def fix_request(request: str) -> None:
            if inner is not None:
                await inner(request)
            kept[0] = request

        op = msgspec.structs.replace(op, fix_request=fix_request)
        while True:
            try:
                return await send(op)
            except AgencyUnavailable as exc:  # includes rate limited and outcome unknown
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(min(exc.retry_after or 0.05, 2.0))  # backoff between attempts
                op = msgspec.structs.replace(op, attempt=op.attempt + 1, maybe_sent=True, request=kept[0])

    async def resolve(self, op: OperationContext, outcome: Outcome, claim_id: str = "") -> FinalOutcome:
        """The final outcome of a write: at once, or by polling until a deadline."""
        if not isinstance(outcome, Submitted):
            return outcome
        pending = PendingOutcome(
            operation_id=op.id,
            kind=op.kind,
            tracking=outcome.tracking,
            claim_id=claim_id or op.claim_id,
            submitted_at=dt.datetime.now(dt.UTC),
        )
        deadline = time.monotonic() + OUTCOME_DEADLINE
        while time.monotonic() < deadline:
            for resolved in await self.adapter.poll_outcomes(self.credential, [pending]):
                if resolved.operation_id == op.id:
                    return resolved.outcome
            await asyncio.sleep(POLL_INTERVAL)
        pytest.fail(f"{self.name}: operation {op.kind} still pending after {OUTCOME_DEADLINE} s")

    async def create(self, claim: ClaimCreate) -> ClaimRef:
        """Submit a claim and wait until the agency has it; its reference."""
        op = self.op("claim.create", claim_id=f"clm_{uuid.uuid4().hex[:12]}")
        outcome = await self.resolve(
            op, await self.deliver(op, lambda o: self.adapter.submit_claim(self.credential, o, claim))
        )
        assert isinstance(outcome, Succeeded), f"{self.name} refused a valid claim: {outcome}"
        assert outcome.agency_reference, f"{self.name} confirmed a claim without an agency reference"
        return ClaimRef(
            claim_id=op.claim_id,
            agency_reference=outcome.agency_reference,
            currency=claim.currency,
            client_reference=claim.client_reference,
            invoice_references=dict(outcome.invoice_references),
        )

    async def write(
        self, ref: ClaimRef, kind: OperationKind, send: Callable[[OperationContext], Awaitable[Outcome]]
    ) -> FinalOutcome:
        op = self.op(kind, claim_id=ref.claim_id)
        return await self.resolve(op, await self.deliver(op, send))

    async def all_invoices(self, ref: ClaimRef, limit: int) -> list[Invoice]:
        return await self._walk(
            lambda position: self.adapter.list_invoices(self.credential, ref, position, limit), limit
        )

    async def all_payments(self, ref: ClaimRef, limit: int = 100) -> list[Payment]:
        return await self._walk(
            lambda position: self.adapter.list_payments(self.credential, ref, position, limit), limit
        )

    async def changes(
        self, checkpoint: str | None = None, limit: int = 100
    ) -> tuple[list[ChangeRecord], str | None]:
        """Read the agency's change feed from `checkpoint` until it has nothing more: the records
        in order and the checkpoint to resume from (the way the gateway's feed loop reads it)."""
        assert isinstance(self.adapter, ChangeFeed), f"{self.name} declares feeds but has no changes_since"
        records: list[ChangeRecord] = []
        for _ in range(100):
            batch = await self.adapter.changes_since(self.credential, checkpoint, limit)
            assert len(batch.records) <= limit, f"{self.name}: {len(batch.records)} records for limit {limit}"
            records.extend(batch.records)
            checkpoint = batch.checkpoint
            if not batch.has_more:
                return records, checkpoint
        pytest.fail(f"{self.name}: the change feed never caught up")

    async def _walk(self, page: Callable[[str | None], Awaitable[Any]], limit: int) -> list[Any]:
        items: list[Any] = []
        position: str | None = None
        seen_positions: set[str] = set()
        for _ in range(1000):
            current = await page(position)
            assert len(current.items) <= limit, (
                f"{self.name}: a page of {len(current.items)} items for limit {limit}"
            )
            items.extend(current.items)
            position = current.next_position
            if position is None:
                return items
            assert position not in seen_positions, (
                f"{self.name}: pagination went back to position {position!r}"
            )
            seen_positions.add(position)
        pytest.fail(f"{self.name}: pagination did not end")


@asynccontextmanager
async def running_agency(
    spec: AdapterSpec,
    *,
    app: Any = None,
    create: Callable[[AdapterContext], Any] | None = None,
    **upstream: Any,
) -> AsyncIterator[Agency]:
    """`spec`'s adapter against its sandbox.

    A test may bring its own sandbox `app`, its own adapter factory `create`, and keyword
    arguments for the `UpstreamClient` (e.g. a short `timeout`).
    """
    assert spec.sandbox is not None
    server = serve_in_thread(app if app is not None else spec.sandbox.create_app())
    http: UpstreamClient | None = None
    adapter: Adapter | None = None
    try:
        config = spec.sandbox.agency_config(server.base_url)
        credential = credential_from_section(
            spec.name, "demo", spec.sandbox.credentials(), spec.sandbox.secrets()
        )
        # The agency's published limits, each allowed as one burst: never more than `count` in
        # any window (so the sandbox never answers 429), but no pacing that would make a test
        # of a few dozen calls last a minute. Each test has a fresh limiter and sandbox.
        limits = [
            (count, period, count)
            for count, period in ((spec.rate_limit_per_minute, 60.0), (spec.rate_limit_per_day, 86400.0))
            if count
        ]
        http = UpstreamClient(
            spec.name,
            str(config.get("base_url", server.base_url)),
            **{"shared": MemorySharedState(), "rate_limits": limits, **upstream},
        )
        context = AdapterContext(agency=spec.name, config=config, http=http, checkpoints=MemorySharedState())
        created = (create or spec.create)(context)
        adapter = await created if inspect.isawaitable(created) else created
        yield Agency(spec, adapter, credential, server, config, http)
    finally:
        if adapter is not None:
            await adapter.aclose()
        if http is not None:
            await http.aclose()
        server.stop()


def sample_claim(spec: AdapterSpec, *, invoices: int = 3, tag: str | None = None) -> ClaimCreate:
    """A plain valid claim in a currency and of a type the agency declares; unique numbers."""
    capabilities = spec.capabilities
    currencies = capabilities.currencies
    currency = "EUR" if currencies is None or "EUR" in currencies else sorted(currencies)[0]
    types = capabilities.claim_types
    claim_type = "invoice" if types is None or "invoice" in types else sorted(types)[0]
    tag = tag or uuid.uuid4().hex[:10].upper()
    amounts = [12345, 1, 9999999, 250000, 7]
    return ClaimCreate(
        client_reference=f"ORD-{tag}",
        type=claim_type,
        currency=currency,
        debtor=Debtor(
            kind="person",
            reference=f"CUST-{tag}",
            first_name="Lisa",
            last_name="Meier",
            email="lisa.meier@example.com",
            phone="+41791234567",
            language="de",
            address=Address(
                street="Bahnhofstrasse", house_number="12", postal_code="8001", city="Zürich", country="CH"
            ),
        ),
        invoices=[
            InvoiceCreate(
                number=f"INV-{tag}-{index + 1}",
                issued_on=dt.date(2026, 9, 1) + dt.timedelta(days=index),
                due_on=dt.date(2026, 10, 1) + dt.timedelta(days=index),
                amount=Money(amount=amounts[index % len(amounts)] + index, currency=currency),
                costs=Money(amount=500, currency=currency) if index == 0 else None,
            )
            for index in range(invoices)
        ],
    )
