"""Two fake agencies behind one gateway, for routing tests (our own copy: tests/support stays as is).

Agency "x" takes every currency of the fake; agency "y" takes EUR, CHF and SEK only, so a rule
sending JPY to y is invalid. Tenant "acme" holds credentials for both, tenant "solo" for x only.
Each agency records which claim (client_reference) every follow-up was about, so a test can tell
from the agency's own side where each write landed.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from adapters.base import (
    AdapterContext,
    AdapterSpec,
    AgencyClaim,
    Capabilities,
    ClaimRef,
    Credential,
    OperationContext,
    Outcome,
)
from adapters.sandbox_kit import serve_in_thread
from canonical import ClaimCreate, PaymentReport
from gateway.app import create_app
from gateway.settings import Settings, settings_from_mapping
from gateway.stores import MemoryStore, Store
from tests.support.fake_agency import FAKE_CAPABILITIES, FakeAdapter, FakeAgency

TENANT_KEY = "routing-acme-key"
ADMIN_KEY = "routing-admin-key"
OTHER_ADMIN_KEY = "routing-admin-2-key"
SECRET_VALUE = "s3cr3t-value-never-shown"

Y_CAPABILITIES = Capabilities(
    supported=FAKE_CAPABILITIES.supported, currencies=frozenset({"EUR", "CHF", "SEK"})
)


class RecordingAgency(FakeAgency):
    """A FakeAgency that also remembers which claim each follow-up and read was about."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.follow_up_claims: dict[str, str] = {}  # agency-side token → client_reference
        self.reads: list[str] = []
        self.credentials: set[str] = set()

    def claims(self) -> list[str]:
        """client_reference of every claim this agency received, in arrival order."""
        return [body.client_reference for kind, body in self.ledger.values() if kind == "claim.create"]

    def payments(self) -> list[tuple[str, str]]:
        """(client_reference of the claim, payment_id) of every payment this agency received."""
        return [
            (self.follow_up_claims[token], body.payment_id)
            for token, (kind, body) in self.ledger.items()
            if kind == "payment.report" and isinstance(body, PaymentReport)
        ]


class RecordingAdapter(FakeAdapter):
    def __init__(self, agency: RecordingAgency) -> None:
        super().__init__(agency)
        self.recorder = agency
        self.name = agency.name

    async def submit_claim(self, credential: Credential, op: OperationContext, claim: ClaimCreate) -> Outcome:
        self.recorder.credentials.add(credential.key)
        return await super().submit_claim(credential, op, claim)

    async def get_claim(self, credential: Credential, ref: ClaimRef) -> AgencyClaim:
        self.recorder.reads.append(ref.client_reference)
        return await super().get_claim(credential, ref)

    async def report_payment(
        self, credential: Credential, op: OperationContext, ref: ClaimRef, report: PaymentReport
    ) -> Outcome:
        self.recorder.follow_up_claims[op.idempotency_token] = ref.client_reference
        return await super().report_payment(credential, op, ref, report)


def fake_spec(agency: RecordingAgency, capabilities: Capabilities = FAKE_CAPABILITIES) -> AdapterSpec:
    def create(context: AdapterContext) -> RecordingAdapter:
        return RecordingAdapter(agency)

    return AdapterSpec(
        name=agency.name, capabilities=capabilities, create=create, credential_fields=("account_id",)
    )


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def routing_document(**acme: Any) -> dict[str, Any]:
    agency = {"base_url": "http://fake.invalid", "poll_interval_seconds": 0.02}
    return {
        "store_url": "memory://",
        "run_worker": True,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
        "max_attempts": 4,
        "claim_cache_seconds": 0,
        "agencies": {"x": dict(agency), "y": dict(agency)},
        "tenants": {
            "acme": {
                "default_agency": "x",
                "credentials": {
                    "x": {"account_id": "acme-x", "token_env": "ACME_X_TOKEN"},
                    "y": {"account_id": "acme-y"},
                },
                **acme,
            },
            "solo": {"default_agency": "x", "credentials": {"x": {"account_id": "solo-x"}}},
        },
        "api_keys": [
            {
                "name": "acme app",
                "tenant": "acme",
                "scopes": ["claims:read", "claims:write"],
                "key_sha256": sha(TENANT_KEY),
            },
            {"name": "ops", "scopes": ["admin"], "key_sha256": sha(ADMIN_KEY)},
            {"name": "ops-2", "scopes": ["admin"], "key_sha256": sha(OTHER_ADMIN_KEY)},
        ],
    }


def routing_settings(specs: dict[str, AdapterSpec], document: dict[str, Any] | None = None) -> Settings:
    return settings_from_mapping(document or routing_document(), {"ACME_X_TOKEN": SECRET_VALUE}, specs)


@dataclass
class Gateway:
    base_url: str
    x: RecordingAgency
    y: RecordingAgency
    specs: dict[str, AdapterSpec]
    #: The gateway's store (embedded unless given): tests read what it recorded on a claim.
    store: Store


@contextmanager
def running_gateway(
    document: dict[str, Any] | None = None, *, worker: bool = True, store: Store | None = None
) -> Iterator[Gateway]:
    """The gateway in a real server thread (its own event loop), in front of agencies x and y."""
    x, y = RecordingAgency("x"), RecordingAgency("y")
    specs = {"x": fake_spec(x), "y": fake_spec(y, Y_CAPABILITIES)}
    document = document or routing_document()
    document["run_worker"] = worker
    store = store or MemoryStore()
    app = create_app(routing_settings(specs, document), specs=specs, store=store)
    server = serve_in_thread(app)  # type: ignore[arg-type]  # Litestar is an ASGI app
    try:
        yield Gateway(base_url=server.base_url, x=x, y=y, specs=specs, store=store)
    finally:
        for agency in (x, y):  # never leave a worker blocked on a held agency
            if agency.hang is not None:
                agency.hang.set()
        server.stop()


def bearer(key: str = ADMIN_KEY, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def claim(
    reference: str, currency: str = "EUR", amount: int = 12000, country: str = "CH", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_reference": reference,
        "currency": currency,
        "debtor": {
            "kind": "person",
            "reference": "CUST-42",
            "first_name": "Anna",
            "last_name": "Muster",
            "language": "de",
            "address": {
                "street": "Bahnhofstrasse 1",
                "postal_code": "8001",
                "city": "Zürich",
                "country": country,
            },
        },
        "invoices": [
            {
                "number": "INV-1",
                "issued_on": "2026-10-01",
                "due_on": "2026-10-31",
                "amount": {"amount": amount, "currency": currency},
            }
        ],
    }
    body.update(extra)
    return body


async def wait_until_final(
    http: httpx.AsyncClient, locations: list[str], timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Poll each operation until it is succeeded/failed (a condition with a deadline, not a sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    done: dict[str, dict[str, Any]] = {}
    while True:
        for location in locations:
            if location in done:
                continue
            body = (await http.get(location, headers=bearer(TENANT_KEY))).json()
            if body["status"] in ("succeeded", "failed"):
                done[location] = body
        if len(done) == len(locations):
            return [done[location] for location in locations]
        pending = [location for location in locations if location not in done]
        assert loop.time() < deadline, f"{len(pending)} operations not final, e.g. {pending[0]}"
        await asyncio.sleep(0.02)


def held(agency: RecordingAgency) -> threading.Event:
    """Make every write to `agency` wait until the returned event is set."""
    agency.hang = threading.Event()
    agency.entered.clear()
    return agency.hang
