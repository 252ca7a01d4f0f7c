"""A delivery attempt that outlasts `reclaim_idle_seconds` stays its worker's (issue 20, chaos).

An attempt may run long without its worker being dead (slow answers, several calls, rate-limit
waits, a loaded machine). Another worker must not take its entry over meanwhile: it would deliver
the same operation at the same time (two look-ups finding nothing, two sends).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from gateway.worker import Worker
from tests.delivery._flow import accept, active_claim, settle
from tests.support.agencies import Sandboxes, claim_body, gateway, wait_for


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    running = Sandboxes()
    try:
        yield running
    finally:
        running.stop()


async def test_a_slow_attempt_is_not_taken_over_by_another_worker(sandboxes: Sandboxes) -> None:
    slow = {"debbie": {"timeout_seconds": 5.0}}
    async with gateway(sandboxes, reclaim_idle_seconds=0.3, agencies=slow) as (api, worker):
        claim = await active_claim(api, worker, "acme", claim_body(currency="SEK"))
        vouchers = len(sandboxes.ledger("debbie", "case_voucher.create"))
        # Debbie takes 1.5 s to answer: five times the idle time after which an entry is reclaimed.
        sandboxes.faults("debbie", latency_ms=1500, paths=r"case-vouchers")
        payment = {
            "payment_id": "PAY-S",
            "amount": {"amount": 4000, "currency": "SEK"},
            "paid_on": "2026-11-02",
        }
        operation_id = await accept(api, "acme", f"/claims/{claim['claim_id']}/payments", payment)
        first = asyncio.create_task(worker.deliver_once())

        async def attempting() -> bool:
            found = await worker.store.get_operation(operation_id)
            return found is not None and found.in_flight

        await wait_for(attempting, what="the first worker's attempt")
        other = Worker(worker.runtime, consumer="other-worker")
        taken_over = 0
        while not first.done():  # the other worker keeps asking for work while the attempt runs
            taken_over += await other.deliver_once()
            await asyncio.sleep(0.02)
        assert await first == 1
        assert taken_over == 0
        sandboxes.faults("debbie")
        done = await settle(api, worker, "acme", operation_id)

    assert done["status"] == "succeeded", done
    assert len(sandboxes.ledger("debbie", "case_voucher.create")) == vouchers + 1
