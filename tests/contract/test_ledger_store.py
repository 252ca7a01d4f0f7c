"""The claim ledger's store step, on the embedded store and on the real Redis: all or nothing,
compare-and-set on the ledger's version and on the feed's checkpoint, events in order."""

from __future__ import annotations

import datetime as dt

import msgspec

from adapters.base import InvoiceChanged, PaymentCollected, StatusChanged
from canonical import Money
from gateway.ledger import apply_operation, apply_record, new_ledger
from gateway.services.feeds import apply_pushed_records
from gateway.stores import ClaimRecord, OperationRecord, Store, utcnow
from gateway.stores.records import FeedState, LedgerStep, LedgerWrite, QuarantineEntry
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.contract.test_store_contract import claim_record, operation_record


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


async def confirmed(store: Store, reference: str = "AG-1") -> tuple[OperationRecord, ClaimRecord]:
    """A claim accepted and then confirmed by its agency through the ledger step."""
    claim = claim_record()
    operation = operation_record(claim)
    await store.accept(operation, claim, None)
    operation.status, operation.agency_reference = "succeeded", reference
    change = apply_operation(claim, new_ledger(claim), operation, utcnow())
    step = LedgerStep(
        tenant=claim.tenant,
        writes=[LedgerWrite(ledger=change.ledger, claim=change.claim)],
        events=change.events,
        operation=operation,
    )
    assert await store.commit_ledger(step)
    return operation, claim


async def test_an_operations_success_stores_operation_claim_ledger_and_events_together(store: Store) -> None:
    operation, claim = await confirmed(store)
    assert (await store.get_operation(operation.id)).status == "succeeded"  # type: ignore[union-attr]
    stored = await store.get_claim(claim.id)
    assert stored is not None and stored.status == "active" and stored.agency_reference == "AG-1"
    ledger = await store.get_ledger(stored.id)
    assert ledger is not None and ledger.version == 1 and ledger.synced_at is not None
    assert ledger.balance() == 12000
    events, _ = await store.list_events("acme", None, 10)
    assert [e.type for e in events] == ["claim.status_changed"]
    assert await store.find_claim_by_agency_reference("acme", "fake", "AG-1") == stored
    assert await store.find_claim_by_agency_reference("acme", "other", "AG-1") is None
    assert await store.get_ledgers([stored.id, "clm_missing"]) == [ledger, None]


async def test_a_stale_version_stores_nothing(store: Store) -> None:
    _, claim = await confirmed(store)
    stored = await store.get_claim(claim.id)
    assert stored is not None
    ledger = await store.get_ledger(stored.id)
    assert ledger is not None
    record = PaymentCollected(
        record_id="r1", agency_reference="AG-1", amount=eur(100), paid_on=dt.date(2026, 11, 1)
    )
    first = apply_record(stored, ledger, record, utcnow())
    second = apply_record(
        stored, ledger, StatusChanged(record_id="r2", agency_reference="AG-1", status="paused"), utcnow()
    )
    assert await store.commit_ledger(
        LedgerStep(tenant="acme", writes=[LedgerWrite(ledger=first.ledger)], events=first.events)
    )
    # The second was computed from the same version: refused whole, no event, no claim change.
    lost = LedgerStep(
        tenant="acme", writes=[LedgerWrite(ledger=second.ledger, claim=second.claim)], events=second.events
    )
    assert not await store.commit_ledger(lost)
    events, _ = await store.list_events("acme", None, 10)
    assert [e.type for e in events] == ["claim.status_changed", "payment.received", "invoice.updated"]
    assert (await store.get_claim(stored.id)).status == "active"  # type: ignore[union-attr]
    assert (await store.get_ledger(stored.id)).version == 2  # type: ignore[union-attr]


async def test_the_feed_checkpoint_moves_only_from_the_state_read_before(store: Store) -> None:
    _, claim = await confirmed(store)
    stored = await store.get_claim(claim.id)
    assert stored is not None
    ledger = await store.get_ledger(stored.id)
    assert ledger is not None and await store.get_feed("fake:acme-1") is None
    change = apply_record(
        stored,
        ledger,
        InvoiceChanged(record_id="i1", agency_reference="AG-1", invoice_number="INV-1", remaining=eur(5)),
        utcnow(),
    )
    one = FeedState(checkpoint="10", updated_at=utcnow(), records=1)
    step = LedgerStep(
        tenant="acme",
        writes=[LedgerWrite(ledger=change.ledger)],
        events=change.events,
        feed=("fake:acme-1", None, one),
    )
    assert await store.commit_ledger(step)
    assert await store.get_feed("fake:acme-1") == one
    # A second reader that also started from "no checkpoint" is refused, with nothing stored.
    other = FeedState(checkpoint="7", updated_at=utcnow())
    assert not await store.commit_ledger(LedgerStep(tenant="acme", feed=("fake:acme-1", None, other)))
    assert await store.get_feed("fake:acme-1") == one
    two = msgspec.structs.replace(one, checkpoint="20")
    assert await store.commit_ledger(LedgerStep(tenant="acme", feed=("fake:acme-1", one, two)))
    assert (await store.get_feed("fake:acme-1")) == two


