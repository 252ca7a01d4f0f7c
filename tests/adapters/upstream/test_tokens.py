"""OAuth2 client-credentials tokens: one request for many callers, reused, shared, replaced on 401."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters._upstream import BearerAuth, OAuth2ClientCredentials, RedisSharedState
from canonical.problems import AgencyAuthFailed
from tests.adapters.upstream._agency import CREDENTIAL, OTHER_CREDENTIAL, Agency
from tests.adapters.upstream.conftest import MakeClient


class Clock:
    """A wall clock the test moves instead of waiting for a token to age."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_fifty_concurrent_calls_make_exactly_one_token_request(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials
) -> None:
    agency.token_latency = 0.2  # every call arrives while the one token request is in flight
    client = make_client()

    answers = await asyncio.gather(
        *(client.request("GET", f"/items/{i}", credential=CREDENTIAL, auth=oauth) for i in range(50))
    )

    assert [a.status for a in answers] == [200] * 50
    assert agency.token_requests == 1
    assert {c.authorization for c in agency.calls} == {"Bearer token-1"}


async def test_token_is_reused_until_shortly_before_it_expires(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials
) -> None:
    agency.expires_in = 300  # Intrum's tokens live 300 s; renewed 30 s early
    clock = Clock()
    client = make_client(clock=clock)

    await client.request("GET", "/items/1", credential=CREDENTIAL, auth=oauth)
    clock.now += 269
    await client.request("GET", "/items/2", credential=CREDENTIAL, auth=oauth)
    assert agency.token_requests == 1

    clock.now += 2
    await client.request("GET", "/items/3", credential=CREDENTIAL, auth=oauth)
    assert agency.token_requests == 2
    assert agency.calls[-1].authorization == "Bearer token-2"


async def test_each_credential_has_its_own_token(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials
) -> None:
    client = make_client()

    await client.request("GET", "/items/1", credential=CREDENTIAL, auth=oauth)
    await client.request("GET", "/items/1", credential=OTHER_CREDENTIAL, auth=oauth)

    assert agency.token_requests == 2
    assert [c.authorization for c in agency.calls] == ["Bearer token-1", "Bearer token-2"]


async def test_rejected_token_is_replaced_once_for_all_waiting_calls_and_each_call_resent(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials
) -> None:
    client = make_client()
    await client.request("GET", "/items/0", credential=CREDENTIAL, auth=oauth)
    agency.revoke_tokens()  # e.g. rotated at the agency before expires_in

    answers = await asyncio.gather(
        *(client.request("GET", f"/items/{i}", credential=CREDENTIAL, auth=oauth) for i in range(10))
    )

    assert [a.status for a in answers] == [200] * 10
    assert agency.token_requests == 2
    after_revoke = agency.calls[1:]
    assert (
        sorted(c.authorization or "" for c in after_revoke)
        == ["Bearer token-1"] * 10 + ["Bearer token-2"] * 10
    )


async def test_write_answered_401_is_resent_once_with_a_fresh_token(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials
) -> None:
    client = make_client()
    await client.request("GET", "/items/0", credential=CREDENTIAL, auth=oauth)
    agency.revoke_tokens()

    answer = await client.request(
        "POST", "/payments", credential=CREDENTIAL, auth=oauth, json={"amount": "10.00"}, write=True
    )

    assert answer.json(dict) == {"received": {"amount": "10.00"}}
    assert [c.authorization for c in agency.calls if c.path == "/payments"] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_401_to_a_fresh_token_is_agency_auth_failed_after_one_resend(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials
) -> None:
    client = make_client()
    await client.request("GET", "/items/0", credential=CREDENTIAL, auth=oauth)
    agency.accept_issued_tokens = False  # e.g. the client was disabled at the agency

    with pytest.raises(AgencyAuthFailed, match="Access denied"):
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=oauth)

    assert agency.calls_to("/items/1") == 2
    assert agency.token_requests == 2


async def test_refused_client_credentials_are_agency_auth_failed_with_the_agency_message(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials
) -> None:
    agency.refuse_tokens = True
    client = make_client()

    with pytest.raises(AgencyAuthFailed, match="Invalid client credentials"):
        await client.request("GET", "/items/1", credential=CREDENTIAL, auth=oauth)
    assert agency.calls == []


async def test_static_bearer_token_is_sent_as_is_and_never_refreshed(
    agency: Agency, make_client: MakeClient
) -> None:
    client = make_client()

    await client.request("GET", "/items/1", credential=CREDENTIAL, auth=BearerAuth(token="static-token"))
    with pytest.raises(AgencyAuthFailed):
        await client.request("GET", "/items/2", credential=CREDENTIAL, auth=BearerAuth(token="wrong"))

    assert agency.token_requests == 0
    assert agency.calls_to("/items/2") == 1


@pytest.mark.redis
async def test_two_clients_on_separate_pools_share_one_token_through_redis(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials, redis_shared: RedisSharedState
) -> None:
    replica_a = make_client(shared=redis_shared)
    replica_b = make_client(shared=redis_shared)

    await replica_a.request("GET", "/items/1", credential=CREDENTIAL, auth=oauth)
    await asyncio.gather(
        *(replica_b.request("GET", f"/items/{i}", credential=CREDENTIAL, auth=oauth) for i in range(5))
    )

    assert agency.token_requests == 1
    assert {c.authorization for c in agency.calls} == {"Bearer token-1"}


@pytest.mark.redis
async def test_token_replaced_after_a_401_on_one_replica_is_reused_by_the_other(
    agency: Agency, make_client: MakeClient, oauth: OAuth2ClientCredentials, redis_shared: RedisSharedState
) -> None:
    replica_a = make_client(shared=redis_shared)
    replica_b = make_client(shared=redis_shared)
    await replica_a.request("GET", "/items/1", credential=CREDENTIAL, auth=oauth)
    await replica_b.request("GET", "/items/1", credential=CREDENTIAL, auth=oauth)
    agency.revoke_tokens()

    await replica_b.request("GET", "/items/2", credential=CREDENTIAL, auth=oauth)  # 401, fresh token
    await replica_a.request("GET", "/items/3", credential=CREDENTIAL, auth=oauth)  # 401, finds it shared

    assert agency.token_requests == 2
    assert [c.authorization for c in agency.calls if c.path == "/items/3"] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
