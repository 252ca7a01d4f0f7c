"""The Python client (clients/python) against a real gateway: the demo stack over real HTTP.

The gateway and every agency sandbox run in threads on free ports, set up exactly as
`collection-gateway demo` (gateway.demo): tenant `acme` goes to Intrum, its SEK/DKK/NOK claims
to Debbie. The client is imported from its source tree (test_install.py installs it for real).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

CLIENT_SRC = Path(__file__).resolve().parents[2] / "clients" / "python" / "src"
if str(CLIENT_SRC) not in sys.path:
    sys.path.insert(0, str(CLIENT_SRC))

from adapters.registry import discover  # noqa: E402
from adapters.sandbox_kit import RunningServer, serve_in_thread  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.demo import DEMO_KEYS, demo_document  # noqa: E402
from gateway.settings import settings_from_mapping  # noqa: E402


class Stack:
    def __init__(self, gateway: RunningServer, sandboxes: dict[str, RunningServer]) -> None:
        self.gateway = gateway
        self.sandboxes = sandboxes
        self.url = gateway.base_url

    def ledger(self, agency: str) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = httpx.get(
            f"{self.sandboxes[agency].base_url}/_sandbox/ledger"
        ).json()["entries"]
        return entries

    def faults(self, agency: str, **plan: Any) -> None:
        response = httpx.put(f"{self.sandboxes[agency].base_url}/_sandbox/faults", json=plan)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="package")
def stack() -> Iterator[Stack]:
    specs = discover()
    sandboxes = {
        name: serve_in_thread(spec.sandbox.create_app()) for name, spec in specs.items() if spec.sandbox
    }
    document, secrets = demo_document(specs, {name: s.base_url for name, s in sandboxes.items()})
    for name, agency in document["agencies"].items():
        # Outcomes and change feeds are polled often so that tests see them soon. Intrum counts
        # each read against its budget: at this pace its feed alone would spend the sync share of
        # 100/min that `?refresh=true` reads draw on too, so the stack allows six times as much.
        agency["poll_interval_seconds"] = 0.5 if name == "intrum" else 0.2
        if name == "intrum":
            agency["rate_limit_per_minute"] = 600
    gateway = serve_in_thread(create_app(settings_from_mapping(document, secrets, specs), specs=specs))
    try:
        yield Stack(gateway, sandboxes)
    finally:
        gateway.stop()
        for sandbox in sandboxes.values():
            sandbox.stop()


@pytest.fixture
def acme_key() -> str:
    return DEMO_KEYS["acme"]


def reference() -> str:
    return f"ORD-{uuid.uuid4().hex[:10]}"
