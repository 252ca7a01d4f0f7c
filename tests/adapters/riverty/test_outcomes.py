"""Outcomes through /transactions: one read per poll for all pending operations, from a checkpoint."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters._upstream import MemorySharedState, UpstreamClient
from adapters.base import Failed, Submitted, Succeeded
from adapters.riverty.adapter import RivertyAdapter
from adapters.riverty.sandbox import build_sandbox
from canonical.problems import OutcomeUnknown
from tests.adapters.riverty._support import Riverty, make_adapter, make_claim, op, pending_of, resolve, unique

FEED = "GET /transactions"


@asynccontextmanager
async def fresh(
    sandbox_options: dict[str, Any] | None = None, upstream_timeout: float = 5.0, **adapter_options: Any
) -> AsyncIterator[tuple[Riverty, RivertyAdapter]]:
    """A sandbox of its own (its feed holds only this test's entries) and an adapter on it."""
    riverty = Riverty.start(build_sandbox(**(sandbox_options or {})))
    upstream = UpstreamClient(
        "riverty", riverty.base_url, timeout=upstream_timeout, shared=MemorySharedState()
    )
    try:
        yield riverty, make_adapter(riverty.base_url, upstream, options=adapter_options)
    finally:
        await upstream.aclose()
        riverty.stop()


async def test_200_pending_operations_resolve_with_one_transactions_read_per_poll(credential):
    async with fresh() as (riverty, adapter):
        pending = []
        for index in range(200):
            operation = op("claim.create")
            reference = unique("REJECT" if index % 10 == 0 else "CUST")
            claim = make_claim(1, debtor_reference=reference)
            pending.append(pending_of(operation, await adapter.submit_claim(credential, operation, claim)))
        before = riverty.calls(FEED)
        resolved = await adapter.poll_outcomes(credential, pending)
        assert riverty.calls(FEED) - before == 1
        outcomes = {r.operation_id: r.outcome for r in resolved}
        assert len(outcomes) == 200
        assert sum(isinstance(o, Failed) for o in outcomes.values()) == 20
        numbers = [o.agency_reference for o in outcomes.values() if isinstance(o, Succeeded)]
        assert len(set(numbers)) == 180


async def test_a_feed_longer_than_one_page_is_paged_through_in_one_poll(credential):
    async with fresh(transactions_batch=50) as (riverty, adapter):
        pending = []
        for _ in range(120):
            operation = op("claim.create")
            pending.append(
                pending_of(operation, await adapter.submit_claim(credential, operation, make_claim(1)))
            )
        before = riverty.calls(FEED)
        outcomes = {r.operation_id: r.outcome for r in await adapter.poll_outcomes(credential, pending)}
        assert len(outcomes) == 120
        # two feed entries per claim (CONFIRMATION, STATUS), 50 a page: 5 pages, the last short
        assert riverty.calls(FEED) - before == 5


async def test_outcomes_piled_up_under_one_timestamp_beyond_riverty_page_cap_all_resolve(credential):
    # After an outage Riverty's outcomes pile up under one timestamp, more of them than its
    # largest page (capped at 7 here, whatever the gateway asks for): every poll still moves on.
    frozen = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock: Callable[[], dt.datetime] = lambda: frozen  # noqa: E731
    async with fresh({"clock": clock, "max_transactions_page_size": 7}) as (_, adapter):
        pending = []
        for _ in range(30):
            operation = op("claim.create")
            pending.append(
                pending_of(operation, await adapter.submit_claim(credential, operation, make_claim(1)))
            )
        outcomes: dict[str, Any] = {}
        for _ in range(3):
            left = [p for p in pending if p.operation_id not in outcomes]
            outcomes |= {r.operation_id: r.outcome for r in await adapter.poll_outcomes(credential, left)}
        assert len(outcomes) == 30
        assert all(isinstance(outcome, Succeeded) for outcome in outcomes.values())
        # and a later poll does not read the pile again from its first page forever
        late = op("claim.create")
        late_pending = pending_of(late, await adapter.submit_claim(credential, late, make_claim(1)))
        assert [r.operation_id for r in await adapter.poll_outcomes(credential, [late_pending])] == [late.id]


async def test_outcomes_read_are_told_again_when_the_poller_died_before_storing_them(credential):
    async with fresh() as (_, adapter):
        claim_op = op("claim.create")
        claim_pending = pending_of(claim_op, await adapter.submit_claim(credential, claim_op, make_claim(1)))
        first = await adapter.poll_outcomes(credential, [claim_pending])  # the checkpoint moves past it
        assert [r.operation_id for r in first] == [claim_op.id]
        # The worker was killed before it stored that outcome: the operation is still pending.
        again = await adapter.poll_outcomes(credential, [claim_pending])
        assert [(r.operation_id, r.outcome) for r in again] == [(claim_op.id, first[0].outcome)]


async def test_an_unreadable_feed_record_is_set_aside_and_the_rest_resolve(credential):
    async with fresh() as (riverty, adapter):
        first = op("claim.create")
        pending_first = pending_of(first, await adapter.submit_claim(credential, first, make_claim(1)))
        riverty.sandbox.settle()
        riverty.sandbox.transactions.insert(
            0, {**riverty.sandbox.transactions[0], "transactionId": 42, "type": None}
        )  # a record with a wrong type for its id and no type at all
        resolved = await adapter.poll_outcomes(credential, [pending_first])
        assert [r.operation_id for r in resolved] == [first.id]


async def test_outcomes_that_share_a_timestamp_are_not_skipped(credential):
    frozen = dt.datetime.now(dt.UTC).replace(microsecond=0)
    clock: Callable[[], dt.datetime] = lambda: frozen  # noqa: E731 - every feed entry gets one second
    async with fresh({"clock": clock}, transactions_overlap_seconds=0) as (riverty, adapter):
        first = op("claim.create")
        pending_first = pending_of(first, await adapter.submit_claim(credential, first, make_claim(1)))
        assert isinstance((await resolve(adapter, credential, [pending_first]))[first.id], Succeeded)
        second = op("claim.create")
        pending_second = pending_of(second, await adapter.submit_claim(credential, second, make_claim(1)))
        before = riverty.calls(FEED)
        resolved = await adapter.poll_outcomes(credential, [pending_second])
        assert [r.operation_id for r in resolved] == [second.id]
        assert riverty.calls(FEED) - before == 1
        assert {tx["createdAt"] for tx in riverty.sandbox.transactions} == {
            frozen.strftime("%Y-%m-%dT%H:%M:%SZ")
        }


async def test_an_outcome_read_before_its_operation_was_pending_is_still_found(credential):
    async with fresh() as (riverty, adapter):
        early = op("claim.create")
        early_pending = pending_of(early, await adapter.submit_claim(credential, early, make_claim(1)))
        late = op("claim.create")
        late_pending = pending_of(late, await adapter.submit_claim(credential, late, make_claim(1)))
        # The worker has not yet recorded `late` as submitted when the poller reads the feed.
        assert [r.operation_id for r in await adapter.poll_outcomes(credential, [early_pending])] == [
            early.id
        ]
        before = riverty.calls(FEED)
        resolved = await adapter.poll_outcomes(credential, [late_pending])
        assert [r.operation_id for r in resolved] == [late.id]
        assert isinstance(resolved[0].outcome, Succeeded)
        assert riverty.calls(FEED) - before == 1


async def test_nothing_pending_reads_nothing(credential):
    async with fresh() as (riverty, adapter):
        assert await adapter.poll_outcomes(credential, []) == []
        assert riverty.calls(FEED) == 0


async def test_a_claim_found_again_while_in_creation_resolves_by_its_number(credential):
    async with fresh(upstream_timeout=0.3) as (riverty, adapter):
        riverty.sandbox.held = True  # Riverty has not processed anything yet
        riverty.sandbox.kit.faults = type(riverty.sandbox.kit.faults)(
            commit_then_timeout=1, hang_seconds=1.0, paths=r"^/claims$"
        )
        operation = op("claim.create")
        claim = make_claim(1)
        with pytest.raises(OutcomeUnknown):
            await adapter.submit_claim(credential, operation, claim)
        retry = op("claim.create", claim_id=operation.claim_id, token=operation.id, maybe_sent=True)
        outcome = await adapter.submit_claim(credential, retry, claim)
        assert isinstance(outcome, Submitted) and outcome.tracking.startswith("claim:")
        assert await adapter.poll_outcomes(credential, [pending_of(retry, outcome)]) == []
        riverty.sandbox.held = False
        resolved = (await resolve(adapter, credential, [pending_of(retry, outcome)]))[retry.id]
        assert isinstance(resolved, Succeeded)
        assert resolved.agency_reference == outcome.tracking.removeprefix("claim:")
        assert len(riverty.ledger("claim")) == 1
