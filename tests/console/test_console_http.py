"""The console over plain HTTP: who may log in, the cookie, CSRF, the headers, If-Match on forms."""

from __future__ import annotations

import httpx

from tests.console._support import Console, csrf_of
from tests.routing._support import ADMIN_KEY, OTHER_ADMIN_KEY, TENANT_KEY, Gateway, bearer

PAGES = ("tenants", "tenants/acme", "agencies", "operations", "webhooks", "audit")


def test_pages_without_a_session_send_the_browser_to_the_login_page(console: Console) -> None:
    for page in PAGES:
        answer = console.get(f"/console/{page}")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login?next=")


def test_an_admin_key_logs_in_with_an_httponly_strict_cookie_that_is_not_the_key(console: Console) -> None:
    answer = console.login()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/tenants"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("cg_console="))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/console" in attributes
    assert any(a.startswith("max-age=") and 0 < int(a.split("=")[1]) <= 8 * 3600 for a in attributes)
    assert ADMIN_KEY not in cookie
    for page in PAGES:
        assert console.get(f"/console/{page}").status_code == 200, page


def test_a_tenant_key_cannot_log_in_and_the_refusal_is_audited(console: Console, gateway: Gateway) -> None:
    answer = console.login(TENANT_KEY)
    assert answer.status_code == 403
    assert "no admin scope" in answer.text
    assert "cg_console=" not in answer.headers.get("set-cookie", "")
    assert console.get("/console/tenants").status_code == 303
    wrong = console.login("not-a-key")
    assert wrong.status_code == 401
    audit = httpx.get(f"{gateway.base_url}/v1/admin/audit?limit=100", headers=bearer()).json()["data"]
    refusals = [e for e in audit if e["action"] == "auth.refused" and e["detail"]["path"] == "/console/login"]
    assert [e["detail"]["status"] for e in refusals] == [403, 401]
    assert refusals[0]["actor"] == "acme app"


def test_a_form_posted_without_the_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    console.login()
    fields = {"version": "1", "default_agency": "y", "rules": "[]", "reason": "no token"}
    refused = console.post("/console/tenants/acme/routing", data=fields)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "CSRF token" in refused.text
    assert (
        console.post("/console/tenants/acme/routing", data={**fields, "csrf_token": "forged"}).status_code
        == 403
    )
    assert 'id="current-version">1<' in console.get("/console/tenants/acme").text


def test_a_login_form_without_its_token_is_refused(console: Console) -> None:
    answer = console.post("/console/login", data={"api_key": ADMIN_KEY})
    assert answer.status_code == 403
    assert "cg_console=" not in answer.headers.get("set-cookie", "")


def test_every_page_forbids_inline_scripts_and_styles_and_framing(console: Console) -> None:
    console.login()
    for page in (*PAGES, "login", "static/console.css"):
        answer = console.get(f"/console/{page}")
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in answer.text
        assert " style=" not in answer.text


def test_a_revoked_key_ends_its_session_at_once(console: Console, gateway: Gateway) -> None:
    console.login()
    assert console.get("/console/tenants").status_code == 200
    keys = httpx.get(f"{gateway.base_url}/v1/admin/api-keys", headers=bearer(OTHER_ADMIN_KEY)).json()["data"]
    ops = next(k for k in keys if k["name"] == "ops")
    revoked = httpx.delete(
        f"{gateway.base_url}/v1/admin/api-keys/{ops['id']}", headers=bearer(OTHER_ADMIN_KEY)
    )
    assert revoked.status_code == 204
    assert console.get("/console/tenants").status_code == 303


def test_a_forged_session_cookie_is_no_session(console: Console) -> None:
    console.login()
    value = console.cookies["cg_console"]
    console.cookies.set(
        "cg_console", value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/console"
    )
    assert console.get("/console/tenants").status_code == 303


def test_logging_in_never_redirects_off_the_console(console: Console) -> None:
    form = console.get("/console/login?next=https://evil.example/")
    assert "evil" not in form.text
    answer = console.post(
        "/console/login",
        data={"csrf_token": csrf_of(form.text), "api_key": ADMIN_KEY, "next": "//evil.example/"},
    )
    assert answer.headers["location"] == "/console/tenants"


