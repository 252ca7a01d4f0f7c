"""A store outage in the middle of a delivery attempt is the gateway's fault, never the agency's
answer (issue 20, chaos): the attempt is retried, and the write lands once.

Seen under chaos: an Intrum whole-claim withdrawal (one request per invoice) sent the first
invoice's withdrawal, then the store died (the chaos test restarts it) before the second, so the
upstream client's shared state (rate-limit slots, tokens) could not be read: `store_unavailable`
was stored as the operation's final failure although Intrum had withdrawn the invoice(s). Here the
shared state lives on a Redis of the test's own, killed right after Intrum answered the first
withdrawal; the operation store stays up, so that the worker can store what it concluded.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import httpx
import pytest
import redis.asyncio as aioredis

from adapters._upstream.shared import RedisSharedState
from adapters._upstream.transport import fast_transport
from adapters.intrum.sandbox import SandboxOptions
from gateway.stores.memory import MemoryStore
from tests.delivery._flow import accept, active_claim, operation, settle
from tests.support.agencies import Sandboxes, claim_body, gateway
from tests.support.redis_server import OwnRedis


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[Sandboxes]:
    running = Sandboxes(intrum=SandboxOptions(step_seconds=0.05))
    try:
        yield running
    finally:
        running.stop()


class KillAfterFirstWithdrawal(httpx.AsyncBaseTransport):
    """The gateway's transport to Intrum; once Intrum has answered the first withdrawal request,
    the Redis holding the shared state is SIGKILLed (before the next request is prepared)."""

    def __init__(self, shared: OwnRedis) -> None:
        self._inner = fast_transport()
        self._shared = shared
        self.armed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if self.armed and request.method == "POST" and request.url.path.endswith("/invoices/withdrawal"):
            self.armed = False
            await response.aread()
            self._shared.kill()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_intrum_whole_withdrawal_survives_a_store_outage_between_its_invoices(
    sandboxes: Sandboxes,
) -> None:
    shared = OwnRedis()
    shared.start()
    store = MemoryStore()
    client = aioredis.Redis.from_url(shared.url, socket_timeout=2, socket_connect_timeout=1)
    store.shared = RedisSharedState(client, "outage:shared")  # type: ignore[assignment]
    transport = KillAfterFirstWithdrawal(shared)
    try:
        async with gateway(sandboxes, store=store, transports={"intrum": transport}) as (api, worker):
            body = claim_body(invoices=2)
            claim = await active_claim(api, worker, "acme", body)
            numbers = {i["number"] for i in body["invoices"]}
            transport.armed = True
            withdrawal = await accept(
                api, "acme", f"/claims/{claim['claim_id']}/withdrawal", {"reason": "by_client"}
            )
            await worker.deliver_once()  # the first invoice is withdrawn, then the store is gone
            assert not transport.armed, "the attempt never reached the first withdrawal"
            after_outage = await operation(api, "acme", withdrawal)
            assert after_outage["status"] == "queued", after_outage  # retried, not failed
            shared.start()
            done = await settle(api, worker, "acme", withdrawal)
    finally:
        await client.aclose()
        shared.close()

    assert done["status"] == "succeeded", done
    withdrawn = [e for e in sandboxes.ledger("intrum", "withdrawal") if e["body"]["invoiceNumber"] in numbers]
    assert sorted(e["body"]["invoiceNumber"] for e in withdrawn) == sorted(numbers)


async def test_an_attempt_that_hangs_on_the_store_is_stopped_and_retried(sandboxes: Sandboxes) -> None:
    """A store that stops answering (SIGSTOP: no error, no answer) in the middle of an attempt:
    the worker stops the attempt after its budget instead of keeping the entry for ever, and
    retries it; the write lands once."""
    shared = OwnRedis()
    shared.start()
    assert shared.process is not None
    store = MemoryStore()
    client = aioredis.Redis.from_url(shared.url, socket_timeout=None, socket_connect_timeout=1)
    store.shared = RedisSharedState(client, "hang:shared")  # type: ignore[assignment]
    quick = {"intrum": {"timeout_seconds": 0.2}}
    try:
        async with gateway(sandboxes, store=store, reclaim_idle_seconds=0.5, agencies=quick) as (api, worker):
            body = claim_body(invoices=1)
            claim = await active_claim(api, worker, "acme", body)
            number = f"CN-{claim['claim_id'][-6:]}"
            note = {
                "number": number,
                "invoice_number": body["invoices"][0]["number"],
                "amount": {"amount": 500, "currency": "EUR"},
                "issued_on": "2026-11-02",
            }
            operation_id = await accept(api, "acme", f"/claims/{claim['claim_id']}/credit-notes", note)
            shared.process.send_signal(signal.SIGSTOP)  # the shared state's Redis stops answering
            try:
                budget = worker.attempt_budget("intrum")
                await asyncio.wait_for(worker.deliver_once(), budget + 20)  # never for ever
            finally:
                shared.process.send_signal(signal.SIGCONT)
            stopped = await worker.store.get_operation(operation_id)
            assert stopped is not None and stopped.status == "queued" and not stopped.in_flight
            assert stopped.maybe_sent and "stopped" in (stopped.history[-1].detail or "")
            done = await settle(api, worker, "acme", operation_id)
    finally:
        await client.aclose()
        shared.close()

    assert done["status"] == "succeeded", done
    assert (
        len(
            [
                e
                for e in sandboxes.ledger("intrum", "creditNote")
                if e["body"]["invoiceNumber"] == note["invoice_number"]
            ]
        )
        == 1
    )
