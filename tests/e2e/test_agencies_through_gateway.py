"""The agencies' acceptance criteria, through the gateway's HTTP API, against their sandboxes.

The setup is exactly `make run`'s (gateway.demo): tenant `acme` goes to Intrum, its Nordic
currencies to Debbie; tenant `globex` goes to Riverty. Everything runs over real HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters.registry import discover
from adapters.riverty.sandbox import build_sandbox
from adapters.sandbox_kit import RunningServer, serve_in_thread
from gateway.app import create_app
from gateway.demo import DEMO_KEYS, demo_document
from gateway.settings import settings_from_mapping


class Stack:
    def __init__(self, gateway: RunningServer, sandboxes: dict[str, RunningServer]) -> None:
        self.gateway = gateway
        self.sandboxes = sandboxes


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    specs = discover()
    apps = {name: spec.sandbox.create_app() for name, spec in specs.items() if spec.sandbox}
    # Riverty tells outcomes half a second after acceptance, so `submitted` is observable (with
    # an outcome at the very next /transactions read, a poll could resolve it between two looks).
    apps["riverty"] = build_sandbox(outcome_delay=0.5).app
    sandboxes = {name: serve_in_thread(app) for name, app in apps.items()}
    document, secrets = demo_document(specs, {name: s.base_url for name, s in sandboxes.items()})
    # Outcomes are polled often so that asynchronous agencies resolve quickly in tests.
    for agency in document["agencies"].values():
        agency["poll_interval_seconds"] = 0.3  # Intrum counts every /tracking read against 100/min
    gateway = serve_in_thread(create_app(settings_from_mapping(document, secrets, specs), specs=specs))
    try:
        yield Stack(gateway, sandboxes)
    finally:
        gateway.stop()
        for sandbox in sandboxes.values():
            sandbox.stop()


@pytest.fixture
async def http(stack: Stack) -> Any:
    async with httpx.AsyncClient(base_url=stack.gateway.base_url, timeout=30) as client:
        yield client


def headers(tenant: str = "acme", key: str | None = None, wait: int | None = None) -> dict[str, str]:
    result = {"Authorization": f"Bearer {DEMO_KEYS[tenant]}", "Idempotency-Key": key or uuid.uuid4().hex}
    if wait:
        result["Prefer"] = f"wait={wait}"
    return result


def claim(
    currency: str = "EUR", invoices: int = 1, debtor_reference: str = "CUST-42", costs: bool = True
) -> dict[str, Any]:
    """Invoice numbers are unique per claim: Intrum refuses a number its portfolio already has."""
    prefix = uuid.uuid4().hex[:6]
    return {
        "client_reference": f"ORD-{uuid.uuid4().hex[:10]}",
        "currency": currency,
        "debtor": {
            "kind": "person",
            "reference": debtor_reference,
            "first_name": "Anna",
            "last_name": "Muster",
            "language": "de",
            "address": {
                "street": "Bahnhofstrasse",
                "house_number": "1",
                "postal_code": "8001",
                "city": "Zurich",
                "country": "CH",
            },
        },
        "invoices": [
            {
                "number": f"{prefix}-{n + 1:03d}",
                "issued_on": "2026-10-01",
                "due_on": "2026-10-31",
                "amount": {"amount": 12000 + n, "currency": currency},
                **({"costs": {"amount": 500, "currency": currency}} if costs else {}),
            }
            for n in range(invoices)
        ],
    }


async def submitted(http: httpx.AsyncClient, body: dict[str, Any], tenant: str = "acme") -> dict[str, Any]:
    response = await http.post(f"/v1/tenants/{tenant}/claims", json=body, headers=headers(tenant, wait=20))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def operation_statuses(http: httpx.AsyncClient, location: str, tenant: str) -> list[str]:
    """Every status the operation shows until it is final (polled; no fixed sleeps)."""
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        status = (await http.get(location, headers=headers(tenant))).json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("succeeded", "failed"):
            return seen
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.02)


def ledger(stack: Stack, agency: str) -> list[dict[str, Any]]:
    return httpx.get(f"{stack.sandboxes[agency].base_url}/_sandbox/ledger").json()["entries"]  # type: ignore[no-any-return]


async def follow_up(
    http: httpx.AsyncClient, path: str, body: dict[str, Any] | None, tenant: str = "acme"
) -> httpx.Response:
    return await http.post(f"/v1/tenants/{tenant}{path}", json=body, headers=headers(tenant, wait=20))


# Intrum (issue 4)


async def test_intrum_claim_succeeds_with_a_case_number_and_reads_back_canonical(
    http: httpx.AsyncClient,
) -> None:
    body = claim()
    accepted = await http.post("/v1/tenants/acme/claims", json=body, headers=headers())
    assert accepted.status_code == 202
    statuses = await operation_statuses(http, accepted.headers["location"], "acme")
    assert statuses[-1] == "succeeded"
    claim_id = accepted.json()["claim_id"]
    read = (await http.get(f"/v1/tenants/acme/claims/{claim_id}", headers=headers())).json()
    assert read["agency"] == "intrum" and read["agency_reference"]
    assert read["balance"] == {"amount": 12500, "currency": "EUR"}
    invoices = (await http.get(f"/v1/tenants/acme/claims/{claim_id}/invoices", headers=headers())).json()
    assert [i["remaining"] for i in invoices["data"]] == [{"amount": 12000, "currency": "EUR"}]
    payments = await http.get(f"/v1/tenants/acme/claims/{claim_id}/payments", headers=headers())
    assert payments.status_code == 200 and payments.json()["data"] == []


async def test_intrum_follow_ups_reach_the_sandbox_once_each(http: httpx.AsyncClient, stack: Stack) -> None:
    body = claim(invoices=2)
    created_numbers = [i["number"] for i in body["invoices"]]
    created = await submitted(http, body)
    base = f"/claims/{created['claim_id']}"
    before = len(ledger(stack, "intrum"))
    payment = {
        "payment_id": f"P-{uuid.uuid4().hex[:6]}",
        "amount": {"amount": 5000, "currency": "EUR"},
        "paid_on": "2026-11-20",
    }
    steps = [
        (f"{base}/payments", payment),
        (f"{base}/payments/{payment['payment_id']}/reversal", {"reason": "bounced"}),
        (
            f"{base}/credit-notes",
            {
                "number": "CN-1",
                "invoice_number": created_numbers[0],
                "amount": {"amount": 1000, "currency": "EUR"},
                "issued_on": "2026-11-21",
            },
        ),
        (f"{base}/withdrawal", {"reason": "by_client", "invoice_numbers": [created_numbers[1]]}),
    ]
    for path, body in steps:
        response = await follow_up(http, path, body)
        assert response.status_code == 200 and response.json()["status"] == "succeeded", response.text
    kinds = [entry["kind"] for entry in ledger(stack, "intrum")[before:]]
    assert sorted(kinds) == ["creditNote", "payment", "paymentReversal", "withdrawal"]
    payment_entry = next(e for e in ledger(stack, "intrum")[before:] if e["kind"] == "payment")
    assert str(payment_entry["body"]["totalPaymentAmount"]) in ("50", "50.0", "50.00")


# Debbie (issue 5)


async def test_debbie_vouchers_are_negative_and_sum_to_the_claim_total(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    body = claim(currency="SEK", invoices=2)
    created = await submitted(http, body)
    assert created["agency"] == "debbie"
    case = next(
        e
        for e in ledger(stack, "debbie")
        if e["kind"] == "case.create" and e["key"] == created["agency_reference"]
    )
    amounts = [v["amount"] for v in case["body"]["caseVouchers"]]
    assert all(isinstance(a, int) and a < 0 for a in amounts)
    total = sum(i["amount"]["amount"] + i["costs"]["amount"] for i in body["invoices"])
    assert sum(amounts) == -total


async def test_debbie_payment_arrives_as_positive_minor_units_and_credit_note_reduces_remaining(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    body = claim(currency="SEK")
    created = await submitted(http, body)
    base = f"/claims/{created['claim_id']}"
    payment = {
        "payment_id": f"P-{uuid.uuid4().hex[:6]}",
        "amount": {"amount": 5000, "currency": "SEK"},
        "paid_on": "2026-11-20",
    }
    assert (await follow_up(http, f"{base}/payments", payment)).json()["status"] == "succeeded"
    voucher = [e for e in ledger(stack, "debbie") if e["kind"] == "case_voucher.create"][-1]
    assert voucher["body"]["amount"] == 5000  # 50.00 SEK, positive = credit
    note = {
        "number": "CN-1",
        "invoice_number": body["invoices"][0]["number"],
        "amount": {"amount": 2000, "currency": "SEK"},
        "issued_on": "2026-11-21",
    }
    assert (await follow_up(http, f"{base}/credit-notes", note)).json()["status"] == "succeeded"
    invoices = (await http.get(f"/v1/tenants/acme{base}/invoices", headers=headers())).json()["data"]
    remaining = invoices[0]["remaining"]["amount"]
    assert remaining <= 12000 - 2000


async def test_debbie_partial_withdrawal_and_reversal_are_refused_before_anything_is_stored(
    http: httpx.AsyncClient, stack: Stack
) -> None:
    body = claim(currency="SEK", invoices=2)
    created = await submitted(http, body)
    base = f"/claims/{created['claim_id']}"
    before_ledger = len(ledger(stack, "debbie"))
    before_ops = (await http.get("/v1/tenants/acme/operations?limit=100", headers=headers())).json()["data"]
    partial = await follow_up(
        http,
        f"{base}/withdrawal",
        {"reason": "by_client", "invoice_numbers": [body["invoices"][0]["number"]]},
    )
    reversal = await follow_up(http, f"{base}/payments/P-1/reversal", {"reason": "x"})
    for refused in (partial, reversal):
        assert refused.status_code == 422
        assert refused.json()["code"] == "unsupported_by_agency" and refused.json()["agency"] == "debbie"
    after_ops = (await http.get("/v1/tenants/acme/operations?limit=100", headers=headers())).json()["data"]
    assert [o["id"] for o in after_ops] == [o["id"] for o in before_ops]
    assert len(ledger(stack, "debbie")) == before_ledger


async def test_debbie_claim_with_57_invoices_lists_each_once_ten_at_a_time(http: httpx.AsyncClient) -> None:
    body = claim(currency="SEK", invoices=57, costs=False)
    created = await submitted(http, body)
    numbers: list[str] = []
    cursor = None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (
            await http.get(
                f"/v1/tenants/acme/claims/{created['claim_id']}/invoices", params=params, headers=headers()
            )
        ).json()
        numbers += [i["number"] for i in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert sorted(numbers) == sorted(i["number"] for i in body["invoices"]) and len(numbers) == 57


# Riverty (issue 6)


async def test_riverty_claim_goes_submitted_then_succeeded_with_the_claim_number(
    http: httpx.AsyncClient,
) -> None:
    accepted = await http.post("/v1/tenants/globex/claims", json=claim(), headers=headers("globex"))
    assert accepted.status_code == 202
    statuses = await operation_statuses(http, accepted.headers["location"], "globex")
    assert statuses[-2:] == ["submitted", "succeeded"]
    operation = (await http.get(accepted.headers["location"], headers=headers("globex"))).json()
    assert operation["agency"] == "riverty" and operation["agency_reference"]
    read = (
        await http.get(f"/v1/tenants/globex/claims/{operation['claim_id']}", headers=headers("globex"))
    ).json()
    assert read["agency_reference"] == operation["agency_reference"]


async def test_riverty_rejection_fails_with_rivertys_reason(http: httpx.AsyncClient) -> None:
    accepted = await http.post(
        "/v1/tenants/globex/claims", json=claim(debtor_reference="REJECT-7"), headers=headers("globex")
    )
    statuses = await operation_statuses(http, accepted.headers["location"], "globex")
    assert statuses[-1] == "failed"
    operation = (await http.get(accepted.headers["location"], headers=headers("globex"))).json()
    assert operation["error"]["code"] == "agency_rejected"
    assert "REJECT" in operation["error"]["detail"]
    read = (
        await http.get(f"/v1/tenants/globex/claims/{operation['claim_id']}", headers=headers("globex"))
    ).json()
    assert read["status"] == "rejected"
