"""API keys are verified from each process's memory, and a revocation reaches every process within
a second (issue 18): two gateways on one Redis, a key created on one, used and revoked across them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import ADMIN_KEY, gateway_settings


@pytest.fixture
def pair(redis_prefix: str) -> Iterator[tuple[RunningServer, RunningServer]]:
    servers = []
    for _ in range(2):
        specs = {"fake": fake_spec(FakeAgency())}
        settings = gateway_settings(specs, store_url=REDIS_URL, store_prefix=redis_prefix, run_worker=False)
        servers.append(
            serve_in_thread(create_app(settings, store=RedisStore(REDIS_URL, redis_prefix), specs=specs))
        )
    try:
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def test_a_revoked_key_is_refused_by_every_process_within_a_second(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    one, other = pair
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    created = httpx.post(
        f"{one.base_url}/v1/admin/api-keys",
        json={"name": "short-lived", "tenant": "acme", "scopes": ["claims:read"]},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    claims = "/v1/tenants/acme/claims"
    deadline = time.monotonic() + 1.0  # a new key, too, is known everywhere within a second
    while httpx.get(f"{other.base_url}{claims}", headers=key).status_code != 200:
        assert time.monotonic() < deadline
    for _ in range(20):  # answered from the cache now
        assert httpx.get(f"{other.base_url}{claims}", headers=key).status_code == 200
    revoked = httpx.delete(f"{one.base_url}/v1/admin/api-keys/{created.json()['id']}", headers=admin)
    assert revoked.status_code == 204
    revoked_at = time.monotonic()
    while httpx.get(f"{other.base_url}{claims}", headers=key).status_code != 401:
        assert time.monotonic() - revoked_at < 1.0, "still accepted a second after its revocation"
    for server in (one, other):
        assert httpx.get(f"{server.base_url}{claims}", headers=key).status_code == 401
