"""The gateway under test runs as it does in production: one ASGI server, one event loop, real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.sandbox_kit import serve_in_thread
from gateway.app import create_app
from tests.support.fake_agency import FakeAgency, fake_spec
from tests.support.gateway import gateway_settings


@pytest.fixture
def agency() -> FakeAgency:
    return FakeAgency()


@pytest.fixture
async def client(agency: FakeAgency) -> AsyncIterator[httpx.AsyncClient]:
    specs = {"fake": fake_spec(agency)}
    server = serve_in_thread(create_app(gateway_settings(specs), specs=specs))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield http
    finally:
        server.stop()
