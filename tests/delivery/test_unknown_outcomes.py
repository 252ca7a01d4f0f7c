"""Exactly once when an answer is lost, a commit lands late or the store goes away (issue 20).

Each test reproduces one way a write went wrong under chaos, with one fault of the sandboxes'
switches and one write, and checks the agency's own ledger: the write is there exactly once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from adapters.intrum.sandbox import SandboxOptions
from gateway.stores.redis import RedisStore
from tests.delivery._flow import accept, active_claim, operation, settle
from tests.support.agencies import Recording, Sandboxes, claim_body, gateway, wait_for
from tests.support.redis_server import OwnRedis


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    # Intrum completes a request 50 ms a step on its own, as it would between two attempts.
    running = Sandboxes(intrum=SandboxOptions(step_seconds=0.05))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def no_faults(sandboxes: Sandboxes) -> Iterator[None]:
    yield
    for agency in sandboxes.servers:
        sandboxes.faults(agency)


async def test_intrum_payment_without_allocations_is_resent_as_first_built_after_a_lost_answer(
    sandboxes: Sandboxes,
) -> None:
    recording = Recording()
    async with gateway(sandboxes, transports={"intrum": recording}) as (api, worker):
        claim = await active_claim(api, worker, "acme", claim_body(invoices=2))
        # Pays the first invoice in full: once booked, that invoice is closed, and allocations
        # computed again from what is open would all go to the second one.
        sandboxes.faults("intrum", commit_then_timeout=1, hang_seconds=1.0, paths=r"/invoices/payment$")
        payment = {
            "payment_id": "PAY-1",
            "amount": {"amount": 12500, "currency": "EUR"},
            "paid_on": "2026-11-02",
        }
        operation_id = await accept(api, "acme", f"/claims/{claim['claim_id']}/payments", payment)
        done = await settle(api, worker, "acme", operation_id)

    assert done["status"] == "succeeded", done
    first, *retries = recording.bodies("POST", "/invoices/payment")
    assert retries, "the lost answer was never retried"
    assert all(json.loads(body) == json.loads(first) for body in retries)
    assert [i["invoiceNumber"] for i in json.loads(first)["invoices"]] == [claim_body_first_invoice(first)]
    assert len([e for e in sandboxes.ledger("intrum", "payment") if e["body"]["paymentId"] == "PAY-1"]) == 1


def claim_body_first_invoice(body: bytes) -> str:
    return str(json.loads(body)["invoices"][0]["invoiceNumber"])


async def test_debbie_payment_committed_after_the_timeout_is_found_not_sent_again(
    sandboxes: Sandboxes,
) -> None:
    async with gateway(sandboxes, agencies={"debbie": {"commit_latency_seconds": 1.5}}) as (api, worker):
        claim = await active_claim(api, worker, "acme", claim_body(currency="SEK"))
        vouchers_before = len(sandboxes.ledger("debbie", "case_voucher.create"))
        late = sandboxes.late_commits("debbie")
        # Debbie carries the voucher out a second after the gateway (0.5 s timeout) gave up.
        sandboxes.faults("debbie", commit_late=1, hang_seconds=1.0, paths=r"/case-vouchers/")
        payment = {
            "payment_id": "PAY-G",
            "amount": {"amount": 4000, "currency": "SEK"},
            "paid_on": "2026-11-02",
        }
        operation_id = await accept(api, "acme", f"/claims/{claim['claim_id']}/payments", payment)
        done = await settle(api, worker, "acme", operation_id)
        await wait_for(_late_commit_done(sandboxes, late), what="the late commit")

    assert done["status"] == "succeeded", done
    assert len(sandboxes.ledger("debbie", "case_voucher.create")) == vouchers_before + 1


async def test_debbie_customer_committed_after_the_timeout_is_found_not_created_twice(
    sandboxes: Sandboxes,
) -> None:
    async with gateway(sandboxes, agencies={"debbie": {"commit_latency_seconds": 1.5}}) as (api, worker):
        cases_before = len(sandboxes.ledger("debbie", "case.create"))
        late = sandboxes.late_commits("debbie")
        sandboxes.faults("debbie", commit_late=1, hang_seconds=1.0, paths=r"/customers$")
        body = claim_body(currency="SEK")
        operation_id = await accept(api, "acme", "/claims", body)
        done = await settle(api, worker, "acme", operation_id)
        await wait_for(_late_commit_done(sandboxes, late), what="the late commit")

    assert done["status"] == "succeeded", done
    reference = body["debtor"]["reference"]
    customers = [e for e in sandboxes.ledger("debbie", "customer.create") if reference in json.dumps(e)]
    assert len(customers) == 1, customers
    assert len(sandboxes.ledger("debbie", "case.create")) == cases_before + 1


def _late_commit_done(sandboxes: Sandboxes, before: int) -> Callable[[], Awaitable[bool]]:
    async def done() -> bool:
        return sandboxes.late_commits("debbie") > before

    return done


@pytest.mark.e2e
async def test_the_worker_survives_a_store_outage_mid_poll_and_resumes(sandboxes: Sandboxes) -> None:
    own = OwnRedis()
    own.start()
    store = RedisStore(own.url, "chaos")
    stop = asyncio.Event()
    try:
        async with gateway(sandboxes, store=store) as (api, worker):
            sandboxes.riverty.held = True  # the claim stays submitted: the poller reads the feed
            first = await accept(api, "globex", "/claims", claim_body())

            async def submitted() -> bool:
                await worker.deliver_once()
                return (await operation(api, "globex", first))["status"] == "submitted"

            await wait_for(submitted, what="claim submitted")
            # The feed answers slowly; the store dies while the poller waits for it, so the
            # poller's next store call (the adapter's checkpoint) meets a dead Redis.
            sandboxes.faults("riverty", latency_ms=300, paths=r"^/transactions$")
            requests = sandboxes.riverty.kit.requests
            reads = sandboxes.riverty.calls["GET /transactions"]
            running = asyncio.create_task(worker.run(stop))

            async def reading() -> bool:  # the poll's request is at Riverty, held by the latency
                return sandboxes.riverty.kit.requests > requests

            async def answered() -> bool:
                return sandboxes.riverty.calls["GET /transactions"] > reads

            await wait_for(reading, what="the poller reads the feed")
            own.kill()
            await wait_for(answered, what="the feed answered")
            for _ in range(4):  # every loop goes round against the dead store, and stays
                await asyncio.sleep(0.25)
                assert not running.done(), running.exception()
            own.start()
            sandboxes.faults("riverty")
            sandboxes.riverty.held = False

            async def resolved() -> bool:
                return (await operation(api, "globex", first))["status"] == "succeeded"

            await wait_for(resolved, timeout=30, what="the worker resumed after the outage")
            assert not running.done()
            stop.set()
            await asyncio.wait_for(running, 10)
    finally:
        stop.set()
        own.close()


async def _lost_then_settled(
    sandboxes: Sandboxes, api: Any, worker: Any, path: str, body: dict[str, Any], fault_path: str
) -> dict[str, Any]:
    """A Riverty write whose first answer is lost (carried out, answer held past the timeout)."""
    sandboxes.faults("riverty", commit_then_timeout=1, hang_seconds=1.0, paths=fault_path)
    operation_id = await accept(api, "globex", path, body)
    await worker.deliver_once()  # the answer is lost: the outcome is unknown
    sandboxes.riverty.settle()  # Riverty carries the request out
    return await settle(api, worker, "globex", operation_id)


async def test_riverty_partial_withdrawal_after_a_lost_answer_is_looked_up_not_sent_again(
    sandboxes: Sandboxes,
) -> None:
    async with gateway(sandboxes) as (api, worker):
        body = claim_body(invoices=2)
        claim = await active_claim(api, worker, "globex", body)
        number, first = claim["agency_reference"], body["invoices"][0]["number"]
        withdrawal = {"reason": "goods_returned", "invoice_numbers": [first]}
        done = await _lost_then_settled(
            sandboxes, api, worker, f"/claims/{claim['claim_id']}/withdrawal", withdrawal, r"/recalls$"
        )

    assert done["status"] == "succeeded", done
    recalls = [e["body"] for e in sandboxes.ledger("riverty", "recall") if e["key"] == number]
    assert recalls == [{"reason": "GOODS_RETURNED", "invoiceNumbers": [first]}]


async def test_riverty_whole_withdrawal_after_a_lost_answer_is_recognised_by_its_status_alone(
    sandboxes: Sandboxes,
) -> None:
    async with gateway(sandboxes) as (api, worker):
        claim = await active_claim(api, worker, "globex", claim_body(invoices=2))
        number = claim["agency_reference"]
        sandboxes.faults("riverty", commit_then_timeout=1, hang_seconds=1.0, paths=r"/recalls$")
        operation_id = await accept(
            api, "globex", f"/claims/{claim['claim_id']}/withdrawal", {"reason": "by_client"}
        )
        await worker.deliver_once()  # the answer is lost
        sandboxes.riverty.settle()
        assert sandboxes.riverty.claims[number].status == "CLOSED"
        # Riverty's documents name the status CLOSED but no closing reason: the search says no more.
        sandboxes.riverty.claims[number].closing_reason = None
        done = await settle(api, worker, "globex", operation_id)

    assert done["status"] == "succeeded", done
    assert len([e for e in sandboxes.ledger("riverty", "recall") if e["key"] == number]) == 1


async def test_riverty_reversal_after_a_lost_answer_is_found_in_the_documented_feed(
    sandboxes: Sandboxes,
) -> None:
    async with gateway(sandboxes, agencies={"riverty": {"options": {"transactions_overlap_seconds": 1}}}) as (
        api,
        worker,
    ):
        claim = await active_claim(api, worker, "globex", claim_body())
        number = claim["agency_reference"]
        payment = {
            "payment_id": "PAY-R",
            "amount": {"amount": 4000, "currency": "EUR"},
            "paid_on": "2026-11-02",
        }
        paid = await settle(
            api,
            worker,
            "globex",
            await accept(api, "globex", f"/claims/{claim['claim_id']}/payments", payment),
        )
        assert paid["status"] == "succeeded", paid
        undocumented = sandboxes.riverty.calls["GET /claims/{n}/accountingDocuments"]
        done = await _lost_then_settled(
            sandboxes,
            api,
            worker,
            f"/claims/{claim['claim_id']}/payments/PAY-R/reversal",
            {},
            r"/cancellations$",
        )

    assert done["status"] == "succeeded", done
    assert len([e for e in sandboxes.ledger("riverty", "cancellation") if e["key"] == f"{number}/PAY-R"]) == 1
    document = next(d for d in sandboxes.riverty.claims[number].documents if d.number == "PAY-R")
    assert document.cancelled
    assert (
        sandboxes.riverty.calls["GET /claims/{n}/accountingDocuments"] == undocumented
    )  # no document names it