def test_a_change_from_a_stale_page_is_refused_with_412_and_changes_nothing(console: Console) -> None:
    console.login()
    stale = console.get("/console/tenants/acme").text
    first = console.post(
        "/console/tenants/acme/routing",
        data={
            "csrf_token": csrf_of(stale),
            "version": "1",
            "default_agency": "y",
            "rules": "[]",
            "reason": "one",
        },
    )
    assert first.status_code == 303
    second = console.post(
        "/console/tenants/acme/routing",
        data={
            "csrf_token": csrf_of(stale),
            "version": "1",
            "default_agency": "x",
            "rules": "[]",
            "reason": "two",
        },
    )
    assert second.status_code == 412
    assert "precondition_failed" in second.text
    assert 'id="current-version">2<' in console.get("/console/tenants/acme").text


def test_a_change_without_a_reason_or_with_bad_rules_names_the_field(console: Console) -> None:
    console.login()
    page = "/console/tenants/acme"
    no_reason = console.submit(
        page, f"{page}/routing", version="1", default_agency="y", rules="[]", reason=" "
    )
    assert no_reason.status_code == 422
    assert "/reason" in no_reason.text
    bad_rules = console.submit(
        page, f"{page}/routing", version="1", default_agency="y", rules="[{", reason="r"
    )
    assert bad_rules.status_code == 422
    assert "/rules" in bad_rules.text
    unknown_agency = console.submit(
        page, f"{page}/routing", version="1", default_agency="nobody", rules="[]", reason="r"
    )
    assert unknown_agency.status_code == 422


def test_preview_tells_which_agency_a_sample_claim_would_go_to(console: Console) -> None:
    console.login()
    page = "/console/tenants/acme"
    rules = '[{"when": {"currency": ["CHF"]}, "agency": "y"}]'
    console.submit(page, f"{page}/routing", version="1", default_agency="x", rules=rules, reason="CHF to y")
    answer = console.submit(page, f"{page}/preview", claim='{"currency": "CHF"}')
    assert answer.status_code == 422  # not a claim: the decoder names what is missing
    import json

    from tests.routing._support import claim

    chf = console.submit(page, f"{page}/preview", claim=json.dumps(claim("P-1", currency="CHF")))
    assert chf.status_code == 200
    assert "Goes to <strong>y</strong>" in chf.text and "rule 0 of version 2" in chf.text
    eur = console.submit(page, f"{page}/preview", claim=json.dumps(claim("P-2", currency="EUR")))
    assert "Goes to <strong>x</strong>" in eur.text and "the default agency" in eur.text


def test_behind_a_tls_proxy_the_cookies_are_secure(console: Console) -> None:
    https = {"X-Forwarded-Proto": "https"}
    form = console.get("/console/login", headers=https)
    assert "secure" in form.headers["set-cookie"].lower()
    nonce = form.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    answer = httpx.post(  # the client keeps a Secure cookie for https only: sent by hand here
        f"{console.base_url}/console/login",
        data={"csrf_token": csrf_of(form.text), "api_key": ADMIN_KEY},
        headers={**https, "Cookie": f"cg_console_login={nonce}"},
    )
    assert answer.status_code == 303
    session = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("cg_console="))
    assert "secure" in [part.strip().lower() for part in session.split(";")]


def test_a_session_from_one_replica_is_good_on_another(redis_prefix: str) -> None:
    """No session state is kept server-side: two gateways on one Redis share the signing secret."""
    from gateway.stores.redis import RedisStore
    from tests.conftest import REDIS_URL
    from tests.routing._support import running_gateway

    with (
        running_gateway(store=RedisStore(REDIS_URL, redis_prefix), worker=False) as one,
        running_gateway(store=RedisStore(REDIS_URL, redis_prefix), worker=False) as two,
        Console(one.base_url) as first,
    ):
        assert first.login().status_code == 303
        with Console(two.base_url) as second:
            second.cookies.set("cg_console", first.cookies["cg_console"], path="/console")
            page = "/console/tenants/acme"
            answer = second.submit(
                page, f"{page}/routing", version="1", default_agency="y", rules="[]", reason="r"
            )
            assert answer.status_code == 303
        assert 'id="current-version">2<' in first.get(page).text
