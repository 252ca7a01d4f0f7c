"""Operations in the console over HTTP: failed first, history, retry only where the agency allows."""

from __future__ import annotations

import httpx

from tests.console._support import Console, csrf_of, failed_operations, submit_claim, wait_for
from tests.routing._support import TENANT_KEY, Gateway, bearer


def test_failed_operations_come_first_with_their_history(console: Console, gateway: Gateway) -> None:
    wait_for(submit_claim(gateway.base_url, "OK-1"), "succeeded")
    rejected, unavailable = failed_operations(gateway)
    console.login()
    page = console.get("/console/operations?tenant=acme").text
    failed_table = page.split('id="failed"')[1].split("</table>")[0]
    assert rejected in failed_table and unavailable in failed_table
    only_failed = console.get("/console/operations?tenant=acme&status=failed").text
    listing = only_failed.split('id="listing"')[1].split("</table>")[0]
    assert rejected in listing and unavailable in listing and "succeeded" not in listing

    history = console.get(f"/console/operations/{unavailable}").text
    steps = history.split('id="history"')[1]
    assert steps.count(">retry<") == 3 and ">gave_up<" in steps  # max_attempts = 4
    assert 'id="retry-form"' in history
    refused = console.get(f"/console/operations/{rejected}").text
    assert 'id="retry-form"' not in refused
    assert "the agency decided this one (agency_rejected)" in refused


def test_a_retry_delivers_the_same_operation_once_and_is_audited(console: Console, gateway: Gateway) -> None:
    rejected, unavailable = failed_operations(gateway)
    console.login()
    page = f"/console/operations/{unavailable}"
    no_reason = console.post(
        f"{page}/retry", data={"csrf_token": csrf_of(console.get(page).text), "reason": " "}
    )
    assert no_reason.status_code == 422
    answer = console.submit(page, f"{page}/retry", reason="x is back")
    assert answer.status_code == 303
    location = f"{gateway.base_url}/v1/tenants/acme/operations/{unavailable}"
    done = wait_for(location, "succeeded")
    claim = httpx.get(
        f"{gateway.base_url}/v1/tenants/acme/claims/{done['claim_id']}", headers=bearer(TENANT_KEY)
    )
    assert claim.json()["status"] == "active"
    assert [ref for ref in gateway.x.claims() if ref == "UNAV-1"] == ["UNAV-1"]  # sent once
    history = console.get(page).text.split('id="history"')[1]
    assert ">retried<" in history and "x is back" in history and ">succeeded<" in history
    audit = httpx.get(f"{gateway.base_url}/v1/admin/audit?limit=100", headers=bearer()).json()["data"]
    retried = [e for e in audit if e["action"] == "operation.retried"]
    assert [(e["actor"], e["detail"]["operation_id"], e["detail"]["reason"]) for e in retried] == [
        ("ops", unavailable, "x is back")
    ]
    again = console.submit(page, f"{page}/retry", reason="twice")
    assert again.status_code == 409
    assert (
        console.submit(
            f"/console/operations/{rejected}", f"/console/operations/{rejected}/retry", reason="no"
        ).status_code
        == 409
    )


def test_operation_lists_page_instead_of_loading_everything(console: Console, gateway: Gateway) -> None:
    for i in range(23):
        submit_claim(gateway.base_url, f"P-{i}")
    console.login()
    first = console.get("/console/operations?tenant=acme&status=&agency=x").text
    assert first.split('id="listing"')[1].split("</table>")[0].count("<tr") == 21  # header + 20
    next_link = first.split(
        'href="/console/operations?tenant=acme&amp;status=&amp;agency=x&amp;older_than=&amp;cursor='
    )[1]
    cursor = next_link.split('"')[0]
    second = console.get(f"/console/operations?tenant=acme&status=&agency=x&older_than=&cursor={cursor}").text
    assert second.split('id="listing"')[1].split("</table>")[0].count("<tr") == 4
    forged = console.get("/console/operations?tenant=acme&status=failed&cursor=" + cursor)
    assert forged.status_code == 400  # a cursor is sealed for its filters


def test_the_admin_api_retries_the_same_way(gateway: Gateway) -> None:
    rejected, unavailable = failed_operations(gateway)
    base = f"{gateway.base_url}/v1/admin/tenants"
    retry = f"{base}/acme/operations/{unavailable}/retry"
    assert httpx.post(retry, json={"reason": "x"}, headers=bearer(TENANT_KEY)).status_code == 403
    assert (
        httpx.post(
            f"{base}/solo/operations/{unavailable}/retry", json={"reason": "x"}, headers=bearer()
        ).status_code
        == 404
    )
    no_reason = httpx.post(retry, json={}, headers=bearer())
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["pointer"] == "/reason"
    answer = httpx.post(retry, json={"reason": "x is back"}, headers=bearer())
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/v1/tenants/acme/operations/{unavailable}"
    assert answer.json()["status"] == "queued"
    wait_for(f"{gateway.base_url}{answer.headers['location']}", "succeeded")
    again = httpx.post(retry, json={"reason": "again"}, headers=bearer())
    assert (again.status_code, again.json()["code"]) == (409, "operation_not_retryable")
    decided = httpx.post(f"{base}/acme/operations/{rejected}/retry", json={"reason": "no"}, headers=bearer())
    assert (decided.status_code, decided.json()["code"]) == (409, "operation_not_retryable")
