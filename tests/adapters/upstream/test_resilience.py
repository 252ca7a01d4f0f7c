"""Retries (reads only), the agency's 429 / X-RateLimit pushback, and the per-agency circuit breaker."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters._upstream import BearerAuth, MemorySharedState, UpstreamClient
from adapters._upstream.breaker import State
from canonical.problems import AgencyRateLimited, AgencyRejected, AgencyUnavailable, OutcomeUnknown
from tests.adapters.upstream._agency import CREDENTIAL, OTHER_CREDENTIAL, Agency, Answer
from tests.adapters.upstream.conftest import MakeClient

AUTH = BearerAuth(token="static-token")
UNAVAILABLE = Answer(503, {"message": "Service temporarily unavailable"})


async def test_read_survives_a_burst_of_5xx(agency: Agency, make_client: MakeClient) -> None:
    agency.answer_next(UNAVAILABLE, Answer(500), Answer(502))

    answer = await make_client().request("GET", "/items/7", credential=CREDENTIAL, auth=AUTH)

    assert answer.json(dict) == {"id": "7"}
    assert agency.calls_to("/items/7") == 4


async def test_read_gives_up_after_its_attempts(agency: Agency, make_client: MakeClient) -> None:
    agency.answer_next(*[UNAVAILABLE] * 5)

    with pytest.raises(AgencyUnavailable):
        await make_client(retry_attempts=3).request("GET", "/items/7", credential=CREDENTIAL, auth=AUTH)

    assert agency.calls_to("/items/7") == 3


async def test_rejected_read_is_not_retried(agency: Agency, make_client: MakeClient) -> None:
    agency.answer_next(Answer(422, {"message": "bad cursor"}))

    with pytest.raises(AgencyRejected):
        await make_client().request("GET", "/items/7", credential=CREDENTIAL, auth=AUTH)

    assert agency.calls_to("/items/7") == 1


async def test_write_answered_5xx_is_outcome_unknown_and_never_resent(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(500), UNAVAILABLE)

    with pytest.raises(OutcomeUnknown):
        await make_client().request(
            "POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={}, write=True
        )

    assert agency.calls_to("/payments") == 1


async def test_read_told_429_with_retry_after_waits_that_long_and_succeeds(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(429, {"message": "Too Many Requests"}, {"Retry-After": "1"}))
    started = time.monotonic()

    answer = await make_client().request("GET", "/items/7", credential=CREDENTIAL, auth=AUTH)

    assert answer.status == 200
    first, second = (c.at for c in agency.calls)
    assert second - first >= 0.95
    assert time.monotonic() - started < 1.9


async def test_read_told_to_wait_past_its_budget_fails_fast_and_so_do_the_next_reads_of_that_credential(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(429, {"message": "Too Many Requests"}, {"Retry-After": "30"}))
    client = make_client(read_rate_budget=2.0)

    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(AgencyRateLimited) as limited:
            await client.request("GET", "/items/7", credential=CREDENTIAL, auth=AUTH)
        assert time.monotonic() - started < 0.5
        assert 28 <= (limited.value.retry_after or 0) <= 30
        assert limited.value.problem().code == "agency_rate_limited"

    assert agency.calls_to("/items/7") == 1  # the second never reached the agency
    await client.request("GET", "/items/8", credential=OTHER_CREDENTIAL, auth=AUTH)  # others unaffected


async def test_remaining_zero_pauses_the_credential_until_the_reset_time(
    agency: Agency, make_client: MakeClient
) -> None:
    reset = int(time.time()) + 60
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    agency.answer_next(Answer(200, {"id": "1"}, headers))
    client = make_client()

    await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    with pytest.raises(AgencyRateLimited) as limited:
        await client.request("GET", "/items/2", credential=CREDENTIAL, auth=AUTH)

    assert 55 <= (limited.value.retry_after or 0) <= 61
    assert agency.calls_to("/items/2") == 0


async def test_write_waits_out_the_agency_pause_instead_of_drawing_another_429(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(429, {"message": "Too Many Requests"}, {"Retry-After": "1"}))
    client = make_client(write_rate_max_wait=5.0)

    with pytest.raises(AgencyRateLimited):  # not processed by the agency: the worker may resend
        await client.request("POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={"n": 1}, write=True)
    answer = await client.request(
        "POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={"n": 1}, write=True
    )

    assert answer.status == 200
    first, second = (c.at for c in agency.calls)
    assert second - first >= 0.95


class ThreeMethodStore:
    """A SharedState with only the three protocol methods (no pause_rate), like a third-party store."""

    def __init__(self) -> None:
        self._inner = MemorySharedState()

    async def cache_get(self, key: str) -> bytes | None:
        return await self._inner.cache_get(key)

    async def cache_set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        await self._inner.cache_set(key, value, ttl_seconds)

    async def acquire_rate(self, key: str, limits: list[tuple[int, float]]) -> float:
        return await self._inner.acquire_rate(key, limits)


async def test_agency_pause_is_shared_through_a_store_without_pause_support(
    agency: Agency, make_client: MakeClient
) -> None:
    store = ThreeMethodStore()
    agency.answer_next(Answer(429, {"message": "Too Many Requests"}, {"Retry-After": "30"}))
    replica_a, replica_b = make_client(shared=store), make_client(shared=store)

    with pytest.raises(AgencyRateLimited):
        await replica_a.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    with pytest.raises(AgencyRateLimited):
        await replica_b.request("GET", "/items/2", credential=CREDENTIAL, auth=AUTH)

    assert agency.calls_to("/items/2") == 0


async def _until_a_read_succeeds(client: UpstreamClient, deadline: float) -> int:
    """Poll with reads until one succeeds; how many failed fast meanwhile."""
    failed_fast = 0
    while True:
        try:
            await client.request("GET", "/items/probe", credential=CREDENTIAL, auth=AUTH)
            return failed_fast
        except AgencyUnavailable:
            failed_fast += 1
            assert time.monotonic() < deadline, "the breaker never let a probe through"
            await asyncio.sleep(0.02)


async def test_breaker_opens_after_consecutive_failures_fails_fast_then_recovers_after_cool_down(
    agency: Agency, make_client: MakeClient
) -> None:
    client = make_client(retry_attempts=1, breaker_threshold=3, breaker_cooldown=0.5)
    agency.answer_next(*[UNAVAILABLE] * 3)
    for _ in range(3):
        with pytest.raises(AgencyUnavailable):
            await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    assert client.breaker.state is State.OPEN

    with pytest.raises(AgencyUnavailable) as read:
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    with pytest.raises(AgencyUnavailable) as write:
        await client.request("POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={}, write=True)
    assert not isinstance(write.value, OutcomeUnknown)  # never sent: the worker keeps it queued
    assert 0 < (read.value.retry_after or 0) <= 0.5
    assert len(agency.calls) == 3

    failed_fast = await _until_a_read_succeeds(client, deadline=time.monotonic() + 5)

    assert failed_fast >= 1
    assert len(agency.calls) == 4  # the one probe; nothing reached the agency while open
    assert client.breaker.state is State.CLOSED


async def test_failed_probe_opens_the_breaker_again(agency: Agency, make_client: MakeClient) -> None:
    client = make_client(retry_attempts=1, breaker_threshold=2, breaker_cooldown=0.3)
    agency.answer_next(*[UNAVAILABLE] * 3)
    for _ in range(2):
        with pytest.raises(AgencyUnavailable):
            await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)

    deadline = time.monotonic() + 5
    while client.breaker.state is State.OPEN:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    with pytest.raises(AgencyUnavailable):  # the probe, answered 503
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)

    assert client.breaker.state is State.OPEN
    assert len(agency.calls) == 3
    await _until_a_read_succeeds(client, deadline=time.monotonic() + 5)
    assert len(agency.calls) == 4


async def test_reads_retried_inside_one_request_count_towards_the_breaker(
    agency: Agency, make_client: MakeClient
) -> None:
    client = make_client(retry_attempts=5, breaker_threshold=3, breaker_cooldown=30)
    agency.answer_next(*[UNAVAILABLE] * 5)

    with pytest.raises(AgencyUnavailable):
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)

    assert agency.calls_to("/items/1") == 3  # the fourth attempt found the breaker open
    assert client.breaker.state is State.OPEN