async def test_quarantine_keeps_each_record_once_newest_first(store: Store) -> None:
    def entry(record_id: str) -> QuarantineEntry:
        return QuarantineEntry(
            id=f"qr_{record_id}",
            agency="fake",
            tenant="acme",
            credential="fake:acme-1",
            record_id=record_id,
            raw="{}",
            reason="unreadable",
            at=utcnow(),
        )

    assert await store.commit_ledger(LedgerStep(tenant="acme", quarantine=[entry("a"), entry("b")]))
    assert await store.commit_ledger(LedgerStep(tenant="acme", quarantine=[entry("a"), entry("c")]))
    page, position = await store.list_quarantine(None, 2)
    assert [e.record_id for e in page] == ["c", "b"] and position is not None
    rest, end = await store.list_quarantine(position, 2)
    assert [e.record_id for e in rest] == ["a"] and end is None


async def test_claim_lists_follow_status_changes_through_their_index(store: Store) -> None:
    _, claim = await confirmed(store)
    newer = claim_record(reference="ORD-2")  # made a second later (whatever the clock's resolution)
    newer.created_at = claim.created_at + dt.timedelta(seconds=1)
    accepted = operation_record(newer)
    accepted.created_at = newer.created_at  # as the write service makes them: one `now`
    await store.accept(accepted, newer, None)

    async def listed(status: str | None = None, agency: str | None = None) -> list[str]:
        found, _ = await store.list_claims("acme", None, 10, lambda _: True, status=status, agency=agency)
        return [c.id for c in found]

    assert await listed(status="active") == [claim.id]
    assert await listed(status="pending") == [newer.id]
    assert await listed(agency="fake") == [newer.id, claim.id]
    assert await listed(agency="other") == []
    cutoff = newer.created_at - dt.timedelta(milliseconds=1)
    found, _ = await store.list_claims("acme", None, 10, lambda _: True, created_after=cutoff)
    assert [c.id for c in found] == [newer.id]


async def test_records_an_agency_pushes_apply_once_without_a_checkpoint(store: Store) -> None:
    await confirmed(store)
    pushed = [
        PaymentCollected(
            record_id="v-9", agency_reference="AG-1", amount=eur(250), paid_on=dt.date(2026, 11, 2)
        ),
        PaymentCollected(
            record_id="v-10", agency_reference="AG-404", amount=eur(1), paid_on=dt.date(2026, 11, 2)
        ),
    ]
    assert await apply_pushed_records(store, "acme", "fake", "fake:acme-1", pushed) == 2  # payment + invoice
    assert await apply_pushed_records(store, "acme", "fake", "fake:acme-1", pushed) == 0
    events, _ = await store.list_events("acme", None, 10)
    assert [e.type for e in events].count("payment.received") == 1
    assert await store.get_feed("fake:acme-1") is None


async def test_a_status_list_pages_on_when_the_last_claim_of_a_page_changed_status(store: Store) -> None:
    claims = []
    start = utcnow()
    for n in range(3):
        claim = claim_record(reference=f"ORD-P{n}")
        claim.created_at = start + dt.timedelta(seconds=n)
        accepted = operation_record(claim)
        accepted.created_at = claim.created_at
        await store.accept(accepted, claim, None)
        claims.append(claim)
    page, position = await store.list_claims("acme", None, 1, lambda _: True, status="pending")
    assert [c.id for c in page] == [claims[2].id] and position is not None
    moved = msgspec.structs.replace(claims[2], status="active")
    await store.save_claim(moved)
    rest, _ = await store.list_claims("acme", position, 5, lambda _: True, status="pending")
    assert [c.id for c in rest] == [claims[1].id, claims[0].id]


async def test_a_claim_and_its_ledger_are_read_together(store: Store) -> None:
    _, claim = await confirmed(store)
    pair = await store.get_claim_and_ledger(claim.id)
    assert pair == (await store.get_claim(claim.id), await store.get_ledger(claim.id))
    assert await store.get_claim_and_ledger("clm_missing") == (None, None)


async def test_an_erase_blanks_the_raw_text_of_the_claims_quarantined_records(store: Store) -> None:
    def entry(record_id: str, reference: str) -> QuarantineEntry:
        return QuarantineEntry(
            id=f"qr_{record_id}",
            agency="fake",
            tenant="acme",
            credential="fake:acme-1",
            record_id=record_id,
            agency_reference=reference,
            raw='{"debtor": "Anna Muster"}',
            reason="unreadable",
            at=utcnow(),
        )

    assert await store.commit_ledger(
        LedgerStep(tenant="acme", quarantine=[entry("a", "AG-1"), entry("b", "AG-2")])
    )
    assert await store.erase_quarantined("acme", "fake", "AG-1") == 1
    page, _ = await store.list_quarantine(None, 10)
    assert {(e.record_id, e.raw) for e in page} == {("a", "[erased]"), ("b", '{"debtor": "Anna Muster"}')}
    assert all(e.reason == "unreadable" for e in page)


async def test_claims_stored_before_the_ledger_are_indexed_once(redis_prefix: str) -> None:
    store = RedisStore(REDIS_URL, redis_prefix)
    try:
        _, claim = await confirmed(store)
        # As a store written before the ledger left it: no status, agency or reference index.
        await store.redis.delete(
            f"{redis_prefix}:claims:acme:status:active",
            f"{redis_prefix}:claims:acme:agency:fake",
            f"{redis_prefix}:agencyref:acme:fake",
        )
        assert (await store.list_claims("acme", None, 10, lambda _: True, status="active"))[0] == []
        assert await store.index_claims("acme") == 1
        assert await store.index_claims("acme") == 0  # once
        found, _ = await store.list_claims("acme", None, 10, lambda _: True, status="active")
        assert [c.id for c in found] == [claim.id]
        assert (await store.list_claims("acme", None, 10, lambda _: True, agency="fake"))[0] == found
        assert await store.find_claim_by_agency_reference("acme", "fake", "AG-1") == found[0]
    finally:
        await store.aclose()
