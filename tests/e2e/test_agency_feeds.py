"""What happens at the agencies reaches internal services: each agency's feed (and Debbie's
webhooks) through the gateway's worker into the claim ledger and the events, over real HTTP.

The setup is `make run`'s (gateway.demo) with short poll intervals: tenant `acme` goes to Intrum
(Nordic currencies to Debbie), tenant `globex` to Riverty. What an agency does on its own is
driven with its sandbox's controls; the gateway is only read through its API.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from adapters.debbie.sandbox import DEMO_CALLBACK_SECRET
from adapters.registry import discover
from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.demo import DEMO_KEYS, demo_document
from gateway.settings import settings_from_mapping

#: How long a change at an agency may take to become an event (polls, budgets) before a test fails.
DEADLINE = 20.0


class Stack:
    def __init__(self, gateway: RunningServer, sandboxes: dict[str, RunningServer]) -> None:
        self.gateway = gateway
        self.sandboxes = sandboxes

    def sandbox(self, agency: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.sandboxes[agency].base_url, timeout=10)


def _stack(poll: dict[str, float], *, callbacks: bool = False) -> Iterator[Stack]:
    specs = discover()
    sandboxes = {
        name: serve_in_thread(spec.sandbox.create_app()) for name, spec in specs.items() if spec.sandbox
    }
    document, secrets = demo_document(specs, {name: s.base_url for name, s in sandboxes.items()})
    for name, agency in document["agencies"].items():
        agency["poll_interval_seconds"] = poll[name]
    gateway = serve_in_thread(create_app(settings_from_mapping(document, secrets, specs), specs=specs))
    if callbacks:
        receiver = {
            "url": f"{gateway.base_url}/v1/agency-callbacks/debbie/acme",
            "secret": DEMO_CALLBACK_SECRET,
        }
        httpx.put(f"{sandboxes['debbie'].base_url}/_sandbox/callbacks", json=receiver).raise_for_status()
    try:
        yield Stack(gateway, sandboxes)
    finally:
        gateway.stop()
        for sandbox in sandboxes.values():
            sandbox.stop()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Intrum publishes 100 calls a minute: its feed (two calls a read) is read every second.
    yield from _stack({"intrum": 1.0, "debbie": 0.3, "riverty": 0.3})


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway.base_url, timeout=30) as client:
        yield client


def _headers(tenant: str, wait: int | None = None) -> dict[str, str]:
    result = {"Authorization": f"Bearer {DEMO_KEYS[tenant]}", "Idempotency-Key": uuid.uuid4().hex}
    if wait:
        result["Prefer"] = f"wait={wait}"
    return result


#: agency → (tenant, currency)
TENANTS = {"intrum": ("acme", "EUR"), "debbie": ("acme", "SEK"), "riverty": ("globex", "EUR")}


def _claim(currency: str, invoices: int = 2) -> dict[str, Any]:
    prefix = uuid.uuid4().hex[:6]
    return {
        "client_reference": f"ORD-{uuid.uuid4().hex[:10]}",
        "currency": currency,
        "debtor": {
            "kind": "person",
            "reference": f"CUST-{prefix}",
            "first_name": "Anna",
            "last_name": "Muster",
            "language": "de",
            "address": {"street": "Bahnhofstrasse", "postal_code": "8001", "city": "Zurich", "country": "CH"},
        },
        "invoices": [
            {
                "number": f"{prefix}-{n + 1}",
                "issued_on": "2026-10-01",
                "due_on": f"2026-10-{10 + n}",
                "amount": {"amount": 12000, "currency": currency},
            }
            for n in range(invoices)
        ],
    }


class Claim:
    def __init__(self, agency: str, body: dict[str, Any], created: dict[str, Any]) -> None:
        self.agency = agency
        self.tenant = TENANTS[agency][0]
        self.body = body
        self.id: str = created["claim_id"]
        self.reference: str = created["agency_reference"]


async def _submitted(http: httpx.AsyncClient, agency: str) -> Claim:
    tenant, currency = TENANTS[agency]
    body = _claim(currency)
    response = await http.post(f"/v1/tenants/{tenant}/claims", json=body, headers=_headers(tenant, wait=20))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "succeeded", created
    return Claim(agency, body, created)


async def _events(http: httpx.AsyncClient, claim: Claim) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = (
            await http.get(
                f"/v1/tenants/{claim.tenant}/events", params=params, headers=_headers(claim.tenant)
            )
        ).json()
        found += [e for e in page["data"] if e["claim_id"] == claim.id]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return found


async def _until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll `check` until it answers something truthy (bounded by DEADLINE; no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while True:
        answer = await check()
        if answer:
            return answer
        assert asyncio.get_running_loop().time() < deadline, f"{what}: not within {DEADLINE}s"
        await asyncio.sleep(0.05)


async def _typed(http: httpx.AsyncClient, claim: Claim, type_: str) -> list[dict[str, Any]]:
    return [e for e in await _events(http, claim) if e["type"] == type_]


async def _read_again(stack: Stack, agency: str, times: int = 3) -> None:
    """Wait until the gateway has asked the agency `times` more times (its feed read again)."""
    async with stack.sandbox(agency) as sandbox:
        start = (await sandbox.get("/_sandbox/ledger")).json()["requests"]

        async def asked() -> bool:
            return bool((await sandbox.get("/_sandbox/ledger")).json()["requests"] >= start + times)

        await _until(asked, f"{agency} read again")


async def _collect(stack: Stack, claim: Claim, amount: int) -> None:
    """The agency collects `amount` minor units from the debtor, on the first invoice."""
    async with stack.sandbox(claim.agency) as sandbox:
        match claim.agency:
            case "intrum":
                body = {
                    "caseNumber": int(claim.reference),
                    "invoiceNumber": claim.body["invoices"][0]["number"],
                    "amount": amount / 100,
                }
                answer = await sandbox.post("/_sandbox/intrum/collections", json=body)
            case "riverty":
                answer = await sandbox.post(
                    f"/_sandbox/riverty/claims/{claim.reference}/collected", json={"amount": amount / 100}
                )
            case _:
                answer = await sandbox.post(
                    f"/_sandbox/debbie/cases/{claim.reference}/collected", json={"amount": amount}
                )
        assert answer.status_code < 300, answer.text


async def _change_status(stack: Stack, claim: Claim) -> str:
    """The agency changes the claim's status on its own; the canonical status it should read."""
    async with stack.sandbox(claim.agency) as sandbox:
        match claim.agency:
            case "intrum":
                answer = await sandbox.post(
                    "/_sandbox/intrum/closings", json={"caseNumber": int(claim.reference)}
                )
                expected = "closed"
            case "riverty":
                answer = await sandbox.post(
                    f"/_sandbox/riverty/claims/{claim.reference}/status", json={"status": "PAUSED"}
                )
                expected = "paused"
            case _:
                # Debbie's only documented exit reason is WITHDRAWN; any other reads closed
                answer = await sandbox.post(
                    f"/_sandbox/debbie/cases/{claim.reference}/status",
                    json={"status": "ENDED", "exitReason": "PAID"},
                )
                expected = "closed"
        assert answer.status_code < 300, answer.text
        return expected


