"""Webhooks as a receiver sees them: signed, retried with the same id, ordered, filtered, isolated."""

from __future__ import annotations

import asyncio

from tests.support.receiver import Receiver
from tests.webhooks.conftest import Harness


async def test_deliveries_are_signed_and_verify_with_the_receivers_own_check(
    harness: Harness, receiver: Receiver
) -> None:
    endpoint = await harness.subscribe(receiver.url)
    harness.run(harness.dispatcher())
    first = await harness.emit(reference="A")
    second = await harness.emit(reference="B")
    got = await receiver.wait_for(2)
    assert [r.webhook_id for r in got] == [first.id, second.id]  # feed order
    assert all(r.verifies_with(endpoint["secret"]) for r in got)
    assert not got[0].verifies_with("whsec_" + "A" * 43)  # a wrong secret does not verify
    body = got[0].event()
    assert body["id"] == first.id and body["type"] == "operation.succeeded"
    assert body["data"] == {"reference": "A"}
    feed = (
        await harness.http.get("/v1/tenants/acme/events", headers={"Authorization": "Bearer test-acme-key"})
    ).json()
    assert body == feed["data"][0]  # the body is the event as GET /events shows it


async def test_receiver_failing_twice_gets_the_same_webhook_id_three_times_and_the_attempts_are_listed(
    harness: Harness, receiver: Receiver
) -> None:
    endpoint = await harness.subscribe(receiver.url)
    receiver.answers = [500, 500]
    harness.run(harness.dispatcher())
    event = await harness.emit()
    got = await receiver.wait_for(3)
    assert [r.webhook_id for r in got] == [event.id] * 3
    assert [r.status for r in got] == [500, 500, 200]

    attempts = await harness.attempts(endpoint["id"], 3)
    newest_first = [(a["event_id"], a["attempt"], a["status_code"]) for a in attempts]
    assert newest_first == [(event.id, 3, 200), (event.id, 2, 500), (event.id, 1, 500)]
    assert attempts[1]["error"] == "HTTP 500" and attempts[1]["next_attempt_at"] is not None
    assert attempts[0]["error"] is None and attempts[0]["next_attempt_at"] is None
    assert set(attempts[0]) == {
        "id", "event_id", "attempt", "status_code", "duration_ms", "error", "created_at",
        "next_attempt_at", "redelivery",
    }  # fmt: skip


async def test_during_a_rotation_both_secrets_sign_and_after_the_overlap_only_the_new_one(
    harness: Harness, receiver: Receiver
) -> None:
    endpoint = await harness.subscribe(receiver.url)
    rotated = (
        await harness.http.post(
            f"/v1/admin/tenants/acme/webhooks/{endpoint['id']}/rotate-secret",
            headers={"Authorization": "Bearer test-admin-key"},
        )
    ).json()
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_expires_at"]
    harness.run(harness.dispatcher())
    await harness.emit()
    (got,) = await receiver.wait_for(1)
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert got.verifies_with(rotated["secret"]) and got.verifies_with(endpoint["secret"])

    # 24 h later the old secret no longer signs.
    stored = await harness.service.endpoint("acme", endpoint["id"])
    import datetime as dt

    later = stored.secrets[1].expires_at + dt.timedelta(seconds=1)  # type: ignore[operator]
    assert len(await harness.service.signing_secrets(stored, later)) == 1


async def test_event_type_filter_and_tenant_isolation(harness: Harness, receiver: Receiver) -> None:
    other = Receiver().start()
    try:
        await harness.subscribe(receiver.url, event_types=["claim.status_changed"])
        await harness.subscribe(other.url, tenant="other")
        harness.run(harness.dispatcher())
        await harness.emit(type_="operation.succeeded", n=1)
        wanted = await harness.emit(type_="claim.status_changed", n=2)
        elsewhere = await harness.emit(tenant="other", type_="operation.failed", n=3)
        (got,) = await receiver.wait_for(1)
        (theirs,) = await other.wait_for(1)
        assert got.webhook_id == wanted.id
        assert theirs.webhook_id == elsewhere.id
        marker = await harness.emit(type_="claim.status_changed", n=4)
        await receiver.wait_for(2)
        assert [r.webhook_id for r in receiver.received] == [wanted.id, marker.id]
        assert [r.webhook_id for r in other.received] == [elsewhere.id]
    finally:
        other.stop()


