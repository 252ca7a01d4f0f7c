"""Helpers for the Riverty tests: a running sandbox, operations, claims, and outcome polling."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import Sequence
from typing import Any

from adapters._upstream import MemorySharedState, UpstreamClient
from adapters.base import (
    AdapterContext,
    ClaimRef,
    Credential,
    Failed,
    OperationContext,
    Outcome,
    PendingOutcome,
    Submitted,
    Succeeded,
)
from adapters.riverty import SPEC
from adapters.riverty.adapter import RivertyAdapter
from adapters.riverty.sandbox import RivertySandbox
from adapters.sandbox_kit import RunningServer, serve_in_thread
from canonical import Address, ClaimCreate, Debtor, InvoiceCreate, Money, OperationKind


class Riverty:
    """A sandbox instance served over real HTTP; its state is readable in-process."""

    def __init__(self, sandbox: RivertySandbox, server: RunningServer) -> None:
        self.sandbox = sandbox
        self.server = server
        self.base_url = server.base_url

    @classmethod
    def start(cls, sandbox: RivertySandbox) -> Riverty:
        return cls(sandbox, serve_in_thread(sandbox.app))

    def stop(self) -> None:
        self.server.stop()

    def calls(self, route: str) -> int:
        return self.sandbox.calls[route]

    def ledger(self, kind: str, key: str | None = None) -> list[Any]:
        return [e for e in self.sandbox.kit.ledger if e.kind == kind and (key is None or e.key == key)]


def make_adapter(base_url: str, upstream: UpstreamClient, **options: Any) -> RivertyAdapter:
    assert SPEC.sandbox is not None
    config = {**SPEC.sandbox.agency_config(base_url), **options}
    made = SPEC.create(
        AdapterContext(agency="riverty", config=config, http=upstream, checkpoints=MemorySharedState())
    )
    assert isinstance(made, RivertyAdapter)
    return made


_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}-{time.monotonic_ns() % 10**9}"


def op(
    kind: OperationKind, *, claim_id: str | None = None, maybe_sent: bool = False, token: str | None = None
) -> OperationContext:
    token = token or unique("op")
    return OperationContext(
        id=token,
        kind=kind,
        idempotency_token=token,
        maybe_sent=maybe_sent,
        claim_id=claim_id or unique("clm"),
    )


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


def make_claim(
    invoices: Sequence[tuple[str, int]] | int = 2,
    *,
    debtor_reference: str | None = None,
    costs: int | None = None,
) -> ClaimCreate:
    """A person's claim in EUR; `invoices` is a count or (number, amount) pairs, due dates in order."""
    if isinstance(invoices, int):
        invoices = [(f"INV-{i:03d}", 10_000 + i) for i in range(invoices)]
    return ClaimCreate(
        client_reference=unique("ORD"),
        currency="EUR",
        debtor=Debtor(
            kind="person",
            reference=debtor_reference or unique("CUST"),
            first_name="Anna",
            last_name="Berger",
            email="anna@example.com",
            language="de",
            address=Address(
                street="Hauptstrasse", house_number="1", postal_code="10115", city="Berlin", country="DE"
            ),
        ),
        invoices=[
            InvoiceCreate(
                number=number,
                issued_on=dt.date(2026, 1, 1),
                due_on=dt.date(2026, 2, 1) + dt.timedelta(days=index),
                amount=eur(amount),
                costs=None if costs is None else eur(costs),
            )
            for index, (number, amount) in enumerate(invoices)
        ],
    )


def pending_of(
    operation: OperationContext, outcome: Outcome, *, agency_reference: str | None = None
) -> PendingOutcome:
    assert isinstance(outcome, Submitted), outcome
    return PendingOutcome(
        operation_id=operation.id,
        kind=operation.kind,
        tracking=outcome.tracking,
        claim_id=operation.claim_id,
        submitted_at=dt.datetime.now(dt.UTC),
        agency_reference=agency_reference,
    )


async def resolve(
    adapter: RivertyAdapter, credential: Credential, pending: Sequence[PendingOutcome], within: float = 5.0
) -> dict[str, Succeeded | Failed]:
    """Poll until every pending operation has its outcome (or fail after `within` seconds)."""
    outcomes: dict[str, Succeeded | Failed] = {}
    deadline = time.monotonic() + within
    while len(outcomes) < len(pending):
        left = [p for p in pending if p.operation_id not in outcomes]
        for resolved in await adapter.poll_outcomes(credential, left):
            outcomes[resolved.operation_id] = resolved.outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending) - len(outcomes)} operations still pending after {within}s")
        await asyncio.sleep(0)
    return outcomes


async def create_claim(adapter: RivertyAdapter, credential: Credential, claim: ClaimCreate) -> ClaimRef:
    """Submit a claim and wait for Riverty's CONFIRMATION; the ref then addresses it."""
    operation = op("claim.create")
    outcome = await adapter.submit_claim(credential, operation, claim)
    resolved = (await resolve(adapter, credential, [pending_of(operation, outcome)]))[operation.id]
    assert isinstance(resolved, Succeeded) and resolved.agency_reference, resolved
    return ClaimRef(
        claim_id=operation.claim_id,
        agency_reference=resolved.agency_reference,
        currency=claim.currency,
        client_reference=claim.client_reference,
    )