@pytest.mark.parametrize("agency", ["intrum", "riverty", "debbie"])
async def test_a_payment_the_agency_collects_and_a_status_it_changes_are_one_event_each(
    http: httpx.AsyncClient, stack: Stack, agency: str
) -> None:
    claim = await _submitted(http, agency)
    await _read_again(stack, agency)  # the feed has seen the new claim
    await _collect(stack, claim, 1000)

    [received] = await _until(lambda: _typed(http, claim, "payment.received"), "payment.received")
    assert (received["data"]["source"], received["data"]["amount"]["amount"]) == ("agency", 1000)
    base = f"/v1/tenants/{claim.tenant}/claims/{claim.id}"
    payments = (await http.get(f"{base}/payments", headers=_headers(claim.tenant))).json()["data"]
    assert [(p["source"], p["kind"], p["amount"]["amount"]) for p in payments] == [
        ("agency", "payment", 1000)
    ]

    async def lowered() -> bool:
        invoices = (await http.get(f"{base}/invoices", headers=_headers(claim.tenant))).json()["data"]
        return bool(invoices[0]["remaining"]["amount"] == 12000 - 1000)

    await _until(lowered, "the first invoice's remaining amount lowered")

    expected = await _change_status(stack, claim)

    async def changed() -> list[dict[str, Any]]:
        return [e for e in await _typed(http, claim, "claim.status_changed") if e["data"]["to"] == expected]

    [_status] = await _until(changed, f"claim.status_changed to {expected}")
    read = (await http.get(base, headers=_headers(claim.tenant))).json()
    assert read["status"] == expected and read["synced_at"] is not None

    # The feed reads the same records again (overlaps, sweeps): nothing makes a second event.
    await _read_again(stack, agency)
    assert len(await _typed(http, claim, "payment.received")) == 1
    assert len(await changed()) == 1


