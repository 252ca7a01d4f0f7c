"""Debbie's change feed: a reconcile sweep over its cases and vouchers, and its webhooks, against
the sandbox over real HTTP. The sweep and a webhook about the same thing make the same records."""

from __future__ import annotations

from typing import Any

import msgspec

from adapters.base import (
    ClaimRef,
    Credential,
    InvoiceChanged,
    PaymentCollected,
    StatusChanged,
    Succeeded,
    Unreadable,
)
from adapters.debbie.adapter import DebbieAdapter
from adapters.debbie.sandbox import DEMO_CALLBACK_SECRET
from tests.adapters.debbie._support import SandboxControl, make_claim, op


async def _submit(adapter: DebbieAdapter, credential: Credential, tag: str) -> ClaimRef:
    claim = make_claim([(f"{tag}-1", 12000, 500), (f"{tag}-2", 3050, None)], debtor_reference=f"CUST-{tag}")
    outcome = await adapter.submit_claim(credential, op("claim.create"), claim)
    assert isinstance(outcome, Succeeded), outcome
    assert outcome.agency_reference
    return ClaimRef(claim_id="clm_test", agency_reference=outcome.agency_reference, currency="SEK")


async def _sweep(adapter: DebbieAdapter, credential: Credential, limit: int = 100) -> list[Any]:
    records: list[Any] = []
    checkpoint = None
    for _ in range(500):
        batch = await adapter.changes_since(credential, checkpoint, limit)
        records += batch.records
        checkpoint = batch.checkpoint
        if not batch.has_more:
            return records
    raise AssertionError("the sweep never ended")


def _of(records: list[Any], case_id: str, kind: type) -> list[Any]:
    return [r for r in records if isinstance(r, kind) and r.agency_reference == case_id]


async def test_the_sweep_reads_a_new_case_pending_with_its_invoices_open(
    adapter: DebbieAdapter, credential: Credential
) -> None:
    ref = await _submit(adapter, credential, "NEW")
    records = await _sweep(adapter, credential)
    [status] = _of(records, ref.agency_reference, StatusChanged)
    assert status.status == "pending"
    remaining = {
        r.invoice_number: r.remaining.amount for r in _of(records, ref.agency_reference, InvoiceChanged)
    }
    assert remaining == {"NEW-1": 12000, "NEW-2": 3050}
    assert not _of(records, ref.agency_reference, PaymentCollected)


async def test_a_payment_debbie_collects_is_one_payment_record_and_lowers_the_remaining_amount(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(adapter, credential, "COL")
    before = await _sweep(adapter, credential)
    await control.http.post(f"/_sandbox/debbie/cases/{ref.agency_reference}/collected", json={"amount": 2500})
    after = await _sweep(adapter, credential)
    [payment] = _of(after, ref.agency_reference, PaymentCollected)
    assert (payment.kind, payment.source, payment.payment_id, payment.amount.amount) == (
        "payment",
        "agency",
        None,
        2500,
    )
    assert payment.remaining_reported
    remaining = {
        r.invoice_number: r.remaining.amount for r in _of(after, ref.agency_reference, InvoiceChanged)
    }
    assert remaining == {"COL-1": 12000 - 2500, "COL-2": 3050}  # oldest due date first
    # a sweep that finds nothing new makes the same records again: applied once by their ids
    again = await _sweep(adapter, credential)
    assert {r.record_id for r in _of(again, ref.agency_reference, PaymentCollected)} == {payment.record_id}
    assert {r.record_id for r in _of(before, ref.agency_reference, InvoiceChanged)}.isdisjoint(
        {r.record_id for r in _of(after, ref.agency_reference, InvoiceChanged)}
    )


async def test_a_status_change_at_debbie_is_read_and_a_withdrawal_reads_withdrawn(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(adapter, credential, "STA")
    await control.http.post(
        f"/_sandbox/debbie/cases/{ref.agency_reference}/status", json={"status": "VERIFIED"}
    )
    [status] = _of(await _sweep(adapter, credential), ref.agency_reference, StatusChanged)
    assert status.status == "active"
    await control.debbie(
        "PATCH", f"/cases/{ref.agency_reference}", json={"status": "ENDED", "exitReason": "WITHDRAWN"}
    )
    [status] = _of(await _sweep(adapter, credential), ref.agency_reference, StatusChanged)
    assert (status.status, status.reason) == ("withdrawn", "WITHDRAWN")


async def test_a_webhook_makes_the_same_records_as_the_sweep(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(adapter, credential, "HOOK")
    voucher = (
        await control.http.post(
            f"/_sandbox/debbie/cases/{ref.agency_reference}/collected", json={"amount": 700}
        )
    ).json()
    body = msgspec.json.encode(
        {"event": "case-vouchers.create", "time": "2026-12-02T10:00:00Z", "data": voucher}
    )
    from_hook = await adapter.callback_changes(credential, body)
    from_sweep = _of(await _sweep(adapter, credential), ref.agency_reference, object)
    assert {r.record_id for r in from_hook} == {r.record_id for r in from_sweep}
    case = (await control.debbie("GET", f"/cases/{ref.agency_reference}")).json()
    status_hook = {"event": "cases.status-change", "time": "2026-12-02T10:00:00Z", "data": case}
    [status] = await adapter.callback_changes(credential, msgspec.json.encode(status_hook))
    assert status.record_id in {r.record_id for r in from_sweep}
    assert await adapter.callback_changes(credential, b'{"event": "customers.create", "data": {}}') == []
    [broken] = await adapter.callback_changes(credential, b"{not json")
    assert isinstance(broken, Unreadable)


def test_a_webhook_is_authentic_only_with_the_shared_secret(
    adapter: DebbieAdapter, credential: Credential
) -> None:
    assert adapter.authentic_callback(credential, {"authorization": f"Bearer {DEMO_CALLBACK_SECRET}"})
    assert not adapter.authentic_callback(credential, {"authorization": "Bearer wrong"})
    assert not adapter.authentic_callback(credential, {"authorization": DEMO_CALLBACK_SECRET})
    assert not adapter.authentic_callback(credential, {})
    without = msgspec.structs.replace(
        credential, fields={k: v for k, v in credential.fields.items() if k != "callback_secret"}
    )
    assert not adapter.authentic_callback(without, {"authorization": "Bearer "})


async def test_a_sweep_in_small_batches_loses_and_repeats_nothing(
    adapter: DebbieAdapter, credential: Credential
) -> None:
    for n in range(12):  # more than one page of the sweep
        await _submit(adapter, credential, f"MANY{n}")
    whole = await _sweep(adapter, credential, limit=100)
    small = await _sweep(adapter, credential, limit=2)
    assert [r.record_id for r in small] == [r.record_id for r in whole]


async def test_a_voucher_that_cannot_be_read_is_set_aside_and_the_sweep_goes_on(
    adapter: DebbieAdapter, credential: Credential, control: SandboxControl
) -> None:
    ref = await _submit(adapter, credential, "POI")
    poisoned = (await control.http.post("/_sandbox/feed/poison")).json()["poison"]
    assert poisoned["caseId"] == ref.agency_reference
    other = await _submit(adapter, credential, "AFTER")
    records = await _sweep(adapter, credential)
    [bad] = _of(records, ref.agency_reference, Unreadable)
    assert poisoned["caseVoucherId"] in bad.raw
    assert _of(records, ref.agency_reference, StatusChanged)  # the case's status is still read
    assert not _of(records, ref.agency_reference, InvoiceChanged)  # its amounts would be wrong: they wait
    assert _of(records, other.agency_reference, InvoiceChanged)  # and the other cases go on
