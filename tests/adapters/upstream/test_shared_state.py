"""SharedState on memory and on the real Redis, and the limit → GCRA translation on a simulated clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters._upstream import MemorySharedState, RatePausing, RedisSharedState, SharedState
from adapters._upstream.ratelimit import RateLimit, to_buckets
from tests.adapters.upstream.conftest import REDIS_URL


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> SharedState:
    if request.param == "memory":
        return MemorySharedState()
    shared: RedisSharedState = request.getfixturevalue("redis_shared")
    return shared


async def test_slot_is_taken_under_every_limit_or_under_none(store: SharedState) -> None:
    loose, tight = (5, 60.0), (2, 60.0)

    granted = [await store.acquire_rate("k", [loose, tight]) for _ in range(3)]
    alone = [await store.acquire_rate("k", [loose]) for _ in range(4)]

    assert granted[:2] == [0.0, 0.0]
    assert 0 < granted[2] <= 60
    assert alone == [0.0, 0.0, 0.0, alone[3]]  # the refused call took nothing from `loose`
    assert alone[3] > 0


async def test_wait_is_the_time_until_the_next_slot(store: SharedState) -> None:
    assert await store.acquire_rate("k", [(1, 0.3)]) == 0.0
    wait = await store.acquire_rate("k", [(1, 0.3)])
    assert 0.2 < wait <= 0.3

    deadline = time.monotonic() + 2
    while (wait := await store.acquire_rate("k", [(1, 0.3)])) > 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(wait)


async def test_keys_do_not_share_slots(store: SharedState) -> None:
    assert await store.acquire_rate("acme:a", [(1, 60.0)]) == 0.0
    assert await store.acquire_rate("acme:b", [(1, 60.0)]) == 0.0


async def test_pause_holds_a_key_shut_and_the_longer_pause_wins(store: SharedState) -> None:
    assert isinstance(store, RatePausing)
    await store.pause_rate("k", 30)
    await store.pause_rate("k", 1)

    assert 29 < await store.acquire_rate("k", [(100, 1.0)]) <= 30
    assert 29 < await store.acquire_rate("k", []) <= 30
    assert await store.acquire_rate("other", [(100, 1.0)]) == 0.0


async def test_cached_value_expires_after_its_ttl(store: SharedState) -> None:
    await store.cache_set("token", b"abc", 0.2)
    assert await store.cache_get("token") == b"abc"

    deadline = time.monotonic() + 2
    while await store.cache_get("token") is not None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


@pytest.mark.redis
async def test_redis_checkpoint_without_ttl_never_expires(
    redis_shared: RedisSharedState, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await redis_shared.cache_set("riverty:transactions-from", b"2026-11-01T00:00:00Z", None)

    assert await redis_shared.cache_get("riverty:transactions-from") == b"2026-11-01T00:00:00Z"
    assert await redis_client.ttl(f"{redis_prefix}:shared:kv:riverty:transactions-from") == -1


@pytest.mark.redis
async def test_redis_values_are_bytes_even_from_a_decoding_client(redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        shared = RedisSharedState(client, f"{redis_prefix}:shared")
        await shared.cache_set("k", b"v", 10)
        assert await shared.cache_get("k") == b"v"
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_redis_rate_state_of_one_key_shares_one_cluster_hash_slot(
    redis_shared: RedisSharedState, redis_client: aioredis.Redis, redis_prefix: str
) -> None:
    await redis_shared.acquire_rate("acme:account-1", [(100, 60.0), (10000, 86400.0)])
    await redis_shared.pause_rate("acme:account-1", 1)

    keys = [k.decode() async for k in redis_client.scan_iter(match=f"{redis_prefix}:*")]

    assert len(keys) == 3
    assert all("{acme:account-1}" in key for key in keys)


def _now(step: Coroutine[Any, Any, float]) -> float:
    """Run a coroutine that never suspends (MemorySharedState's) to its result."""
    try:
        step.send(None)
    except StopIteration as done:
        return float(done.value)
    raise AssertionError("MemorySharedState suspended")


def _greedy_grants(limits: list[RateLimit], margin: float, calls: int) -> list[float]:
    """Grant times for a caller that asks again exactly when told, on a simulated clock."""
    clock = [0.0]
    store = MemorySharedState(clock=lambda: clock[0])
    buckets = to_buckets(limits, margin)
    grants: list[float] = []
    while len(grants) < calls:
        wait = _now(store.acquire_rate("k", buckets))
        if wait > 0:
            clock[0] += wait
        else:
            grants.append(clock[0])
    return grants


limit_strategy = st.tuples(st.integers(1, 120), st.floats(0.5, 600, allow_nan=False)).flatmap(
    lambda cp: st.one_of(st.just(cp), st.integers(1, cp[0]).map(lambda b: (cp[0], cp[1], b)))
)


@settings(max_examples=60, deadline=None)
@given(
    limits=st.lists(limit_strategy, min_size=1, max_size=2),
    margin=st.sampled_from([0.0, 0.02, 0.05]),
)
def test_no_window_of_a_limit_ever_sees_more_than_its_count(limits: list[RateLimit], margin: float) -> None:
    grants = _greedy_grants(limits, margin, calls=2 * max(limit[0] for limit in limits) + 5)

    for count, period, *_ in limits:
        for first, later in zip(grants, grants[count:], strict=False):
            assert later - first >= period * (1 - 1e-9), f"{count + 1} calls within {period} s"


@settings(max_examples=40, deadline=None)
@given(count=st.integers(2, 150), period=st.floats(0.5, 600, allow_nan=False))
def test_single_limit_is_used_to_its_full_rate_less_the_margin(count: int, period: float) -> None:
    grants = _greedy_grants([(count, period)], 0.05, calls=3 * count)

    elapsed = grants[-1] - grants[0]
    assert elapsed <= (3 * count - 1) * period * 1.05 / count * (1 + 1e-9)


def test_intrum_limits_allow_a_minute_at_full_pace_and_never_exceed_the_day() -> None:
    buckets = to_buckets([(100, 60.0), (10000, 86400.0)])
    grants = _greedy_grants([(100, 60.0), (10000, 86400.0)], 0.05, calls=300)

    assert len(buckets) == 2
    assert grants[99] - grants[0] <= 60 * 1.05  # a minute's worth goes at the per-minute pace


def test_impossible_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="bad rate limit"):
        to_buckets([(10, 60.0, 11)])
