"""The console in a real browser (headless Chromium): what an ops person does with it."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.console._browser import browser, page, screenshot
from tests.console._support import failed_operations, submit_claim, wait_for
from tests.routing._support import ADMIN_KEY, TENANT_KEY, Gateway, bearer, routing_document, running_gateway
from tests.support.receiver import Receiver

__all__ = ["browser", "page"]  # fixtures


def log_in(page: Any, gateway: Gateway, key: str = ADMIN_KEY, start: str = "/console/tenants") -> None:
    page.goto(gateway.base_url + start)
    page.fill("input[name=api_key]", key)
    page.click("button:text('Log in')")


def test_switch_the_default_agency_see_the_diff_and_roll_back(page: Any, gateway: Gateway) -> None:
    log_in(page, gateway)
    assert page.url.endswith("/console/tenants")
    screenshot(page, "tenants")
    page.click("a:text-is('acme')")
    assert page.inner_text("#current-version") == "1"

    page.select_option("#change-form select[name=default_agency]", "y")
    page.fill("#change-form input[name=reason]", "x is down for maintenance")
    page.click("#change-form button")
    assert "Version 2 is in force" in page.inner_text(".notice")
    assert page.inner_text("#default-agency") == "y"
    diff = page.inner_text("#diff")
    assert "- default agency: x" in diff and "+ default agency: y" in diff
    assert "x is down for maintenance" in page.inner_text("#history")
    screenshot(page, "tenant")

    page.fill("#rollback-form input[name=target]", "1")
    page.fill("#rollback-form input[name=reason]", "x is back")
    page.click("#rollback-form button")
    assert "Version 3 is in force" in page.inner_text(".notice")
    assert page.inner_text("#default-agency") == "x"
    assert "rollback to 1" in page.inner_text("#history")
    assert "+ default agency: x" in page.inner_text("#diff")

    page.click("nav a:text('Audit')")
    audit = page.inner_text("#audit")
    assert "routing.changed" in audit and "routing.rolled_back" in audit and "x is back" in audit
    screenshot(page, "audit")
    page.click("nav a:text('Agencies')")
    assert page.is_visible("text=breaker closed")
    screenshot(page, "agencies")
    page.click("nav a:text('Webhooks')")
    assert "has no webhook endpoint" in page.inner_text("#endpoints")


def test_a_tenant_key_cannot_log_in(page: Any, gateway: Gateway) -> None:
    log_in(page, gateway, TENANT_KEY)
    assert "/console/login" in page.url
    assert "no admin scope" in page.inner_text(".problem")
    page.goto(gateway.base_url + "/console/tenants")
    assert "/console/login" in page.url
    screenshot(page, "login")


def test_a_form_posted_without_its_csrf_token_is_refused(page: Any, gateway: Gateway) -> None:
    log_in(page, gateway, start="/console/tenants/acme")
    page.fill("#change-form input[name=reason]", "tampered")
    page.select_option("#change-form select[name=default_agency]", "y")
    page.locator("#change-form input[name=csrf_token]").evaluate("input => input.remove()")
    page.click("#change-form button")
    assert "403" in page.inner_text("h1")
    page.goto(gateway.base_url + "/console/tenants/acme")
    assert page.inner_text("#current-version") == "1"
    assert page.inner_text("#default-agency") == "x"


def test_find_a_failed_operation_open_its_history_and_retry_it(page: Any, gateway: Gateway) -> None:
    wait_for(submit_claim(gateway.base_url, "OK-1"), "succeeded")
    rejected, unavailable = failed_operations(gateway)
    log_in(page, gateway, start="/console/operations")
    assert rejected in page.inner_text("#failed") and unavailable in page.inner_text("#failed")
    screenshot(page, "operations")

    page.click(f"#failed a:text('{unavailable}')")
    assert page.inner_text("#op-status") == "failed"
    assert "agency_unavailable" in page.inner_text("#op-error")
    history = page.inner_text("#history")
    assert "gave_up" in history and history.count("retry") == 3
    screenshot(page, "operation")

    page.fill("#retry-form input[name=reason]", "x is back")
    page.click("#retry-form button")
    assert "Queued again" in page.inner_text(".notice")
    wait_for(f"{gateway.base_url}/v1/tenants/acme/operations/{unavailable}", "succeeded")
    page.reload()
    assert page.inner_text("#op-status") == "succeeded"
    assert "retried" in page.inner_text("#history") and "x is back" in page.inner_text("#history")

    page.goto(f"{gateway.base_url}/console/operations/{rejected}")
    assert "agency_rejected" in page.inner_text("#retry-refusal")


def test_see_a_failed_webhook_delivery_and_redeliver_it(page: Any) -> None:
    document = routing_document()
    document["webhooks"] = {"allow_http_hosts": ["127.0.0.1"], "poll_interval_seconds": 0.05}
    receiver = Receiver().start()
    receiver.answers = [500]
    try:
        with running_gateway(document) as gateway:
            created = httpx.post(
                f"{gateway.base_url}/v1/admin/tenants/acme/webhooks",
                json={"url": receiver.url, "description": "billing service"},
                headers=bearer(),
            )
            assert created.status_code == 201, created.text
            wait_for(submit_claim(gateway.base_url, "HOOK-1"), "succeeded")
            log_in(page, gateway, start="/console/webhooks")
            assert "billing service" in page.inner_text("#endpoints")
            screenshot(page, "webhooks")
            page.click(f"#endpoints a:text('{created.json()['id']}')")
            deadline = time.monotonic() + 10
            while "500" not in page.inner_text("#deliveries"):  # the first attempt got a 500
                assert time.monotonic() < deadline, "no failed delivery shown"
                page.reload()
            page.locator("#deliveries tr.attention button").first.click()
            assert "is sent again next" in page.inner_text(".notice")
            while "(redelivery)" not in page.inner_text("#deliveries"):
                assert time.monotonic() < deadline, "the redelivery was not shown"
                page.reload()
            screenshot(page, "webhook")
            audit = httpx.get(f"{gateway.base_url}/v1/admin/audit?limit=100", headers=bearer()).text
            assert "webhook.redelivery_requested" in audit
    finally:
        receiver.stop()
