"""A console user without a browser: an HTTP client that keeps cookies and reads the forms' tokens."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx

from tests.routing._support import ADMIN_KEY, TENANT_KEY, Gateway, bearer, claim

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class Console(httpx.Client):
    def __init__(self, base_url: str) -> None:
        super().__init__(base_url=base_url, follow_redirects=False, timeout=30)

    def __enter__(self) -> Console:
        super().__enter__()
        return self

    def login(self, key: str = ADMIN_KEY) -> httpx.Response:
        form = self.get("/console/login")
        return self.post("/console/login", data={"csrf_token": csrf_of(form.text), "api_key": key})

    def submit(self, page: str, action: str, **fields: Any) -> httpx.Response:
        """Post a form of `page` with that page's CSRF token, as a browser would."""
        token = csrf_of(self.get(page).text)
        return self.post(action, data={"csrf_token": token, **fields})


def submit_claim(base_url: str, reference: str, **fields: Any) -> str:
    """POST a claim with the tenant key: the operation's URL."""
    answer = httpx.post(
        f"{base_url}/v1/tenants/acme/claims",
        json=claim(reference, **fields),
        headers=bearer(TENANT_KEY, **{"Idempotency-Key": uuid.uuid4().hex}),
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return f"{base_url}{answer.headers['location']}"


def wait_for(location: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
    """Poll the operation until it has `status` (a condition with a deadline, never a sleep for time)."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = httpx.get(location, headers=bearer(TENANT_KEY), timeout=30).json()
        if body["status"] == status:
            return body
        assert time.monotonic() < deadline, f"operation still {body['status']}, not {status}"
        time.sleep(0.02)


def failed_operations(gateway: Gateway) -> tuple[str, str]:
    """One operation the agency rejected and one that failed because agency x was unavailable."""
    gateway.x.reject_next = "the debtor is unknown at x"
    rejected = wait_for(submit_claim(gateway.base_url, "REJ-1"), "failed")
    assert rejected["error"]["code"] == "agency_rejected"
    gateway.x.fail_next = 1000
    unavailable = wait_for(submit_claim(gateway.base_url, "UNAV-1"), "failed")
    assert unavailable["error"]["code"] == "agency_unavailable"
    gateway.x.fail_next = 0
    return rejected["id"], unavailable["id"]
