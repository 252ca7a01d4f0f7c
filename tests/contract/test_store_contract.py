"""One contract for every Store: what the pipeline's guarantees rest on."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from canonical import Address, Debtor, Event, InvoiceCreate, Money
from gateway.stores import (
    AuditEntry,
    ClaimRecord,
    DuplicateClientReference,
    IdempotencyWrite,
    OperationRecord,
    Store,
    StoredResponse,
    new_id,
    utcnow,
)
from gateway.stores.records import LedgerStep


def claim_record(tenant: str = "acme", reference: str = "ORD-1") -> ClaimRecord:
    now = utcnow()
    return ClaimRecord(
        id=new_id("clm"),
        tenant=tenant,
        client_reference=reference,
        agency="fake",
        type="invoice",
        currency="EUR",
        debtor=Debtor(
            kind="company",
            reference="C-1",
            company_name="Acme AG",
            address=Address(street="Main 1", postal_code="8000", city="Zürich", country="CH"),
        ),
        invoices=[
            InvoiceCreate(
                number="INV-1",
                issued_on=dt.date(2026, 10, 1),
                due_on=dt.date(2026, 10, 31),
                amount=Money(amount=12000, currency="EUR"),
            )
        ],
        create_operation_id="op_x",
        created_at=now,
        updated_at=now,
    )


def operation_record(claim: ClaimRecord, kind: str = "claim.create") -> OperationRecord:
    now = utcnow()
    return OperationRecord(
        id=new_id("op"),
        tenant=claim.tenant,
        kind=kind,
        claim_id=claim.id,
        agency="fake",
        payload={},
        created_at=now,
        updated_at=now,  # type: ignore[arg-type]
    )


def idempotency(tenant: str, key: str, body: bytes = b"{}") -> IdempotencyWrite:
    return IdempotencyWrite(
        tenant=tenant,
        key=key,
        fingerprint="f1",
        response=StoredResponse(status=202, headers={"location": "/x"}, body=body),
        ttl_seconds=60,
    )


async def test_accept_stores_claim_operation_idempotency_and_outbox_together(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, idempotency("acme", "k1", b'{"id":1}'))
    assert (await store.get_claim(claim.id)) == claim
    assert (await store.get_operation(op.id)) == op
    assert (await store.find_claim("acme", "ORD-1")) == claim
    begun = await store.idempotency_begin("acme", "k1", "f1", 60)
    assert begun.record is not None and begun.record.response is not None
    assert begun.record.response.body == b'{"id":1}'
    entries = await store.outbox_take("w1", 10, 0, 60)
    assert [e.operation_id for e in entries] == [op.id]


async def test_second_claim_with_the_same_client_reference_stores_nothing(store: Store) -> None:
    first = claim_record()
    await store.accept(operation_record(first), first, idempotency("acme", "k1"))
    await store.outbox_ack((await store.outbox_take("w1", 10, 0, 60))[0])
    second = claim_record()
    second_op = operation_record(second)
    with pytest.raises(DuplicateClientReference) as raised:
        await store.accept(second_op, second, idempotency("acme", "k2"))
    assert raised.value.claim_id == first.id
    assert await store.get_claim(second.id) is None
    assert await store.get_operation(second_op.id) is None
    assert (await store.idempotency_begin("acme", "k2", "f", 60)).record is None  # key k2 was not stored
    assert await store.outbox_take("w1", 10, 0, 60) == []


async def test_the_same_client_reference_is_fine_in_another_tenant(store: Store) -> None:
    mine, theirs = claim_record("acme"), claim_record("other")
    await store.accept(operation_record(mine), mine, None)
    await store.accept(operation_record(theirs), theirs, None)
    assert (await store.find_claim("other", "ORD-1")) == theirs


async def test_idempotency_key_is_held_then_finished_then_replayed(store: Store) -> None:
    assert (await store.idempotency_begin("acme", "k", "f1", 60)).record is None
    held = (await store.idempotency_begin("acme", "k", "f1", 60)).record
    assert held is not None and held.state == "in_progress"
    await store.idempotency_finish(idempotency("acme", "k", b"done"))
    done = (await store.idempotency_begin("acme", "k", "f1", 60)).record
    assert (
        done is not None
        and done.state == "done"
        and done.response is not None
        and done.response.body == b"done"
    )
    assert (await store.idempotency_begin("other", "k", "f1", 60)).record is None  # scoped to the tenant


async def test_released_key_can_be_used_again(store: Store) -> None:
    await store.idempotency_begin("acme", "k", "f1", 60)
    await store.idempotency_release("acme", "k")
    assert (await store.idempotency_begin("acme", "k", "f2", 60)).record is None


async def test_unacknowledged_entry_is_reclaimed_by_another_consumer_after_idle_time(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, None)
    taken = await store.outbox_take("dead-worker", 10, 0, 60)
    assert [e.operation_id for e in taken] == [op.id]
    assert await store.outbox_take("live-worker", 10, 0, 60) == []  # not idle long enough
    reclaimed = await store.outbox_take("live-worker", 10, 0, 0)
    assert [e.operation_id for e in reclaimed] == [op.id]
    await store.outbox_ack(reclaimed[0])
    assert await store.outbox_take("other", 10, 0, 0) == []


async def test_a_touched_entry_stays_its_consumers_however_long_it_works_on_it(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, None)
    taken_at = time.monotonic()
    taken = await store.outbox_take("slow-worker", 10, 0, 60)
    await asyncio.sleep(0.5)  # the entry ages: a delivery attempt that takes long
    await store.outbox_touch("slow-worker", taken)
    # Reclaimable when idle for longer than half the age: the untouched entry would be, the
    # touched one is not (however slowly this line runs, both ages grow alike).
    half = (time.monotonic() - taken_at) - 0.25
    assert await store.outbox_take("other-worker", 10, 0, half) == []
    await store.outbox_ack(taken[0])
    await store.outbox_touch("slow-worker", taken)  # acknowledged: a touch brings nothing back
    assert await store.outbox_take("other-worker", 10, 0, 0) == []


async def test_retry_at_re_enqueues_when_due(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, None)
    entry = (await store.outbox_take("w", 10, 0, 60))[0]
    now = 1_000_000.0
    await store.outbox_retry_at(entry, now + 5)
    assert await store.outbox_promote_due(now) == 0
    assert await store.outbox_promote_due(now + 6) == 1
    again = await store.outbox_take("w", 10, 0, 60)
    assert [e.operation_id for e in again] == [op.id]


async def test_save_operation_tracks_submitted_ones_and_appends_events(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, None)
    op.status = "submitted"
    await store.save_operation(op)
    assert [o.id for o in await store.submitted_operations("fake")] == [op.id]
    op.status = "succeeded"
    event = Event(
        id=new_id("evt"), type="operation.succeeded", created_at=utcnow(), claim_id=claim.id, data={"x": 1}
    )
    moved = ClaimRecord(**{**{f: getattr(claim, f) for f in claim.__struct_fields__}, "status": "active"})
    await store.save_operation(op, moved, [event])
    assert await store.submitted_operations("fake") == []
    assert (await store.get_claim(claim.id)).status == "active"  # type: ignore[union-attr]
    events, _ = await store.list_events("acme", None, 10)
    assert events == [event]


async def test_an_operations_agency_request_is_kept_as_fixed_at_its_first_attempt(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim, "payment.report")
    await store.accept(op, claim, None)
    stored = await store.get_operation(op.id)
    assert stored is not None and stored.agency_request is None
    request = '{"paymentId":"P-1","totalPaymentAmount":125.5,"invoices":[{"invoiceNumber":"A"}]}'
    stored.agency_request = request
    stored.attempts, stored.in_flight = 1, True
    await store.save_operation(stored)
    again = await store.get_operation(op.id)
    assert again is not None
    assert (again.agency_request, again.attempts, again.in_flight) == (request, 1, True)


async def test_wait_final_returns_when_the_operation_ends(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, None)

    async def finish() -> None:
        await asyncio.sleep(0)
        op.status = "succeeded"
        await store.save_operation(op)

    task = asyncio.create_task(finish())
    final = await store.wait_final(op.id, 5)
    await task
    assert final is not None and final.status == "succeeded"


async def test_lists_page_newest_first_without_repeats(store: Store) -> None:
    claims = [claim_record(reference=f"ORD-{i}") for i in range(7)]
    for claim in claims:
        await store.accept(operation_record(claim), claim, None)
    seen: list[str] = []
    after = None
    while True:
        page, after = await store.list_claims("acme", after, 3, lambda c: True)
        seen += [c.id for c in page]
        if after is None:
            break
    assert seen == [c.id for c in reversed(claims)]
    odd, _ = await store.list_claims("acme", None, 10, lambda c: c.client_reference[-1] in "135")
    assert [c.client_reference for c in odd] == ["ORD-5", "ORD-3", "ORD-1"]


async def test_event_feed_pages_oldest_first(store: Store) -> None:
    claim = claim_record()
    events = [
        Event(
            id=new_id("evt"), type="payment.received", created_at=utcnow(), claim_id=claim.id, data={"n": i}
        )
        for i in range(5)
    ]
    await store.save_claim(claim, events)
    first, position = await store.list_events("acme", None, 3)
    rest, end = await store.list_events("acme", position, 3)
    assert [e.data["n"] for e in first + rest] == [0, 1, 2, 3, 4] and end is None


async def test_lock_is_exclusive_until_it_expires(store: Store) -> None:
    assert await store.try_lock("poll:x", 30)
    assert not await store.try_lock("poll:x", 30)


async def test_cursor_key_is_stable(store: Store) -> None:
    assert await store.cursor_key() == await store.cursor_key()
    assert len(await store.cursor_key()) == 32


async def test_event_feeds_keep_the_newest_entries_up_to_their_cap(request: pytest.FixtureRequest) -> None:
    from gateway.stores import MemoryStore
    from gateway.stores.redis import RedisStore
    from tests.conftest import REDIS_URL

    stores: list[Store] = [
        MemoryStore(events_max=100, audit_max=100),
        RedisStore(REDIS_URL, request.getfixturevalue("redis_prefix"), events_max=100, audit_max=100),
    ]
    for store in stores:
        claim = claim_record()
        operation = operation_record(claim)
        for batch in range(10):
            events = [
                Event(
                    id=new_id("evt"), type="payment.received", created_at=utcnow(), claim_id=claim.id, data={}
                )
                for _ in range(50)
            ]
            if batch % 2:
                await store.save_claim(claim, events)
            else:
                await store.save_operation(operation, None, events)
        kept: list[Event] = []
        position: str | None = None
        while True:
            page, position = await store.list_events("acme", position, 100)
            kept += page
            if position is None:
                break
        assert 100 <= len(kept) <= 200, type(store).__name__
        await store.aclose()


async def test_backlog_counts_ready_held_and_delayed_entries_and_dates_the_oldest(store: Store) -> None:
    empty = await store.backlog(["fake", "other"])
    assert (empty.outbox, empty.oldest_created_at, empty.submitted) == (0, None, {"fake": 0, "other": 0})
    first, second = claim_record(reference="ORD-b1"), claim_record(reference="ORD-b2")
    first_op, second_op = operation_record(first), operation_record(second)
    await store.accept(first_op, first, None)
    await store.accept(second_op, second, None)
    held = await store.outbox_take("w1", 1, 0, 60)  # held by a worker: still waiting
    assert [e.operation_id for e in held] == [first_op.id]
    backlog = await store.backlog(["fake"])
    assert (backlog.outbox, backlog.oldest_created_at) == (2, first_op.created_at)
    await store.outbox_retry_at(held[0], 4102444800.0)  # a retry far ahead still counts
    assert (await store.backlog(["fake"])).outbox == 2
    ready = await store.outbox_take("w1", 10, 0, 60)
    await store.outbox_ack(ready[0])
    second_op.status = "submitted"
    await store.save_operation(second_op)
    after = await store.backlog(["fake"])
    assert (after.outbox, after.oldest_created_at, after.submitted) == (1, first_op.created_at, {"fake": 1})


async def test_operations_list_by_status_follows_each_change_of_status(store: Store) -> None:
    claims = [claim_record(reference=f"ORD-{i}") for i in range(7)]
    ops = [operation_record(claim) for claim in claims]
    for op, claim in zip(ops, claims, strict=True):
        await store.accept(op, claim, None)
    for entry in await store.outbox_take("w", 10, 0, 60):
        await store.outbox_ack(entry)
    for i in (1, 3, 5):
        ops[i].status = "failed"
        await store.save_operation(ops[i])
    first, after = await store.list_operations("acme", None, 2, lambda op: True, status="failed")
    assert [op.id for op in first] == [ops[5].id, ops[3].id]
    rest, end = await store.list_operations("acme", after, 2, lambda op: True, status="failed")
    assert ([op.id for op in rest], end) == ([ops[1].id], None)
    queued, _ = await store.list_operations("acme", None, 10, lambda op: True, status="queued")
    assert [op.id for op in queued] == [ops[i].id for i in (6, 4, 2, 0)]

    ops[3].status = "queued"  # an admin's retry: queued again and back on the outbox
    await store.requeue(ops[3])
    assert [e.operation_id for e in await store.outbox_take("w", 10, 0, 60)] == [ops[3].id]
    failed, _ = await store.list_operations("acme", None, 10, lambda op: True, status="failed")
    assert [op.id for op in failed] == [ops[5].id, ops[1].id]
    # a page that started before the change goes on after the id that left the list
    rest, _ = await store.list_operations("acme", ops[3].id, 10, lambda op: True, status="failed")
    assert [op.id for op in rest] == [ops[1].id]
    everything, _ = await store.list_operations("acme", None, 10, lambda op: True)
    assert len(everything) == 7


async def test_an_operation_finished_by_a_ledger_step_is_listed_under_its_new_status(store: Store) -> None:
    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, None)
    op.status = "succeeded"
    assert await store.commit_ledger(LedgerStep(tenant="acme", operation=op))
    succeeded, _ = await store.list_operations("acme", None, 10, lambda o: True, status="succeeded")
    queued, _ = await store.list_operations("acme", None, 10, lambda o: True, status="queued")
    assert ([o.id for o in succeeded], queued) == ([op.id], [])


async def test_the_audit_feed_pages_newest_first_too(store: Store) -> None:
    entries = [
        AuditEntry(id=new_id("aud"), at=utcnow(), actor="ops", action="test", detail={"i": i})
        for i in range(7)
    ]
    for entry in entries:
        await store.append_audit(entry)
    seen: list[str] = []
    after = None
    while True:
        page, after = await store.list_audit(after, 3, newest_first=True)
        seen += [e.id for e in page]
        if after is None:
            break
    assert seen == [e.id for e in reversed(entries)]
    oldest, _ = await store.list_audit(None, 2)
    assert [e.id for e in oldest] == [entries[0].id, entries[1].id]


async def test_accept_once_stores_nothing_when_the_key_is_taken_or_the_routing_moved(store: Store) -> None:
    from gateway.stores import RoutingChanged, RoutingVersion

    first = claim_record(reference="ORD-A")
    assert await store.accept_once(operation_record(first), first, idempotency("acme", "k", b"A")) is None
    second = claim_record(reference="ORD-B")
    second_op = operation_record(second)
    taken = await store.accept_once(second_op, second, idempotency("acme", "k", b"B"))
    assert taken is not None and taken.response is not None and taken.response.body == b"A"
    assert await store.get_operation(second_op.id) is None
    assert await store.find_claim("acme", "ORD-B") is None
    now = utcnow()
    version = RoutingVersion(
        tenant="acme",
        version=1,
        default_agency="fake",
        changed_by="t",
        changed_at=now,
        reason="r",
        config_hash="h",
    )
    assert await store.append_routing_version(version)
    third = claim_record(reference="ORD-C")
    with pytest.raises(RoutingChanged):
        await store.accept_once(operation_record(third), third, idempotency("acme", "k3"), routing_version=2)
    assert await store.find_claim("acme", "ORD-C") is None
    assert (
        await store.accept_once(operation_record(third), third, idempotency("acme", "k3"), routing_version=1)
        is None
    )
    assert await store.find_claim("acme", "ORD-C") is not None


async def test_idempotency_store_once_keeps_the_first_answer(store: Store) -> None:
    assert await store.idempotency_store_once(idempotency("acme", "k", b"first")) is None
    kept = await store.idempotency_store_once(idempotency("acme", "k", b"second"))
    assert kept is not None and kept.response is not None and kept.response.body == b"first"


async def test_a_copy_of_a_claim_read_before_its_erase_keeps_the_erasure_when_written(store: Store) -> None:
    from gateway.services.privacy import ERASED, erased_claim

    claim = claim_record()
    op = operation_record(claim)
    await store.accept(op, claim, idempotency("acme", "k"))
    stale = await store.get_claim(claim.id)  # a worker read it, then the erase happened
    assert stale is not None
    erased = erased_claim(stale, utcnow())
    from gateway.stores import AuditEntry

    audit = AuditEntry(id=new_id("aud"), at=utcnow(), actor="t", action="claim.personal_data_erased")
    await store.save_erasure(erased, [], audit, original=stale)
    stale.status = "active"
    await store.save_claim(stale)
    stale.status = "closed"
    op.status = "succeeded"
    await store.save_operation(op, stale)
    kept = await store.get_claim(claim.id)
    assert kept is not None and kept.status == "closed"
    assert kept.debtor.company_name == ERASED and kept.debtor.address.street == ERASED
    assert kept.personal_data_erased_at == erased.personal_data_erased_at
