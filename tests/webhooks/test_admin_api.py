"""The admin API of webhook endpoints as api.md has it: admin scope, secrets shown once, pages."""

from __future__ import annotations

import pytest

from tests.support.gateway import ADMIN_KEY, OTHER_KEY, TENANT_KEY, auth
from tests.support.receiver import Receiver
from tests.webhooks.conftest import Harness

HOOKS = "/v1/admin/tenants/acme/webhooks"
ADMIN = auth(ADMIN_KEY)


@pytest.mark.parametrize("key", [TENANT_KEY, OTHER_KEY])
async def test_tenant_keys_get_403_on_every_webhook_route(harness: Harness, key: str) -> None:
    endpoint = await harness.subscribe("http://127.0.0.1:9/hooks")
    one = f"{HOOKS}/{endpoint['id']}"
    calls = [
        ("POST", HOOKS, {"url": "http://127.0.0.1:9/x"}),
        ("GET", HOOKS, None),
        ("GET", one, None),
        ("PATCH", one, {"description": "x"}),
        ("DELETE", one, None),
        ("POST", f"{one}/rotate-secret", None),
        ("GET", f"{one}/deliveries", None),
        ("POST", f"{one}/deliveries/whd_x/redeliver", None),
    ]
    for method, path, body in calls:
        response = await harness.http.request(method, path, json=body, headers=auth(key))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "forbidden"
    assert (await harness.http.get(one, headers=ADMIN)).status_code == 200  # nothing changed


async def test_subscribe_shows_the_secret_once_and_never_again(harness: Harness) -> None:
    created = await harness.subscribe(
        "http://127.0.0.1:9/hooks",
        event_types=["payment.received", "claim.status_changed"],
        description="billing",
    )
    assert created["id"].startswith("whe_") and created["secret"].startswith("whsec_")
    assert created["event_types"] == ["claim.status_changed", "payment.received"]
    assert created["status"] == "enabled" and created["tenant"] == "acme"
    shown = (await harness.http.get(f"{HOOKS}/{created['id']}", headers=ADMIN)).json()
    listed = (await harness.http.get(HOOKS, headers=ADMIN)).json()
    assert "secret" not in shown and all("secret" not in e for e in listed["data"])
    assert listed["data"] == [shown] and listed["has_more"] is False and listed["next_cursor"] is None
    stored = await harness.runtime.store.redis.hgetall(f"{harness.settings.store_prefix}:wh:ep:acme")  # type: ignore[attr-defined]
    assert created["secret"].encode() not in b"".join(stored.values())  # sealed, not in clear
    audit = (await harness.http.get("/v1/admin/audit?limit=100", headers=ADMIN)).text
    assert "webhook.created" in audit and created["secret"] not in audit


@pytest.mark.parametrize(
    ("body", "pointer", "text"),
    [
        ({"url": "http://example.com/hooks"}, "/url", "must be https"),
        ({"url": "https://127.0.0.2/hooks"}, "/url", "loopback"),
        ({"url": "https://10.1.2.3/hooks"}, "/url", "private"),
        ({"url": "https://169.254.169.254/latest"}, "/url", "link-local"),
        ({"url": "https://[::1]/hooks"}, "/url", "loopback"),
        ({"url": "https://localhost/hooks"}, "/url", "loopback"),
        ({"url": "https://user:pw@example.com/"}, "/url", "credentials"),
        ({"url": "ftp://example.com/"}, "/url", "http(s)"),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["claim.exploded"]}, "/event_types/0", "unknown"),
        ({"url": "http://127.0.0.1:9/x", "event_types": []}, "/event_types", "null"),
        ({"url": "http://127.0.0.1:9/x", "secret": "mine"}, "/secret", "unknown field"),
    ],
)
async def test_unsafe_or_wrong_subscriptions_are_422_naming_the_field(
    harness: Harness, body: dict, pointer: str, text: str
) -> None:
    response = await harness.http.post(HOOKS, json=body, headers=ADMIN)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["errors"][0]["pointer"] == pointer and text in problem["errors"][0]["detail"]


async def test_unknown_tenant_or_endpoint_is_404(harness: Harness) -> None:
    assert (await harness.http.get("/v1/admin/tenants/nope/webhooks", headers=ADMIN)).status_code == 404
    assert (await harness.http.get(f"{HOOKS}/whe_nope", headers=ADMIN)).status_code == 404
    theirs = await harness.subscribe("http://127.0.0.1:9/x", tenant="other")
    assert (await harness.http.get(f"{HOOKS}/{theirs['id']}", headers=ADMIN)).status_code == 404


async def test_patch_changes_only_what_is_sent_and_delete_unsubscribes(harness: Harness) -> None:
    created = await harness.subscribe("http://127.0.0.1:9/x", description="old")
    one = f"{HOOKS}/{created['id']}"
    patched = await harness.http.patch(one, json={"event_types": ["operation.failed"]}, headers=ADMIN)
    assert patched.status_code == 200
    assert patched.json()["event_types"] == ["operation.failed"] and patched.json()["description"] == "old"
    cleared = (await harness.http.patch(one, json={"event_types": None}, headers=ADMIN)).json()
    assert cleared["event_types"] is None
    bad = await harness.http.patch(one, json={"url": "http://example.com/"}, headers=ADMIN)
    assert bad.status_code == 422
    assert (await harness.http.delete(one, headers=ADMIN)).status_code == 204
    assert (await harness.http.get(one, headers=ADMIN)).status_code == 404


async def test_lists_are_cursor_pages(harness: Harness) -> None:
    ids = [(await harness.subscribe(f"http://127.0.0.1:9/{i}"))["id"] for i in range(3)]
    first = (await harness.http.get(HOOKS, params={"limit": 2}, headers=ADMIN)).json()
    assert [e["id"] for e in first["data"]] == ids[:2] and first["has_more"] is True
    rest = (
        await harness.http.get(HOOKS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=ADMIN)
    ).json()
    assert [e["id"] for e in rest["data"]] == ids[2:] and rest["has_more"] is False
    forged = await harness.http.get(HOOKS, params={"cursor": "bm9wZQ"}, headers=ADMIN)
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_cursor"


async def test_redeliver_sends_the_same_webhook_id_again(harness: Harness, receiver: Receiver) -> None:
    endpoint = await harness.subscribe(receiver.url)
    harness.run(harness.dispatcher())
    event = await harness.emit()
    await receiver.wait_for(1)

    (delivered,) = await harness.attempts(endpoint["id"], 1)
    response = await harness.http.post(
        f"{HOOKS}/{endpoint['id']}/deliveries/{delivered['id']}/redeliver", headers=ADMIN
    )
    assert response.status_code == 202 and response.json()["id"] == delivered["id"]
    again = (await receiver.wait_for(2))[1]
    assert again.webhook_id == event.id and again.verifies_with(endpoint["secret"])
    missing = await harness.http.post(
        f"{HOOKS}/{endpoint['id']}/deliveries/whd_nope/redeliver", headers=ADMIN
    )
    assert missing.status_code == 404
