"""The sandbox behaves like Riverty's documents say (checked with a plain HTTP client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.riverty.sandbox import AUDIENCE, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_GLOBAL_ID, create_app
from tests.adapters.riverty._support import unique


@pytest.fixture
async def http(riverty) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=riverty.base_url, timeout=5) as client:
        yield client


async def _token(http: httpx.AsyncClient, **form: str) -> httpx.Response:
    body = {
        "grant_type": "client_credentials",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "audience": AUDIENCE,
    }
    return await http.post("/oauth/token", data={**body, **form})


async def _headers(http: httpx.AsyncClient) -> dict[str, str]:
    token = (await _token(http)).json()["access_token"]
    return {
        "Authorization": f"Bearer {token}",
        "X-Client-Global-Id": str(DEMO_GLOBAL_ID),
        "X-Client-Reference": "t",
    }


def _claim_body(invoices: int = 1, amount: Any = 100.5) -> dict[str, Any]:
    return {
        "customer": {
            "customerNumber": unique("CUST"),
            "type": "PRIVATE",
            "firstName": "A",
            "lastName": "B",
            "addresses": [{"street": "S", "postalCode": "1", "city": "C", "country": "DE"}],
        },
        "contracts": [
            {
                "contractNumber": unique("clm"),
                "invoices": [
                    {
                        "invoiceNumber": f"I-{i}",
                        "invoiceDate": "2026-01-01",
                        "dueDate": "2026-02-01",
                        "originalAmount": amount,
                        "remainingAmount": amount,
                        "currency": "EUR",
                        "claimType": "PRINCIPAL_CLAIM",
                    }
                    for i in range(invoices)
                ],
            }
        ],
    }


def test_create_app_takes_no_arguments_and_is_an_asgi_app():
    assert callable(create_app())


async def test_tokens_need_the_audience_and_live_24_hours(http):
    answer = await _token(http)
    assert answer.status_code == 200
    assert answer.json()["expires_in"] == 24 * 3600 and answer.json()["token_type"] == "Bearer"
    assert (await _token(http, audience="https://elsewhere")).status_code == 400
    assert (await _token(http, client_secret="wrong")).status_code == 401


async def test_calls_need_a_token_and_the_clients_global_id(http):
    headers = await _headers(http)
    assert (await http.get("/transactions")).status_code == 401
    assert (await http.get("/transactions", headers={**headers, "X-Client-Global-Id": ""})).status_code == 400
    assert (
        await http.get("/transactions", headers={**headers, "X-Client-Global-Id": "1"})
    ).status_code == 403
    assert (await http.get("/transactions", headers=headers)).status_code == 200


async def test_a_claim_is_accepted_with_only_a_request_id_and_confirmed_in_the_feed(http):
    headers = await _headers(http)
    answer = await http.post("/claims", json=_claim_body(), headers=headers)
    assert answer.status_code == 202 and set(answer.json()) == {"requestId"}
    request_id = answer.json()["requestId"]
    feed = (
        await http.get("/transactions", params={"type": "CONFIRMATION", "pageSize": 1000}, headers=headers)
    ).json()
    (confirmation,) = [tx for tx in feed["items"] if tx.get("requestId") == request_id]
    assert confirmation["claimNumber"].startswith("RC")


async def test_amounts_sent_as_strings_or_longer_than_12_characters_are_refused(http):
    headers = await _headers(http)
    assert (await http.post("/claims", json=_claim_body(amount="100.50"), headers=headers)).status_code == 400
    assert (
        await http.post("/claims", json=_claim_body(amount=1234567890.12), headers=headers)
    ).status_code == 400
    assert (await http.post("/claims", json=_claim_body(amount=0), headers=headers)).status_code == 400


async def test_invoice_pages_are_one_based_with_the_documented_pagination_object(http, riverty):
    headers = await _headers(http)
    await http.post("/claims", json=_claim_body(invoices=23), headers=headers)
    number = next(reversed(riverty.sandbox.claims))
    first = (await http.get(f"/claims/{number}/invoices", headers=headers)).json()
    assert first["pagination"] == {"totalItems": 23, "pageSize": 10, "currentPage": 1, "totalPages": 3}
    assert [i["invoiceNumber"] for i in first["items"]] == [f"I-{i}" for i in range(10)]
    third = (await http.get(f"/claims/{number}/invoices", params={"page": 3}, headers=headers)).json()
    assert [i["invoiceNumber"] for i in third["items"]] == ["I-20", "I-21", "I-22"]
    assert isinstance(third["items"][0]["remainingAmount"], float)  # a JSON number
    assert (
        await http.get(f"/claims/{number}/invoices", params={"page": 0}, headers=headers)
    ).status_code == 400
    assert (await http.get("/claims/RC1/invoices", headers=headers)).status_code == 404


async def test_a_repeated_payment_number_is_refused_as_a_duplicate(http, riverty):
    headers = await _headers(http)
    await http.post("/claims", json=_claim_body(), headers=headers)
    number = next(reversed(riverty.sandbox.claims))
    await http.get("/transactions", headers=headers)  # the claim is confirmed at the next read
    payment = {"paymentNumber": "P-1", "paymentDate": "2026-03-01", "amount": 10, "currency": "EUR"}
    assert (await http.post(f"/claims/{number}/payments", json=payment, headers=headers)).status_code == 202
    again = await http.post(f"/claims/{number}/payments", json=payment, headers=headers)
    assert again.status_code == 409 and again.json()["code"] == "DUPLICATE_PAYMENT_NUMBER"
    assert len(riverty.ledger("payment", f"{number}/P-1")) == 1


async def test_the_feed_is_read_from_an_inclusive_timestamp(http):
    headers = await _headers(http)
    await http.post("/claims", json=_claim_body(), headers=headers)
    items = (await http.get("/transactions", params={"pageSize": 1000}, headers=headers)).json()["items"]
    newest = items[-1]["createdAt"]
    since = (await http.get("/transactions", params={"from": newest}, headers=headers)).json()["items"]
    assert since and all(tx["createdAt"] >= newest for tx in since)
    assert items[-1]["transactionId"] in {tx["transactionId"] for tx in since}


async def test_fault_switches_apply_to_rivertys_routes(http, riverty):
    headers = await _headers(http)
    (await http.put("/_sandbox/faults", json={"fail_5xx": 1, "paths": "^/transactions$"})).raise_for_status()
    assert (await http.get("/transactions", headers=headers)).status_code == 503
    assert (await http.get("/transactions", headers=headers)).status_code == 200


async def _confirmed_claim(http: httpx.AsyncClient, riverty: Any, invoices: int = 1) -> str:
    headers = await _headers(http)
    await http.post("/claims", json=_claim_body(invoices=invoices), headers=headers)
    await http.get("/transactions", headers=headers)  # the claim is confirmed at the next read
    return str(next(reversed(riverty.sandbox.claims)))


async def _entries(http: httpx.AsyncClient, number: str) -> list[dict[str, Any]]:
    headers = await _headers(http)
    items = (await http.get("/transactions", params={"pageSize": 1000}, headers=headers)).json()["items"]
    return [tx for tx in items if tx["claimNumber"] == number]


async def test_a_payment_riverty_collects_is_an_accounting_document_in_the_feed(http, riverty):
    number = await _confirmed_claim(http, riverty, invoices=2)
    assert (
        await http.post(f"/_sandbox/riverty/claims/{number}/collected", json={"amount": 120})
    ).status_code == 204
    [document] = [tx for tx in await _entries(http, number) if tx["type"] == "ACCOUNTING_DOCUMENT"]
    assert (document["documentType"], document["amount"], document["currency"]) == ("PAYMENT", 120, "EUR")
    assert document["allocateTo"] == [
        {"invoiceNumber": "I-0", "amount": 100.5},
        {"invoiceNumber": "I-1", "amount": 19.5},
    ]
    invoices = (await http.get(f"/claims/{number}/invoices", headers=await _headers(http))).json()["items"]
    assert [i["remainingAmount"] for i in invoices] == [0, 81]
    cancel = f"/_sandbox/riverty/claims/{number}/documents/{document['documentNumber']}/cancellation"
    assert (await http.post(cancel)).status_code == 204
    assert (await http.post(cancel)).status_code == 409
    cancellation = (await _entries(http, number))[-1]
    assert (cancellation["documentType"], cancellation["documentNumber"]) == (
        "CANCELLATION",
        document["documentNumber"],
    )


async def test_riverty_pausing_and_closing_a_claim_are_status_and_closing_entries(http, riverty):
    number = await _confirmed_claim(http, riverty)
    for status in ("PAUSED", "PROCESSING", "CLOSED"):
        answer = await http.post(f"/_sandbox/riverty/claims/{number}/status", json={"status": status})
        assert answer.status_code == 204, answer.text
    entries = [(tx["type"], tx.get("status")) for tx in await _entries(http, number)][-3:]
    assert entries == [("STATUS", "PAUSED"), ("STATUS", "PROCESSING"), ("CLOSING", "CLOSED")]
    late = await http.post(f"/_sandbox/riverty/claims/{number}/collected", json={"amount": 1})
    assert late.status_code == 409


async def test_the_agency_collects_on_its_own_when_activity_is_switched_on(http, riverty):
    await _confirmed_claim(http, riverty)
    step = (await http.post("/_sandbox/activity/step")).json()["activity"]
    documents = [
        tx for tx in await _entries(http, step["claimNumber"]) if tx["type"] == "ACCOUNTING_DOCUMENT"
    ]
    assert documents[-1]["amount"] == float(step["amount"]) == 25.12  # a quarter of 100.50, in whole cents
