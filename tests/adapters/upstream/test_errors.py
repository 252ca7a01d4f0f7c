"""The error table: every agency failure becomes one canonical error; nothing from httpx escapes."""

from __future__ import annotations

import socket

import pytest
import redis.asyncio as aioredis

from adapters._upstream import BearerAuth, RedisSharedState
from canonical.problems import (
    AgencyAuthFailed,
    AgencyError,
    AgencyRateLimited,
    AgencyRejected,
    AgencyUnavailable,
    OutcomeUnknown,
    ServiceUnavailable,
)
from tests.adapters.upstream._agency import CREDENTIAL, Agency, Answer
from tests.adapters.upstream.conftest import MakeClient

AUTH = BearerAuth(token="static-token")

TABLE: list[tuple[int, type[AgencyError], type[AgencyError]]] = [
    # status, read, write
    (400, AgencyRejected, AgencyRejected),
    (404, AgencyRejected, AgencyRejected),
    (409, AgencyRejected, AgencyRejected),
    (422, AgencyRejected, AgencyRejected),
    (401, AgencyAuthFailed, AgencyAuthFailed),
    (403, AgencyAuthFailed, AgencyAuthFailed),
    (408, AgencyUnavailable, AgencyUnavailable),
    (429, AgencyRateLimited, AgencyRateLimited),
    (500, AgencyUnavailable, OutcomeUnknown),
    (502, AgencyUnavailable, OutcomeUnknown),
    (503, AgencyUnavailable, OutcomeUnknown),
    (504, AgencyUnavailable, OutcomeUnknown),
]


@pytest.mark.parametrize(("status", "read_error", "write_error"), TABLE)
async def test_agency_status_maps_to_its_canonical_error_with_the_agency_message(
    agency: Agency,
    make_client: MakeClient,
    status: int,
    read_error: type[AgencyError],
    write_error: type[AgencyError],
) -> None:
    client = make_client(retry_attempts=1)
    message = f"Field 'amount' is not valid ({status})"
    answer = Answer(status, {"message": message}, {"X-Request-Id": f"req-{status}"})
    agency.answer_next(answer, answer)

    with pytest.raises(AgencyError) as read:
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    with pytest.raises(AgencyError) as write:
        await client.request("POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={}, write=True)

    assert type(read.value) is read_error
    assert type(write.value) is write_error
    for error in (read.value, write.value):
        assert message in str(error)
        assert error.agency == "acme"
        assert error.agency_request_id == f"req-{status}"


async def test_rejection_detail_is_the_agency_message_itself(agency: Agency, make_client: MakeClient) -> None:
    agency.answer_next(Answer(422, {"message": "Invoice date must not be in the future"}))

    with pytest.raises(AgencyRejected) as rejected:
        await make_client().request(
            "POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={}, write=True
        )

    assert rejected.value.problem().detail == "Invoice date must not be in the future"
    assert rejected.value.problem().code == "agency_rejected"


async def test_status_the_caller_allows_is_returned_not_raised(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(404, {"message": "No such case"}))

    answer = await make_client().request(
        "GET", "/items/1", credential=CREDENTIAL, auth=AUTH, allow=frozenset({404})
    )

    assert answer.status == 404
    assert answer.json(dict) == {"message": "No such case"}


async def test_retry_after_of_an_unavailable_agency_reaches_the_problem(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(503, {"message": "Maintenance"}, {"Retry-After": "120"}))

    with pytest.raises(AgencyUnavailable) as unavailable:
        await make_client().request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)

    assert unavailable.value.problem().retry_after == 120
    assert agency.calls_to("/items/1") == 1  # 120 s is past the read's deadline: not retried


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_unreachable_agency_is_unavailable_for_reads_and_writes_since_nothing_was_sent(
    make_client: MakeClient,
) -> None:
    client = make_client(base_url=_closed_port(), retry_attempts=2)

    with pytest.raises(AgencyUnavailable) as read:
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)
    with pytest.raises(AgencyUnavailable) as write:
        await client.request("POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={}, write=True)

    assert not isinstance(read.value, OutcomeUnknown)
    assert not isinstance(write.value, OutcomeUnknown)  # safe to resend: it never left
    assert read.value.__cause__ is not None  # the transport error is kept as the cause, not raised


async def test_write_without_an_answer_in_time_is_outcome_unknown(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(200, {"ok": True}, hang=2.0))
    client = make_client(timeout=0.3)

    with pytest.raises(OutcomeUnknown):
        await client.request("POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={"n": 1}, write=True)

    assert agency.calls_to("/payments") == 1  # it did arrive: the worker must reconcile, not resend


async def test_read_without_an_answer_in_time_is_retried_then_unavailable(
    agency: Agency, make_client: MakeClient
) -> None:
    agency.answer_next(Answer(200, hang=2.0), Answer(200, hang=2.0))
    client = make_client(timeout=0.2, retry_attempts=2)

    with pytest.raises(AgencyUnavailable, match=r"timed out|Timeout"):
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=AUTH)

    assert agency.calls_to("/items/1") == 2


async def test_unreachable_shared_store_is_store_unavailable_and_nothing_is_sent(
    agency: Agency, make_client: MakeClient
) -> None:
    port = int(_closed_port().rsplit(":", 1)[1])
    redis = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2, retry=None)
    client = make_client(shared=RedisSharedState(redis, "cgtest:unreachable"), rate_limits=[(100, 60.0)])
    try:
        with pytest.raises(ServiceUnavailable) as unavailable:
            await client.request("POST", "/payments", credential=CREDENTIAL, auth=AUTH, json={}, write=True)
    finally:
        await redis.aclose()

    assert unavailable.value.problem().code == "store_unavailable"
    assert agency.calls == []
