"""One contract for the webhook store on memory and Redis: endpoints, cursors under leases, attempts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.stores import MemoryStore, Store, new_id, utcnow
from gateway.stores.redis import RedisStore
from gateway.stores.webhooks import (
    DeliveryAttempt,
    DeliveryState,
    Redelivery,
    SealedSecret,
    WebhookEndpoint,
    WebhookStore,
    webhook_store_for,
)
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def hooks(request: pytest.FixtureRequest) -> AsyncIterator[WebhookStore]:
    store: Store
    if request.param == "memory":
        store = MemoryStore()
    else:
        store = RedisStore(REDIS_URL, request.getfixturevalue("redis_prefix"))
    try:
        yield webhook_store_for(store, kept=3, max_age_days=1)
    finally:
        await store.aclose()


def endpoint(tenant: str = "acme") -> WebhookEndpoint:
    now = utcnow()
    return WebhookEndpoint(
        id=new_id("whe"),
        tenant=tenant,
        url="https://hooks.example.com/x",
        secrets=[SealedSecret(sealed="c2VhbGVk", created_at=now)],
        created_at=now,
        updated_at=now,
    )


def attempt(endpoint_id: str, number: int) -> DeliveryAttempt:
    return DeliveryAttempt(
        id=new_id("whd"), endpoint_id=endpoint_id, event_id=f"evt_{number}", attempt=number,
        status_code=500, duration_ms=3, error="HTTP 500", created_at=utcnow(),
    )  # fmt: skip


async def test_endpoints_are_kept_per_tenant(hooks: WebhookStore) -> None:
    a, b, theirs = endpoint(), endpoint(), endpoint("other")
    for e in (b, a, theirs):
        await hooks.put_endpoint(e)
    assert [e.id for e in await hooks.list_endpoints("acme")] == sorted([a.id, b.id])
    assert await hooks.get_endpoint("acme", theirs.id) is None
    assert (await hooks.get_endpoint("other", theirs.id)) == theirs
    assert await hooks.delete_endpoint("acme", a.id) is True
    assert await hooks.delete_endpoint("acme", a.id) is False
    assert [e.id for e in await hooks.list_endpoints("acme")] == [b.id]


async def test_progress_is_saved_only_under_the_lease(hooks: WebhookStore) -> None:
    e = endpoint()
    assert await hooks.lease(e.id, "w1", 30)
    assert not await hooks.lease(e.id, "w2", 30)  # held by w1
    assert await hooks.lease(e.id, "w1", 30)  # renewed
    state = DeliveryState(after="5", offset=2, attempt=1, next_attempt_at=1.5, failing_since=1.0)
    assert await hooks.save_progress(e.id, "w1", state, [attempt(e.id, 1)])
    assert not await hooks.save_progress(e.id, "w2", DeliveryState())  # not the holder: nothing stored
    assert await hooks.get_state(e.id) == state
    await hooks.release(e.id, "w2")  # not the holder: no effect
    assert not await hooks.lease(e.id, "w2", 30)
    await hooks.release(e.id, "w1")
    assert await hooks.lease(e.id, "w2", 30)
    assert not await hooks.save_progress(e.id, "w1", DeliveryState())


async def test_attempts_are_newest_first_paged_and_bounded(hooks: WebhookStore) -> None:
    e = endpoint()
    assert await hooks.lease(e.id, "w", 30)
    made = [attempt(e.id, n) for n in range(1, 6)]
    assert await hooks.save_progress(e.id, "w", None, made[:2])
    for a in made[2:]:
        assert await hooks.save_progress(e.id, "w", None, [a])
    first, position = await hooks.list_attempts(e.id, None, 2)
    assert [a.attempt for a in first] == [5, 4] and position is not None
    rest, end = await hooks.list_attempts(e.id, position, 2)
    assert [a.attempt for a in rest] == [3] and end is None  # kept=3: the two oldest are gone
    assert await hooks.get_attempt(e.id, made[4].id) == made[4]
    assert await hooks.get_attempt(e.id, made[0].id) is None


async def test_a_redelivery_is_dropped_only_with_its_attempt(hooks: WebhookStore) -> None:
    e = endpoint()
    assert await hooks.lease(e.id, "w", 30)
    first = Redelivery(attempt_id="whd_1", event_id="evt_1", feed_after="9", feed_offset=1)
    await hooks.push_redelivery(e.id, first)
    await hooks.push_redelivery(e.id, Redelivery(attempt_id="whd_2", event_id="evt_2"))
    assert await hooks.next_redelivery(e.id) == first
    assert await hooks.save_progress(e.id, "w", None, [attempt(e.id, 1)], redelivered=True)
    assert (await hooks.next_redelivery(e.id)).event_id == "evt_2"  # type: ignore[union-attr]


async def test_the_fallback_secret_key_is_made_once(hooks: WebhookStore) -> None:
    key = await hooks.secret_key()
    assert len(key) == 32 and await hooks.secret_key() == key
