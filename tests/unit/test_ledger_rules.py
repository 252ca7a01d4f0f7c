"""The claim ledger's rules (gateway/ledger.py), property-tested: a record applies once whatever the
feed repeats, money is conserved, and the gateway's own knowledge of a withdrawal stands."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import ChangeRecord, InvoiceChanged, PaymentCollected, StatusChanged
from canonical import CLAIM_STATUSES, Money
from gateway.ledger import Change, apply_operation, apply_record, new_ledger
from gateway.stores.records import ClaimLedger, ClaimRecord
from tests.contract.test_store_contract import claim_record, operation_record

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def confirmed() -> tuple[ClaimRecord, ClaimLedger]:
    claim = claim_record()
    operation = operation_record(claim)
    operation.status, operation.agency_reference = "succeeded", "AG-1"
    change = apply_operation(claim, new_ledger(claim), operation, NOW)
    assert change.claim is not None
    return change.claim, change.ledger


def eur(amount: int) -> Money:
    return Money(amount=amount, currency="EUR")


records = st.one_of(
    st.builds(
        PaymentCollected,
        record_id=st.sampled_from([f"p{n}" for n in range(6)]),
        agency_reference=st.just("AG-1"),
        amount=st.integers(1, 20_000).map(eur),
        paid_on=st.just(dt.date(2026, 11, 1)),
        kind=st.sampled_from(["payment", "reversal"]),
    ),
    st.builds(
        StatusChanged,
        record_id=st.sampled_from([f"s{n}" for n in range(6)]),
        agency_reference=st.just("AG-1"),
        status=st.sampled_from(CLAIM_STATUSES),
    ),
    st.builds(
        InvoiceChanged,
        record_id=st.sampled_from([f"i{n}" for n in range(6)]),
        agency_reference=st.just("AG-1"),
        invoice_number=st.just("INV-1"),
        remaining=st.integers(0, 12_000).map(eur),
    ),
)


def run(
    claim: ClaimRecord, ledger: ClaimLedger, feed: list[ChangeRecord]
) -> tuple[ClaimRecord, ClaimLedger, list[str]]:
    events: list[str] = []
    seen: dict[str, ChangeRecord] = {}
    for record in feed:
        record = seen.setdefault(record.record_id, record)  # an id is one record at the agency
        change: Change = apply_record(claim, ledger, record, NOW)
        claim, ledger = change.claim or claim, change.ledger
        events += [event.type for event in change.events]
    return claim, ledger, events


@settings(max_examples=60)
@given(st.lists(records, max_size=12), st.data())
def test_a_feed_repeated_or_replayed_applies_each_record_once(
    feed: list[ChangeRecord], data: st.DataObject
) -> None:
    claim, ledger = confirmed()
    once_claim, once_ledger, once_events = run(claim, ledger, feed)
    # The agency repeats records (an overlap window, a page read twice): each may come again later.
    repeats = data.draw(st.lists(st.sampled_from(feed), max_size=6)) if feed else []
    twice_claim, twice_ledger, twice_events = run(claim, ledger, [*feed, *repeats, *feed])
    assert twice_events == once_events
    assert twice_claim.status == once_claim.status
    assert twice_ledger.invoices == once_ledger.invoices and twice_ledger.payments == once_ledger.payments


@settings(max_examples=60)
@given(st.lists(st.integers(1, 5_000), max_size=8))
def test_payments_without_allocations_lower_what_is_owed_by_exactly_what_was_paid(amounts: list[int]) -> None:
    claim, ledger = confirmed()
    feed: list[ChangeRecord] = [
        PaymentCollected(
            record_id=f"p{n}", agency_reference="AG-1", amount=eur(a), paid_on=dt.date(2026, 11, 1)
        )
        for n, a in enumerate(amounts)
    ]
    _, after, events = run(claim, ledger, feed)
    owed = 12_000
    assert after.invoices[0].remaining == max(0, owed - sum(amounts))
    assert events.count("payment.received") == len(amounts)
    assert sum(p.amount.amount for p in after.payments) == sum(amounts)
    allocated = sum(a.amount.amount for p in after.payments for a in p.allocations)
    assert allocated == min(owed, sum(amounts))


@settings(max_examples=40)
@given(st.lists(st.sampled_from(CLAIM_STATUSES), max_size=6))
def test_a_withdrawn_claim_stays_withdrawn_whatever_the_agency_reports(statuses: list[str]) -> None:
    claim, ledger = confirmed()
    withdrawal = operation_record(claim, "claim.withdraw")
    withdrawal.status, withdrawal.payload = "succeeded", {"reason": "by_client"}
    change = apply_operation(claim, ledger, withdrawal, NOW)
    assert change.claim is not None and change.claim.status == "withdrawn"
    feed: list[ChangeRecord] = [
        StatusChanged(record_id=f"s{n}", agency_reference="AG-1", status=status)  # type: ignore[arg-type]
        for n, status in enumerate(statuses)
    ]
    after, _, events = run(change.claim, change.ledger, feed)
    assert after.status == "withdrawn" and events == []


def test_an_operation_applied_twice_changes_nothing_the_second_time() -> None:
    claim, ledger = confirmed()
    report = operation_record(claim, "payment.report")
    report.status = "succeeded"
    report.payload = {
        "payment_id": "P-1",
        "amount": {"amount": 500, "currency": "EUR"},
        "paid_on": "2026-11-20",
    }
    first = apply_operation(claim, ledger, report, NOW)
    second = apply_operation(claim, first.ledger, report, NOW)
    assert [p.payment_id for p in second.ledger.payments] == ["P-1"]
    assert not second.changed and second.events == []
    reversal = operation_record(claim, "payment.reverse")
    reversal.status, reversal.target, reversal.payload = "succeeded", "P-1", {}
    reversed_ = apply_operation(claim, second.ledger, reversal, NOW)
    assert [p.kind for p in reversed_.ledger.payments] == ["payment", "reversal"]
    assert reversed_.ledger.invoices[0].remaining == 12_000


def test_a_payment_is_never_booked_twice_even_after_its_id_left_the_bounded_memory() -> None:
    claim, ledger = confirmed()
    payment = PaymentCollected(
        record_id="v-1", agency_reference="AG-1", amount=eur(700), paid_on=dt.date(2026, 11, 1)
    )
    sweep: list[ChangeRecord] = [payment]
    sweep += [
        StatusChanged(record_id=f"sweep-{n}", agency_reference="AG-1", status="active") for n in range(2_100)
    ]
    claim, ledger, _ = run(claim, ledger, sweep)
    assert "r:v-1" not in ledger.applied  # forgotten: the list keeps the last 2,000
    _, after, events = run(claim, ledger, [payment])
    assert events == [] and len(after.payments) == 1 and after.invoices[0].remaining == 12_000 - 700
