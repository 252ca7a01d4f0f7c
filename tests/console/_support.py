"""A console user without a browser: an HTTP client that keeps cookies and reads the forms' tokens."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.routing._support import ADMIN_KEY

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
