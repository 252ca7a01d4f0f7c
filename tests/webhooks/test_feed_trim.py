"""An endpoint far behind its tenant's capped feed: no surviving event is skipped when old ones go."""

from __future__ import annotations

import asyncio
import time

from canonical import Event
from gateway.runtime import Runtime
from gateway.services.webhooks import WebhookCreate, WebhookService
from gateway.stores import new_id, utcnow
from gateway.webhooks.delivery import WebhookDispatcher
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import gateway_settings
from tests.support.receiver import Receiver


async def test_events_trimmed_from_the_feed_under_a_failing_endpoint_do_not_shift_its_cursor(
    receiver: Receiver,
) -> None:
    specs = {"fake": fake_spec(FakeAgency())}
    settings = gateway_settings(
        specs,
        run_worker=False,
        events_max_per_tenant=20,
        webhooks={"allow_http_hosts": ["127.0.0.1"], "poll_interval_seconds": 0.02, "lease_seconds": 0.3},
    )
    runtime = Runtime(settings, specs=specs)
    await runtime.start()
    stop = asyncio.Event()
    try:
        service = WebhookService(runtime)
        endpoint = await service.create("acme", WebhookCreate(url=receiver.url), None)
        now = [time.time()]
        dispatcher = WebhookDispatcher(runtime, service, backoff=lambda a, r: 3600.0, clock=lambda: now[0])
        task = asyncio.create_task(dispatcher.run(stop))

        async def emit() -> Event:
            event = Event(id=new_id("evt"), type="operation.succeeded", created_at=utcnow(), data={})
            await runtime.store.append_events("acme", [event])
            return event

        receiver.answers = [200] * 5 + [500]
        first = [await emit() for _ in range(6)]
        await receiver.wait_for(6)  # five delivered, the sixth failed: retried in an hour
        later = [await emit() for _ in range(30)]  # the feed keeps ~20: the oldest go
        feed, _ = await runtime.store.list_events("acme", None, 100)
        assert first[5].id not in {e.id for e in feed}  # the failing event itself was trimmed
        now[0] += 7200  # the retry is due
        got = await receiver.wait_for(6 + len(feed))
        assert [r.webhook_id for r in got[:6]] == [e.id for e in first]
        assert [r.webhook_id for r in got[6:]] == [e.id for e in feed]  # every survivor, in order
        assert {e.id for e in feed} <= {e.id for e in later}
        assert endpoint.id
        stop.set()
        await task
    finally:
        stop.set()
        await runtime.stop()
