"""Agency records for a claim the gateway has not learnt the reference of yet (its `claim.create`
still `submitted`) are parked with the step that moves the feed past them, and applied — once —
in the step that gives the claim that reference. On the embedded store and on the real Redis."""

from __future__ import annotations

import datetime as dt

import pytest

from adapters.base import ChangeBatch, PaymentCollected
from canonical import Money
from gateway.ledger import apply_operation, new_ledger
from gateway.services.feeds import apply_feed_batch, apply_pushed_records, parked, unpark
from gateway.stores import ClaimRecord, OperationRecord, Store, utcnow
from gateway.stores.records import LedgerStep, LedgerWrite
from tests.contract.test_store_contract import claim_record, operation_record


def payment(record_id: str, reference: str = "AG-1", amount: int = 2500) -> PaymentCollected:
    return PaymentCollected(
        record_id=record_id,
        agency_reference=reference,
        amount=Money(amount=amount, currency="EUR"),
        paid_on=dt.date(2026, 11, 1),
    )


async def submitted(store: Store) -> tuple[OperationRecord, ClaimRecord]:
    """A claim accepted; the agency holds it as AG-1, the gateway does not know that yet."""
    claim = claim_record()
    operation = operation_record(claim)
    await store.accept(operation, claim, None)
    return operation, claim


async def confirm(store: Store, operation: OperationRecord, claim: ClaimRecord) -> LedgerStep:
    """The step the worker stores when the creation succeeds (reference AG-1)."""
    operation.status, operation.agency_reference = "succeeded", "AG-1"
    current = await store.get_claim(claim.id) or claim
    change = apply_operation(
        current, await store.get_ledger(claim.id) or new_ledger(current), operation, utcnow()
    )
    both = await unpark(store, current, change, utcnow())
    return LedgerStep(
        tenant=claim.tenant,
        writes=[LedgerWrite(ledger=both.ledger, claim=both.claim)],
        events=both.events,
        operation=operation,
        quarantine=both.quarantine,
        revealed=both.revealed,
        unpark=both.unpark,
    )


async def test_a_record_for_a_claim_not_confirmed_yet_is_parked_then_applied_once(store: Store) -> None:
    operation, claim = await submitted(store)
    batch = ChangeBatch(records=[payment("p-1"), payment("p-1"), payment("x-1", "AG-404")], checkpoint="3")
    state = await apply_feed_batch(store, "acme", "fake", "fake:acme-1", None, batch)
    assert state is not None and state.checkpoint == "3"  # the checkpoint moved past them
    held = await store.parked_records("acme", "fake", "AG-1")
    assert [p.record for p in held] == [payment("p-1")]  # the same record parked once
    assert held[0].credential == "fake:acme-1"
    assert [p.record for p in await store.parked_records("acme", "fake", "AG-404")] == [
        payment("x-1", "AG-404")
    ]
    assert await store.parked_records("acme", "other", "AG-1") == []

    assert await store.commit_ledger(await confirm(store, operation, claim))
    ledger = await store.get_ledger(claim.id)
    assert ledger is not None and [p.amount.amount for p in ledger.payments] == [2500]
    assert ledger.balance() == 12000 - 2500 and ledger.version == 1
    assert await store.parked_records("acme", "fake", "AG-1") == []  # removed with the step
    assert len(await store.parked_records("acme", "fake", "AG-404")) == 1  # not this claim's
    events, _ = await store.list_events("acme", None, 20)
    assert [e.type for e in events] == ["claim.status_changed", "payment.received", "invoice.updated"]

    # The agency repeats the record once the claim is known: no second entry, no second event.
    assert await apply_pushed_records(store, "acme", "fake", "fake:acme-1", [payment("p-1")]) == 0
    assert (await store.list_events("acme", None, 20))[0] == events
    assert await store.parked_records("acme", "fake", "AG-1") == []


async def test_a_record_parked_while_the_reference_is_revealed_is_not_lost(store: Store) -> None:
    operation, claim = await submitted(store)
    reveal = await confirm(store, operation, claim)  # read before the record was parked
    assert reveal.revealed == [("fake", "AG-1")] and reveal.unpark == []
    assert await apply_pushed_records(store, "acme", "fake", "fake:acme-1", [payment("p-1")]) == 0
    assert not await store.commit_ledger(reveal)  # refused whole: nothing stored
    assert (await store.get_claim(claim.id)).agency_reference is None  # type: ignore[union-attr]
    assert await store.get_ledger(claim.id) is None
    assert await store.commit_ledger(await confirm(store, operation, claim))  # read again: applied
    ledger = await store.get_ledger(claim.id)
    assert ledger is not None and ledger.balance() == 12000 - 2500


async def test_a_record_is_not_parked_for_a_reference_a_claim_has_by_then(store: Store) -> None:
    operation, claim = await submitted(store)
    late = parked("fake", "acme", "fake:acme-1", payment("p-1"), "AG-1", utcnow())  # read before
    assert await store.commit_ledger(await confirm(store, operation, claim))
    assert not await store.commit_ledger(LedgerStep(tenant="acme", park=[late]))
    assert await store.parked_records("acme", "fake", "AG-1") == []
    # Recomputed from what is stored now, it applies to the claim.
    assert await apply_pushed_records(store, "acme", "fake", "fake:acme-1", [payment("p-1")]) == 2
    assert (await store.get_ledger(claim.id)).balance() == 12000 - 2500  # type: ignore[union-attr]


async def test_parked_records_are_bounded_by_count_and_age_per_feed(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.stores.memory.PARKED_MAX", 3)
    monkeypatch.setattr("gateway.stores.redis.PARKED_MAX", 3)
    now = utcnow()
    old = parked("fake", "acme", "fake:acme-1", payment("old", "AG-7"), "AG-7", now - dt.timedelta(days=8))
    assert await store.commit_ledger(LedgerStep(tenant="acme", park=[old]))  # dropped: too old
    assert await store.parked_records("acme", "fake", "AG-7") == []
    other = parked("fake", "acme", "fake:acme-2", payment("o-1", "AG-9"), "AG-9", now)
    assert await store.commit_ledger(LedgerStep(tenant="acme", park=[other]))
    for n in range(5):
        record = parked(
            "fake",
            "acme",
            "fake:acme-1",
            payment(f"p-{n}", f"AG-{n}"),
            f"AG-{n}",
            now + dt.timedelta(seconds=n),
        )
        assert await store.commit_ledger(LedgerStep(tenant="acme", park=[record]))
    kept = [len(await store.parked_records("acme", "fake", f"AG-{n}")) for n in range(5)]
    assert kept == [0, 0, 1, 1, 1]  # the oldest dropped first
    assert len(await store.parked_records("acme", "fake", "AG-9")) == 1  # another feed's bound
