"""The abuse suite (issue 14): what anyone can send never costs a 5xx, and never grows what the
gateway stores or holds without bound. A gateway on the real Redis, over real HTTP; seconds."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis

from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import TENANT_KEY, auth, claim_body, gateway_settings

CLAIMS = "/v1/tenants/acme/claims"
AUDIT_MAX = 200
REFUSALS_PER_MINUTE = 20


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    name = f"cgtest:{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        keys = list(client.scan_iter(match=f"{name}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(scope="module")
def server(prefix: str) -> Iterator[RunningServer]:
    specs = {"fake": fake_spec(FakeAgency())}
    settings = gateway_settings(
        specs,
        store_url=REDIS_URL,
        store_prefix=prefix,
        run_worker=False,
        audit_max_entries=AUDIT_MAX,
        audit_refusals_per_minute=REFUSALS_PER_MINUTE,
    )
    store = RedisStore(REDIS_URL, prefix, audit_max=AUDIT_MAX)
    running = serve_in_thread(create_app(settings, store=store, specs=specs))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield http


@pytest.fixture
def raw(prefix: str) -> Iterator[Any]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        client.close()


async def test_a_flood_of_refused_keys_with_long_paths_stores_a_bounded_audit(
    api: httpx.AsyncClient, raw: Any, prefix: str
) -> None:
    long_path = f"{CLAIMS}/{'x' * 4000}"
    before = raw.xlen(f"{prefix}:audit") if raw.exists(f"{prefix}:audit") else 0
    for i in range(300):
        headers = {"Authorization": f"Bearer flood-{i}"}
        answer = await api.get(long_path if i % 2 else CLAIMS, headers=headers)
        assert answer.status_code == 401
    stored = raw.xlen(f"{prefix}:audit") - before
    assert 1 <= stored <= REFUSALS_PER_MINUTE * 2  # the flood may straddle a minute
    assert raw.memory_usage(f"{prefix}:audit") < 64 * 1024
    for _, fields in raw.xrange(f"{prefix}:audit"):
        assert len(fields[b"entry"]) < 1024


async def test_the_audit_stream_keeps_its_cap(raw: Any, prefix: str) -> None:
    from gateway.stores import AuditEntry, new_id, utcnow

    store = RedisStore(REDIS_URL, prefix, audit_max=AUDIT_MAX)
    try:
        for _ in range(AUDIT_MAX * 3):
            await store.append_audit(
                AuditEntry(id=new_id("aud"), at=utcnow(), actor=None, action="test.filler")
            )
    finally:
        await store.aclose()
    assert raw.xlen(f"{prefix}:audit") <= AUDIT_MAX + 100  # MAXLEN ~ trims in whole blocks


async def test_a_write_still_works_after_the_flood(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        CLAIMS, json=claim_body(f"ORD-{uuid.uuid4().hex[:8]}"), headers=auth(idempotency_key=uuid.uuid4().hex)
    )
    assert answer.status_code == 202, answer.text
    assert TENANT_KEY
