"""Erasing a debtor's personal data (api.md "Personal data", issue 14 item 8): on request, over
real HTTP, on the embedded store and on the real Redis; and after retention for closed claims."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from gateway.runtime import Runtime
from gateway.services.privacy import ERASED, PrivacyService
from gateway.stores import MemoryStore, Store
from gateway.stores.redis import RedisStore
from tests.conftest import REDIS_URL
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import (
    ADMIN_KEY,
    READ_ONLY_KEY,
    TENANT_KEY,
    auth,
    claim_body,
    gateway_settings,
    sha,
)

ERASER_KEY = "test-acme-eraser-key"
PERSONAL = ("Anna", "Muster", "Bahnhofstrasse", "8001", "Zürich", "Z\\u00fcrich", "anna@example.org")
CLAIMS = "/v1/tenants/acme/claims"


def _keys() -> list[dict[str, Any]]:
    return [
        {
            "name": "acme",
            "tenant": "acme",
            "scopes": ["claims:read", "claims:write"],
            "key_sha256": sha(TENANT_KEY),
        },
        {"name": "acme-read", "tenant": "acme", "scopes": ["claims:read"], "key_sha256": sha(READ_ONLY_KEY)},
        {"name": "dpo", "tenant": "acme", "scopes": ["claims:erase"], "key_sha256": sha(ERASER_KEY)},
        {"name": "ops", "scopes": ["admin"], "key_sha256": sha(ADMIN_KEY)},
    ]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[tuple[Store, str | None]]:
    if request.param == "memory":
        yield MemoryStore(), None
        return
    prefix = request.getfixturevalue("redis_prefix")
    yield RedisStore(REDIS_URL, prefix), prefix


def _everything_under(prefix: str) -> bytes:
    """Every value Redis holds under the prefix, streams included."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        blobs: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            kind = client.type(key)
            if kind == b"string":
                blobs.append(client.get(key) or b"")
            elif kind == b"stream":
                blobs += [b"".join(v for v in fields.values()) for _, fields in client.xrange(key)]
            elif kind == b"hash":
                blobs += list(client.hvals(key))
        return b"\n".join(blobs)
    finally:
        client.close()


async def test_an_erase_removes_the_debtor_from_everything_the_gateway_holds(
    store: tuple[Store, str | None],
) -> None:
    backend, prefix = store
    specs = {"fake": fake_spec(FakeAgency())}
    settings = gateway_settings(specs, api_keys=_keys())
    server = serve_in_thread(create_app(settings, store=backend, specs=specs))
    body = claim_body(f"ORD-{uuid.uuid4().hex[:8]}")
    body["debtor"]["email"] = "anna@example.org"
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            created = await http.post(CLAIMS, json=body, headers=auth(idempotency_key="k1", Prefer="wait=5"))
            assert created.status_code == 201, created.text
            claim_id = created.json()["claim_id"]
            erase = f"{CLAIMS}/{claim_id}/personal-data"
            if prefix is not None:
                assert b"Muster" in _everything_under(prefix)
            for key in (TENANT_KEY, READ_ONLY_KEY):
                assert (await http.delete(erase, headers=auth(key))).status_code == 403
            assert (
                await http.delete(f"{CLAIMS}/clm_nope/personal-data", headers=auth(ERASER_KEY))
            ).status_code == 404
            assert (await http.delete(erase, headers=auth(ERASER_KEY))).status_code == 204
            assert (await http.delete(erase, headers=auth(ADMIN_KEY))).status_code == 204

            claim = (await http.get(f"{CLAIMS}/{claim_id}", headers=auth())).json()
            assert claim["debtor"]["first_name"] == ERASED
            assert claim["debtor"]["reference"] == "CUST-42"
            assert claim["client_reference"] == body["client_reference"]
            assert [i["amount"] for i in claim["invoices"]] == [i["amount"] for i in body["invoices"]]
            replay = await http.post(CLAIMS, json=body, headers=auth(idempotency_key="k1"))
            assert replay.headers["idempotent-replayed"] == "true"
            assert replay.json()["id"] == created.json()["id"]

            audit = (await http.get("/v1/admin/audit", headers=auth(ADMIN_KEY), params={"limit": 100})).json()
            erased = [e for e in audit["data"] if e["action"] == "claim.personal_data_erased"]
            assert [(e["actor"], e["detail"]["claim_id"]) for e in erased] == [
                ("dpo", claim_id),
                ("ops", claim_id),
            ]
    finally:
        server.stop()
    record = await backend.get_claim(claim_id)
    assert record is not None and record.personal_data_erased_at is not None
    operation = await backend.get_operation(created.json()["id"])
    assert operation is not None
    assert operation.payload["debtor"]["address"]["street"] == ERASED
    assert "email" not in operation.payload["debtor"] or operation.payload["debtor"]["email"] is None
    await backend.aclose()
    if prefix is not None:
        held = _everything_under(prefix).decode("utf-8", "replace")
        assert not [p for p in PERSONAL if p in held]


async def test_retention_erases_closed_claims_personal_data_after_the_configured_days() -> None:
    store = MemoryStore()
    specs = {"fake": fake_spec(FakeAgency())}
    settings = gateway_settings(specs, run_worker=False, personal_data_retention_days=30)
    server = serve_in_thread(create_app(settings, store=store, specs=specs))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            ids = []
            for reference in ("ORD-open", "ORD-closed"):
                answer = await http.post(
                    CLAIMS, json=claim_body(reference), headers=auth(idempotency_key=reference)
                )
                ids.append(answer.json()["claim_id"])
    finally:
        server.stop()
    closed = await store.get_claim(ids[1])
    assert closed is not None
    closed.status = "closed"
    await store.save_claim(closed)
    runtime = Runtime(settings, store=store, specs=specs)
    privacy = PrivacyService(runtime)
    assert await privacy.erase_expired(dt.datetime.now(dt.UTC) + dt.timedelta(days=29)) == 0
    assert await privacy.erase_expired(dt.datetime.now(dt.UTC) + dt.timedelta(days=31)) == 1
    assert await privacy.erase_expired(dt.datetime.now(dt.UTC) + dt.timedelta(days=31)) == 0
    kept, erased = [await store.get_claim(i) for i in ids]
    assert kept is not None and kept.debtor.first_name == "Anna"
    assert erased is not None and erased.debtor.first_name == ERASED
