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


async def test_a_huge_body_that_fails_validation_is_answered_and_stored_small(
    api: httpx.AsyncClient, raw: Any, prefix: str
) -> None:
    body = claim_body(f"ORD-{uuid.uuid4().hex[:8]}")
    invoice = body["invoices"][0]
    body["invoices"] = [
        {**invoice, "number": "I-1", "due_on": "2020-01-01", "amount": {"amount": 0, "currency": "USD"}}
        for _ in range(1000)
    ]
    idem = uuid.uuid4().hex
    answer = await api.post(CLAIMS, json=body, headers=auth(idempotency_key=idem))
    assert answer.status_code == 422, answer.text[:500]
    assert len(answer.request.content) > 100_000
    problem = answer.json()
    assert len(problem["errors"]) == 100
    assert "100 of" in problem["detail"]
    assert len(answer.content) < 32 * 1024
    assert raw.memory_usage(f"{prefix}:idem:acme:{idem}") < 40 * 1024
    again = await api.post(CLAIMS, json=body, headers=auth(idempotency_key=idem))
    assert again.content == answer.content


# --- no 5xx from what anyone can send (item 5) ----------------------------------------------------

DEEP_ARRAY = b"[" * 50_000 + b"]" * 50_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
BAD_UTF8 = b'{"client_reference": "\xff\xfe", "reason": "\xc3\x28"}'
JSON_ENDPOINTS = [
    ("POST", CLAIMS, False),
    ("POST", f"{CLAIMS}/clm_x/payments", False),
    ("POST", f"{CLAIMS}/clm_x/payments/pay-1/reversal", False),
    ("POST", f"{CLAIMS}/clm_x/credit-notes", False),
    ("POST", f"{CLAIMS}/clm_x/withdrawal", False),
    ("PUT", "/v1/admin/tenants/acme", True),
    ("POST", "/v1/admin/tenants/acme/routing/rollback", True),
    ("POST", "/v1/admin/tenants/acme/routing/preview", True),
    ("POST", "/v1/admin/api-keys", True),
    ("POST", "/v1/admin/tenants/acme/webhooks", True),
    ("PATCH", "/v1/admin/tenants/acme/webhooks/whe_x", True),
]


@pytest.mark.parametrize(("method", "path", "admin"), JSON_ENDPOINTS)
async def test_deep_nesting_and_invalid_utf8_are_4xx_with_or_without_a_key(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, method: str, path: str, admin: bool
) -> None:
    from tests.support.gateway import ADMIN_KEY

    for body in (DEEP_ARRAY, DEEP_OBJECT, BAD_UTF8):
        for key in (None, ADMIN_KEY if admin else TENANT_KEY):
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
                "If-Match": '"1"',
            }
            if key:
                headers["Authorization"] = f"Bearer {key}"
            answer = await api.request(method, path, content=body, headers=headers)
            assert 400 <= answer.status_code < 500, (path, body[:20], key, answer.text[:200])
            assert answer.headers["content-type"].startswith("application/problem+json")
            if key is None:
                assert answer.status_code == 401
            else:
                assert answer.json()["code"] in ("malformed_json", "validation_failed"), answer.text[:300]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_prefer_wait_with_thousands_of_digits_is_not_a_500(api: httpx.AsyncClient) -> None:
    from gateway.routes._shared import prefer_wait

    headers = auth(idempotency_key=uuid.uuid4().hex, Prefer="wait=" + "0" * 5000)
    answer = await api.post(CLAIMS, json=claim_body(f"ORD-{uuid.uuid4().hex[:8]}"), headers=headers)
    assert answer.status_code == 202, answer.text
    assert [prefer_wait(p) for p in ("wait=" + "9" * 5000, "wait=007", "respond-async, wait=45", "")] == [
        30,
        7,
        30,
        0,
    ]


async def test_a_rollback_to_a_version_beyond_64_bits_is_a_4xx(api: httpx.AsyncClient) -> None:
    from tests.support.gateway import ADMIN_KEY

    for version in (2**63, 2**64, 2**70, -(2**63)):
        answer = await api.post(
            "/v1/admin/tenants/acme/routing/rollback",
            content=b'{"version": %d, "reason": "why not"}' % version,
            headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
        )
        assert 400 <= answer.status_code < 500, (version, answer.text)


async def test_a_client_that_disconnects_mid_body_is_not_a_500(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio
    import logging

    caplog.set_level(logging.INFO, logger="gateway.errors")
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /v1/tenants/acme/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + TENANT_KEY.encode() + b"\r\nIdempotency-Key: gone-1\r\n"
        b"Content-Length: 10000\r\n\r\n" + b'{"client_reference": "'
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not any("went away" in r.getMessage() for r in caplog.records):
        assert loop.time() < deadline, [r.getMessage() for r in caplog.records]
        await asyncio.sleep(0.02)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_a_wait_that_runs_out_on_redis_answers_the_stored_202(api: httpx.AsyncClient) -> None:
    """No worker runs here: the wait runs out, and the answer is the 202 that was stored."""
    key = uuid.uuid4().hex
    body = claim_body(f"ORD-{uuid.uuid4().hex[:8]}")
    waited = await api.post(CLAIMS, json=body, headers=auth(idempotency_key=key, Prefer="wait=1"))
    assert waited.status_code == 202, waited.text
    again = await api.post(CLAIMS, json=body, headers=auth(idempotency_key=key))
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
