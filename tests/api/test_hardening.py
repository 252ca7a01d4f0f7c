"""Issue 14's smaller findings, over real HTTP on the embedded store: the idempotency fingerprint
(item 9) and the low-severity checks (item 10)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import ADMIN_KEY, auth, claim_body, gateway_settings

CLAIMS = "/v1/tenants/acme/claims"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    specs = {"fake": fake_spec(FakeAgency())}
    running = serve_in_thread(create_app(gateway_settings(specs, run_worker=False), specs=specs))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
async def api(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        yield http


def _reordered(value: object) -> object:
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


async def test_the_same_json_with_other_whitespace_and_key_order_replays(api: httpx.AsyncClient) -> None:
    body = claim_body(f"ORD-{uuid.uuid4().hex[:8]}")
    key = uuid.uuid4().hex
    headers = auth(idempotency_key=key, **{"Content-Type": "application/json"})
    first = await api.post(CLAIMS, content=json.dumps(body, separators=(",", ":")), headers=headers)
    assert first.status_code == 202, first.text
    again = await api.post(CLAIMS, content=json.dumps(_reordered(body), indent=4), headers=headers)
    assert again.status_code == 202, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    other = await api.post(CLAIMS, json={**body, "client_reference": "ORD-other"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


# --- item 10 ----------------------------------------------------------------------------------------

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def test_a_tenant_key_cannot_carry_admin(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/v1/admin/api-keys", json={"name": "sneaky", "tenant": "acme", "scopes": ["admin"]}, headers=ADMIN
    )
    assert answer.status_code == 422, answer.text
    assert [e["pointer"] for e in answer.json()["errors"]] == ["/scopes/0"]


def test_the_config_refuses_a_tenant_key_with_admin_and_tenant_names_that_could_collide() -> None:
    from gateway.settings import ConfigError

    specs = {"fake": fake_spec(FakeAgency())}
    admin_tenant_key = [{"tenant": "acme", "scopes": ["admin"], "key_sha256": "a" * 64}]
    with pytest.raises(ConfigError, match=r"api_keys\[0\]\.scopes"):
        gateway_settings(specs, api_keys=admin_tenant_key)
    for name in ("acme:1", "ACME", "a b", "x" * 65, "", "ä"):
        section = {"default_agency": "fake", "credentials": {"fake": {"account_id": "1"}}}
        with pytest.raises(ConfigError, match=r"tenants"):
            gateway_settings(specs, tenants={name: section}, api_keys=[])


def test_the_config_refuses_inline_secrets() -> None:
    from gateway.settings import ConfigError

    specs = {"fake": fake_spec(FakeAgency())}
    for field in ("client_secret", "token", "password", "api_key"):
        credentials = {"fake": {"account_id": "1", field: "s3cr3t"}}
        section = {"default_agency": "fake", "credentials": credentials}
        with pytest.raises(ConfigError, match=rf"tenants\.t\.credentials\.fake\.{field}: .*_env"):
            gateway_settings(specs, tenants={"t": section}, api_keys=[])


async def test_creating_a_key_checks_content_type_and_name_length(api: httpx.AsyncClient) -> None:
    body = {"name": "billing", "tenant": "acme", "scopes": ["claims:read"]}
    as_text = await api.post(
        "/v1/admin/api-keys", content=json.dumps(body), headers={**ADMIN, "Content-Type": "text/plain"}
    )
    assert as_text.status_code == 415, as_text.text
    long_name = await api.post("/v1/admin/api-keys", json={**body, "name": "n" * 101}, headers=ADMIN)
    assert long_name.status_code == 422, long_name.text
    assert long_name.json()["errors"][0]["pointer"] == "/name"


async def test_the_reversal_path_payment_id_is_validated(api: httpx.AsyncClient) -> None:
    for payment_id in ("x" * 65, "a%20b", "%C3%A4"):
        answer = await api.post(
            f"{CLAIMS}/clm_x/payments/{payment_id}/reversal", headers=auth(idempotency_key=uuid.uuid4().hex)
        )
        assert answer.status_code in (400, 422), answer.text
        assert "payment_id" in answer.text


async def test_metrics_can_be_put_behind_a_key() -> None:
    from tests.support.gateway import READ_ONLY_KEY, sha

    specs = {"fake": fake_spec(FakeAgency())}
    keys = [
        {"name": "scraper", "scopes": ["metrics"], "key_sha256": sha("scrape-key")},
        {"name": "ro", "tenant": "acme", "scopes": ["claims:read"], "key_sha256": sha(READ_ONLY_KEY)},
    ]
    settings = gateway_settings(specs, run_worker=False, metrics_public=False, api_keys=keys)
    running = serve_in_thread(create_app(settings, specs=specs))
    try:
        async with httpx.AsyncClient(base_url=running.base_url) as http:
            assert (await http.get("/metrics")).status_code == 401
            tenant = await http.get("/metrics", headers={"Authorization": f"Bearer {READ_ONLY_KEY}"})
            assert tenant.status_code == 403
            scraped = await http.get("/metrics", headers={"Authorization": "Bearer scrape-key"})
            assert scraped.status_code == 200
            assert b"cg_http_requests_total" in scraped.content
    finally:
        running.stop()


@pytest.mark.parametrize("page", ["/docs", "/docs/swagger"])
async def test_the_docs_pages_load_only_pinned_scripts_and_styles_with_integrity(
    api: httpx.AsyncClient, page: str
) -> None:
    import re

    html = (await api.get(page)).text
    assets = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"(https?://[^\"]+)\"[^>]*>", html)
    assert assets, html[:500]
    for tag in re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=\"https?://[^>]*>", html):
        assert re.search(r'integrity="sha384-[A-Za-z0-9+/=]{64}"', tag), tag
        assert re.search(r"@\d+\.\d+\.\d+/", tag), tag  # an exact version, never "latest" or a branch