async def test_retry_after_is_honoured(harness: Harness, receiver: Receiver) -> None:
    endpoint = await harness.subscribe(receiver.url)
    receiver.answers = [(503, {"Retry-After": "120"})]
    asked: list[float | None] = []

    def backoff(attempt: int, retry_after: float | None) -> float:
        asked.append(retry_after)
        return 0.0

    harness.run(harness.dispatcher(backoff=backoff))
    await harness.emit()
    await receiver.wait_for(2)
    assert asked == [120.0]
    from gateway.webhooks.delivery import standard_backoff

    assert standard_backoff(1, 120.0) == 120.0
    assert (await harness.deliveries(endpoint["id"]))[-1]["status_code"] == 503


async def test_a_slow_endpoint_does_not_delay_another(harness: Harness, receiver: Receiver) -> None:
    import threading

    slow = Receiver().start()
    slow.hold = threading.Event()
    try:
        await harness.subscribe(slow.url)
        await harness.subscribe(receiver.url)
        harness.run(harness.dispatcher())
        events = [await harness.emit(n=i) for i in range(5)]
        await asyncio.to_thread(slow.entered.wait, 5)
        got = await receiver.wait_for(5)
        assert [r.webhook_id for r in got] == [e.id for e in events]
        assert slow.received == []  # still holding the first one
    finally:
        assert slow.hold is not None
        slow.hold.set()
        slow.stop()


async def test_an_endpoint_failing_for_three_days_is_disabled_and_an_event_says_so(
    harness: Harness, receiver: Receiver
) -> None:
    import time

    endpoint = await harness.subscribe(receiver.url + "?token=t0p", description="billing")
    watcher = Receiver().start()
    try:
        await harness.subscribe(watcher.url, event_types=["webhook.endpoint_disabled"])
        receiver.answers = [500] * 10
        start = time.time()

        def clock() -> float:  # a day passes with each attempt
            return start + 86400.0 * len(receiver.received)

        harness.run(harness.dispatcher(clock=clock))
        await harness.emit()
        (notice,) = await watcher.wait_for(1)
        event = notice.event()
        assert event["type"] == "webhook.endpoint_disabled"
        assert event["data"]["endpoint_id"] == endpoint["id"]
        assert event["data"]["url"] == receiver.url  # never the query (it may hold a token)
        shown = (
            await harness.http.get(
                f"/v1/admin/tenants/acme/webhooks/{endpoint['id']}",
                headers={"Authorization": "Bearer test-admin-key"},
            )
        ).json()
        assert shown["status"] == "disabled" and "HTTP 500" in shown["disabled_reason"]
        assert len(receiver.received) == 4  # day 0 (first failure), 1, 2, 3: then disabled
    finally:
        watcher.stop()


async def test_an_address_that_turns_private_is_refused_at_delivery_time(harness: Harness) -> None:
    from gateway.stores import utcnow
    from gateway.stores.webhooks import WebhookEndpoint

    # Subscribed while public (stored directly: no public receiver exists in a test); now it
    # resolves to loopback, and the connection is refused, recorded and retried.
    endpoint = WebhookEndpoint(
        id="whe_test",
        tenant="acme",
        url="https://localhost:1/hooks",
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    from gateway.stores.webhooks import SealedSecret
    from gateway.webhooks.signing import new_secret

    box = await harness.service.box()
    endpoint.secrets = [SealedSecret(sealed=box.seal(new_secret(), endpoint.id), created_at=utcnow())]
    await harness.service.hooks.put_endpoint(endpoint)
    harness.run(harness.dispatcher(backoff=lambda attempt, retry_after: 60.0))
    await harness.emit()

    (attempt,) = await harness.attempts("whe_test", 1)
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("refused: localhost resolves to 127.0.0.1, a loopback address")
