"""The admin API for tenants' routing: the document, versions, If-Match, validation, history,
rollback, preview, API keys and the audit feed — over real HTTP on the embedded store."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.routing._support import (
    ADMIN_KEY,
    OTHER_ADMIN_KEY,
    SECRET_VALUE,
    TENANT_KEY,
    Gateway,
    bearer,
    claim,
    running_gateway,
)

ACME = "/v1/admin/tenants/acme"


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    """Configuration only: no claim is delivered here, so no worker (it stops faster, too)."""
    with running_gateway(worker=False) as running:
        yield running


async def get_tenant(http: httpx.AsyncClient, tenant: str = "acme") -> tuple[dict[str, Any], str]:
    response = await http.get(f"/v1/admin/tenants/{tenant}", headers=bearer())
    assert response.status_code == 200, response.text
    return response.json(), response.headers["etag"]


async def put_tenant(
    http: httpx.AsyncClient,
    body: dict[str, Any],
    etag: str | None,
    key: str = ADMIN_KEY,
    tenant: str = "acme",
) -> httpx.Response:
    headers = bearer(key) if etag is None else bearer(key, **{"If-Match": etag})
    return await http.put(f"/v1/admin/tenants/{tenant}", json=body, headers=headers)


def change(document: dict[str, Any], reason: str, **fields: Any) -> dict[str, Any]:
    body = {k: v for k, v in document.items() if k != "version"}
    return {**body, **fields, "reason": reason}


async def audit_entries(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        page = (await http.get("/v1/admin/audit", headers=bearer(), params=params)).json()
        entries += page["data"]
        if not page["has_more"]:
            return entries
        cursor = page["next_cursor"]


async def test_tenant_document_mirrors_the_config_with_version_1_and_secret_references_only(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get(ACME, headers=bearer())
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    assert response.json() == {
        "tenant": "acme",
        "version": 1,
        "default_agency": "x",
        "rules": [],
        "credentials": {
            "x": {"account_id": "acme-x", "token_env": "ACME_X_TOKEN"},
            "y": {"account_id": "acme-y"},
        },
    }
    assert SECRET_VALUE not in response.text


async def test_put_makes_a_new_version_with_an_etag(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    rules = [{"when": {"currency": ["SEK"], "amount_max": 50000}, "agency": "y"}]
    response = await put_tenant(http, change(document, "Nordic claims to y", rules=rules), etag)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert response.json() == {**document, "version": 2, "rules": rules}
    assert (await get_tenant(http))[0] == response.json()


async def test_put_without_if_match_is_428_and_changes_nothing(http: httpx.AsyncClient) -> None:
    document, _ = await get_tenant(http)
    response = await put_tenant(http, change(document, "no precondition", default_agency="y"), None)
    assert response.status_code == 428
    assert response.json()["code"] == "precondition_required"
    assert (await get_tenant(http))[0]["default_agency"] == "x"


async def test_put_with_a_stale_if_match_is_412_and_changes_nothing(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    first = await put_tenant(http, change(document, "first", default_agency="y"), etag)
    assert first.status_code == 200
    stale = await put_tenant(http, change(document, "second, from a stale read", rules=[]), etag)
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"
    current, current_etag = await get_tenant(http)
    assert (current["version"], current["default_agency"], current_etag) == (2, "y", '"2"')


async def test_concurrent_edits_from_the_same_version_let_exactly_one_win(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    answers = await asyncio.gather(
        *(
            put_tenant(http, change(document, f"edit {i}", default_agency="xy"[i % 2]), etag, key=key)
            for i, key in enumerate([ADMIN_KEY, OTHER_ADMIN_KEY] * 3)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 412, 412, 412, 412, 412]
    history = (await http.get(f"{ACME}/routing/history", headers=bearer())).json()
    assert [v["version"] for v in history["data"]] == [2, 1]


@pytest.mark.parametrize(
    ("rules", "default_agency", "pointer", "words"),
    [
        # agency y does not take JPY (its capabilities), so the rule is refused, naming it
        (
            [{"when": {"currency": ["EUR"]}, "agency": "x"}, {"when": {"currency": ["JPY"]}, "agency": "y"}],
            "x",
            "/rules/1/agency",
            "JPY",
        ),
        ([{"when": {"country": ["SE"]}, "agency": "riverty"}], "x", "/rules/0/agency", "not configured"),
        ([], "nowhere", "/default_agency", "not configured"),
        ([{"when": {"currency": ["EURO"]}, "agency": "x"}], "x", "/rules/0/when/currency/0", "ISO 4217"),
        ([{"when": {"country": ["se"]}, "agency": "x"}], "x", "/rules/0/when/country/0", "ISO 3166"),
        ([{"when": {"type": ["parking"]}, "agency": "x"}], "x", "/rules/0/when/type/0", "claim type"),
        (
            [{"when": {"amount_min": 500, "amount_max": 100}, "agency": "x"}],
            "x",
            "/rules/0/when",
            "amount_min",
        ),
        ([{"when": {"colour": ["red"]}, "agency": "x"}], "x", "/rules/0/when/colour", "unknown field"),
    ],
)
async def test_an_invalid_routing_is_422_naming_the_rule(
    http: httpx.AsyncClient, rules: list[Any], default_agency: str, pointer: str, words: str
) -> None:
    document, etag = await get_tenant(http)
    response = await put_tenant(
        http, change(document, "bad", rules=rules, default_agency=default_agency), etag
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert any(e["pointer"] == pointer and words in e["detail"] for e in problem["errors"]), problem
    assert (await get_tenant(http))[0]["version"] == 1


async def test_an_agency_without_credentials_for_the_tenant_is_refused(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http, "solo")
    body = change(document, "y for big ones", rules=[{"when": {"amount_min": 1}, "agency": "y"}])
    response = await put_tenant(http, body, etag, tenant="solo")
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["pointer"] == "/rules/0/agency" and "no credentials" in error["detail"]


async def test_credentials_and_reason_cannot_be_smuggled_or_skipped(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    body = change(document, "  ", credentials={"x": {"account_id": "someone-else"}})
    response = await put_tenant(http, body, etag)
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {"/credentials", "/reason"}


async def test_tenant_keys_get_403_on_every_admin_endpoint(http: httpx.AsyncClient) -> None:
    tenant = bearer(TENANT_KEY, **{"If-Match": '"1"'})
    calls = [
        http.get("/v1/admin/tenants", headers=tenant),
        http.get(ACME, headers=tenant),
        http.put(ACME, json={"default_agency": "y", "reason": "x"}, headers=tenant),
        http.get(f"{ACME}/routing/history", headers=tenant),
        http.post(f"{ACME}/routing/rollback", json={"version": 1, "reason": "r"}, headers=tenant),
        http.post(f"{ACME}/routing/preview", json=claim("P-1"), headers=tenant),
        http.post("/v1/admin/api-keys", json={"name": "n", "scopes": ["admin"]}, headers=tenant),
        http.get("/v1/admin/api-keys", headers=tenant),
        http.delete("/v1/admin/api-keys/key_cfg_0", headers=tenant),
        http.get("/v1/admin/audit", headers=tenant),
    ]
    answers = await asyncio.gather(*calls)
    assert [a.status_code for a in answers] == [403] * len(calls)
    assert {a.json()["code"] for a in answers} == {"forbidden"}
    assert (await get_tenant(http))[0]["version"] == 1


async def test_history_shows_every_version_with_author_and_reason(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    steps = [
        (ADMIN_KEY, "y", "switch to y"),
        (OTHER_ADMIN_KEY, "x", "back to x"),
        (ADMIN_KEY, "y", "y again"),
    ]
    for key, agency, reason in steps:
        response = await put_tenant(http, change(document, reason, default_agency=agency), etag, key=key)
        assert response.status_code == 200
        etag = response.headers["etag"]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:  # two per page: the cursor walks every version once
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await http.get(f"{ACME}/routing/history", headers=bearer(), params=params)).json()
        seen += page["data"]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert [(v["version"], v["changed_by"], v["reason"], v["default_agency"]) for v in seen] == [
        (4, "ops", "y again", "y"),
        (3, "ops-2", "back to x", "x"),
        (2, "ops", "switch to y", "y"),
        (1, "config", "seeded from the config file", "x"),
    ]
    assert all(v["changed_at"].endswith("Z") for v in seen)


async def test_a_forged_history_cursor_is_400(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{ACME}/routing/history", headers=bearer(), params={"cursor": "forged"})
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


async def test_rollback_restores_an_old_routing_exactly_as_a_new_version(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    rules = [
        {"when": {"currency": ["SEK", "CHF"], "country": ["SE"]}, "agency": "y"},
        {"when": {"type": ["loan"], "amount_min": 100, "amount_max": 900000}, "agency": "x"},
    ]
    v2 = await put_tenant(http, change(document, "rules", rules=rules, default_agency="y"), etag)
    v3 = await put_tenant(http, change(document, "clear", rules=[]), v2.headers["etag"])
    assert v3.json()["rules"] == []
    rolled = await http.post(
        f"{ACME}/routing/rollback", json={"version": 2, "reason": "the clean-up was wrong"}, headers=bearer()
    )
    assert rolled.status_code == 200, rolled.text
    assert rolled.headers["etag"] == '"4"'
    assert rolled.json() == {**v2.json(), "version": 4}
    [latest] = (await http.get(f"{ACME}/routing/history", headers=bearer(), params={"limit": 1})).json()[
        "data"
    ]
    assert latest["rollback_of"] == 2 and latest["reason"] == "the clean-up was wrong"
    preview = await http.post(
        f"{ACME}/routing/preview", json=claim("P", "SEK", country="SE"), headers=bearer()
    )
    assert preview.json() == {"agency": "y", "rule": 0, "version": 4}


async def test_rollback_to_a_version_that_does_not_exist_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{ACME}/routing/rollback", json={"version": 9, "reason": "r"}, headers=bearer()
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/version"


async def test_rollback_with_a_stale_if_match_is_412(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    await put_tenant(http, change(document, "y", default_agency="y"), etag)
    response = await http.post(
        f"{ACME}/routing/rollback", json={"version": 1, "reason": "r"}, headers=bearer(**{"If-Match": etag})
    )
    assert response.status_code == 412


async def test_preview_names_the_rule_and_the_version(http: httpx.AsyncClient) -> None:
    document, etag = await get_tenant(http)
    rules = [{"when": {"currency": ["SEK"]}, "agency": "y"}, {"when": {"amount_min": 100000}, "agency": "y"}]
    await put_tenant(http, change(document, "two rules", rules=rules), etag)

    async def preview(body: dict[str, Any]) -> dict[str, Any]:
        response = await http.post(f"{ACME}/routing/preview", json=body, headers=bearer())
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    assert await preview(claim("A", "SEK")) == {"agency": "y", "rule": 0, "version": 2}
    assert await preview(claim("B", "EUR", amount=100000)) == {"agency": "y", "rule": 1, "version": 2}
    assert await preview(claim("C", "EUR", amount=99999)) == {"agency": "x", "rule": None, "version": 2}


async def test_unknown_tenant_is_404(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/admin/tenants/nobody", headers=bearer())).status_code == 404


async def test_tenant_list_shows_every_tenant_in_force(http: httpx.AsyncClient) -> None:
    page = (await http.get("/v1/admin/tenants", headers=bearer())).json()
    assert [(t["tenant"], t["version"], t["default_agency"]) for t in page["data"]] == [
        ("acme", 1, "x"),
        ("solo", 1, "x"),
    ]


async def test_created_key_works_once_shown_and_stops_at_once_when_revoked(http: httpx.AsyncClient) -> None:
    created = await http.post(
        "/v1/admin/api-keys",
        json={"name": "billing", "tenant": "acme", "scopes": ["claims:read"]},
        headers=bearer(),
    )
    assert created.status_code == 201
    key = created.json()
    assert key["id"].startswith("key_") and key["key"]
    listed = (await http.get("/v1/admin/api-keys", headers=bearer())).json()["data"]
    mine = next(k for k in listed if k["id"] == key["id"])
    assert "key" not in mine and mine["name"] == "billing" and "revoked_at" not in mine
    claims = "/v1/tenants/acme/claims"
    assert (await http.get(claims, headers=bearer(key["key"]))).status_code == 200
    assert (await http.delete(f"/v1/admin/api-keys/{key['id']}", headers=bearer())).status_code == 204
    assert (await http.get(claims, headers=bearer(key["key"]))).status_code == 401
    assert (await http.delete("/v1/admin/api-keys/key_nope", headers=bearer())).status_code == 404


async def test_the_key_list_is_a_cursor_page_like_every_list(http: httpx.AsyncClient) -> None:
    for name in ("a", "b", "c"):
        created = await http.post(
            "/v1/admin/api-keys", json={"name": name, "scopes": ["admin"]}, headers=bearer()
        )
        assert created.status_code == 201
    everything = (await http.get("/v1/admin/api-keys", headers=bearer(), params={"limit": 100})).json()
    assert everything["has_more"] is False and everything["next_cursor"] is None
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await http.get("/v1/admin/api-keys", headers=bearer(), params=params)).json()
        assert len(page["data"]) <= 2
        seen += [k["id"] for k in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [k["id"] for k in everything["data"]] and len(seen) >= 4
    forged = await http.get("/v1/admin/api-keys", headers=bearer(), params={"cursor": "forged"})
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_cursor"


async def test_api_key_with_unknown_scope_or_tenant_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/v1/admin/api-keys", json={"name": "k", "tenant": "nobody", "scopes": ["root"]}, headers=bearer()
    )
    assert response.status_code == 422
    assert {e["pointer"] for e in response.json()["errors"]} == {"/scopes/0", "/tenant"}


async def test_audit_records_admin_changes_and_refused_key_uses_without_secrets(
    http: httpx.AsyncClient,
) -> None:
    document, etag = await get_tenant(http)
    await put_tenant(http, change(document, "switch to y", default_agency="y"), etag)
    created = (
        await http.post("/v1/admin/api-keys", json={"name": "temp", "scopes": ["admin"]}, headers=bearer())
    ).json()
    await http.delete(f"/v1/admin/api-keys/{created['id']}", headers=bearer())
    await http.get(ACME, headers=bearer(created["key"]))  # revoked: 401, key known
    await http.get(ACME, headers=bearer("not-a-key"))  # unknown: 401
    await http.get(ACME)  # no key: 401
    await http.get(ACME, headers=bearer(TENANT_KEY))  # wrong scope: 403
    await http.get("/v1/tenants/acme/claims", headers=bearer())  # admin key on tenant data: 403

    entries = await audit_entries(http)
    actions = [(e["action"], e["actor"]) for e in entries]
    assert actions == [
        ("routing.seeded", "config"),
        ("routing.seeded", "config"),
        ("routing.changed", "ops"),
        ("api_key.created", "ops"),
        ("api_key.revoked", "ops"),
        ("auth.refused", "temp"),
        ("auth.refused", None),
        ("auth.refused", None),
        ("auth.refused", "acme app"),
        ("auth.refused", "ops"),
    ]
    change_entry = entries[2]
    assert change_entry["tenant"] == "acme"
    assert change_entry["detail"]["version"] == 2 and change_entry["detail"]["reason"] == "switch to y"
    refusals = [e["detail"] for e in entries if e["action"] == "auth.refused"]
    assert [(r["status"], r["path"]) for r in refusals] == [
        (401, ACME),
        (401, ACME),
        (401, ACME),
        (403, ACME),
        (403, "/v1/tenants/acme/claims"),
    ]
    assert refusals[0]["key_id"] == created["id"]
    text = str(entries)
    for secret in (created["key"], "not-a-key", TENANT_KEY, ADMIN_KEY, SECRET_VALUE):
        assert secret not in text


async def test_amounts_in_admin_bodies_are_never_coerced(http: httpx.AsyncClient) -> None:
    """Like claim writes: a float or a numeric string where integer minor units belong is 422."""
    document, etag = await get_tenant(http)
    loose_rule = [{"when": {"amount_min": "100000"}, "agency": "y"}]
    refused = await put_tenant(http, change(document, "loose", rules=loose_rule), etag)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/rules/0/when/amount_min"
    body = claim("F", "EUR")
    body["invoices"][0]["amount"]["amount"] = 120.0
    preview = await http.post(f"{ACME}/routing/preview", json=body, headers=bearer())
    assert preview.status_code == 422
    assert preview.json()["errors"][0]["pointer"] == "/invoices/0/amount/amount"
    assert (await get_tenant(http))[0]["version"] == document["version"]
