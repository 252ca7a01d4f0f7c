"""The test agency on a real port (one per module), and clients pointed at it over real HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from adapters._upstream import OAuth2ClientCredentials, RedisSharedState, UpstreamClient
from adapters.sandbox_kit import RunningServer, serve_in_thread
from tests.adapters.upstream._agency import AGENCY, Agency, create_app

REDIS_URL = os.environ.get("CG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def server_and_agency() -> Iterator[tuple[RunningServer, Agency]]:
    agency = Agency()
    server = serve_in_thread(create_app(agency))
    yield server, agency
    server.stop()


@pytest.fixture
def agency(server_and_agency: tuple[RunningServer, Agency]) -> Agency:
    server_and_agency[1].reset()
    return server_and_agency[1]


@pytest.fixture
def base_url(server_and_agency: tuple[RunningServer, Agency]) -> str:
    return server_and_agency[0].base_url


@pytest.fixture
def oauth(base_url: str) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        token_url=f"{base_url}/token", client_id="client-1", client_secret="s3cret"
    )


MakeClient = Callable[..., UpstreamClient]


@pytest.fixture
async def make_client(base_url: str) -> AsyncIterator[MakeClient]:
    """UpstreamClient factory with fast retries; every client is closed afterwards."""
    clients: list[UpstreamClient] = []

    def make(**kwargs: Any) -> UpstreamClient:
        options: dict[str, Any] = {
            "timeout": 2.0,
            "retry_wait_initial": 0.01,
            "retry_wait_max": 0.05,
            "retry_wait_jitter": 0.01,
        }
        options.update(kwargs)
        client = UpstreamClient(options.pop("agency", AGENCY), options.pop("base_url", base_url), **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def redis_client(redis_prefix: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
def redis_shared(redis_client: aioredis.Redis, redis_prefix: str) -> RedisSharedState:
    return RedisSharedState(redis_client, f"{redis_prefix}:shared")