@pytest.mark.parametrize("agency", ["intrum", "riverty", "debbie"])
async def test_a_claim_withdrawn_in_full_reads_withdrawn_whatever_the_agency_calls_it(
    http: httpx.AsyncClient, stack: Stack, agency: str
) -> None:
    claim = await _submitted(http, agency)
    base = f"/v1/tenants/{claim.tenant}/claims/{claim.id}"
    withdrawal = await http.post(
        f"{base}/withdrawal",
        json={"reason": "by_client", "invoice_numbers": None},
        headers=_headers(claim.tenant, wait=20),
    )
    assert withdrawal.status_code == 200 and withdrawal.json()["status"] == "succeeded", withdrawal.text
    assert (await http.get(base, headers=_headers(claim.tenant))).json()["status"] == "withdrawn"
    # the agency's feed then says closed (or ENDED/WITHDRAWN): the claim stays withdrawn
    await _read_again(stack, agency)
    assert (await http.get(base, headers=_headers(claim.tenant))).json()["status"] == "withdrawn"
    statuses = [e["data"]["to"] for e in await _typed(http, claim, "claim.status_changed")]
    # (the agency may show the case closed a moment before the gateway hears the withdrawal
    # succeeded: `closed` may come first; after `withdrawn` nothing moves it)
    assert statuses.count("withdrawn") == 1 and statuses[-1] == "withdrawn", statuses


# --- Debbie's webhooks -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def hooked() -> Iterator[Stack]:
    # Debbie's sweep is slow here (an hour): what arrives in time arrives through its webhooks.
    yield from _stack({"intrum": 3600.0, "debbie": 3600.0, "riverty": 3600.0}, callbacks=True)


async def test_debbies_webhooks_reach_the_ledger_without_waiting_for_the_sweep(hooked: Stack) -> None:
    async with httpx.AsyncClient(base_url=hooked.gateway.base_url, timeout=30) as http:
        claim = await _submitted(http, "debbie")
        await _collect(hooked, claim, 700)
        [received] = await _until(
            lambda: _typed(http, claim, "payment.received"), "payment.received by webhook"
        )
        assert received["data"]["amount"]["amount"] == 700
        await _change_status(hooked, claim)
        await _until(lambda: _typed(http, claim, "claim.status_changed"), "claim.status_changed by webhook")
        async with hooked.sandbox("debbie") as sandbox:
            attempts = (await sandbox.get("/_sandbox/callbacks")).json()["attempts"]
        assert attempts and {a["status_code"] for a in attempts} == {200}


async def test_a_callback_without_the_secret_is_refused_and_an_unknown_one_is_not_found(
    hooked: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=hooked.gateway.base_url, timeout=30) as http:
        body = {"event": "cases.status-change", "time": "2026-12-02T10:00:00Z", "data": {"id": "x"}}
        wrong = await http.post(
            "/v1/agency-callbacks/debbie/acme", json=body, headers={"Authorization": "Bearer no"}
        )
        assert wrong.status_code == 401
        assert wrong.headers["content-type"].startswith("application/problem+json")
        for path in (
            "/v1/agency-callbacks/debbie/globex",
            "/v1/agency-callbacks/intrum/acme",
            "/v1/agency-callbacks/nobody/acme",
        ):
            answer = await http.post(
                path, json=body, headers={"Authorization": f"Bearer {DEMO_CALLBACK_SECRET}"}
            )
            assert answer.status_code == 404, path
        ok = await http.post(
            "/v1/agency-callbacks/debbie/acme",
            json=body,
            headers={"Authorization": f"Bearer {DEMO_CALLBACK_SECRET}"},
        )
        assert ok.status_code == 200 and ok.json() == {"records": 0}  # a status nobody knows: no record
